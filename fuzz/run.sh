#!/usr/bin/env bash
# fuzz/run.sh [SECONDS_PER_TARGET] [DAY...]
#
# Builds the libFuzzer targets for each DAY (default: every dayN-* folder; a DAY may also be a path
# to a day folder elsewhere, e.g. a patched copy) into build-fuzz-<day>, and runs every target for
# SECONDS_PER_TARGET (default: $FUZZ_SECONDS, else 20) over a temporary copy of its seed corpus.
# Exits non-zero if any target crashed, leaked, hit UB, timed out or ran out of memory, and says
# which, with the input that did it (kept in build-fuzz-<day>/fuzz-results/).
#
# Environment: FUZZ_SECONDS (default time per target), FUZZ_TARGETS (space-separated subset),
# FUZZ_ARGS (extra libFuzzer flags), JOBS (build parallelism, and how many targets run at once).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FUZZ=$ROOT/fuzz
JOBS=${JOBS:-$(nproc)}
ALL_TARGETS="fuzz_option fuzz_frames fuzz_header_json fuzz_header_msgpack fuzz_body_json fuzz_body_msgpack fuzz_request
             fuzz_http_server fuzz_http_client fuzz_registry fuzz_etcd"
TARGETS=${FUZZ_TARGETS:-$ALL_TARGETS}
for target in $TARGETS; do
  if [[ " $(echo $ALL_TARGETS) " != *" $target "* ]]; then
    echo "error: no fuzz target '$target' (there are: $(echo $ALL_TARGETS))" >&2
    exit 2
  fi
done

