#!/usr/bin/env bash
# peer-compare.sh: the local server's direct path against Centrifugo v6, with
# the same client (cmd/peerbench), one after the other on loopback. Each
# server runs as its own process, so that peerbench reports its CPU alone.
#
#   scripts/peer-compare.sh                # 1,000 subscribers at 20, 100 and 200 publishes/s
#   SUBS=500 RATES="50 150" DURATION=10s scripts/peer-compare.sh
#
# Needs bin/localserver, bin/perf/peerbench and bin/perf/centrifugo (make
# compare-centrifugo builds them). OUT=dir keeps each run's JSON there.
set -euo pipefail
cd "$(dirname "$0")/.."

SUBS=${SUBS:-1000}
RATES=${RATES:-"20 100 200"}
DURATION=${DURATION:-10s}
OUT=${OUT:-}
LOCALSERVER=${LOCALSERVER:-bin/localserver}
PEERBENCH=${PEERBENCH:-bin/perf/peerbench}
CENTRIFUGO=${CENTRIFUGO:-bin/perf/centrifugo}

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# A free loopback port.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_port() {
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  return 1
}

# Open files: every subscriber is a descriptor on each side.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

run() { # server url pid rate channel
  local json=()
  if [ -n "$OUT" ]; then mkdir -p "$OUT"; json=(-json "$OUT/$1-$SUBS-$4.json"); fi
  "$PEERBENCH" -server "$1" -url "$2" -pid "$3" -subs "$SUBS" -rate "$4" -duration "$DURATION" -channel "$5" "${json[@]}" || true
}

for rate in $RATES; do
  port=$(free_port)
  # -connect-rate 0: the 1,000 subscribers connect at once, as to Centrifugo
  # (the local server otherwise refuses handshakes past API Gateway's 500 a second).
  PORT=$port LOG_LEVEL=error "$LOCALSERVER" -dev -static '' -connect-rate 0 >"$work/localserver.log" 2>&1 &
  pid=$!; pids+=("$pid")
  wait_port "$port"
  run rtcollab "ws://127.0.0.1:$port/ws" "$pid" "$rate" load:peer-0
  kill "$pid"; wait "$pid" 2>/dev/null || true

  port=$(free_port)
  cat >"$work/centrifugo.json" <<EOF
{
  "http_server": {"address": "127.0.0.1", "port": $port},
  "log": {"level": "error"},
  "client": {"insecure": true, "allowed_origins": ["*"]},
  "channel": {"without_namespace": {"allow_subscribe_for_client": true, "allow_publish_for_client": true}},
  "usage_stats": {"disabled": true}
}
EOF
  "$CENTRIFUGO" -c "$work/centrifugo.json" >"$work/centrifugo.log" 2>&1 &
  pid=$!; pids+=("$pid")
  wait_port "$port"
  # A channel without a namespace (Centrifugo reads "a:b" as namespace a).
  run centrifugo "ws://127.0.0.1:$port/connection/websocket" "$pid" "$rate" peer-0
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
