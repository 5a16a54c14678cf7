#!/usr/bin/env bash
# CTest "bench.smoke": geerpc_bench's server and client for every scenario, both payload kinds,
# both codecs and both kinds of method, ~1 s per server with its clients running side by side;
# day 7's modes (HTTP CONNECT, XClient, broadcast, the registry, discovery by etcd and by the
# registry) briefly; plus a short idle-connections run. Checks that every reply was right (the
# clients exit non-zero on the first wrong one) and that RESULT lines come out, not speed.
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

# start_server ARGS...: sets SERVER_PID and ADDRS (every listener's host:port, comma-separated).
start_server() {
  # Created now, not by the child: awk below may look before the child has opened it.
  : >"$OUT/server.out"
  "$BENCH" server --addr 127.0.0.1:0 "$@" >"$OUT/server.out" 2>"$OUT/server.err" &
  SERVER_PID=$!
  ADDRS=
  for _ in $(seq 100); do
    ADDRS=$(awk '$1 == "LISTENING" { for (i = 2; i <= NF; i++) printf "%s127.0.0.1:%s", (i > 2 ? "," : ""), $i; exit }' \
      "$OUT/server.out")
    [[ -n $ADDRS ]] && break
    sleep 0.05
  done
  [[ -n $ADDRS ]] || fail "server $* did not report LISTENING"
}

stop_server() {
  kill "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
  rm -f "$OUT"/*
}

for server_args in "--codec msgpack --methods plain" "--codec json --methods plain" \
                   "--codec msgpack --methods coroutine"; do
  # shellcheck disable=SC2086 # the args are words
  start_server $server_args
  pids=()
  for scenario in seq shared multi; do
    for payload in 0 100; do
      # shellcheck disable=SC2086
      "$BENCH" client --addr "$ADDRS" --scenario "$scenario" --payload "$payload" --seconds 0.3 \
        $server_args >"$OUT/$scenario-$payload.out" 2>"$OUT/$scenario-$payload.err" &
      pids+=($!)
    done
  done
  for pid in "${pids[@]}"; do wait "$pid" || fail "a client of server $server_args"; done
  for f in "$OUT"/*-*.out; do
    grep -q '^RESULT impl=geerpc scenario=.* calls=[1-9]' "$f" || fail "no RESULT line in $f ($server_args)"
  done
  echo "smoke: ok: server $server_args, 6 clients"
  stop_server
done

# Day 7: one server on three listeners with handle_http, so that tcp@ and http@ both reach it.
start_server --codec msgpack --transport http --listeners 3
pids=()
n=0
for client_args in "--transport http --scenario seq" "--transport http --scenario shared --payload 100" \
                   "--call xclient --scenario multi" "--call xclient --transport http --scenario seq --payload 100" \
                   "--call broadcast --scenario seq" "--call broadcast --scenario shared --payload 100" \
                   "--call parallel --scenario seq --payload 100" "--call client --target 2 --scenario seq"; do
  n=$((n + 1))
  # shellcheck disable=SC2086
  "$BENCH" client --addr "$ADDRS" --payload 0 --seconds 0.3 $client_args >"$OUT/day7-$n.out" 2>"$OUT/day7-$n.err" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || fail "a day-7 client"; done
for want in "transport=http call=client servers=3 target=0" "transport=tcp call=xclient servers=3" \
            "transport=http call=xclient servers=3" "call=broadcast servers=3" "call=parallel servers=3" \
            "call=client servers=3 target=2"; do
  grep -q "^RESULT impl=geerpc .*calls=[1-9].* $want" "$OUT"/day7-*.out || fail "no RESULT line with $want"
done
echo "smoke: ok: http, xclient, broadcast, parallel and target clients of a 3-listener server"
stop_server

start_server --service registry
for scenario in heartbeat get; do
  "$BENCH" client --service registry --addr "$ADDRS" --scenario $scenario --servers 200 --seconds 0.3 \
    >"$OUT/$scenario.out" 2>"$OUT/$scenario.err" || fail "registry $scenario"
  grep -q "^RESULT impl=geerpc service=registry scenario=$scenario .*calls=[1-9].* servers=200" "$OUT/$scenario.out" ||
    fail "no registry $scenario RESULT line: $(cat "$OUT/$scenario.out")"
done
echo "smoke: ok: registry heartbeats and GETs with 200 servers"
stop_server

"$BENCH" discovery --via registry --rounds 2 --refresh-ms 200 >"$OUT/discovery.out" 2>"$OUT/discovery.err" ||
  fail "discovery by the registry"
if command -v etcd >/dev/null; then
  "$BENCH" discovery --via etcd --rounds 2 >>"$OUT/discovery.out" 2>"$OUT/discovery.err" || fail "discovery by etcd"
else
  echo "smoke: no etcd on PATH (Debian's etcd-server): discovery by etcd not tried"
fi
grep -q '^RESULT impl=geerpc scenario=discovery via=registry rounds=2 refresh_ms=200 .*called_max_ms=' \
  "$OUT/discovery.out" || fail "no discovery RESULT line: $(cat "$OUT/discovery.out")"
echo "smoke: ok: discovery to the first call"
"$BENCH" discovery --via registry --listed 50 --rounds 2 >"$OUT/listed.out" 2>"$OUT/listed.err" ||
  fail "a discovery reading a listed registry"
grep -q '^RESULT impl=geerpc scenario=discovery-listed via=registry listed=50 rounds=2 .*rss_growth_max_kb=' \
  "$OUT/listed.out" || fail "no discovery-listed RESULT line: $(cat "$OUT/listed.out")"
echo "smoke: ok: a discovery reading a long list"
rm -f "$OUT"/*

"$IDLE" --server "$BENCH" --connections 300 >"$OUT/idle.out" 2>"$OUT/idle.err" || fail "geerpc_idle_conns"
grep -q '^RESULT impl=geerpc scenario=idle300 server_rss_kb=[0-9]* connections=300' "$OUT/idle.out" ||
  fail "no idle RESULT line: $(cat "$OUT/idle.out")"
echo "smoke: ok: 300 idle connections"
