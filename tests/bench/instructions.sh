#!/usr/bin/env bash
# Instructions per GetUser call, counted by valgrind's callgrind: the chain's cost in a figure
# that does not move with this shared machine's noise (the same binary and load give the same
# count to within ~1 %, whatever else the machine is doing). Time-based runs (run.sh, ab.sh)
# cannot tell a 10 % change from the noise; this can, for the work done, though not for what
# that work costs in caches, locks and context switches.
#
# For each configuration: the release hermes-user under callgrind (plaintext, a throw-away data
# dir), WARMUP GetUser calls, counters zeroed, CALLS GetUser calls at 16 in flight, counters
# dumped. It prints the instructions per call of each configuration and, with TOP=N, the N
# functions with the most inclusive instructions per call from hermes' own code (libs/,
# services/) for the first configuration. Nothing here is pass/fail.
#
#   tests/bench/instructions.sh                  the chain, tracing off, no chain
#   TOP=25 tests/bench/instructions.sh           ... and where the chain's instructions go
#   CONFIGS="chain:" tests/bench/instructions.sh one configuration ("name:flags", space-separated)
#
# Settings (environment): CONFIGS, CALLS (3000), WARMUP (1000: past the first full batch of
# spans, 512, whose export attempt is a one-off), TOP (0), KEEP (a directory: each
# configuration's dump is copied there as NAME.callgrind, for callgrind_annotate or kcachegrind).
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD=${BUILD:-build/release}
USER_BIN=$BUILD/services/user/hermes-user
LOAD_BIN=$BUILD/tests/load/hermes-load
CALLS=${CALLS:-3000}
WARMUP=${WARMUP:-1000}
TOP=${TOP:-0}
KEEP=${KEEP:-}
# name:flags; flags (comma-separated) are hermes-user flags, or NAME=value for its environment.
CONFIGS=${CONFIGS:-"chain: tracing_off:OTEL_TRACES_SAMPLER=always_off no_chain:--bench_no_chain"}

command -v valgrind >/dev/null ||
  { echo "instructions: valgrind is missing (apt-get install valgrind)" >&2; exit 1; }
for bin in "$USER_BIN" "$LOAD_BIN"; do
  [[ -x $bin ]] || { echo "instructions: $bin is missing: build the release preset first" >&2; exit 1; }
done

# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
bench_workdir instructions

load() {  # load ADDR ID COUNT
  "$LOAD_BIN" --format json --call user.v1.UserService/GetUser --addr "$1" --insecure \
    --concurrency 16 --connections 4 --total "$3" -d "{\"id\": \"$2\"}" >"$WORK/load.json"
  local errors
  errors=$(non_ok_statuses "$WORK/load.json")
  [[ -z $errors ]] || { echo "instructions: the server answered errors: $errors" >&2; exit 1; }
}

measure() {  # measure NAME FLAGS...: sets PER_CALL (instructions per call)
  local name=$1 envs=() args=() line addr id pid
  shift
  for word in "$@"; do
    if [[ $word == *=* && $word != --* ]]; then envs+=("$word"); else args+=("$word"); fi
  done
  env "${envs[@]}" valgrind --tool=callgrind --callgrind-out-file="$WORK/$name.%p" \
    "$USER_BIN" --grpc_addr=127.0.0.1:0 --metrics_addr=127.0.0.1:0 --log_level=info \
    --data_dir="$WORK/data_$name" --insecure "${args[@]}" >"$WORK/$name.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  line=$(SERVING_TIMEOUT=180 serving_line "$pid" "$WORK/$name.log") ||
    { echo "instructions: $name did not start" >&2; exit 1; }
  addr=127.0.0.1:$(jq -r .grpc_port <<<"$line")
  "$LOAD_BIN" --format json --call user.v1.UserService/CreateUser --addr "$addr" --insecure \
    --total 1 -d '{"email": "cg@bench.test", "display_name": "CG"}' >/dev/null
  id=$(node_modules/.bin/buf curl --protocol grpc -d '{"page": {"page_size": 1}}' \
    "http://$addr/user.v1.UserService/ListUsers" | jq -r '.users[0].id')
  load "$addr" "$id" "$WARMUP"
  callgrind_control --zero "$pid" >/dev/null
  load "$addr" "$id" "$CALLS"
  callgrind_control --dump "$pid" >/dev/null
  kill -TERM "$pid"
  wait "$pid" || true
  # The dump is "<name>.<pid>.1"; the file written at exit ("<name>.<pid>") holds only the
  # shutdown.
  local dump="$WORK/$name.$pid.1"
  if [[ -n $KEEP ]]; then
    mkdir -p "$KEEP"
    cp "$dump" "$KEEP/$name.callgrind"
  fi
  local total
  total=$(callgrind_annotate "$dump" | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  PER_CALL=$(awk -v t="$total" -v n="$CALLS" 'BEGIN {printf "%.0f", t / n}')
  if ((TOP > 0)) && [[ ! -e $WORK/top ]]; then
    # awk, not head, stops the list: head would end the pipe early (SIGPIPE under pipefail).
    callgrind_annotate --inclusive=yes --threshold=100 "$dump" 2>/dev/null |
      awk -v n="$CALLS" -v top="$TOP" -v dir="$PWD/" '
        /^ *[0-9,]+ \(/ && index($0, " " dir "libs/") + index($0, " " dir "services/") > 0 {
          if (++shown > top) next
          c = $1; gsub(",", "", c); sub(/^ *[0-9,]+ \( *[0-9.]+%\) +/, ""); sub(/ \[.*$/, "")
          sub(dir, ""); printf "  %8.0f  %s\n", c / n, substr($0, 1, 160)
        }' >"$WORK/top"
  fi
}

echo "GetUser, plaintext, 16 in flight, $CALLS calls after $WARMUP; instructions per call" \
  "(callgrind, all of the server's threads)"
for config in $CONFIGS; do
  name=${config%%:*}
  flags=${config#*:}
  # shellcheck disable=SC2086 # flags are a comma-separated list
  measure "$name" ${flags//,/ }
  printf '  %-14s %8s\n' "$name" "$PER_CALL"
done
if [[ -s $WORK/top ]]; then
  echo "where the first configuration's instructions go (inclusive, per call; hermes code only):"
  cat "$WORK/top"
fi
