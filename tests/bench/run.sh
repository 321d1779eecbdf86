#!/usr/bin/env bash
# The Hermes benchmark suite: what `make bench` runs after building the release preset.
#
# The services run on a throw-away data dir, pinned to one core (SERVER_CPU); hermes-load
# (tests/load) drives them from the other (LOAD_CPU); everything on 127.0.0.1. It prints one
# table, with every target of issue #8 marked met / NOT MET, and writes the same table and a
# description of the machine to tests/bench/RESULTS.md (committed, so the figures travel with
# the code). Nothing here is pass/fail: a benchmark prints numbers, the tests assert behaviour.
#
#   tests/bench/run.sh                   the whole suite (about 12 minutes)
#   DURATION=5s WATCHERS="1000" tests/bench/run.sh      shorter runs, fewer watchers
#   RESULTS=/tmp/r.md tests/bench/run.sh                write the table elsewhere
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD=${BUILD:-build/release}
USER_BIN=$BUILD/services/user/hermes-user
ORDER_BIN=$BUILD/services/order/hermes-order
LOAD_BIN=$BUILD/tests/load/hermes-load
PROBE_BIN=$BUILD/deploy/health-probe/hermes-health-probe
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
USERS=${USERS:-10000}
WATCHERS=${WATCHERS:-"1000 10000"}
WRITES_PER_S=${WRITES_PER_S:-200}
ORDER_STREAMS=${ORDER_STREAMS:-1000}
UPLOADS=${UPLOADS:-5000}  # UploadOrderEvents streams, each moving its own order to DELIVERED
RESULTS=${RESULTS:-tests/bench/RESULTS.md}
ROUNDS=${ROUNDS:-3}  # interleaved runs of the chain-cost comparison; the median counts
SERVER_CPU=${SERVER_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}

for bin in "$USER_BIN" "$ORDER_BIN" "$LOAD_BIN" "$PROBE_BIN"; do
  [[ -x $bin ]] || { echo "bench: $bin is missing: run 'make bench' (it builds first)" >&2; exit 1; }
done
if (($(nproc) < 2)); then
  echo "bench: needs 2 cores (server and load generator pinned apart); this machine has $(nproc)" >&2
  exit 1
fi

# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
bench_workdir bench
deploy/certs/gen-certs.sh "$WORK/certs" 2>/dev/null
CERTS=$WORK/certs
MTLS=(--cacert "$CERTS/ca.pem" --cert "$CERTS/admin/cert.pem" --key "$CERTS/admin/key.pem")

log() { printf 'bench: %s\n' "$*" >&2; }

# ---- the table -------------------------------------------------------------------------------
ROWS=()  # scenario, figure, value, target, verdict: tab-separated
row() {
  ROWS+=("$1"$'\t'"$2"$'\t'"$3"$'\t'"${4:-}"$'\t'"${5:-}")
  printf '  %-42s %-26s %22s  %s %s\n' "$1" "$2" "$3" "${4:-}" "${5:-}" >&2
}
verdict() { if awk "BEGIN {exit !($1)}"; then echo "met"; else echo "NOT MET"; fi; }

# ---- processes ---------------------------------------------------------------------------------
# start_service NAME BINARY ARGS...: pinned to SERVER_CPU, port 0; sets PORT_<NAME>, PID_<NAME>,
# START_MS_<NAME> (exec to the "serving" log line).
start_service() {
  local name=$1 binary=$2
  shift 2
  local logfile=$WORK/$name.log t0
  t0=$(date +%s%N)
  taskset -c "$SERVER_CPU" "$binary" --grpc_addr=127.0.0.1:0 --metrics_addr=127.0.0.1:0 \
    --log_level=info "$@" >"$logfile" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  local line ts ready_ns
  line=$(serving_line "$pid" "$logfile") || { echo "bench: $name did not start" >&2; exit 1; }
  ts=$(jq -r .ts <<<"$line")
  ready_ns=$(date -d "$ts" +%s%N)
  printf -v "PORT_$name" '%s' "$(jq -r .grpc_port <<<"$line")"
  printf -v "METRICS_$name" '%s' "$(jq -r .metrics_port <<<"$line")"
  printf -v "PID_$name" '%s' "$pid"
  printf -v "START_MS_$name" '%s' "$(((ready_ns - t0) / 1000000))"
}

