#!/usr/bin/env bash
# Benchmarks geerpc against its peers: installs what is missing (as root), builds geerpc_bench,
# geerpc_idle_conns, raw_echo, the gRPC C++ peer (grpc_bench) and the Go net/rpc peer, runs every
# peer (netrpc, raw, grpc, geerpc) over the scenario x payload matrix, day 7's rows (HTTP CONNECT,
# XClient, broadcast), the registry, the idle-connections test and discovery to the first call,
# and prints the tables of bench/report.py.
#
#   bench/run.sh                          # everything, SECONDS=3 per run: ~7 minutes
#   SECONDS=1 SCENARIOS=seq PAYLOADS="0 1024" IMPLS="raw geerpc-msgpack" bench/run.sh
#
# stdout: the report. stderr: build output and one progress line per run. The RESULT lines (the
# client's line plus the server's CPU and peak RSS) are kept in $BUILD_DIR/bench-results.txt;
# `python3 bench/report.py < that-file` prints the report again.
#
# Env: SECONDS          measured seconds per run (default 3), after a 0.5 s warm-up
#      ROUNDS           runs of the whole plan, one round after the other (default 1); the report
#                       takes each cell's median run by calls/s, which a noisy machine needs for
#                       ratios of a few percent
#      BUILD_DIR        build output (default /tmp/geerpc-bench-build)
#      BUILD_TYPE       CMake build type (default Release)
#      SCENARIOS        subset of "seq shared multi"
#      PAYLOADS         subset of "0 16 1024 65536 1048576" (0 = Bench.Sum, N = N-byte Bench.Echo)
#      IMPLS            subset of "netrpc raw grpc geerpc-json geerpc-msgpack geerpc-glibc geerpc-coro geerpc-pool
#                       geerpc-http geerpc-xclient geerpc-broadcast geerpc-registry" (default: all;
#                       geerpc-glibc runs payloads of 64 KiB and up only, geerpc-broadcast seq only)
#      CORO_PAYLOADS    payloads of the msgpack variants (default: 0): geerpc-coro (coroutine methods),
#                       geerpc-pool (plain methods on ServerConfig::handler_threads = 8), geerpc-http
#                       (dial_http to a server with handle_http), geerpc-xclient (XClient round robin
#                       over one server's 2 listeners; in multi also 8 XClients, the plain Client's
#                       16 connections), geerpc-broadcast (XClient broadcast to one
#                       server's 3 listeners, the same three calls sent at once by plain Clients,
#                       then a plain Client to each of the 3 alone)
#      IDLE_CONNECTIONS idle connections for geerpc_idle_conns (default 10000; 0 skips the test)
#      REGISTRY_SERVERS servers registered before geerpc-registry measures heartbeats/s and GET
#                       latency (default 10000)
#      DISCOVERY        subset of "etcd registry": time from a server registering to a client's first
#                       call, EtcdDiscovery's watch vs RegistryDiscovery's poll (default both; empty
#                       skips it). DISCOVERY_ROUNDS overrides the rounds (etcd 20, registry 3 of 10 s)
#      DISCOVERY_LISTED servers already registered when, for each DISCOVERY, a new discovery reads
#                       the whole list: its time and the RSS it adds (default 1000; 0 skips it)
set -euo pipefail

# bash makes SECONDS its own "seconds since start" counter, which would mangle 0.5 and keep growing
# during the build; read the caller's value from the environment we were started with instead.
DURATION=$(tr '\0' '\n' </proc/$$/environ | sed -n 's/^SECONDS=//p')
DURATION=${DURATION:-3}
ROUNDS=${ROUNDS:-1}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$HERE/../scripts/lib.sh"  # ensure_packages, ROOT
BUILD_DIR=${BUILD_DIR:-/tmp/geerpc-bench-build}
BUILD_TYPE=${BUILD_TYPE:-Release}
SCENARIOS=${SCENARIOS:-seq shared multi}
PAYLOADS=${PAYLOADS:-0 16 1024 65536 1048576}
IMPLS=${IMPLS:-netrpc raw grpc geerpc-json geerpc-msgpack geerpc-glibc geerpc-coro geerpc-pool geerpc-http geerpc-xclient geerpc-broadcast geerpc-registry}
[[ " $PAYLOADS " == *" 0 "* ]] && CORO_PAYLOADS=${CORO_PAYLOADS-0} || CORO_PAYLOADS=${CORO_PAYLOADS-}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-10000}
REGISTRY_SERVERS=${REGISTRY_SERVERS:-10000}
DISCOVERY=${DISCOVERY-etcd registry}
DISCOVERY_ROUNDS=${DISCOVERY_ROUNDS:-0}
DISCOVERY_LISTED=${DISCOVERY_LISTED:-1000}
RESULTS=$BUILD_DIR/bench-results.txt
WARMUP=0.5  # must match the clients' unmeasured warm-up
CLK_TCK=$(getconf CLK_TCK)
SERVER_PID=

