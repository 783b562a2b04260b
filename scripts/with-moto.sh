#!/usr/bin/env bash
# with-moto.sh CMD...: start moto's server (the DynamoDB wire-protocol server
# used by the tests, through scripts/moto_server.py) on a free loopback port,
# export DYNAMODB_TEST_ENDPOINT, run CMD, then stop the server. An endpoint
# already set in the environment is used as is.
#
# Signals: SIGTERM (make sends it to the recipe it runs) is passed on to CMD
# and the script waits for CMD to exit before stopping moto. SIGINT from the
# terminal reaches CMD directly (it runs in the same process group, with
# SIGINT and SIGQUIT at their defaults as a foreground command has them);
# the script keeps waiting for it.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
. "$here/scripts/wait-exit.sh"
if [[ -n "${DYNAMODB_TEST_ENDPOINT:-}" ]]; then
  exec "$@"
fi
# Until CMD runs, a signal just ends the script (the EXIT trap stops moto).
trap 'exit 130' INT
trap 'exit 143' TERM
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
log="$(mktemp -t moto.XXXXXX.log)"
# moto's server with item-level transaction rollback (see the script), in its
# own session: Ctrl-C reaches the command, which may still need moto while it
# shuts down (make dev-rie); the trap below stops moto after it.
setsid "$here/.venv/bin/python" "$here/scripts/moto_server.py" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do
  if curl -s -o /dev/null "http://127.0.0.1:$port/"; then break; fi
  if ! kill -0 $pid 2>/dev/null; then cat "$log"; echo "moto_server did not start" >&2; exit 1; fi
  sleep 0.1
done
export DYNAMODB_TEST_ENDPOINT="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}" AWS_REGION="${AWS_REGION:-us-east-1}"
echo "moto DynamoDB at $DYNAMODB_TEST_ENDPOINT"
# CMD runs in the background so that the traps run while it does; a
# background command of a script starts with SIGINT and SIGQUIT ignored,
# and with its input from /dev/null, which env and 0<&0 undo.
env --default-signal=INT,QUIT "$@" 0<&0 &
child=$!
trap 'kill -TERM "$child" 2>/dev/null || true' TERM
trap ':' INT
status=0
wait_exit "$child" || status=$?
exit "$status"