stop_service() {  # stop_service PID
  kill -TERM "$1" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while kill -0 "$1" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true  # gone, its files closed, before the caller copies them
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# load OUT ARGS...: hermes-load pinned to LOAD_CPU, its JSON report in $WORK/OUT.json.
load() {
  local out=$1
  shift
  taskset -c "$LOAD_CPU" "$LOAD_BIN" --format json "$@" >"$WORK/$out.json" 2>"$WORK/$out.err" ||
    { cat "$WORK/$out.err" >&2; echo "bench: hermes-load failed ($out)" >&2; exit 1; }
}
field() { jq -r "$2" "$WORK/$1.json"; }  # field OUT JQ_EXPR
# call PORT SERVICE/METHOD JSON: one call over mTLS (buf curl, on LOAD_CPU), the answer on stdout.
call() {
  taskset -c "$LOAD_CPU" node_modules/.bin/buf curl --protocol grpc "${MTLS[@]}" -d "$3" \
    "https://localhost:$1/$2"
}
errors_of() {  # the calls that did not end OK, and those an open-loop run never sent
  local statuses unsent
  statuses=$(non_ok_statuses "$WORK/$1.json")
  unsent=$(unsent_calls "$WORK/$1.json")
  if [[ -n $statuses && -n $unsent ]]; then echo "$statuses,$unsent"; else echo "$statuses$unsent"; fi
}
# errors_note OUT...: " errors: ..." for each run that had any (a row never hides them).
errors_note() {
  local out errors
  for out in "$@"; do
    errors=$(errors_of "$out")
    [[ -z $errors ]] || printf ' errors (%s): %s' "$out" "$errors"
  done
}
fmt() { printf "%.${2:-0}f" "$1"; }

# ---- 0. start-up and idle memory ---------------------------------------------------------------
log "user service: start-up, idle memory, preloading $USERS users"
DATA=$WORK/data
start_service user "$USER_BIN" --data_dir="$DATA/user" --max_streams=12000 \
  --tls_ca="$CERTS/ca.pem" --tls_cert="$CERTS/user/cert.pem" --tls_key="$CERTS/user/key.pem"
USER_ADDR=127.0.0.1:$PORT_user
row "start-up" "exec to SERVING" "${START_MS_user} ms" "≤ 200 ms" "$(verdict "$START_MS_user <= 200")"
"$PROBE_BIN" --addr="$USER_ADDR" --tls_ca="$CERTS/ca.pem" --tls_cert="$CERTS/admin/cert.pem" \
  --tls_key="$CERTS/admin/key.pem" >/dev/null
IDLE_KB=$(rss_kb "$PID_user")
row "idle" "resident memory" "$(fmt "$(awk "BEGIN {print $IDLE_KB / 1024}")" 1) MB" "≤ 30 MB" "$(verdict "$IDLE_KB <= 30*1024")"

load preload --call user.v1.UserService/CreateUser --addr "$USER_ADDR" "${MTLS[@]}" \
  --concurrency 64 --total "$USERS" \
  -d '{"email": "preload{{n}}@bench.test", "display_name": "Preloaded {{n}}"}'
[[ $(field preload '.status.OK // 0') == "$USERS" ]] ||
  { echo "bench: preloading failed: $(errors_of preload)" >&2; exit 1; }
USER_ID=$(call "$PORT_user" user.v1.UserService/ListUsers '{"page": {"page_size": 1}}' |
  jq -r '.users[0].id')

# ---- 1. GetUser, full chain over mTLS ----------------------------------------------------------
declare -A GET_RPS GET_P99
for c in 1 16 64; do
  log "GetUser, full chain, mTLS, $c in flight"
  load "get_chain_$c" --call user.v1.UserService/GetUser --addr "$USER_ADDR" "${MTLS[@]}" \
    --concurrency "$c" --connections "$(((c + 15) / 16))" --duration "$DURATION" --warmup "$WARMUP" \
    -d "{\"id\": \"$USER_ID\"}"
  GET_RPS[chain_$c]=$(field "get_chain_$c" .rps)
  GET_P99[chain_$c]=$(field "get_chain_$c" .p99_ms)
  row "GetUser full chain mTLS, $c in flight" "req/s | p50 | p99 (ms)" \
    "$(fmt "${GET_RPS[chain_$c]}") | $(fmt "$(field "get_chain_$c" .p50_ms)" 3) | $(fmt "${GET_P99[chain_$c]}" 3)" \
    "$([[ $c == 16 ]] && echo "p99 ≤ 1 ms")" \
    "$([[ $c == 16 ]] && verdict "${GET_P99[chain_16]} <= 1")$(errors_note "get_chain_$c")"
done

# ---- 3. CreateUser, durable --------------------------------------------------------------------
for c in 1 16 64; do
  log "CreateUser (durable), $c in flight"
  load "create_$c" --call user.v1.UserService/CreateUser --addr "$USER_ADDR" "${MTLS[@]}" \
    --concurrency "$c" --connections "$(((c + 15) / 16))" --duration "$DURATION" --warmup "$WARMUP" \
    -d "{\"email\": \"c$c-{{n}}@bench.test\", \"display_name\": \"Created {{n}}\"}"
  rps=$(field "create_$c" .rps)
  row "CreateUser durable, $c in flight" "req/s | p50 | p99 (ms)" \
    "$(fmt "$rps") | $(fmt "$(field "create_$c" .p50_ms)" 3) | $(fmt "$(field "create_$c" .p99_ms)" 3)" \
    "$([[ $c == 64 ]] && echo "≥ 5,000/s")" \
    "$([[ $c == 64 ]] && verdict "$rps >= 5000")$(errors_note "create_$c")"
done

# ---- 4. ListUsers, a page of 20 ----------------------------------------------------------------
log "ListUsers, page of 20, 16 in flight"
load list_16 --call user.v1.UserService/ListUsers --addr "$USER_ADDR" "${MTLS[@]}" \
  --concurrency 16 --duration "$DURATION" --warmup "$WARMUP" \
  -d '{"page": {"page": 7, "page_size": 20}}'
row "ListUsers page of 20, 16 in flight" "req/s | p50 | p99 (ms)" \
  "$(fmt "$(field list_16 .rps)") | $(fmt "$(field list_16 .p50_ms)" 3) | $(fmt "$(field list_16 .p99_ms)" 3)" \
  "" "$(errors_note list_16)"

# ---- 5. CreateOrder, and 7. StreamOrderUpdates -------------------------------------------------
log "order service: CreateOrder, then StreamOrderUpdates"
start_service order "$ORDER_BIN" --data_dir="$DATA/order" --max_streams=12000 \
  --user_service_addr="dns:///127.0.0.1:$PORT_user" \
  --tls_ca="$CERTS/ca.pem" --tls_cert="$CERTS/order/cert.pem" --tls_key="$CERTS/order/key.pem"
ORDER_ADDR=127.0.0.1:$PORT_order
load create_order_16 --call order.v1.OrderService/CreateOrder --addr "$ORDER_ADDR" "${MTLS[@]}" \
  --concurrency 16 --duration "$DURATION" --warmup "$WARMUP" \
  -d "{\"user_id\": \"$USER_ID\", \"items\": [{\"product_id\": \"p-{{n}}\", \"quantity\": 1, \"price_cents\": 100}]}"
row "CreateOrder (+1 GetUser), 16 in flight" "req/s | p50 | p99 (ms)" \
  "$(fmt "$(field create_order_16 .rps)") | $(fmt "$(field create_order_16 .p50_ms)" 3) | $(fmt "$(field create_order_16 .p99_ms)" 3)" \
  "" "$(errors_note create_order_16)"

# ---- UploadOrderEvents: fulfillment's durable stream (not one of issue #8's scenarios) ---------
# UPLOADS orders of one user of their own, their ids listed (ListOrders needs the user); then
# one stream per order, CONFIRMED, SHIPPED, DELIVERED, three durable writes each. The answer's
# rejections are not in hermes-load's report, so the DELIVERED count checks that none was.
log "UploadOrderEvents: $UPLOADS streams of 3 events, 16 in flight"
call_order() { call "$PORT_order" "order.v1.OrderService/$1" "$2"; }  # call_order METHOD JSON
UPLOADER_ID=$(call "$PORT_user" user.v1.UserService/CreateUser \
  '{"email": "uploader@bench.test", "display_name": "Uploader"}' | jq -r .user.id)
load upload_orders --call order.v1.OrderService/CreateOrder --addr "$ORDER_ADDR" "${MTLS[@]}" \
  --concurrency 16 --total "$UPLOADS" \
  -d "{\"user_id\": \"$UPLOADER_ID\", \"items\": [{\"product_id\": \"up-{{n}}\", \"quantity\": 1, \"price_cents\": 1}]}"
[[ $(field upload_orders '.status.OK // 0') == "$UPLOADS" ]] ||
  { echo "bench: creating the orders to upload events for failed: $(errors_of upload_orders)" >&2; exit 1; }
: >"$WORK/upload_ids"
for ((page = 1; page <= (UPLOADS + 99) / 100; page++)); do
  call_order ListOrders "{\"user_id\": \"$UPLOADER_ID\", \"page\": {\"page\": $page, \"page_size\": 100}}" |
    jq -r '.orders[].id' >>"$WORK/upload_ids"
done
load upload_16 --call order.v1.OrderService/UploadOrderEvents --addr "$ORDER_ADDR" "${MTLS[@]}" \
  --concurrency 16 --total "$UPLOADS" --values_file "$WORK/upload_ids" \
  -d '[{"order_id": "{{value}}", "new_status": "ORDER_STATUS_CONFIRMED"},
       {"order_id": "{{value}}", "new_status": "ORDER_STATUS_SHIPPED"},
       {"order_id": "{{value}}", "new_status": "ORDER_STATUS_DELIVERED"}]'
