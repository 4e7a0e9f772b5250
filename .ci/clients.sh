#!/usr/bin/env bash
# Clients generated from the served spec, as a new user would make them: openapi-python-client
# (pinned, in a venv under target/) must generate with zero warnings, and a short script must
# get every answer parsed into the generated models (tests/clients/python_client.py);
# openapi-typescript's types must let a strict openapi-fetch consumer compile; Redocly's lint
# must report no errors.
set -euo pipefail
cd "$(dirname "$0")/.."

GENERATOR_VERSION=0.29.1
VENV=target/clients-venv
OUT=target/clients

if ! "$VENV/bin/openapi-python-client" --version 2>/dev/null | grep -q "$GENERATOR_VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "openapi-python-client==$GENERATOR_VERSION"
fi
source .ci/serve.sh

rm -rf "$OUT/python" && mkdir -p "$OUT/python"
python3 -c 'import sys, urllib.request; open(sys.argv[2], "wb").write(urllib.request.urlopen(sys.argv[1]).read())' \
  "$BASE/api/openapi.json" "$OUT/openapi.json"
(cd "$OUT/python" && "../../../$VENV/bin/openapi-python-client" generate \
  --path ../openapi.json --meta none --config ../../../tests/clients/openapi-python-client.yml) \
  2>&1 | tee "$OUT/python-generate.log"
if grep -qiE "warning|unable to|cannot" "$OUT/python-generate.log"; then
  echo "openapi-python-client warned: see above"
  exit 1
fi
PYTHONPATH="$OUT/python" "$VENV/bin/python" tests/clients/python_client.py "$BASE" "$TOKEN"

# openapi-typescript (pinned in tests/clients/typescript/package.json, installed under
# target/) and a small openapi-fetch consumer that `tsc --strict` must accept.
TS="$OUT/typescript"
mkdir -p "$TS"
cp tests/clients/typescript/package.json tests/clients/typescript/tsconfig.json \
  tests/clients/typescript/consumer.ts "$TS/"
if [ ! -x "$TS/node_modules/.bin/tsc" ] || ! cmp -s tests/clients/typescript/package.json "$TS/.installed"; then
  (cd "$TS" && npm install --silent --no-audit --no-fund --no-package-lock)
  cp tests/clients/typescript/package.json "$TS/.installed"
fi
(cd "$TS" && ./node_modules/.bin/openapi-typescript ../openapi.json -o schema.d.ts \
  && ./node_modules/.bin/tsc -p tsconfig.json)
echo "typescript client: the consumer type-checks against the generated types"

# Redocly's recommended rules: no errors (its warnings are printed, not failed on).
(cd "$TS" && ./node_modules/.bin/redocly lint ../openapi.json --format=stylish)
