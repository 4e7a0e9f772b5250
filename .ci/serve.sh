# Sourced by the CI checks that need the real binary running: starts target/debug/provenant on
# a free port with a fresh data folder and a random token, stops it (and removes the folder)
# when the script exits, and sets BASE (http://127.0.0.1:port) and TOKEN. Settings for the
# server come from the environment of the caller (e.g. ALL_PROXY).
BIN=target/debug/provenant
[ -x "$BIN" ] || cargo build --quiet --bin provenant
DATA=$(mktemp -d)
LOG="$DATA/server.log"
TOKEN="ci-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
PROVENANT_API_TOKEN="$TOKEN" "$BIN" --listen 127.0.0.1:0 --data-dir "$DATA/data" 2>"$LOG" &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$DATA"' EXIT
BASE=""
for _ in $(seq 1 100); do
  BASE=$(grep -o 'listening on http://[0-9.:]*' "$LOG" | head -1 | cut -d' ' -f3 || true)
  [ -n "$BASE" ] && break
  sleep 0.1
done
[ -n "$BASE" ] || { echo "the server did not start:"; cat "$LOG"; exit 1; }