delivered=$(call_order ListOrders \
  "{\"user_id\": \"$UPLOADER_ID\", \"status_filter\": \"ORDER_STATUS_DELIVERED\", \"page\": {\"page_size\": 1}}" |
  jq -r '.page.total // 0')
upload_note=$(errors_note upload_16)
((delivered == UPLOADS)) || upload_note+=" only $delivered of $UPLOADS orders DELIVERED"
row "UploadOrderEvents, 3 events a stream, 16 in flight" "streams/s | p50 | p99 (ms)" \
  "$(fmt "$(field upload_16 .rps)") | $(fmt "$(field upload_16 .p50_ms)" 3) | $(fmt "$(field upload_16 .p99_ms)" 3)" \
  "" "$upload_note"

# Five orders every stream tracks; UploadOrderEvents moves them on while the streams are open.
ORDERS=()
for i in 1 2 3 4 5; do
  ORDERS+=("$(call_order CreateOrder \
    "{\"user_id\": \"$USER_ID\", \"items\": [{\"product_id\": \"tracked-$i\", \"quantity\": 1, \"price_cents\": 1}]}" |
    jq -r .order.id)")
done
subscribe=$(printf '{"order_id": "%s"} ' "${ORDERS[@]}" | jq -s -c .)
before_kb=$(rss_kb "$PID_order")
ready=$WORK/order_streams.ready
# The run ends by itself once all it should get has arrived (each stream: the 5 current statuses,
# then 3 changes of each order), or after 60 s: a run stopped as soon as the server had sent the
# last change could miss messages still on their way (one run counted 12,298 of 15,000).
taskset -c "$LOAD_CPU" "$LOAD_BIN" --format json --call order.v1.OrderService/StreamOrderUpdates \
  --addr "$ORDER_ADDR" "${MTLS[@]}" --streams "$ORDER_STREAMS" --connections 4 --duration 60s \
  --stream_messages $((ORDER_STREAMS * 5 * 4)) \
  --latency_field updated_at --streams_ready_file "$ready" -d "$subscribe" \
  >"$WORK/order_streams.json" 2>"$WORK/order_streams.err" &
streams_pid=$!
deadline=$((SECONDS + 60))
until [[ -f $ready ]] || ((SECONDS > deadline)) || ! kill -0 "$streams_pid" 2>/dev/null; do sleep 0.1; done
[[ -f $ready ]] || { cat "$WORK/order_streams.err" >&2; echo "bench: order streams did not open" >&2; exit 1; }
# Waits rather than sleeps: the order service's own count of what it has sent.
# order_stream_sent: StreamOrderUpdates messages sent so far (grpc_server_msg_sent_total).
order_stream_sent() {
  curl -fsS "http://127.0.0.1:$METRICS_order/metrics" |
    awk '/^grpc_server_msg_sent_total\{/ && /grpc_method="StreamOrderUpdates"/ {n += $NF} END {printf "%d", n}'
}
wait_order_stream_sent() {  # wait_order_stream_sent N TIMEOUT_S: until N are sent (or say so)
  local deadline=$((SECONDS + $2))
  until (($(order_stream_sent) >= $1)); do
    if ((SECONDS > deadline)); then
      log "StreamOrderUpdates: only $(order_stream_sent) of $1 messages sent within $2 s"
      return
    fi
    sleep 0.05
  done
}
# Every stream got its five orders' current statuses before memory is measured.
wait_order_stream_sent $((ORDER_STREAMS * 5)) 30
open_kb=$(rss_kb "$PID_order")
for status in CONFIRMED SHIPPED DELIVERED; do
  events=$(printf '{"order_id": "%s", "new_status": "ORDER_STATUS_'$status'"} ' "${ORDERS[@]}")
  call_order UploadOrderEvents "$events" >/dev/null
done
wait "$streams_pid" || true
row "StreamOrderUpdates $ORDER_STREAMS streams × 5 orders" "memory per stream" \
  "$(fmt "$(awk "BEGIN {print ($open_kb - $before_kb) / $ORDER_STREAMS}")" 1) KB"
# Counted: messages received once every stream is open, i.e. the 3 changes of each of the 5
# orders on every stream, plus the few current statuses (sent at subscribe) that arrive after
# the last stream opened.
row "StreamOrderUpdates $ORDER_STREAMS streams × 5 orders" "messages | delivery p99 (ms)" \
  "$(field order_streams '.streams.messages // 0') | $(fmt "$(field order_streams '.streams.delivery_p99_ms // "nan"')" 1)" \
  "$((ORDER_STREAMS * 5 * 3)) changes" "$(errors_note order_streams)"
stop_service "$PID_order"

# ---- 6. WatchUsers fan-out (last on this instance: a backlog of undelivered events keeps the
# server busy after the writes stop) ------------------------------------------------------------
for n in $WATCHERS; do
  log "WatchUsers: $n watchers, $WRITES_PER_S writes/s"
  before_kb=$(rss_kb "$PID_user")
  ready=$WORK/watchers_$n.ready
  # The writes cover GetUser's whole run (its warm-up too), then the watchers get 20 s more.
  warmup_s=$(seconds "$WARMUP")
  duration_s=$(seconds "$DURATION")
  writes_s=$(awk "BEGIN {print $warmup_s + $duration_s}")
  watch_s=$(awk "BEGIN {print $writes_s + 20}")
  taskset -c "$LOAD_CPU" "$LOAD_BIN" --format json --call user.v1.UserService/WatchUsers \
    --addr "$USER_ADDR" "${MTLS[@]}" --streams "$n" --connections "$(((n + 499) / 500))" --duration "${watch_s}s" \
    --latency_field event_time --streams_ready_file "$ready" -d '{"after_sequence": 0}' \
    >"$WORK/watch_$n.json" 2>"$WORK/watch_$n.err" &
  watch_pid=$!
  deadline=$((SECONDS + 60))
  until [[ -f $ready ]] || ((SECONDS > deadline)) || ! kill -0 "$watch_pid" 2>/dev/null; do sleep 0.1; done
  [[ -f $ready ]] || { cat "$WORK/watch_$n.err" >&2; echo "bench: watchers did not open" >&2; exit 1; }
  open_kb=$(rss_kb "$PID_user")
  load "watch_writes_$n" --call user.v1.UserService/CreateUser --addr "$USER_ADDR" "${MTLS[@]}" \
    --rps "$WRITES_PER_S" --duration "${writes_s}s" \
    -d "{\"email\": \"w$n-{{n}}@bench.test\", \"display_name\": \"Watched {{n}}\"}" &
  writes_pid=$!
  load "watch_get_$n" --call user.v1.UserService/GetUser --addr "$USER_ADDR" "${MTLS[@]}" \
    --concurrency 16 --duration "$DURATION" --warmup "$WARMUP" -d "{\"id\": \"$USER_ID\"}"
  wait "$writes_pid"
  wait "$watch_pid" || true  # 20 s after the writes: what was still on its way is counted
  # A connection carries at most 1,000 streams (the server's HTTP/2 limit): 500 a connection
  # keeps every watcher open; the table says how many were.
  opened=$(field "watch_$n" '.streams.opened // 0')
  row "WatchUsers $n watchers" "streams opened | ended early" \
    "$opened | $(field "watch_$n" '[.streams.ended_early // {} | to_entries[] | "\(.key)=\(.value)"] | join(",")')"
  per_watcher_kb=$(awk "BEGIN {print ($open_kb - $before_kb) / ($opened > 0 ? $opened : 1)}")
  p99=$(field "watch_$n" '.streams.delivery_p99_ms // "nan"')
  row "WatchUsers $n watchers" "memory per watcher" "$(fmt "$per_watcher_kb" 1) KB" \
    "$([[ $n == 10000 ]] && echo "≤ 20 KB")" "$([[ $n == 10000 ]] && verdict "$per_watcher_kb <= 20")"
  row "WatchUsers $n watchers" "delivery p50 | p99 (ms)" \
    "$(fmt "$(field "watch_$n" '.streams.delivery_p50_ms // "nan"')" 1) | $(fmt "$p99" 1)" \
    "$([[ $n == 10000 ]] && echo "p99 ≤ 50 ms")" "$([[ $n == 10000 ]] && verdict "$p99 <= 50")"
  # In total, not per second: watchers that fall behind end early, so a rate over the run's
  # window would mostly measure how long they have been gone.
  written=$(field "watch_writes_$n" '.status.OK // 0')
  row "WatchUsers $n watchers" "messages delivered" \
    "$(field "watch_$n" '.streams.messages // 0') of $((n * written))" "$n watchers × $written writes" \
    "$(errors_note "watch_writes_$n")"
  get_p99=$(field "watch_get_$n" .p99_ms)
  row "WatchUsers $n watchers" "GetUser p99 at 16 (ms)" "$(fmt "$get_p99" 3)" \
    "≤ 2 × idle ($(fmt "${GET_P99[chain_16]}" 3))" \
    "$(verdict "$get_p99 <= 2 * ${GET_P99[chain_16]}")$(errors_note "watch_get_$n")"
done

# ---- 2. GetUser, no chain, plaintext: the ceiling ----------------------------------------------
stop_service "$PID_user"
# The three servers below run at once, and one process writes a store's file (its writer lock):
# each gets its own copy of the preloaded data.
for copy in bare chain plain; do cp -a "$DATA/user" "$DATA/user-$copy"; done
start_service bare "$USER_BIN" --data_dir="$DATA/user-bare" --insecure --bench_no_chain
for c in 1 16 64; do
  log "GetUser, no chain, plaintext, $c in flight"
  load "get_bare_$c" --call user.v1.UserService/GetUser --addr "127.0.0.1:$PORT_bare" --insecure \
    --concurrency "$c" --connections "$(((c + 15) / 16))" --duration "$DURATION" --warmup "$WARMUP" \
    -d "{\"id\": \"$USER_ID\"}"
  GET_RPS[bare_$c]=$(field "get_bare_$c" .rps)
  row "GetUser no chain plaintext, $c in flight" "req/s | p50 | p99 (ms)" \
    "$(fmt "${GET_RPS[bare_$c]}") | $(fmt "$(field "get_bare_$c" .p50_ms)" 3) | $(fmt "$(field "get_bare_$c" .p99_ms)" 3)" \
    "" "$(errors_note "get_bare_$c")"
done

# ---- The chain's cost: median of interleaved runs at 64 in flight -----------------------------
# One run of each is at the mercy of this machine's neighbours (±20 % from run to run), so the
# ratio the target is judged on comes from ROUNDS rounds of the three servers taken in turn:
# full chain over mTLS, full chain over plaintext (what the stages cost without TLS), no chain.
start_service chain "$USER_BIN" --data_dir="$DATA/user-chain" \
  --tls_ca="$CERTS/ca.pem" --tls_cert="$CERTS/user/cert.pem" --tls_key="$CERTS/user/key.pem"
start_service plain "$USER_BIN" --data_dir="$DATA/user-plain" --insecure
declare -A RUNS
ratio_runs=()  # every round's report, for the errors of the ratio's row
for round in $(seq "$ROUNDS"); do
  for server in chain plain bare; do
    log "GetUser at 64 in flight, $server, round $round of $ROUNDS"
    port_var=PORT_$server
    if [[ $server == chain ]]; then creds=("${MTLS[@]}"); else creds=(--insecure); fi
    load "ratio_${server}_$round" --call user.v1.UserService/GetUser --addr "127.0.0.1:${!port_var}" \
      "${creds[@]}" --concurrency 64 --connections 4 --duration "$DURATION" --warmup "$WARMUP" \
      -d "{\"id\": \"$USER_ID\"}"
    RUNS[$server]+=" $(field "ratio_${server}_$round" .rps)"
    ratio_runs+=("ratio_${server}_$round")
  done
done
for server in chain plain bare; do
  # shellcheck disable=SC2086 # the runs are a space-separated list of numbers
  GET_RPS[median_$server]=$(median ${RUNS[$server]})
done
stop_service "$PID_chain"
stop_service "$PID_plain"
stop_service "$PID_bare"
row "GetUser at 64, median of $ROUNDS interleaved" "req/s: chain mTLS | plain | none" \
  "$(fmt "${GET_RPS[median_chain]}") | $(fmt "${GET_RPS[median_plain]}") | $(fmt "${GET_RPS[median_bare]}")"
ratio=$(awk "BEGIN {print 100 * ${GET_RPS[median_chain]} / ${GET_RPS[median_bare]}}")
row "GetUser chain ÷ no chain, 64 in flight" "throughput ratio" "$(fmt "$ratio" 1) %" "≥ 85 %" \
  "$(verdict "$ratio >= 85")$(errors_note "${ratio_runs[@]}")"
row "GetUser chain plaintext ÷ no chain, 64" "throughput ratio (stages only)" \
  "$(fmt "$(awk "BEGIN {print 100 * ${GET_RPS[median_plain]} / ${GET_RPS[median_bare]}}")" 1) %"
row "GetUser chain mTLS ÷ chain plaintext, 64" "throughput ratio (mTLS only)" \
  "$(fmt "$(awk "BEGIN {print 100 * ${GET_RPS[median_chain]} / ${GET_RPS[median_plain]}}")" 1) %"

# ---- RESULTS.md --------------------------------------------------------------------------------
# Described before the file is written (its truncation would count as a local change), and
# without the results file itself: what matters is whether the code differs from the commit.
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- . ":(exclude)tests/bench/RESULTS.md" 2>/dev/null || COMMIT+=" (with local changes)"
{
  echo "# Benchmark results"
  echo
  echo "Written by \`make bench\` (tests/bench/run.sh) on $(date -u +%Y-%m-%d) at commit"
  echo "\`$COMMIT\`."
  echo
  echo "Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores," \
    "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, Linux $(uname -r)," \
    "$(. /etc/os-release && echo "$PRETTY_NAME")."
  echo "Server pinned to CPU $SERVER_CPU, hermes-load to CPU $LOAD_CPU (taskset); 127.0.0.1 only;"
  echo "release build (RelWithDebInfo); runs of $DURATION after $WARMUP of warm-up; $USERS users preloaded."
  echo "Tracing on with the default sampler (parentbased_always_on) and no collector: spans are"
  echo "exported to nothing, dropped and counted, as on a machine without Jaeger."
  echo
  echo "| scenario | figure | value | target | |"
  echo "|---|---|---|---|---|"
  for r in "${ROWS[@]}"; do
    printf '| %s |\n' "$(sed -e 's/|/\\|/g' -e 's/\t/ | /g' <<<"$r")"
  done
} >"$RESULTS"
log "table written to $RESULTS"
