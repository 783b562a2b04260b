#!/usr/bin/env bash
# check-dev.sh: run `make dev` as a developer would (on CI, a fresh clone:
# it installs what it needs first), wait for it to print the WebSocket URL,
# then check that the URL accepts a WebSocket handshake and that the demo page
# is served. Then it sends SIGTERM to make alone, as a process supervisor or
# a closed terminal would, and checks that the server shut down gracefully
# and freed its port: make passes SIGTERM to the recipe's process only. The
# server runs on a free loopback port and is stopped at the end, whatever
# happens.
set -euo pipefail
cd "$(dirname "$0")/.."
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
log="$(mktemp -t make-dev.XXXXXX.log)"
setsid env PORT="$port" make dev >"$log" 2>&1 &
pid=$!
cleanup() {
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT
deadline=$((SECONDS + 600))
until grep -q "WebSocket:" "$log"; do
  if ! kill -0 "$pid" 2>/dev/null; then cat "$log"; echo "make dev exited before serving" >&2; exit 1; fi
  if (( SECONDS > deadline )); then cat "$log"; echo "make dev printed no URL within 10 minutes" >&2; exit 1; fi
  sleep 1
done
url="$(grep -o 'WebSocket: *ws://[^ "]*' "$log" | head -1 | grep -o 'ws://.*')"
echo "make dev printed $url"
[[ "$url" == "ws://127.0.0.1:$port/ws" ]] || { echo "unexpected URL $url" >&2; exit 1; }
status="$(curl -s -o /dev/null --max-time 5 -w '%{http_code}' \
  -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
  -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
  "http://127.0.0.1:$port/ws?userId=dev-check" || true)"
[[ "$status" == "101" ]] || { cat "$log"; echo "handshake answered $status, want 101" >&2; exit 1; }
page="$(curl -s -o /dev/null --max-time 5 -w '%{http_code}' "http://127.0.0.1:$port/")"
[[ "$page" == "200" ]] || { echo "demo page answered $page, want 200" >&2; exit 1; }
grep -q "DEV MODE" "$log" || { echo "dev mode was not announced" >&2; exit 1; }
echo "make dev: serves $url (handshake 101) and the demo page"

kill -TERM "$pid"
for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then cat "$log"; echo "make dev did not exit within 30 s of SIGTERM" >&2; exit 1; fi
if left="$(pgrep -g "$pid" -a)"; then
  cat "$log"; echo "SIGTERM to make dev left processes running:" >&2; echo "$left" >&2; exit 1
fi
if curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$port/"; then
  echo "port $port still serves after make dev exited" >&2; exit 1
fi
grep -q '"shutting down"' "$log" || { cat "$log"; echo "the server did not log its shutdown on SIGTERM" >&2; exit 1; }
echo "make dev: SIGTERM shuts the server down and frees port $port"
