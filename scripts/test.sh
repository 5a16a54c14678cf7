#!/usr/bin/env bash
# Builds every day and runs every day's tests.
#   scripts/test.sh                          plain build in build/
#   scripts/test.sh --sanitize thread        the same under a sanitizer, in build-thread/
#   scripts/test.sh --sanitize address,undefined
#   scripts/test.sh --days day7-registry     only that day (and what is built on it), in build-day7-registry/
# Extra arguments after `--` go to ctest (e.g. -- -L day3).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
sanitize=""
days=""
while [ $# -gt 0 ]; do
  case $1 in
    --sanitize) sanitize=$2; shift 2 ;;
    --days) days=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "usage: $0 [--sanitize address,undefined|thread] [--days 'dayN-x ...'] [-- ctest args]" >&2; exit 2 ;;
  esac
done
ensure_test_deps
# ASan+UBSan at -O0: its instrumented build compiles in about two thirds of the CPU time of -O1,
# which is more than the tests lose. TSan keeps -O1: unoptimised, its checks slow the tests more.
if [[ $sanitize == *address* ]]; then
  export OPT_FLAGS=${OPT_FLAGS:--O0 -g1}
fi
name=build${sanitize:+-${sanitize//,/-}}${days:+-${days// /-}}
dir=${BUILD_DIR:-$ROOT/$name}
configure_and_build "$dir" -DGEERPC_SANITIZE="$sanitize" -DGEERPC_DAYS="${days// /;}"
if [ -n "$sanitize" ]; then
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
fi
cd "$dir"
ctest --output-on-failure -j "$JOBS" "$@"
