#!/usr/bin/env bash
# Static checks `make test` runs through CTest (label `static`). Each failure says what to do.
#   check.sh format                  every C++ file outside gen/ is formatted as .clang-format says
#   check.sh thread-safety BUILD_DIR every C++ file outside gen/ of BUILD_DIR's compile database,
#                                    compiled by clang with -Wthread-safety (warnings are errors)
#
# Why clang: the ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED annotations on our absl::Mutex
# members are read only by clang's thread-safety analysis; GCC, which builds everything else,
# ignores them. Here clang only parses (-fsyntax-only) with each file's own flags from the
# build, plus -Wthread-safety; its other warnings count too (the flags carry -Werror).
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() { printf '\n%s\n' "$*" >&2; exit 1; }
sources() {  # ours: tracked in a checkout, otherwise everything outside gen/ and build trees
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z '*.cc' '*.h' ':!:gen/**'
  else
    find libs services tests deploy \( -name '*.cc' -o -name '*.h' \) -print0
  fi
}

# One translation unit, from a compile database entry's directory and command (shell-quoted by
# CMake): the same flags minus what clang need not or cannot take (sanitizers, debug info,
# the object output), plus the analysis.
analyze_one() {
  local directory=$1 command=$2 clang=$3
  local -a argv flags=()
  eval "argv=($command)"
  local i
  for ((i = 1; i < ${#argv[@]}; i++)); do
    case ${argv[i]} in
      -o) ((i += 1)) ;;
      -c | -g | -gz | -fsanitize=* | -fno-sanitize-recover=*) ;;
      *) flags+=("${argv[i]}") ;;
    esac
  done
  (cd "$directory" && "$clang" "${flags[@]}" -fsyntax-only -Wthread-safety \
    -Wno-unknown-warning-option)
}

case ${1:-} in
  format)
    command -v clang-format >/dev/null || fail "clang-format is not installed: run 'make deps'"
    sources | xargs -0 clang-format --dry-run -Werror ||
      fail "the files above are not formatted as .clang-format says: run clang-format -i on them"
    ;;
  thread-safety)
    build=${2:?usage: check.sh thread-safety BUILD_DIR}
    clang=${CLANGXX:-$(command -v clang++ || true)}
    [[ -n $clang ]] || fail "clang++ is not installed: run 'make deps'"
    database=$build/compile_commands.json
    [[ -f $database ]] || fail "$database is missing: configure $build with CMake first"
    if [[ ${3:-} == --one ]]; then  # one entry, as `directory<TAB>command`, from xargs below
      IFS=$'\t' read -r directory command <<<"$4"
      analyze_one "$directory" "$command" "$clang"
      exit
    fi
    ours='[.[] | select(.file | contains("/gen/") | not)]'
    count=$(jq "$ours | length" "$database")
    ((count > 0)) || fail "$database lists no source of ours"
    echo "clang thread-safety analysis of $count files ($($clang --version | head -n 1))"
    jq -j "$ours"'[] | "\(.directory)\t\(.command)\u0000"' "$database" |
      xargs -0 -n 1 -P "$(nproc)" "$0" thread-safety "$build" --one ||
      fail "clang found the problems above: a guarded member read or written without its lock," \
        "a function that requires a lock called without it, or a clang warning GCC does not" \
        "give. Fix the code, or (only where the lock is provably held through an alias the" \
        "analysis cannot see) assert it with AssertHeld / ABSL_ASSERT_EXCLUSIVE_LOCK"
    ;;
  *)
    fail "usage: check.sh format | thread-safety BUILD_DIR"
    ;;
esac
