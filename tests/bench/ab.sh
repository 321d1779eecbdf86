#!/usr/bin/env bash
# A/B comparison of two user-service configurations on GetUser (or ListUsers, CreateUser or
# UpdateUser), or of two order-service configurations on CreateOrder
# throughput, for changes whose effect is smaller than this machine's run-to-run noise (±20 %):
# both servers run at once (each on a throw-away data dir with twenty users, plaintext, pinned
# to SERVER_CPU), and hermes-load (pinned to LOAD_CPU) loads them in turn, ROUNDS short runs
# each, A then B.
# It prints every round and the medians, including the median of the per-round ratios B/A,
# which is what to judge by: a round's two runs see nearly the same machine. Beside req/s it
# prints the server's CPU time per call (from /proc/<pid>/stat, which leaves out what the
# hypervisor steals): at saturation the steadier of the two. Nothing here is pass/fail.
#
#   tests/bench/ab.sh                                     A/A: how noisy the method is (~1.0)
#   B_ARGS=--bench_no_chain tests/bench/ab.sh              the chain's cost
#   B_ENV="OTEL_TRACES_SAMPLER=always_off" tests/bench/ab.sh   what tracing costs
#   A_BIN=/tmp/before/hermes-user tests/bench/ab.sh       a binary built from another commit
#   RPS=10000 tests/bench/ab.sh                           open loop: p99 at a fixed rate
#   METHOD=ListUsers tests/bench/ab.sh                    a page of 20 instead of GetUser
#   METHOD=CreateUser tests/bench/ab.sh                   durable creates (new emails each run)
#   METHOD=UpdateUser tests/bench/ab.sh                   durable updates (of one user's name)
#   METHOD=CreateOrder tests/bench/ab.sh                  two order services (default: the
#                                                         release build's hermes-order) beside
#                                                         one user service, all on SERVER_CPU
#   BESIDE="ListUsers:64 GetUserMiss:16" tests/bench/ab.sh  ... while other loads run beside
#                                                         each run (req/s and p99: the main
#                                                         load's; CPU a call then includes theirs)
#
# Settings (environment): A_BIN, B_BIN (default: the release build's hermes-user), A_ARGS,
# B_ARGS (extra flags), A_ENV, B_ENV ("NAME=value ..." for the server), ROUNDS (8), DURATION
# (3s a run), CONCURRENCY (64; with RPS, the most calls in flight), CONNECTIONS (4: the main
# load's HTTP/2 connections; make bench uses one per 16 in flight), RPS (unset: closed loop;
# else the rate each run offers, its latency counted from each call's intended send time),
# METHOD (GetUser; ListUsers asks for a page of 20; CreateUser creates users; UpdateUser renames
# the user GetUser reads, each call a durable write of the row and its event; CreateOrder
# creates an order of one user, checked with the user service each time, and the CPU per call
# is the order service's alone), BESIDE
# (space-separated LOAD:IN_FLIGHT, each run as long as the main one on the same server:
# ListUsers, a page of 20; GetUserMiss, GetUser of an id no user has, which no cache answers,
# so every call reads the store).
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD=${BUILD:-build/release}
LOAD_BIN=$BUILD/tests/load/hermes-load
PROBE_BIN=$BUILD/deploy/health-probe/hermes-health-probe
USER_BIN=$BUILD/services/user/hermes-user
ROUNDS=${ROUNDS:-8}
DURATION=${DURATION:-3s}
CONCURRENCY=${CONCURRENCY:-64}
CONNECTIONS=${CONNECTIONS:-4}
METHOD=${METHOD:-GetUser}
case $METHOD in
  GetUser | ListUsers | CreateUser | UpdateUser) SERVICE=user ;;
  CreateOrder) SERVICE=order ;;
  *) echo "ab: unknown METHOD $METHOD (GetUser, ListUsers, CreateUser, UpdateUser, CreateOrder)" >&2
     exit 1 ;;
esac
if [[ $SERVICE == order && -n ${BESIDE:-} ]]; then
  echo "ab: BESIDE loads the user service; METHOD=CreateOrder takes none" >&2
  exit 1
fi
A_BIN=${A_BIN:-$BUILD/services/$SERVICE/hermes-$SERVICE}
B_BIN=${B_BIN:-$BUILD/services/$SERVICE/hermes-$SERVICE}
SERVER_CPU=${SERVER_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}

