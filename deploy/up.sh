#!/usr/bin/env bash
# Runs the Hermes stack natively from the release build: what `make up` does after building.
#   deploy/up.sh          run in the foreground, each line prefixed with its process's name;
#                         Ctrl-C (or SIGTERM) stops every process cleanly
#   DETACH=1 deploy/up.sh run in the background; logs in var/log/, pids in var/run/
# The stack: hermes-user, hermes-order and a local Prometheus (Debian's package) scraping both.
#   deploy/up.sh --down   stop a detached stack
set -euo pipefail
cd "$(dirname "$0")/.."

BIN_DIR=${BIN_DIR:-build/release/services}
RUN_DIR=var/run
LOG_DIR=var/log
STOP_TIMEOUT_S=${STOP_TIMEOUT_S:-20}

CERTS=${CERTS:-certs}  # made by `make certs` (deploy/certs/gen-certs.sh): development only

POLICY=${POLICY:-deploy/authz/policy.json}

tls_flags() {  # tls_flags IDENTITY
  echo "--tls_ca=$CERTS/ca.pem --tls_cert=$CERTS/$1/cert.pem --tls_key=$CERTS/$1/key.pem" \
    "--authz_policy=$POLICY"
}

# name, binary, arguments: every service on its default ports (ARCHITECTURE.md), mTLS with
# its own identity, the shipped policy file (edit it: the services reload it), SQLite under
# var/<name>.
SERVICES=(
  "user|$BIN_DIR/user/hermes-user|$(tls_flags user)"
  "order|$BIN_DIR/order/hermes-order|$(tls_flags order) --user_service_addr=dns:///localhost:50051"
  "prometheus|$(command -v prometheus || echo /usr/bin/prometheus)|--config.file=deploy/prometheus/prometheus-local.yml --web.listen-address=127.0.0.1:9090 --storage.tsdb.path=var/prometheus --log.level=warn"
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

if [[ ${1:-} == --down ]]; then
  shopt -s nullglob
  pids=()
  for file in "$RUN_DIR"/*.pid; do pids+=("$(<"$file")"); done
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
for entry in "${SERVICES[@]}"; do
  IFS='|' read -r name binary _ <<<"$entry"
  [[ -x $binary ]] || { echo "up: $binary is missing: run 'make up' (it builds first)" >&2; exit 1; }
  if [[ -f $RUN_DIR/$name.pid ]] && kill -0 "$(<"$RUN_DIR/$name.pid")" 2>/dev/null; then
    echo "up: $name is already running (pid $(<"$RUN_DIR/$name.pid")); 'make down' stops it" >&2
    exit 1
  fi
done

pids=()
for entry in "${SERVICES[@]}"; do
  IFS='|' read -r name binary args <<<"$entry"
  read -r -a argv <<<"$args"
  if [[ ${DETACH:-0} == 1 ]]; then
    nohup "$binary" "${argv[@]}" >"$LOG_DIR/$name.log" 2>&1 &
  else
    "$binary" "${argv[@]}" > >(sed -u "s/^/[$name] /") 2>&1 &
  fi
  pids+=($!)
  echo $! >"$RUN_DIR/$name.pid"
done

cat <<BANNER
────────────────────────────────────────────────────────────────────────────────
 Hermes is starting (mTLS with the development certificates in $CERTS/)
   user   gRPC localhost:50051   metrics http://localhost:9091/metrics
   order  gRPC localhost:50052   metrics http://localhost:9092/metrics
   Prometheus  http://localhost:9090 (scrapes both; alerts from deploy/prometheus/alerts.yml)
 Try (as the admin identity):
   grpcurl -cacert $CERTS/ca.pem -cert $CERTS/admin/cert.pem -key $CERTS/admin/key.pem \\
     localhost:50051 list
   node_modules/.bin/buf curl --protocol grpc --cacert $CERTS/ca.pem \\
     --cert $CERTS/admin/cert.pem --key $CERTS/admin/key.pem --list-services https://localhost:50051
$( [[ ${DETACH:-0} == 1 ]] && echo " Detached: logs in $LOG_DIR/, 'make down' stops it." || echo " Ctrl-C stops everything." )
────────────────────────────────────────────────────────────────────────────────
BANNER

[[ ${DETACH:-0} == 1 ]] && exit 0

# Ctrl-C reaches the whole process group, so the services start draining on their own and
# may exit before the trap runs; a service exits 0 only after such a signal. Either way,
# every process is stopped (bounded) before we exit.
stopping=false
trap 'stopping=true' INT TERM
status=0
wait -n "${pids[@]}" || status=$?
trap - INT TERM
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
