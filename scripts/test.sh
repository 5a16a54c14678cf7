#!/usr/bin/env bash
# Builds every day and runs every day's tests.
#   scripts/test.sh                          plain build in build/
#   scripts/test.sh --sanitize thread        the same under a sanitizer, in build-thread/
#   scripts/test.sh --sanitize address,undefined
# Extra arguments after `--` go to ctest (e.g. -- -L day3).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
sanitize=""
while [ $# -gt 0 ]; do
  case $1 in
    --sanitize) sanitize=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "usage: $0 [--sanitize address,undefined|thread] [-- ctest args]" >&2; exit 2 ;;
  esac
done
ensure_test_deps
if [ -n "$sanitize" ]; then
  dir=${BUILD_DIR:-$ROOT/build-${sanitize//,/-}}
  configure_and_build "$dir" -DGEERPC_SANITIZE="$sanitize"
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
else
  dir=${BUILD_DIR:-$ROOT/build}
  configure_and_build "$dir"
fi
cd "$dir"
ctest --output-on-failure -j "$JOBS" "$@"
