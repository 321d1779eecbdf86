#!/usr/bin/env bash
# Why Hermes runs its unary methods on gRPC's async API: tests/bench/hybrid_server (an echo
# GetUser, no chain, no store) in five shapes — sync, hybrid (sync GetUser beside a callback
# method), inline and pool (GetUser on the callback API), async (GetUser on the async API, as
# the services run it) — each on a fresh server pinned to SERVER_CPU, loaded by hermes-load
# (pinned to LOAD_CPU). Nothing here is pass/fail.
#
#   tests/bench/hybrid_server.sh              open loop at RPS calls/s, ROUNDS times a shape:
#                                             every run's latency and each shape's median p99
#                                             (gRPC 1.51: the hybrid shape's p99 ~90 ms in
#                                             every run, the others' ~2 ms)
#   IDLE_STREAMS=10000 tests/bench/hybrid_server.sh
#                                             closed loop at 16 in flight, before and while
#                                             that many WatchUsers streams are open and idle
#                                             (the callback shapes lose a third to half of
#                                             their rate; the async shape does not)
#
# Settings (environment): SHAPES (all five; with IDLE_STREAMS: inline async), RPS (2000),
# DURATION (3s a run, after 1 s of warm-up), ROUNDS (3), IDLE_STREAMS (unset).
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD=${BUILD:-build/release}
SERVER_BIN=$BUILD/tests/bench/hybrid_server
LOAD_BIN=$BUILD/tests/load/hermes-load
RPS=${RPS:-2000}
DURATION=${DURATION:-3s}
ROUNDS=${ROUNDS:-3}
SERVER_CPU=${SERVER_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
IDLE_STREAMS=${IDLE_STREAMS:-}
if [[ -n $IDLE_STREAMS ]]; then
  read -ra SHAPES <<<"${SHAPES:-inline async}"
else
  read -ra SHAPES <<<"${SHAPES:-sync hybrid inline pool async}"
fi

for bin in "$SERVER_BIN" "$LOAD_BIN"; do
  [[ -x $bin ]] ||
    { echo "hybrid_server: $bin is missing: build the release preset first" >&2; exit 1; }
done

# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
bench_workdir hybrid

start_server() {  # start_server SHAPE: sets PID and PORT
  taskset -c "$SERVER_CPU" "$SERVER_BIN" "$1" >"$WORK/$1.log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  PORT=$(serving_line "$PID" "$WORK/$1.log" | jq -r .grpc_port) ||
    { echo "hybrid_server: the $1 server did not start" >&2; exit 1; }
}

closed_loop() {  # closed_loop SHAPE LABEL: GetUser at 16 in flight, one line
  taskset -c "$LOAD_CPU" "$LOAD_BIN" --format json --call user.v1.UserService/GetUser \
    --addr "127.0.0.1:$PORT" --insecure --concurrency 16 --connections 4 --warmup 1s \
    --duration "$DURATION" -d '{"id": "x"}' >"$WORK/run.json"
  errors=$(non_ok_statuses "$WORK/run.json")
  [[ -z $errors ]] || { echo "hybrid_server: the $1 server answered errors: $errors" >&2; exit 1; }
  printf '  round %s  %-7s %-22s %s\n' "$round" "$1" "$2" "$(jq -r \
    '"\(.rps | floor)/s  p50 \(.p50_ms) ms  p99 \(.p99_ms) ms"' "$WORK/run.json")"
}

if [[ -n $IDLE_STREAMS ]]; then
  echo "GetUser (echo), plaintext, closed loop at 16 in flight, $DURATION a run," \
    "before and beside $IDLE_STREAMS idle WatchUsers streams"
  for round in $(seq "$ROUNDS"); do
    for shape in "${SHAPES[@]}"; do
      start_server "$shape"
      closed_loop "$shape" "no stream"
      ready=$WORK/streams.ready
      rm -f "$ready"
      # A connection carries at most 1,000 streams (the server's HTTP/2 limit): 500 each.
      taskset -c "$LOAD_CPU" "$LOAD_BIN" --format json --call user.v1.UserService/WatchUsers \
        --addr "127.0.0.1:$PORT" --insecure --streams "$IDLE_STREAMS" \
        --connections $(((IDLE_STREAMS + 499) / 500)) --duration 600s \
        --streams_ready_file "$ready" -d '{}' >"$WORK/streams.json" 2>"$WORK/streams.err" &
      streams_pid=$!
      PIDS+=("$streams_pid")
      deadline=$((SECONDS + 120))
      until [[ -f $ready ]] || ((SECONDS > deadline)) || ! kill -0 "$streams_pid" 2>/dev/null; do
        sleep 0.1
      done
      [[ -f $ready ]] || { cat "$WORK/streams.err" >&2; echo "hybrid_server: streams did not open" >&2; exit 1; }
      closed_loop "$shape" "$(cat "$ready") idle streams"
      kill -INT "$streams_pid"
      wait "$streams_pid" || true
      kill -TERM "$PID"
      wait "$PID" 2>/dev/null || true
    done
  done
  exit 0
fi

declare -A P99
echo "GetUser (echo), plaintext, open loop at $RPS calls/s, at most 64 in flight, $DURATION a run"
for round in $(seq "$ROUNDS"); do
  for shape in "${SHAPES[@]}"; do
    start_server "$shape"
    taskset -c "$LOAD_CPU" "$LOAD_BIN" --format json --call user.v1.UserService/GetUser \
      --addr "127.0.0.1:$PORT" --insecure --concurrency 64 --connections 4 --rps "$RPS" \
      --warmup 1s --duration "$DURATION" -d '{"id": "x"}' >"$WORK/run.json"
    errors=$(non_ok_statuses "$WORK/run.json")
    [[ -z $errors ]] ||
      { echo "hybrid_server: the $shape server answered errors: $errors" >&2; exit 1; }
    errors=$(unsent_calls "$WORK/run.json")
    [[ -z $errors ]] ||
      echo "hybrid_server: $shape: calls due but never sent (not in the figures): $errors" >&2
    kill -TERM "$PID"
    wait "$PID" 2>/dev/null || true
    P99[$shape]="${P99[$shape]:-} $(jq -r .p99_ms "$WORK/run.json")"
    printf '  round %s  %-7s %s\n' "$round" "$shape" "$(jq -r \
      '"\(.rps | floor)/s  p50 \(.p50_ms) ms  p99 \(.p99_ms) ms  p99.9 \(.p999_ms) ms"' \
      "$WORK/run.json")"
  done
done
for shape in "${SHAPES[@]}"; do
  # shellcheck disable=SC2086 # the p99s are a space-separated list
  printf 'median p99  %-7s %s ms\n' "$shape" "$(median ${P99[$shape]})"
done
