#!/usr/bin/env bash
# Why Hermes runs its unary methods on gRPC's callback API: tests/bench/hybrid_server (an echo
# GetUser, no chain, no store) in four shapes — sync, hybrid (sync GetUser beside a callback
# method), inline and pool (GetUser on the callback API) — each ROUNDS times on a fresh server
# pinned to SERVER_CPU, loaded by hermes-load (pinned to LOAD_CPU) open loop at RPS calls/s.
# It prints every run's latency and each shape's median p99. On this machine (gRPC 1.51) the
# hybrid shape's p99 is ~90 ms in every run, the others' ~2 ms. Nothing here is pass/fail.
#
# Settings (environment): RPS (2000), DURATION (3s a run, after 1 s of warm-up), ROUNDS (3).
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
read -ra SHAPES <<<"${SHAPES:-sync hybrid inline pool async}"

for bin in "$SERVER_BIN" "$LOAD_BIN"; do
  [[ -x $bin ]] ||
    { echo "hybrid_server: $bin is missing: build the release preset first" >&2; exit 1; }
done

# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
bench_workdir hybrid

declare -A P99
echo "GetUser (echo), plaintext, open loop at $RPS calls/s, at most 64 in flight, $DURATION a run"
for round in $(seq "$ROUNDS"); do
  for shape in "${SHAPES[@]}"; do
    taskset -c "$SERVER_CPU" "$SERVER_BIN" "$shape" >"$WORK/$shape.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    port=$(serving_line "$pid" "$WORK/$shape.log" | jq -r .grpc_port) ||
      { echo "hybrid_server: the $shape server did not start" >&2; exit 1; }
    taskset -c "$LOAD_CPU" "$LOAD_BIN" --format json --call user.v1.UserService/GetUser \
      --addr "127.0.0.1:$port" --insecure --concurrency 64 --connections 4 --rps "$RPS" \
      --warmup 1s --duration "$DURATION" -d '{"id": "x"}' >"$WORK/run.json"
    errors=$(non_ok_statuses "$WORK/run.json")
    [[ -z $errors ]] ||
      { echo "hybrid_server: the $shape server answered errors: $errors" >&2; exit 1; }
    errors=$(unsent_calls "$WORK/run.json")
    [[ -z $errors ]] ||
      echo "hybrid_server: $shape: calls due but never sent (not in the figures): $errors" >&2
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
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
