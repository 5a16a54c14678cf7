#!/usr/bin/env bash
# Refreshes notes/img/day5-debug-page.png: day 5's browser test serves the demo, makes three calls
# and has headless Chromium load the debug page; with GEERPC_SCREENSHOT set it also takes the picture.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_test_deps
dir=${BUILD_DIR:-$ROOT/build}
configure_and_build "$dir" >/dev/null
mkdir -p "$ROOT/notes/img"
GEERPC_SCREENSHOT="$ROOT/notes/img/day5-debug-page.png" \
  "$dir/day5-http/day5_tests" --gtest_filter='DebugPageInABrowser.*'
echo "wrote notes/img/day5-debug-page.png"
