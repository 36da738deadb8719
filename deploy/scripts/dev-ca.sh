#!/usr/bin/env bash
# Makes a development certificate authority and certificates for linkd and
# the demo organisations, with openssl. For development and tests only:
# production organisations get certificates from the key custodian's CA.
#
# usage: deploy/scripts/dev-ca.sh OUT_DIR [TRUST_DOMAIN]
#
# Writes OUT_DIR/ca.pem (and ca.key), OUT_DIR/server.pem/.key for linkd
# (DNS localhost, IP 127.0.0.1 and ::1), and for each organisation ORG
# (e.g. school/100001) OUT_DIR/<ORG with / as ->.pem and .key, whose URI SAN
# is spiffe://TRUST_DOMAIN/ORG. Keys are mode 0600. Existing files are kept,
# so running it again is cheap.
set -euo pipefail
out=${1:?usage: dev-ca.sh OUT_DIR [TRUST_DOMAIN]}
domain=${2:-linkd.example}
orgs=(
  school/100001 school/100002 la/999 la/999-vs la/999-ig la/999-ops
  la/888 health/RX1 research/PRJ-001 research/PRJ-002
)
mkdir -p "$out"
umask 077
days=825
log="$out/.openssl.log"
# Runs openssl quietly; shows its output if it fails.
quiet() { "$@" >"$log" 2>&1 || { cat "$log" >&2; return 1; }; }

if [ ! -f "$out/ca.pem" ]; then
  quiet openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$out/ca.key" -out "$out/ca.pem" -days "$days" \
    -subj "/O=linkd development/CN=linkd development CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign"
fi

# issue NAME SUBJECT_CN SAN EXTENDED_KEY_USAGE
issue() {
  local name=$1 cn=$2 san=$3 eku=$4
  [ -f "$out/$name.pem" ] && return 0
  quiet openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$out/$name.key" -out "$out/$name.csr" \
    -subj "/O=linkd development/CN=$cn"
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectAltName=%s\n' \
    "$eku" "$san" > "$out/$name.ext"
  quiet openssl x509 -req -in "$out/$name.csr" -CA "$out/ca.pem" -CAkey "$out/ca.key" \
    -CAcreateserial -out "$out/$name.pem" -days "$days" \
    -extfile "$out/$name.ext"
  rm -f "$out/$name.csr" "$out/$name.ext"
}

issue server "linkd" "DNS:localhost,IP:127.0.0.1,IP:::1" serverAuth
for org in "${orgs[@]}"; do
  issue "${org//\//-}" "${org//\//-}" "URI:spiffe://$domain/$org" clientAuth
done
chmod 0644 "$out"/*.pem
rm -f "$log"
echo "dev-ca: CA and certificates in $out (trust domain $domain)"