log() { echo "run.sh: $*" >&2; }

build() {
  ensure_packages cmake g++ ninja-build libasio-dev nlohmann-json3-dev libgtest-dev libhttp-parser-dev golang-go python3 \
    libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  [[ -z $DISCOVERY ]] || ensure_packages etcd-server
  # bench/ alone: it adds the newest day itself, and configuring the other days would be wasted.
  log "building into $BUILD_DIR ($BUILD_TYPE)"
  cmake -S "$HERE" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" >&2
  cmake --build "$BUILD_DIR" --target geerpc_bench geerpc_idle_conns raw_echo grpc_bench >&2
  (cd "$HERE/netrpc" && GOFLAGS=-mod=mod GOPROXY=off go build -o "$BUILD_DIR/netrpc-bench" .)
  local bin=$BUILD_DIR
  GEERPC=$bin/geerpc_bench IDLE=$bin/geerpc_idle_conns RAW=$bin/raw_echo/raw_echo NETRPC=$BUILD_DIR/netrpc-bench
  GRPC=$bin/grpc/grpc_bench
}

# utime+stime of a process in clock ticks. Fields are counted after the ")" closing the command
# name, which may itself contain spaces.
cpu_ticks() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }  # server already gone
  # shellcheck disable=SC2086 # splitting into fields is the point
  set -- ${stat##*) }
  echo $((${12} + ${13}))
}

peak_rss_kb() { awk '$1 == "VmHWM:" { print $2 }' "/proc/$1/status"; }

