#!/usr/bin/env bash
# Runs the Hermes stack natively from the release build: what `make up` does after building.
#   deploy/up.sh          run in the foreground, each line prefixed with its process's name;
#                         Ctrl-C (or SIGTERM) stops every process cleanly
#   DETACH=1 deploy/up.sh run in the background; logs in var/log/, pids in var/run/
# The stack: hermes-user, hermes-order and a local Prometheus (Debian's package) scraping both.
#   deploy/up.sh --down   stop a detached stack
# Every setting below can come from the environment; the defaults are the ports of
# ARCHITECTURE.md. The end-to-end test (tests/e2e) runs this script on free loopback ports with
# its own STATE_DIR, so what it checks is the stack `make up` starts.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN_DIR=${BIN_DIR:-build/release/services}
STATE_DIR=${STATE_DIR:-var}  # stores, Prometheus data, logs and pids
RUN_DIR=$STATE_DIR/run
LOG_DIR=$STATE_DIR/log
STOP_TIMEOUT_S=${STOP_TIMEOUT_S:-20}
USER_GRPC_PORT=${USER_GRPC_PORT:-50051}
USER_METRICS_PORT=${USER_METRICS_PORT:-9091}
ORDER_GRPC_PORT=${ORDER_GRPC_PORT:-50052}
ORDER_METRICS_PORT=${ORDER_METRICS_PORT:-9092}
PROMETHEUS_PORT=${PROMETHEUS_PORT:-9090}
BIND_HOST=${BIND_HOST:-0.0.0.0}  # the services' listen address (the tests use 127.0.0.1)
SCRAPE_INTERVAL=${SCRAPE_INTERVAL:-5s}

CERTS=${CERTS:-certs}  # made by `make certs` (deploy/certs/gen-certs.sh): development only

# The authorization policy the services run on, and reload when it changes. By default a copy
# of the shipped deploy/authz/policy.json, made on the first run and then left alone: edit the
# copy, not the tracked file (which is also compiled in as the binaries' default policy).
POLICY=${POLICY:-$STATE_DIR/authz/policy.json}

tls_flags() {  # tls_flags IDENTITY
  echo "--tls_ca=$CERTS/ca.pem --tls_cert=$CERTS/$1/cert.pem --tls_key=$CERTS/$1/key.pem" \
    "--authz_policy=$POLICY"
}

# Prometheus reads deploy/prometheus/prometheus-local.yml, with the ports above written in
# (unchanged on the default ports) and the rule file's path made absolute.
PROMETHEUS_CONFIG=$STATE_DIR/prometheus.yml
render_prometheus_config() {
  # `t` ends a line's edits at its first substitution: the user target rewritten to 9092 must
  # not then be taken for the order target.
  sed -e "s/\"localhost:9091\"/\"localhost:$USER_METRICS_PORT\"/;t" \
      -e "s/\"localhost:9092\"/\"localhost:$ORDER_METRICS_PORT\"/;t" \
      -e "s/^\(  *scrape_interval:\).*/\1 $SCRAPE_INTERVAL/" \
      -e "s/^\(  *evaluation_interval:\).*/\1 $SCRAPE_INTERVAL/" \
      -e "s|^  - alerts.yml|  - $PWD/deploy/prometheus/alerts.yml|" \
      deploy/prometheus/prometheus-local.yml >"$PROMETHEUS_CONFIG"
}

# name, binary, arguments: every service on its ports, mTLS with its own identity, the shipped
# policy file ($POLICY: edit it, the services reload it), SQLite under $STATE_DIR/<name>.
SERVICES=(
  "user|$BIN_DIR/user/hermes-user|$(tls_flags user) --grpc_addr=$BIND_HOST:$USER_GRPC_PORT --metrics_addr=$BIND_HOST:$USER_METRICS_PORT --data_dir=$STATE_DIR/user"
  "order|$BIN_DIR/order/hermes-order|$(tls_flags order) --grpc_addr=$BIND_HOST:$ORDER_GRPC_PORT --metrics_addr=$BIND_HOST:$ORDER_METRICS_PORT --data_dir=$STATE_DIR/order --user_service_addr=dns:///localhost:$USER_GRPC_PORT"
  "prometheus|$(command -v prometheus || echo /usr/bin/prometheus)|--config.file=$PROMETHEUS_CONFIG --web.listen-address=127.0.0.1:$PROMETHEUS_PORT --storage.tsdb.path=$STATE_DIR/prometheus --log.level=warn"
)

