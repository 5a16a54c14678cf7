#!/usr/bin/env bash
# The main job: builds and runs the newest day's demo (day 7: a registry, two servers that
# heartbeat to it, and load-balanced calls found through it, all on loopback).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_build_deps
day=$(cd "$ROOT" && ls -d day*-*/ | sort -V | tail -n 1 | tr -d /)
TARGETS="${day%%-*}_demo" configure_and_build "${BUILD_DIR:-$ROOT/build}" >/dev/null
exec "${BUILD_DIR:-$ROOT/build}/$day/${day%%-*}_demo" "$@"