# start_server BIN [ARGS...]: sets SERVER_PID, SERVER_PORT and SERVER_ADDRS (every listener's
# host:port, comma-separated: a server with --listeners N prints N ports).
start_server() {
  local bin=$1 out=$BUILD_DIR/server.out
  shift
  : >"$out"  # now, not in the child: a stale LISTENING line must not be read before the child starts
  "$bin" server --addr 127.0.0.1:0 "$@" >"$out" 2>"$BUILD_DIR/server.err" &
  SERVER_PID=$! SERVER_PORT= SERVER_ADDRS=
  for _ in $(seq 200); do
    SERVER_PORT=$(awk '$1 == "LISTENING" { print $2; exit }' "$out")
    SERVER_ADDRS=$(awk '$1 == "LISTENING" { for (i = 2; i <= NF; i++) printf "%s127.0.0.1:%s", (i > 2 ? "," : ""), $i; exit }' "$out")
    [[ -n $SERVER_PORT ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
  done
  [[ -n $SERVER_PORT ]] || { log "$bin server did not report LISTENING"; stop_server; return 1; }
}

stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}
trap stop_server EXIT

# run_one SCENARIO PAYLOAD BIN [ARGS...]: one server+client pair, one RESULT line on stdout. ARGS
# (e.g. --codec json) go to both the server and the client; the client gets every listener.
run_one() {
  local scenario=$1 payload=$2 bin=$3 client cpu0 cpu1 result
  shift 3
  start_server "$bin" "$@" || return 0
  "$bin" client --addr "$SERVER_ADDRS" --scenario "$scenario" --payload "$payload" \
    --seconds "$DURATION" "$@" >"$BUILD_DIR/client.out" 2>"$BUILD_DIR/client.err" &
  client=$!
  # Sample the server only over the client's measured window, the same span its client_cpu_s
  # covers, so the warm-up is not charged to the server. The registry's client first registers
  # its servers, for as long as that takes, and says when it starts measuring.
  if [[ " $* " == *" --service registry "* ]]; then
    while ! grep -q '^MEASURING' "$BUILD_DIR/client.out" && kill -0 "$client" 2>/dev/null; do sleep 0.02; done
  else
    sleep "$WARMUP"
  fi
  cpu0=$(cpu_ticks "$SERVER_PID")
  if wait "$client" && result=$(grep '^RESULT ' "$BUILD_DIR/client.out"); then
    cpu1=$(cpu_ticks "$SERVER_PID")
    printf '%s server_cpu_s=%.3f server_rss_kb=%s\n' "$result" \
      "$(awk -v t=$((cpu1 - cpu0)) -v hz="$CLK_TCK" 'BEGIN { print t / hz }')" "$(peak_rss_kb "$SERVER_PID")"
  else
    log "FAILED: $bin $scenario payload=$payload $*"
    cat "$BUILD_DIR/client.err" >&2
  fi
  stop_server
}

want() { [[ " $IMPLS " == *" $1 "* ]]; }

# Every run, one line each: NAME SCENARIO PAYLOAD BIN [ARGS...]. The peers take turns cell by
# cell, so a machine that gets busier halfway through does not favour whoever ran first.
plan() {
  local scenario payload
  for scenario in $SCENARIOS; do
    for payload in $PAYLOADS; do
      want netrpc && echo "netrpc $scenario $payload $NETRPC"
      want raw && echo "raw $scenario $payload $RAW"
      want grpc && echo "grpc $scenario $payload $GRPC"
      want geerpc-json && echo "geerpc-json $scenario $payload $GEERPC --codec json"
      want geerpc-msgpack && echo "geerpc-msgpack $scenario $payload $GEERPC --codec msgpack"
      # Large messages once more with glibc's malloc untuned (see --malloc in geerpc/bench.cpp).
      ((payload >= 65536)) && want geerpc-glibc && echo "geerpc-glibc $scenario $payload $GEERPC --codec msgpack --malloc glibc"
    done
    for payload in $CORO_PAYLOADS; do
      want geerpc-coro && echo "geerpc-coro $scenario $payload $GEERPC --codec msgpack --methods coroutine"
      want geerpc-pool && echo "geerpc-pool $scenario $payload $GEERPC --codec msgpack --handler-threads 8"
      want geerpc-http && echo "geerpc-http $scenario $payload $GEERPC --codec msgpack --transport http"
      # Two listeners of one server process: the same server threads as the one-listener baseline
      # (geerpc-msgpack), so the XClient is the difference.
      want geerpc-xclient && echo "geerpc-xclient $scenario $payload $GEERPC --codec msgpack --listeners 2 --call xclient"
      # multi once more with as many connections as the plain Client's 16: 8 XClients of 2.
      [[ $scenario == multi ]] && want geerpc-xclient &&
        echo "geerpc-xclient $scenario $payload $GEERPC --codec msgpack --listeners 2 --call xclient --connections 16"
      if [[ $scenario == seq ]] && want geerpc-broadcast; then
        # The broadcast, the same three calls sent at once by plain Clients (what the cores allow a
        # broadcast here), then each of its three servers called alone: the issue's baseline is the slowest.
        echo "geerpc-broadcast $scenario $payload $GEERPC --codec msgpack --listeners 3 --call broadcast"
        echo "geerpc-parallel $scenario $payload $GEERPC --codec msgpack --listeners 3 --call parallel"
        for target in 0 1 2; do
          echo "geerpc-single $scenario $payload $GEERPC --codec msgpack --listeners 3 --call client --target $target"
        done
      fi
    done
  done
  if want geerpc-registry && ((REGISTRY_SERVERS > 0)); then
    echo "geerpc-registry heartbeat 0 $GEERPC --service registry --servers $REGISTRY_SERVERS"
    echo "geerpc-registry get 0 $GEERPC --service registry --servers $REGISTRY_SERVERS"
  fi
  return 0
}

build
mapfile -t runs < <(for ((round = 0; round < ROUNDS; round++)); do plan; done)
: >"$RESULTS"
for i in "${!runs[@]}"; do
  read -r name scenario payload bin args <<<"${runs[$i]}"
  eta=$(awk -v n=$((${#runs[@]} - i)) -v d="$DURATION" 'BEGIN { printf "%d", n * (d + 0.8) }')
  log "[$((i + 1))/${#runs[@]}] $name $scenario payload=$payload (about ${eta}s left)"
  # shellcheck disable=SC2086 # args are words
  run_one "$scenario" "$payload" "$bin" $args >>"$RESULTS"
done
if ((IDLE_CONNECTIONS > 0)); then
  log "idle connections: $IDLE_CONNECTIONS to one geerpc server"
  "$IDLE" --server "$GEERPC" --connections "$IDLE_CONNECTIONS" >>"$RESULTS" || log "FAILED: idle connections"
fi
for via in $DISCOVERY; do
  rounds=()
  ((DISCOVERY_ROUNDS > 0)) && rounds=(--rounds "$DISCOVERY_ROUNDS")
  log "discovery to the first call: $via"
  "$GEERPC" discovery --via "$via" "${rounds[@]}" >>"$RESULTS" || log "FAILED: discovery $via"
  if ((DISCOVERY_LISTED > 0)); then
    log "discovery of $DISCOVERY_LISTED listed servers: $via"
    "$GEERPC" discovery --via "$via" --listed "$DISCOVERY_LISTED" >>"$RESULTS" || log "FAILED: discovery $via listed"
  fi
done
log "RESULT lines: $RESULTS"
python3 "$HERE/report.py" <"$RESULTS"
