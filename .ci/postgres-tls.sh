#!/usr/bin/env bash
# Certificates for the throw-away PostgreSQL cluster's TLS: a test authority (ca.crt) and a
# server certificate it signed for the name `localhost` only, so the suites can show that
# verify-full checks the name (127.0.0.1 is refused) and verify-ca does not.
# Usage: postgres-tls.sh DIR OWNER  (writes DIR/ca.crt, DIR/server.crt, DIR/server.key)
set -euo pipefail
dir="$1"
owner="$2"
cd "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
  -subj "/CN=provenant test authority" -keyout ca.key -out ca.crt 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
printf '%s\n' "subjectAltName=DNS:localhost" "basicConstraints=critical,CA:FALSE" \
  "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
  -extfile server.ext -out server.crt 2>/dev/null
rm -f ca.key ca.srl server.csr server.ext
chown "$owner" server.key server.crt
chmod 600 server.key
chmod 644 ca.crt server.crt
