#!/usr/bin/env bash
# The main job: builds and runs the newest day's demo (the day-7 registry demo once day 7 exists).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_build_deps
day=$(cd "$ROOT" && ls -d day*-*/ | sort -V | tail -n 1 | cut -d- -f1)
configure_and_build "${BUILD_DIR:-$ROOT/build}" >/dev/null
exec "${BUILD_DIR:-$ROOT/build}/$(cd "$ROOT" && ls -d "$day"-*)/${day}_demo"
