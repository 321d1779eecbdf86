# shellcheck shell=bash
# Shared by the bench scripts (sourced, not run): a throw-away work dir whose servers are stopped
# on exit, waiting for a server's "serving" line, a hermes-load report's errors, a median.

# bench_workdir NAME: sets WORK (a fresh /tmp/hermes-NAME.* directory, removed on exit) and PIDS
# (append the servers you start: each gets SIGTERM on exit).
bench_workdir() {
  WORK=$(mktemp -d "/tmp/hermes-$1.XXXXXX")
  PIDS=()
  trap bench_cleanup EXIT
}
bench_cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}

# serving_line PID LOGFILE: prints the server's "serving" log line (its JSON has grpc_port,
# metrics_port and ts) once it is there; if the server exits or SERVING_TIMEOUT seconds (30) pass
# first, prints its log to stderr and fails.
serving_line() {
  local deadline=$((SECONDS + ${SERVING_TIMEOUT:-30})) line=""
  until line=$(grep -m1 '"msg":"serving"' "$2" 2>/dev/null); do
    if ! kill -0 "$1" 2>/dev/null || ((SECONDS > deadline)); then
      cat "$2" >&2
      return 1
    fi
    sleep 0.01
  done
  printf '%s\n' "$line"
}

# non_ok_statuses REPORT: "Code=count,..." of the calls in a hermes-load JSON report that did
# not end OK, and "unsent=N" for an open-loop run's calls that were due but never left (the
# generator fell behind: their latency is in no figure); empty when all ended OK.
non_ok_statuses() {
  jq -r '[(.status | to_entries[] | select(.key != "OK") | "\(.key)=\(.value)"),
          (if (.unsent // 0) > 0 then "unsent=\(.unsent)" else empty end)] | join(",")' "$1"
}

# seconds DURATION: a hermes-load duration (250ms, 10s, 2m, 1h) in seconds, for arithmetic.
seconds() {
  awk -v d="$1" 'BEGIN {
    if (d ~ /ms$/) { print substr(d, 1, length(d) - 2) / 1000; exit }
    u = substr(d, length(d)); v = substr(d, 1, length(d) - 1)
    print (u == "h") ? v * 3600 : (u == "m") ? v * 60 : (u == "s") ? v : d }'
}

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
