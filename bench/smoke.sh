#!/usr/bin/env bash
# CTest "bench.smoke": geerpc_bench's server and client for every scenario, both payload kinds,
# both codecs and both kinds of method, ~1 s per server with its clients running side by side;
# plus a short idle-connections run. Checks that every reply was right (the clients exit non-zero
# on the first wrong one) and that RESULT lines come out, not speed.
#
#   bench/smoke.sh BUILD/bench/geerpc_bench BUILD/bench/geerpc_idle_conns
set -euo pipefail
BENCH=$1 IDLE=$2
OUT=$(mktemp -d)
SERVER_PID=
cleanup() {
  [[ -z $SERVER_PID ]] || kill "$SERVER_PID" 2>/dev/null || true
  rm -rf "$OUT"
}
trap cleanup EXIT

fail() {
  echo "smoke: FAILED: $*" >&2
  cat "$OUT"/*.err >&2 2>/dev/null || true
  exit 1
}

for server_args in "--codec msgpack --methods plain" "--codec json --methods plain" \
                   "--codec msgpack --methods coroutine"; do
  # Created now, not by the child: awk below may look before the child has opened it.
  : >"$OUT/server.out"
  # shellcheck disable=SC2086 # the args are words
  "$BENCH" server --addr 127.0.0.1:0 $server_args >"$OUT/server.out" &
  SERVER_PID=$!
  PORT=
  for _ in $(seq 100); do
    PORT=$(awk '$1 == "LISTENING" { print $2; exit }' "$OUT/server.out")
    [[ -n $PORT ]] && break
    sleep 0.05
  done
  [[ -n $PORT ]] || fail "server $server_args did not report LISTENING"
  pids=()
  for scenario in seq shared multi; do
    for payload in 0 100; do
      # shellcheck disable=SC2086
      "$BENCH" client --addr "127.0.0.1:$PORT" --scenario "$scenario" --payload "$payload" --seconds 0.3 \
        $server_args >"$OUT/$scenario-$payload.out" 2>"$OUT/$scenario-$payload.err" &
      pids+=($!)
    done
  done
  for pid in "${pids[@]}"; do wait "$pid" || fail "a client of server $server_args"; done
  for f in "$OUT"/*-*.out; do
    grep -q '^RESULT impl=geerpc scenario=.* calls=[1-9]' "$f" || fail "no RESULT line in $f ($server_args)"
  done
  echo "smoke: ok: server $server_args, 6 clients"
  kill "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
  rm -f "$OUT"/*
done

"$IDLE" --server "$BENCH" --connections 300 >"$OUT/idle.out" 2>"$OUT/idle.err" || fail "geerpc_idle_conns"
grep -q '^RESULT impl=geerpc scenario=idle300 server_rss_kb=[0-9]* connections=300' "$OUT/idle.out" ||
  fail "no idle RESULT line: $(cat "$OUT/idle.out")"
echo "smoke: ok: 300 idle connections"
