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
# not end OK; empty when all did.
non_ok_statuses() {
  jq -r '[.status | to_entries[] | select(.key != "OK") | "\(.key)=\(.value)"] | join(",")' "$1"
}

# unsent_calls REPORT: "unsent=N" for an open-loop run's calls that were due but never left
# (the generator's cap was full until one --timeout past the end: their latency is in no
# figure); empty when none.
unsent_calls() { jq -r 'if (.unsent // 0) > 0 then "unsent=\(.unsent)" else "" end' "$1"; }

# seconds DURATION: a hermes-load duration (250ms, 10s, 1m30s, 1.5h) in seconds, for
# arithmetic; anything else is an error.
seconds() {
  awk -v d="$1" 'BEGIN {
    rest = d; total = 0
    while (match(rest, /^[0-9]+(\.[0-9]+)?(h|m|s|ms|us|ns)/)) {
      part = substr(rest, 1, RLENGTH); rest = substr(rest, RLENGTH + 1)
      match(part, /[a-z]+$/); unit = substr(part, RSTART); value = substr(part, 1, RSTART - 1)
      scale = 1e-9
      if (unit == "h") scale = 3600; else if (unit == "m") scale = 60; else if (unit == "s") scale = 1
      else if (unit == "ms") scale = 1e-3; else if (unit == "us") scale = 1e-6
      total += value * scale
    }
    if (d == "" || rest != "") { print "bench: not a duration: " d > "/dev/stderr"; exit 1 }
    print total }'
}

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
