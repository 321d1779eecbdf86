#!/usr/bin/env bash
# Makes a DEVELOPMENT certificate authority and the Hermes identities of API.md, for `make certs`,
# the tests and docker compose. NOT for production: the CA key sits next to the certificates.
#
#   gen-certs.sh OUT_DIR                      CA + user, order (server and client), admin, client
#   gen-certs.sh OUT_DIR --identity NAME      add (or renew) one client identity spiffe://hermes/NAME
#   gen-certs.sh OUT_DIR --identity NAME --san SAN   issue it with subjectAltName SAN instead (as
#                                             openssl writes it: URI:a,DNS:b), always anew: tests
#   gen-certs.sh OUT_DIR --force              start over with a new CA
#
# Layout (one folder per identity, so that a rotation can swap a folder atomically):
#   OUT_DIR/ca.pem, OUT_DIR/ca.key
#   OUT_DIR/<name>/cert.pem, OUT_DIR/<name>/key.pem
# Every identity carries the URI SAN spiffe://hermes/<name> that the authorization policy uses.
# Server identities (user, order) also carry DNS:localhost, DNS:<name>, DNS:hermes-<name>,
# IP:127.0.0.1 and IP:::1, so clients can verify them by host name.
# Idempotent: existing certificates that are valid for at least another day are kept.
set -euo pipefail

usage() { sed -n '2,10p' "$0" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
out=$1
shift
force=false
only=""
san_override=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --force) force=true ;;
    --identity) only=${2:?--identity needs a name}; shift ;;
    --san) san_override=${2:?--san needs a subjectAltName}; shift ;;
    *) usage ;;
  esac
  shift
done
[[ -z $only || $only =~ ^[a-z0-9][a-z0-9-]{0,62}$ ]] ||
  { echo "gen-certs: identity names are lower-case letters, digits and dashes" >&2; exit 2; }
[[ -z $san_override || -n $only ]] || { echo "gen-certs: --san needs --identity" >&2; exit 2; }
# The SAN goes into an openssl extension file, where '#' starts a comment, '$' a variable and a
# newline another line: refused rather than silently cut.
[[ $san_override != *[#\$]* && $san_override != *$'\n'* ]] ||
  { echo "gen-certs: --san may not hold '#', '\$' or a newline" >&2; exit 2; }

command -v openssl >/dev/null ||
  { echo "gen-certs: openssl is missing: apt-get install openssl (or make deps)" >&2; exit 1; }

CA_DAYS=3650
LEAF_DAYS=825
umask 077
mkdir -p "$out"
[[ $force == true ]] && rm -rf "${out:?}"/* "${out:?}"/.gen-certs.*

valid_for_a_day() { [[ -f $1 ]] && openssl x509 -in "$1" -noout -checkend 86400 >/dev/null 2>&1; }

# Files are made in a scratch folder and renamed into place, never written where they are: a
# running service re-reads its files (--reload_interval) and must never see half of one. (A key
# and its certificate are still two renames; the services take the pair once both are there.)
scratch=$(mktemp -d "$out/.gen-certs.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# ssl ARGS...: openssl, quiet when it works; when it does not, what it said, and a stop.
ssl() {
  if ! openssl "$@" 2>"$scratch/openssl.err"; then
    echo "gen-certs: openssl $1 failed:" >&2
    cat "$scratch/openssl.err" >&2
    exit 1
  fi
}

if ! valid_for_a_day "$out/ca.pem" || [[ ! -f $out/ca.key ]]; then
  ssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$scratch/ca.key"
  ssl req -x509 -new -key "$scratch/ca.key" -sha256 -days "$CA_DAYS" -out "$scratch/ca.pem" \
    -subj "/O=Hermes (development only)/CN=Hermes Dev CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign"
  chmod 644 "$scratch/ca.pem"
  mv -f "$scratch/ca.key" "$out/ca.key"
  mv -f "$scratch/ca.pem" "$out/ca.pem"
  rm -rf "$out"/*/  # leaves of an old CA are useless now
  echo "gen-certs: new development CA in $out/ca.pem" >&2
fi

issue() {  # issue NAME server|client
  local name=$1 kind=$2 dir=$out/$1 ext san
  if [[ -z $san_override ]] && valid_for_a_day "$dir/cert.pem" && [[ -f $dir/key.pem ]] &&
     openssl verify -CAfile "$out/ca.pem" "$dir/cert.pem" >/dev/null 2>&1; then
    return 0
  fi
  san=${san_override:-URI:spiffe://hermes/$name}
  if [[ $kind == server ]]; then
    san+=",DNS:localhost,DNS:$name,DNS:hermes-$name,IP:127.0.0.1,IP:::1"
    ext="serverAuth,clientAuth"  # a service is also a client of the others
  else
    ext="clientAuth"
  fi
  ext_file=$scratch/$name.ext
  printf '%s\n' "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=$ext" "subjectAltName=$san" >"$ext_file"
  ssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$scratch/key.pem"
  ssl req -new -key "$scratch/key.pem" -subj "/O=Hermes (development only)/CN=$name" \
    -out "$scratch/csr.pem"
  ssl x509 -req -in "$scratch/csr.pem" -CA "$out/ca.pem" -CAkey "$out/ca.key" \
    -CAcreateserial -days "$LEAF_DAYS" -sha256 -extfile "$ext_file" -out "$scratch/cert.pem"
  chmod 644 "$scratch/cert.pem"
  mkdir -p "$dir"
  mv -f "$scratch/key.pem" "$dir/key.pem"
  mv -f "$scratch/cert.pem" "$dir/cert.pem"
  rm -f "$scratch/csr.pem" "$ext_file"
  echo "gen-certs: issued $name ($kind) ${san_override:-spiffe://hermes/$name}" >&2
}

if [[ -n $only ]]; then
  issue "$only" client
else
  issue user server
  issue order server
  issue admin client
  issue client client
fi
# Certificates are public (made 644 before their rename); private keys are readable by their
# owner only (umask 077; a container's cert-init step runs as the service's user, or chowns
# them). Files are not chmod-ed again here: that would change their status-change time, and
# every running service would reload its unchanged files.
chmod 755 "$out" "$out"/*/