seconds=${FUZZ_SECONDS:-20}
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
days=("$@")
if [ ${#days[@]} -eq 0 ]; then
  while IFS= read -r dir; do
    [ -d "$ROOT/$dir/src" ] && days+=("$dir")
  done < <(cd "$ROOT" && find . -maxdepth 1 -type d -name 'day[0-9]*-*' -printf '%f\n' | sort -V)
fi
if [ ${#days[@]} -eq 0 ]; then
  echo "error: no day folders in $ROOT" >&2
  exit 2
fi

# Installs what is missing (Debian), as root only; otherwise says what to install.
ensure_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: missing packages: ${missing[*]}" >&2
    echo "       run as root, or: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 2
  fi
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
if command -v dpkg-query >/dev/null; then
  ensure_packages clang libclang-rt-14-dev cmake ninja-build libasio-dev nlohmann-json3-dev libhttp-parser-dev
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/geerpc-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

# why LOG: one line naming what went wrong, from libFuzzer's and the sanitizers' reports.
why() {
  local log=$1 line
  if line=$(grep -m1 -E "fuzz check failed:" "$log"); then echo "property violated (${line#fuzz check failed: })"
  elif line=$(grep -m1 -E "runtime error:" "$log"); then echo "undefined behaviour: ${line}"
  elif grep -q "ERROR: LeakSanitizer" "$log"; then echo "leak: $(grep -m1 -A3 'ERROR: LeakSanitizer' "$log" | grep -m1 -E 'Direct|Indirect' || true)"
  elif line=$(grep -m1 -oE "ERROR: AddressSanitizer: [a-z-]+" "$log"); then echo "crash: ${line#ERROR: }"
  elif grep -q "ERROR: libFuzzer: timeout" "$log"; then echo "timeout: one input ran longer than 5 s (a hang)"
  elif grep -q -E "ERROR: libFuzzer: out-of-memory|ERROR: libFuzzer: malloc" "$log"; then echo "out of memory (-rss_limit_mb=2048)"
  elif line=$(grep -m1 -E "^terminate called|what\(\):" "$log"); then echo "uncaught exception: $(grep -m1 'what():' "$log" || echo "$line")"
  elif grep -q "ERROR: libFuzzer: deadly signal" "$log"; then echo "crash: deadly signal"
  else echo "libFuzzer failed: $(tail -n 1 "$log")"
  fi
}

# stats LOG: exec/s and the last coverage numbers libFuzzer printed.
stats() {
  local log=$1 execs cov ft
  execs=$(grep -m1 -oE "stat::average_exec_per_sec: *[0-9]+" "$log" | grep -oE "[0-9]+$" || true)
  cov=$(grep -oE "cov: [0-9]+" "$log" | tail -n 1 | grep -oE "[0-9]+" || true)
  ft=$(grep -oE "ft: [0-9]+" "$log" | tail -n 1 | grep -oE "[0-9]+" || true)
  printf "%8s %7s %7s" "${execs:--}" "${cov:--}" "${ft:--}"
}

start=$(date +%s)
failures=0
summary=()
for day in "${days[@]}"; do
  if [[ $day == /* ]]; then day_dir=$day; else day_dir=$ROOT/$day; fi
  name=$(basename "$day_dir")
  build=$ROOT/build-fuzz-$name
  [[ $day == /* ]] && build=$ROOT/build-fuzz-$name-$(printf %s "$day_dir" | cksum | cut -d' ' -f1)
  echo "== $name: building in ${build#"$ROOT"/}" >&2
  if [ ! -f "$build/CMakeCache.txt" ]; then
    CXX=clang++ cmake -S "$FUZZ" -B "$build" -G Ninja -DFUZZ_DAY="$day" >/dev/null
  else
    cmake -S "$FUZZ" -B "$build" >/dev/null  # the day may have gained code that more targets fuzz
  fi
  # The targets asked for that this day has code for (its fuzz_targets.txt); the others are skipped.
  have=" $(cat "$build/fuzz_targets.txt") "
  day_targets=()
  for target in $TARGETS; do
    if [[ $have == *" $target "* ]]; then
      day_targets+=("$target")
    else
      echo "   $target: not in $name, skipped" >&2
      summary+=("$(printf "%-14s %-20s %8s %7s %7s" "$name" "$target" - - -)  skipped (not in this day)")
    fi
  done
  [ ${#day_targets[@]} -eq 0 ] && continue
  if ! cmake --build "$build" -j "$JOBS" --target "${day_targets[@]}" >"$work/build.log" 2>&1; then
    cat "$work/build.log" >&2
    echo "error: build failed for $name" >&2
    exit 2
  fi

  results=$build/fuzz-results
  rm -rf "$results"
  # Up to $JOBS targets at once: each fuzzer is one process on one core.
  running=0
  for target in "${day_targets[@]}"; do
    run=$work/$name/$target
    mkdir -p "$run/corpus" "$run/artifacts"
    cp "$FUZZ/corpus/$target"/* "$run/corpus/"
    echo "   $target: ${seconds}s" >&2
    (
      status=0
      # The outer timeout only guards against libFuzzer itself getting stuck; -timeout catches hangs.
      # shellcheck disable=SC2086
      timeout --kill-after=10 $((seconds + 120)) "$build/$target" "$run/corpus" \
        -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -detect_leaks=1 \
        -dict="$FUZZ/geerpc.dict" -artifact_prefix="$run/artifacts/" -print_final_stats=1 \
        ${FUZZ_ARGS:-} >"$run/log" 2>&1 || status=$?
      echo "$status" >"$run/status"
    ) &
    running=$((running + 1))
    if [ $running -ge "$JOBS" ]; then
      wait -n || true
      running=$((running - 1))
    fi
  done
  wait
  for target in "${day_targets[@]}"; do
    run=$work/$name/$target
    status=$(cat "$run/status")
    line=$(printf "%-14s %-20s %s" "$name" "$target" "$(stats "$run/log")")
    if [ "$status" -eq 0 ]; then
      summary+=("$line  ok")
    else
      failures=$((failures + 1))
      mkdir -p "$results/$target"
      cp "$run/log" "$results/$target/log"
      cp "$run/artifacts"/* "$results/$target/" 2>/dev/null || true
      reason=$(why "$run/log")
      summary+=("$line  FAILED: $reason")
      echo "   FAILED $name/$target: $reason" >&2
      for input in "$results/$target"/*; do
        [ "$(basename "$input")" = log ] || echo "     input: ${input#"$ROOT"/} (rerun: ${build#"$ROOT"/}/$target $input)" >&2
      done
      echo "     log:   ${results#"$ROOT"/}/$target/log" >&2
    fi
  done
done

echo
printf "%-14s %-20s %8s %7s %7s  %s\n" day target "exec/s" cov ft result
printf "%s\n" "${summary[@]}"
echo "total: $(($(date +%s) - start)) s, ${seconds} s per target, $failures failed"
[ $failures -eq 0 ]
