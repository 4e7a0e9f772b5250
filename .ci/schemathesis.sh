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

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
# Outbound HTTP from the server goes to a closed port.
export ALL_PROXY=http://127.0.0.1:9 NO_PROXY=
# The auth checks send wrong tokens on purpose, hundreds a minute from one address: past the
# brute-force limit every later answer would be 429 and nothing behind it tested. The limit
# itself is tested in tests/api/access.rs.
export PROVENANT_FAILED_SIGN_INS_PER_MINUTE=1000000
source .ci/serve.sh
unset ALL_PROXY NO_PROXY

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
