#!/usr/bin/env bash
# Installs what Hermes needs to build, test and run on Debian 12, and only what is missing:
# a second run with everything present makes no network call and takes well under a second.
#   1. Debian packages (apt), as root or through sudo;
#   2. npm tools pinned by package-lock.json (buf, google-proto-files) into node_modules/;
#   3. the third-party .proto files buf compiles against, copied into .deps/proto/ from
#      those packages (never committed: see buf.yaml).
# `make deps` runs it; `make build`, `make test` and `make up` run `make deps` first.
set -euo pipefail
cd "$(dirname "$0")/.."

# Libraries and tools the build, the tests and `make up` use.
APT_PACKAGES=(
  cmake ninja-build g++ make git pkg-config ca-certificates openssl curl clang-format
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libabsl-dev libspdlog-dev prometheus-cpp-dev libsqlite3-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev nghttp2-client jq
)
# Installed without recommends: `prometheus` would otherwise drag in node-exporter and more,
# `clang` (only its thread-safety analysis is used, by the static.thread_safety test) llvm-dev.
APT_PACKAGES_NO_RECOMMENDS=(prometheus clang)

log() { printf 'deps: %s\n' "$*" >&2; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    log "need root to run: $*  (run as root, or install sudo)"
    exit 1
  fi
}

missing_packages() {
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
      printf '%s\n' "$pkg"
  done
}

apt_updated=false
apt_install() {  # apt_install [apt options...] -- packages...
  local opts=()
  while [[ $1 != -- ]]; do opts+=("$1"); shift; done
  shift
  [[ $# -gt 0 ]] || return 0
  log "installing Debian packages: $*"
  # Right after a cloud machine boots, unattended-upgrades often holds dpkg's lock: wait for it
  # (bounded) rather than fail the first `make up`.
  local lock=(-o DPkg::Lock::Timeout=300)
  if [[ $apt_updated == false ]]; then
    as_root apt-get "${lock[@]}" update -qq
    apt_updated=true
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get "${lock[@]}" install -y -qq "${opts[@]}" \
    "$@" >/dev/null
}

mapfile -t missing < <(missing_packages "${APT_PACKAGES[@]}")
# node and npm may come from outside Debian (as on our build machines): a working command is
# enough; otherwise Debian's packages do.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
apt_install -- "${missing[@]}"
mapfile -t missing < <(missing_packages "${APT_PACKAGES_NO_RECOMMENDS[@]}")
apt_install --no-install-recommends -- "${missing[@]}"
# Debian's prometheus package enables and starts its own service (on :9090, with Debian's
# config) where systemd runs; `make up` runs a Prometheus of its own on that port. Installed by
# us just now, the package's service is stopped and disabled; one that was there before is the
# machine owner's, and left alone (`make up` then names it).
if [[ " ${missing[*]} " == *" prometheus "* && -d /run/systemd/system ]] &&
  command -v systemctl >/dev/null; then
  log "stopping and disabling the prometheus package's own service (make up runs its own)"
  as_root systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi

# npm packages, at the versions package.json pins exactly and package-lock.json locks with
# their integrity hashes. `npm install --no-save` rather than `npm ci`: npm 11 leaves buf's
# optional packages for other platforms out of the lock file, and `npm ci` then refuses it.
# The stamp makes a repeat run free.
if [[ ! -f node_modules/.hermes-stamp || package-lock.json -nt node_modules/.hermes-stamp ]]; then
  log "installing npm packages from package-lock.json"
  npm_log=$(mktemp)
  if ! npm install --no-save --no-audit --no-fund --loglevel=error >"$npm_log" 2>&1; then
    cat "$npm_log" >&2
    rm -f "$npm_log"
    log "npm install failed (see above)"
    exit 1
  fi
  rm -f "$npm_log"
  touch node_modules/.hermes-stamp
fi

# Third-party protos: only the files we compile against, from the packages that ship them.
copy_proto() {  # copy_proto SOURCE DEST-RELATIVE-TO-.deps/proto
  local dest=.deps/proto/$2
  # By content: a package update may bring a file dated before the copy made of the old one.
  if ! cmp -s "$1" "$dest"; then
    mkdir -p "$(dirname "$dest")"
    cp "$1" "$dest"
  fi
}
copy_proto node_modules/google-proto-files/google/rpc/status.proto google/rpc/status.proto
copy_proto /usr/share/grpc-proto/grpc/health/v1/health.proto grpc/health/v1/health.proto
# OTLP/gRPC trace export (the newest release of that package that ships the .proto files;
# trace_config.proto is left out: nothing needs it).
otlp=node_modules/@opentelemetry/otlp-grpc-exporter-base/build/protos
for file in collector/trace/v1/trace_service.proto trace/v1/trace.proto common/v1/common.proto \
  resource/v1/resource.proto; do
  copy_proto "$otlp/opentelemetry/proto/$file" "opentelemetry/proto/$file"
done