for bin in "$A_BIN" "$B_BIN" "$USER_BIN" "$LOAD_BIN" "$PROBE_BIN"; do
  [[ -x $bin ]] || { echo "ab: $bin is missing: build the release preset first (make bench builds it)" >&2; exit 1; }
done

# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
bench_workdir ab

# Ports from the kernel: bind port 0, read the "serving" line (at info, which the chain's
# access log needs anyway).
declare -A ADDR ID PID
start() {  # start NAME BINARY "ENV..." "ARGS..."
  local name=$1 binary=$2 envs=$3 args=$4 line
  # shellcheck disable=SC2086 # ENV and ARGS are space-separated lists
  env $envs taskset -c "$SERVER_CPU" "$binary" --grpc_addr=127.0.0.1:0 --metrics_addr=127.0.0.1:0 \
    --log_level=info --data_dir="$WORK/data_$name" --insecure $args >"$WORK/$name.log" 2>&1 &
  PIDS+=("$!")
  PID[$name]=$!
  line=$(serving_line "${PID[$name]}" "$WORK/$name.log") ||
    { echo "ab: server $name did not start" >&2; exit 1; }
  ADDR[$name]=127.0.0.1:$(jq -r .grpc_port <<<"$line")
  "$PROBE_BIN" --addr="${ADDR[$name]}" --insecure >/dev/null
}
seed() {  # seed NAME: twenty users in user service NAME; ID[NAME] is the first one's id
  # Twenty, so that ListUsers' page of 20 is full; the first is the one GetUser gets and
  # UpdateUser renames, and CreateOrder's buyer (hermes-load prints no responses, so its id comes
  # from ListUsers).
  "$LOAD_BIN" --format json --call user.v1.UserService/CreateUser --addr "${ADDR[$1]}" --insecure \
    --total 20 -d '{"email": "ab{{n}}@bench.test", "display_name": "AB {{n}}"}' >"$WORK/create_$1.json"
  ID[$1]=$(node_modules/.bin/buf curl --protocol grpc -d '{"page": {"page_size": 1}}' \
    "http://${ADDR[$1]}/user.v1.UserService/ListUsers" | jq -r '.users[0].id')
}
if [[ $SERVICE == user ]]; then
  start A "$A_BIN" "${A_ENV:-}" "${A_ARGS:-}"
  seed A
  start B "$B_BIN" "${B_ENV:-}" "${B_ARGS:-}"
  seed B
else  # both order services check their buyer with one user service
  start U "$USER_BIN" "" ""
  seed U
  start A "$A_BIN" "${A_ENV:-}" "--user_service_addr=${ADDR[U]} ${A_ARGS:-}"
  start B "$B_BIN" "${B_ENV:-}" "--user_service_addr=${ADDR[U]} ${B_ARGS:-}"
  ID[A]=${ID[U]} ID[B]=${ID[U]}
fi

# The server's CPU time so far (all threads, user + system) in clock ticks. Time the hypervisor
# steals is not in it, which makes CPU per call the steadier figure on a shared machine.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))

beside() {  # beside NAME: starts the BESIDE loads on server NAME; their pids in BESIDE_PIDS
  BESIDE_PIDS=()
  local spec load in_flight call body
  for spec in ${BESIDE:-}; do
    load=${spec%%:*} in_flight=${spec##*:}
    case $load in
      ListUsers) call=ListUsers body='{"page": {"page_size": 20}}' ;;
      GetUserMiss) call=GetUser body='{"id": "01hf7yat000000000000000000"}' ;;
      *) echo "ab: unknown BESIDE load $load (ListUsers, GetUserMiss)" >&2; exit 1 ;;
    esac
    taskset -c "$LOAD_CPU" "$LOAD_BIN" --format json --call "user.v1.UserService/$call" \
      --addr "${ADDR[$1]}" --insecure --concurrency "$in_flight" --connections 2 \
      --duration "$DURATION" -d "$body" >/dev/null 2>&1 &
    BESIDE_PIDS+=("$!")
  done
}

