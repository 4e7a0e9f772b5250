#!/usr/bin/env bash
# The contract check: schemathesis (pinned, in a venv under target/) generates requests from the
# served OpenAPI document and checks every answer against it, against the real binary on a
# free port with a fresh data folder. Outbound HTTP (Slack, GitHub, GitLab) goes to a closed
# local port through ALL_PROXY, so generated webhook URLs never leave the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
SECONDS_BUDGET=${SCHEMATHESIS_SECONDS:-90}
VENV=target/ci-venv
BIN=target/debug/provenant

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
[ -x "$BIN" ] || cargo build --quiet --bin provenant

DATA=$(mktemp -d)
LOG="$DATA/server.log"
TOKEN="schemathesis-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
ALL_PROXY=http://127.0.0.1:9 NO_PROXY= PROVENANT_API_TOKEN="$TOKEN" \
  "$BIN" --listen 127.0.0.1:0 --data-dir "$DATA/data" 2>"$LOG" &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$DATA"' EXIT

BASE=""
for _ in $(seq 1 100); do
  BASE=$(grep -o 'listening on http://[0-9.:]*' "$LOG" | head -1 | cut -d' ' -f3 || true)
  [ -n "$BASE" ] && break
  sleep 0.1
done
[ -n "$BASE" ] || { echo "the server did not start:"; cat "$LOG"; exit 1; }

"$VENV/bin/schemathesis" --config-file .ci/schemathesis.toml run "$BASE/api/openapi.json" \
  --url "$BASE/api" \
  --header "Authorization: Bearer $TOKEN" \
  --checks all \
  --exclude-checks ensure_resource_availability \
  --max-examples 50 \
  --max-time "$SECONDS_BUDGET" \
  --generation-database none \
  --continue-on-failure \
  --no-color
