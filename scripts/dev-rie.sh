#!/usr/bin/env bash
# dev-rie.sh: the local server in front of the real bootstraps, each under
# its own Lambda Runtime Interface Emulator, sharing one DynamoDB table.
# make dev-rie runs it inside scripts/with-moto.sh after installing the
# emulator and building the bootstraps and the server (mk/rie.mk).
#
# Runs until Ctrl-C (or SIGTERM): the server shuts down first, since its
# shutdown still invokes $disconnect, then the emulators.
#
# Environment: DYNAMODB_TEST_ENDPOINT (set by with-moto.sh), PORT (3001),
# TABLE_NAME (rtcollab-local), RIE_BIN, BOOTSTRAP_DIR, LOCALSERVER_BIN.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
. "$root/scripts/wait-exit.sh"

dynamo="${DYNAMODB_TEST_ENDPOINT:?run through scripts/with-moto.sh (make dev-rie)}"
port="${PORT:-3001}"
table="${TABLE_NAME:-rtcollab-local}"
region="${AWS_REGION:-us-east-1}"
rie="${RIE_BIN:-$root/bin/aws-lambda-rie}"
bootstraps="${BOOTSTRAP_DIR:-$root/bin/bootstraps}"
server_bin="${LOCALSERVER_BIN:-$root/bin/localserver}"
# The functions the local server invokes; fanout is not run, so each
# function fans out by itself (FANOUT_FUNCTION_NAME is not set).
functions=(connect disconnect message sweeper)

need=("$rie" "$server_bin")
for f in "${functions[@]}"; do need+=("$bootstraps/$f/bootstrap"); done
for f in "${need[@]}"; do
  [[ -x "$f" ]] || { echo "dev-rie: $f is missing: run make dev-rie" >&2; exit 1; }
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pids=()
stop_emulators() {
  ((${#pids[@]})) || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "${pids[@]}" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "${pids[@]}" 2>/dev/null || true
}
trap stop_emulators EXIT

# As deployed: the functions find the table and the Management API through
# their environment. Each emulator runs in its own session, so that Ctrl-C
# reaches the server only and the emulators outlive its shutdown.
endpoints=()
for f in "${functions[@]}"; do
  invoke="127.0.0.1:$(free_port)"
  runtime="127.0.0.1:$(free_port)"
  env -i PATH="$PATH" TABLE_NAME="$table" DYNAMODB_ENDPOINT="$dynamo" AWS_REGION="$region" \
    AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}" \
    AWS_EC2_METADATA_DISABLED=true DEV_IDENTITY=1 MANAGEMENT_ENDPOINT="http://127.0.0.1:$port/ws" \
    AWS_LAMBDA_FUNCTION_NAME="rtcollab-$f" AWS_LAMBDA_FUNCTION_TIMEOUT=30 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256 \
    setsid "$rie" --runtime-interface-emulator-address "$invoke" --runtime-api-address "$runtime" \
    "$bootstraps/$f/bootstrap" \
    > >(trap '' INT; exec sed -u "s/^/$f | /") 2>&1 &
  pids+=($!)
  endpoints+=("$f=http://$invoke")
  until curl -s -o /dev/null "http://$invoke/"; do
    kill -0 "${pids[-1]}" 2>/dev/null || { echo "dev-rie: the emulator for $f exited" >&2; exit 1; }
    ((SECONDS < 30)) || { echo "dev-rie: the emulator for $f is not listening on $invoke" >&2; exit 1; }
    sleep 0.1
  done
done
echo "dev-rie: ${#functions[@]} emulators up (${endpoints[*]}); function output is prefixed with its name"

# The server runs in its own session, as the emulators do, so that it gets
# each Ctrl-C once, from the trap below, and not also from the terminal:
# the first starts its graceful shutdown, a second ends it at once.
server=""
trap '[[ -n "$server" ]] && kill -INT "$server" 2>/dev/null || true' INT TERM
DYNAMODB_ENDPOINT="$dynamo" TABLE_NAME="$table" AWS_REGION="$region" PORT="$port" \
  setsid "$server_bin" -dev -lambda-endpoints "$(IFS=,; echo "${endpoints[*]}")" &
server=$!
status=0
wait_exit "$server" || status=$?
exit "$status"