run() {  # run NAME: prints "req/s µs-of-server-CPU-per-call p99-ms"
  local before after
  beside "$1"
  before=$(cpu_ticks "${PID[$1]}")
  local body
  case $METHOD in
    GetUser) body="{\"id\": \"${ID[$1]}\"}" ;;
    ListUsers) body='{"page": {"page_size": 20}}' ;;
    # New emails every round (each server has its own store), so every call is a durable write.
    CreateUser) body="{\"email\": \"r$round-{{n}}@bench.test\", \"display_name\": \"R {{n}}\"}" ;;
    CreateOrder)
      body="{\"user_id\": \"${ID[$1]}\", \"items\": [{\"product_id\": \"p{{n}}\", \"quantity\": 1, \"price_cents\": 5}]}" ;;
    UpdateUser) body="{\"id\": \"${ID[$1]}\", \"display_name\": \"R $round-{{n}}\"}" ;;
  esac
  taskset -c "$LOAD_CPU" "$LOAD_BIN" --format json --call "$SERVICE.v1.${SERVICE^}Service/$METHOD" \
    --addr "${ADDR[$1]}" --insecure --concurrency "$CONCURRENCY" --connections "$CONNECTIONS" \
    --duration "$DURATION" ${RPS:+--rps "$RPS"} -d "$body" >"$WORK/run.json" 2>"$WORK/run.err" ||
    { cat "$WORK/run.err" >&2; exit 1; }
  after=$(cpu_ticks "${PID[$1]}")
  ((${#BESIDE_PIDS[@]} == 0)) || wait "${BESIDE_PIDS[@]}" || true  # (a miss answers NOT_FOUND)
  local errors
  errors=$(non_ok_statuses "$WORK/run.json")
  [[ -z $errors ]] || { echo "ab: server $1 answered errors: $errors" >&2; exit 1; }
  errors=$(unsent_calls "$WORK/run.json")  # open loop: the cap was full past the end
  [[ -z $errors ]] || echo "ab: server $1: calls due but never sent (not in the figures): $errors" >&2
  jq -r --argjson us "$(((after - before) * TICK_US))" '"\(.rps) \($us / .count) \(.p99_ms)"' "$WORK/run.json"
}

A_RPS=() B_RPS=() RATIOS=() A_CPU=() B_CPU=() CPU_RATIOS=() A_P99=() B_P99=()
echo "A: $A_BIN ${A_ENV:-} ${A_ARGS:-}"
echo "B: $B_BIN ${B_ENV:-} ${B_ARGS:-}"
echo "$METHOD, plaintext, $CONCURRENCY in flight${RPS:+ at most, $RPS calls/s offered}" \
  "on $CONNECTIONS connections," \
  "${BESIDE:+beside $BESIDE, }" \
  "$DURATION a run, $ROUNDS rounds;" \
  "µs = server CPU per call, ms = p99 latency"
for round in $(seq "$ROUNDS"); do
  read -r a a_cpu a_p99 <<<"$(run A)"
  read -r b b_cpu b_p99 <<<"$(run B)"
  A_P99+=("$a_p99") B_P99+=("$b_p99")
  A_RPS+=("$a") B_RPS+=("$b") RATIOS+=("$(awk "BEGIN {print $b / $a}")")
  A_CPU+=("$a_cpu") B_CPU+=("$b_cpu") CPU_RATIOS+=("$(awk "BEGIN {print $b_cpu / $a_cpu}")")
  printf '  round %2d   A %6.0f/s %5.1f µs %5.2f ms   B %6.0f/s %5.1f µs %5.2f ms   B/A %.3f req/s  %.3f µs\n' \
    "$round" "$a" "$a_cpu" "$a_p99" "$b" "$b_cpu" "$b_p99" "${RATIOS[-1]}" "${CPU_RATIOS[-1]}"
done
printf 'median     A %6.0f/s %5.1f µs %5.2f ms   B %6.0f/s %5.1f µs %5.2f ms   B/A %.3f req/s  %.3f µs\n' \
  "$(median "${A_RPS[@]}")" "$(median "${A_CPU[@]}")" "$(median "${A_P99[@]}")" \
  "$(median "${B_RPS[@]}")" "$(median "${B_CPU[@]}")" "$(median "${B_P99[@]}")" \
  "$(median "${RATIOS[@]}")" "$(median "${CPU_RATIOS[@]}")"
