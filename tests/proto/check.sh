#!/usr/bin/env bash
# The contract checks `make test` runs through CTest. Each failure says what to run.
#   check.sh lint      buf lint (STANDARD) over proto/ and the third-party module
#   check.sh format    proto/ is formatted as `buf format` writes it
#   check.sh fresh     gen/ is exactly what `buf generate` makes from proto/ now
#   check.sh breaking  `make proto-breaking` catches a changed field number (on a scratch copy)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUF=${BUF:-node_modules/.bin/buf}
[[ -x $BUF ]] || { echo "buf is not installed: run 'make deps'" >&2; exit 1; }

fail() { printf '\n%s\n' "$*" >&2; exit 1; }

case ${1:-} in
  lint)
    "$BUF" lint || fail "buf lint failed: fix the .proto files above, then run 'make proto-lint'"
    ;;
  format)
    "$BUF" format --diff --exit-code proto ||
      fail "proto/ is not formatted as buf formats it: run 'make proto-format' and commit"
    ;;
  fresh)
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    "$BUF" generate -o "$scratch"
    diff -r gen/cpp "$scratch/gen/cpp" >"$scratch/diff" ||
      { head -n 40 "$scratch/diff" >&2
        fail "gen/ is stale: it differs from what buf generates from proto/. Run 'make proto-gen' and commit gen/ with the proto change"; }
    ;;
  breaking)
    # A throw-away repository whose main holds proto/ as it is now, and a working tree where
    # one field number moved: buf breaking (as `make proto-breaking` runs it) must fail.
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    cp -r proto buf.yaml "$scratch"/
    git -C "$scratch" init -q -b main
    git -C "$scratch" -c user.name=t -c user.email=t@localhost add proto
    git -C "$scratch" -c user.name=t -c user.email=t@localhost commit -qm base
    sed -i 's/string email = 2;/string email = 12;/' "$scratch/proto/user/v1/user.proto"
    grep -q 'string email = 12;' "$scratch/proto/user/v1/user.proto" ||
      fail "check.sh breaking: the sample edit did not apply; update this script"
    ( cd "$scratch" && "$OLDPWD/$BUF" breaking proto --against '.git#branch=main,subdir=proto' ) \
      >"$scratch/out" 2>&1 &&
      fail "buf breaking accepted a changed field number: check buf.yaml's breaking rules"
    grep -q 'email' "$scratch/out" ||
      { cat "$scratch/out" >&2; fail "buf breaking failed for another reason than the edit"; }
    echo "ok: buf breaking rejects a changed field number"
    ;;
  *)
    echo "usage: $0 lint|format|fresh|breaking" >&2
    exit 2
    ;;
esac
