# Shared by the project's scripts: install what is missing, configure and build.
# shellcheck shell=bash
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JOBS=${JOBS:-$(nproc)}

# ensure_packages PKG...: installs the Debian packages that are not installed yet (idempotent).
ensure_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: missing packages: ${missing[*]}" >&2
    echo "       run this script as root, or: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# What building needs; libhttp-parser-dev: HTTP from day 5 on; libprotobuf-dev and
# protobuf-compiler: the protobuf codec in extras/protobuf-codec.
ensure_build_deps() {
  ensure_packages cmake g++ make ninja-build libasio-dev nlohmann-json3-dev libgtest-dev libhttp-parser-dev \
    libprotobuf-dev protobuf-compiler
}

# What the tests need besides: chromium for day 5's debug page test in a real browser, etcd for
# day 7's etcd tests, Python (and its msgpack) for the Python client and the CLI's tests.
ensure_test_deps() {
  ensure_build_deps
  ensure_packages chromium etcd-server etcd-client python3 python3-msgpack
}

# configure_and_build BUILD_DIR [cmake args...]: configures, then builds every target
# ($TARGETS, when set: only those).
configure_and_build() {
  local dir=$1
  shift
  # Configured every time (seconds when nothing changed), so the options given now are the ones
  # in effect. -O1 -g1 and no NDEBUG: tests compile in half the time of -O2 -g, keep their
  # asserts, and sanitizer reports still carry file:line. $OPT_FLAGS overrides -O1 -g1.
  cmake -S "$ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="${OPT_FLAGS:--O1 -g1}" "$@" >/dev/null
  # shellcheck disable=SC2086
  cmake --build "$dir" -j "$JOBS" ${TARGETS:+--target $TARGETS}
}
