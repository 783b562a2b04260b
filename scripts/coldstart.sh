#!/usr/bin/env bash
# coldstart.sh: measure what drives the functions' cold start.
#
#  1. Builds each bootstrap as deployed (linux/arm64, CGO_ENABLED=0,
#     -tags lambda.norpc -trimpath -ldflags "-s -w") and prints its size and
#     the size of its deployment zip.
#  2. Builds the same for this machine's architecture and runs each under the
#     Lambda Runtime Interface Emulator (make rie-deps installs it), sends it
#     its sample event from events/ as the first invocation and prints the
#     init time:
#       - "INIT REPORT durationMs" from the emulator's log: bootstrap exec to
#         the runtime's first /next call, i.e. process start plus the main's
#         cold-start work (settings, AWS config, clients). This is the number
#         that corresponds to Lambda's Init Duration.
#       - the "Init Duration" of the emulator's REPORT line, printed for
#         completeness: this emulator starts init asynchronously and times
#         only the hand-off, so it reads well under a millisecond.
#       - the REPORT "Duration" of the first invocation (init + handler) and
#         the client-side wall time of that first request.
#
# The functions are configured for DynamoDB as deployed, at DYNAMODB_ENDPOINT
# or DYNAMODB_TEST_ENDPOINT (scripts/with-moto.sh sets it), else at a closed
# loopback port. Init makes no network call, so the endpoint only affects the
# result column (the table does not exist, so handlers that touch it answer
# 500 or fail).
#
# Environment: RUNS (cold starts per function, default 1), RIE_BIN (default
# bin/aws-lambda-rie), GO (default go).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
GO="${GO:-go}"
RIE="${RIE_BIN:-$root/bin/aws-lambda-rie}"
RUNS="${RUNS:-1}"
functions=(connect disconnect message sweeper fanout)
declare -A sample=(
  [connect]=events/connect.json
  [disconnect]=events/disconnect.json
  [message]=events/message-ping.json
  [sweeper]=events/sweeper.json
  [fanout]=internal/fanout/testdata/fanout-event.json
)
dynamo="${DYNAMODB_ENDPOINT:-${DYNAMODB_TEST_ENDPOINT:-http://127.0.0.1:9}}"
flags=(-tags lambda.norpc -trimpath -ldflags "-s -w")

work="$(mktemp -d -t coldstart.XXXXXX)"
rie_pid=""
cleanup() {
  if [[ -n "$rie_pid" ]]; then kill "$rie_pid" 2>/dev/null || true; wait "$rie_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

ms() { if [[ -n "$1" ]]; then awk -v v="$1" 'BEGIN { printf "%.2f ms", v }'; else echo "?"; fi; }
mib() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1048576 }'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
zip_size() {
  python3 - "$1" <<'PY'
import io, sys, zipfile
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    z.write(sys.argv[1], "bootstrap")
print(len(buf.getvalue()))
PY
}

echo "== Deploy builds: linux/arm64, CGO_ENABLED=0, ${flags[*]}"
printf "%-11s %12s %9s %9s\n" function bytes MiB "zip MiB"
for f in "${functions[@]}"; do
  out="$work/arm64/$f/bootstrap"
  GOOS=linux GOARCH=arm64 CGO_ENABLED=0 "$GO" build "${flags[@]}" -o "$out" "./functions/$f"
  size=$(wc -c <"$out" | tr -d ' ')
  zsize=$(zip_size "$out")
  printf "%-11s %12d %9s %9s\n" "$f" "$size" "$(mib "$size")" "$(mib "$zsize")"
done

if [[ "$(uname -s)" != Linux ]]; then
  echo "The Runtime Interface Emulator runs on Linux only: init times skipped." >&2
  exit 0
fi
if [[ ! -x "$RIE" ]]; then
  echo "No emulator at $RIE: run make rie-deps (or set RIE_BIN)." >&2
  exit 1
fi

arch="$("$GO" env GOARCH)"
echo
echo "== First invocation under the Runtime Interface Emulator: linux/$arch, same flags, $RUNS cold start(s) each"
printf "%-11s %4s %19s %21s %15s %10s  %s\n" function run "init (INIT REPORT)" "REPORT Init Duration" "first Duration" wall result
for f in "${functions[@]}"; do
  bin="$work/native/$f/bootstrap"
  GOOS=linux GOARCH="$arch" CGO_ENABLED=0 "$GO" build "${flags[@]}" -o "$bin" "./functions/$f"
  for run in $(seq 1 "$RUNS"); do
    port=$(free_port)
    api=$(free_port)
    log="$work/$f-$run.log"
    (cd "$(dirname "$bin")" && exec env -i PATH="$PATH" \
      TABLE_NAME=coldstart DYNAMODB_ENDPOINT="$dynamo" AWS_REGION=us-east-1 \
      AWS_ACCESS_KEY_ID=coldstart AWS_SECRET_ACCESS_KEY=coldstart AWS_EC2_METADATA_DISABLED=true \
      DEV_IDENTITY=1 MANAGEMENT_ENDPOINT=http://127.0.0.1:9/ws \
      AWS_LAMBDA_FUNCTION_NAME="rtcollab-$f" AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256 AWS_LAMBDA_FUNCTION_TIMEOUT=10 \
      "$RIE" --runtime-interface-emulator-address "127.0.0.1:$port" --runtime-api-address "127.0.0.1:$api" "$bin") >"$log" 2>&1 &
    rie_pid=$!
    for _ in $(seq 1 100); do
      if curl -s -o /dev/null "http://127.0.0.1:$port/"; then break; fi
      if ! kill -0 "$rie_pid" 2>/dev/null; then cat "$log" >&2; echo "emulator for $f did not start" >&2; exit 1; fi
      sleep 0.05
    done
    wall=$(curl -s -o "$work/resp.json" -w '%{time_total}' -XPOST \
      "http://127.0.0.1:$port/2015-03-31/functions/function/invocations" --data-binary "@${sample[$f]}")
    kill "$rie_pid" 2>/dev/null || true
    wait "$rie_pid" 2>/dev/null || true
    rie_pid=""
    init=$(sed -n 's/.*INIT REPORT(durationMs: \([0-9.]*\)).*/\1/p' "$log" | head -1)
    report=$(grep -m1 '^REPORT' "$log" || true)
    rie_init=$(sed -n 's/.*Init Duration: \([0-9.]*\) ms.*/\1/p' <<<"$report")
    dur=$(sed -n 's/.*	Duration: \([0-9.]*\) ms.*/\1/p' <<<"$report")
    result=$(python3 -c '
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except Exception:
    print("unreadable"); sys.exit()
if isinstance(r, dict) and "errorType" in r:
    print("function error: " + r["errorType"])
elif isinstance(r, dict) and "statusCode" in r:
    print("status %s" % r["statusCode"])
else:
    print("ok: " + json.dumps(r))' "$work/resp.json")
    printf "%-11s %4d %19s %21s %15s %10s  %s\n" "$f" "$run" "$(ms "$init")" "$(ms "$rie_init")" "$(ms "$dur")" \
      "$(ms "$(awk -v s="$wall" 'BEGIN { print s * 1000 }')")" "$result"
  done
done