stop_pids() {  # stop_pids PID...: SIGTERM, then wait (bounded) for each to exit
  local pid deadline=$((SECONDS + STOP_TIMEOUT_S))
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "$@"; do
    while kill -0 "$pid" 2>/dev/null; do
      if ((SECONDS >= deadline)); then
        echo "up: pid $pid did not stop within ${STOP_TIMEOUT_S}s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.1
    done
  done
}

# live_pid NAME: the pid in NAME's pid file, if that process still runs NAME's binary. A pid file
# left behind (a reboot after DETACH=1, a crash) may name another process by now: that one is
# never signalled, and the stale file is removed.
live_pid() {
  local file=$RUN_DIR/$1.pid entry binary="" pid exe
  [[ -f $file ]] || return 0
  for entry in "${SERVICES[@]}"; do
    [[ ${entry%%|*} == "$1" ]] && { binary=$(cut -d'|' -f2 <<<"$entry"); break; }
  done
  pid=$(<"$file")
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
  exe=${exe% (deleted)}  # the binary was rebuilt while it ran
  if [[ $pid =~ ^[0-9]+$ && -n $binary && -n $exe && $exe == "$(readlink -f "$binary")" ]]; then
    echo "$pid"
  else
    rm -f "$file"
  fi
}

if [[ ${1:-} == --down ]]; then
  pids=()
  for entry in "${SERVICES[@]}"; do
    pid=$(live_pid "${entry%%|*}")
    [[ -z $pid ]] || pids+=("$pid")
  done
  if ((${#pids[@]} == 0)); then
    echo "down: no detached stack is running"
    exit 0
  fi
  stop_pids "${pids[@]}"
  rm -f "$RUN_DIR"/*.pid
  echo "down: stopped ${#pids[@]} processes"
  exit 0
fi

mkdir -p "$RUN_DIR" "$LOG_DIR"
if [[ ! -e $POLICY && $POLICY == "$STATE_DIR/authz/policy.json" ]]; then
  mkdir -p "$(dirname "$POLICY")"
  cp deploy/authz/policy.json "$POLICY"
  echo "up: the authorization policy is $POLICY (a copy of deploy/authz/policy.json): edit it" \
    "there, the services reload it" >&2
fi
render_prometheus_config
for entry in "${SERVICES[@]}"; do
  IFS='|' read -r name binary _ <<<"$entry"
  if [[ ! -x $binary ]]; then
    if [[ $name == prometheus ]]; then
      echo "up: prometheus is missing: run 'make deps' (Debian's package)" >&2
    else
      echo "up: $binary is missing: run 'make up' (it builds first)" >&2
    fi
    exit 1
  fi
  pid=$(live_pid "$name")
  if [[ -n $pid ]]; then
    echo "up: $name is already running (pid $pid); 'make down' stops it" >&2
    exit 1
  fi
done

# A port someone else listens on would fail one process after the others started, or worse,
# answer the readiness check for it (Debian's own Prometheus service on 9090).
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port_name in "$USER_GRPC_PORT:USER_GRPC_PORT" "$USER_METRICS_PORT:USER_METRICS_PORT" \
  "$ORDER_GRPC_PORT:ORDER_GRPC_PORT" "$ORDER_METRICS_PORT:ORDER_METRICS_PORT" \
  "$PROMETHEUS_PORT:PROMETHEUS_PORT"; do
  if port_taken "${port_name%%:*}"; then
    echo "up: port ${port_name%%:*} is taken by another process; stop it (for 9090, Debian's" \
      "Prometheus service: systemctl disable --now prometheus) or choose another port with" \
      "${port_name#*:}=..." >&2
    exit 1
  fi
done

# From here on a stop request (Ctrl-C, SIGTERM, the terminal closing) stops what has started:
# during start-up as well as once the stack is up. Closing the terminal takes our output with
# it, so SIGHUP sends the rest to /dev/null first (a failed write would end the script early).
stopping=false
trap 'stopping=true' INT TERM
trap 'exec >/dev/null 2>&1; stopping=true' HUP

pids=()
for entry in "${SERVICES[@]}"; do
  IFS='|' read -r name binary args <<<"$entry"
  read -r -a argv <<<"$args"
  if [[ ${DETACH:-0} == 1 ]]; then
    nohup "$binary" "${argv[@]}" >"$LOG_DIR/$name.log" 2>&1 &
  else
    # The prefixing sed ignores Ctrl-C's SIGINT (the terminal sends it to the whole group): it
    # must outlive its process, whose last lines (Prometheus's "received SIGINT" among them)
    # would otherwise hit a closed pipe; it ends when that process's output does.
    "$binary" "${argv[@]}" > >(trap '' INT; exec sed -u "s/^/[$name] /") 2>&1 &
  fi
  pids+=($!)
  echo $! >"$RUN_DIR/$name.pid"
done

# The banner waits until every process answers: the services' health (SERVING, over mTLS, with
# hermes-health-probe) and Prometheus's readiness endpoint. Bounded; a process that dies
# during start-up ends the wait at once.
PROBE=${PROBE:-build/release/deploy/health-probe/hermes-health-probe}
READY_TIMEOUT_S=${READY_TIMEOUT_S:-60}
ready() {  # ready NAME
  case $1 in
    user | order)
      local port=$USER_GRPC_PORT
      [[ $1 == order ]] && port=$ORDER_GRPC_PORT
      "$PROBE" --addr="localhost:$port" --tls_ca="$CERTS/ca.pem" \
        --tls_cert="$CERTS/admin/cert.pem" --tls_key="$CERTS/admin/key.pem" >/dev/null 2>&1 ;;
    prometheus) curl -fsS -o /dev/null "http://127.0.0.1:$PROMETHEUS_PORT/-/ready" 2>/dev/null ;;
  esac
}
abandon_start() {  # abandon_start MESSAGE STATUS: stop what has started, and exit
  echo "up: $1" >&2
  stop_pids "${pids[@]}"
  rm -f "$RUN_DIR"/*.pid
  exit "$2"
}
deadline=$((SECONDS + READY_TIMEOUT_S))
for i in "${!SERVICES[@]}"; do
  name=${SERVICES[$i]%%|*}
  until [[ $stopping == true ]] || ready "$name"; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null || ((SECONDS >= deadline)); then
      abandon_start "$name did not become ready$( ((SECONDS >= deadline)) && echo " within ${READY_TIMEOUT_S}s");\
 stopping the stack$( [[ ${DETACH:-0} == 1 ]] && echo " (its log: $LOG_DIR/$name.log)")" 1
    fi
    sleep 0.2
  done
done
[[ $stopping == false ]] || abandon_start "stopping the stack before it was ready" 130

otlp=${OTEL_EXPORTER_OTLP_TRACES_ENDPOINT:-${OTEL_EXPORTER_OTLP_ENDPOINT:-http://localhost:4317}}
cat <<BANNER
────────────────────────────────────────────────────────────────────────────────
 Hermes is up (mTLS with the DEVELOPMENT certificates in $CERTS/)
   user        gRPC localhost:$USER_GRPC_PORT   metrics http://localhost:$USER_METRICS_PORT/metrics
   order       gRPC localhost:$ORDER_GRPC_PORT   metrics http://localhost:$ORDER_METRICS_PORT/metrics
   Prometheus  http://localhost:$PROMETHEUS_PORT (alerts: deploy/prometheus/alerts.yml)
   traces      OTLP to $otlp (dropped and counted if nothing listens)
 Try it, as the admin identity (README.md "Walkthrough" has every rpc):
   grpcurl -cacert $CERTS/ca.pem -cert $CERTS/admin/cert.pem -key $CERTS/admin/key.pem \\
     -d '{"email": "ada@example.com", "display_name": "Ada"}' \\
     localhost:$USER_GRPC_PORT user.v1.UserService/CreateUser
   node_modules/.bin/buf curl --protocol grpc --cacert $CERTS/ca.pem \\
     --cert $CERTS/admin/cert.pem --key $CERTS/admin/key.pem \\
     -d '{}' https://localhost:$USER_GRPC_PORT/user.v1.UserService/ListUsers
$( [[ ${DETACH:-0} == 1 ]] && echo " Detached: logs in $LOG_DIR/; 'make down' stops it." || echo " Ctrl-C stops everything." )
────────────────────────────────────────────────────────────────────────────────
BANNER

[[ ${DETACH:-0} == 1 ]] && exit 0

# Ctrl-C reaches the whole process group, so the services start draining on their own and
# may exit before the trap runs; a service exits 0 only after such a signal. Either way,
# every process is stopped (bounded) before we exit.
status=0
[[ $stopping == true ]] || wait -n "${pids[@]}" || status=$?
trap - INT TERM HUP
if [[ $stopping == true || $status == 0 ]]; then
  echo "up: stopping the stack" >&2
  status=0
else
  echo "up: a process exited on its own (status $status); stopping the stack" >&2
  ((status != 0)) || status=1
fi
stop_pids "${pids[@]}"
rm -f "$RUN_DIR"/*.pid
echo "up: stopped" >&2
exit "$status"
