// geerpc_bench: geerpc's peer in the benchmark, with the CLI and RESULT line of raw_echo and
// netrpc-bench (see bench/run.sh), and the day-7 pieces those peers do not have: HTTP CONNECT,
// XClient, broadcast, the registry and discovery.
//
//   geerpc_bench server --addr 127.0.0.1:0 [--codec json|msgpack] [--methods plain|coroutine]
//                       [--threads N] [--handler-threads N] [--malloc tuned|glibc]
//                       [--transport tcp|http] [--listeners N] [--service bench|registry]
//   geerpc_bench client --addr 127.0.0.1:PORT[,127.0.0.1:PORT...] --scenario seq|shared|multi
//                       --payload N --seconds S [--codec json|msgpack] [--methods plain|coroutine]
//                       [--threads N] [--malloc tuned|glibc] [--transport tcp|http]
//                       [--call client|xclient|broadcast|parallel] [--target I] [--connections N]
//   geerpc_bench client --service registry --addr 127.0.0.1:PORT --scenario heartbeat|get
//                       --seconds S [--servers N] [--window N]
//   geerpc_bench discovery --via etcd|registry [--rounds N] [--refresh-ms MS] [--listed N]
//
// Payload 0 calls Bench.Sum(Args{1, 2}) and expects 3; N > 0 calls Bench.Echo with an N-byte string
// and expects it back. The client keeps its calls in flight with coroutines (async_call +
// use_awaitable) on one single-threaded io_context per I/O thread (seq 1, shared and multi 2).
// As in net/rpc, the client's Option picks the codec: the server takes --codec only for symmetry.
// The client's --methods only labels its RESULT line; the server's decides which methods run.
// bench/run.sh gives both sides the same flags: the server ignores the client's (--call,
// --target) and the client the server's (--listeners).
//
// A server with --listeners N serves one Server on N loopback listeners (one process, its one
// thread pool) and prints all their ports on its LISTENING line. The client's --call picks what
// makes the calls: `client` a plain Client to the address number --target of its list (over
// HTTP CONNECT with --transport http), `xclient` an XClient going round robin over the whole list,
// `broadcast` an XClient broadcasting every call to the whole list, `parallel` what a broadcast does
// without an XClient: a plain Client per address, one call to each at once, all awaited (the
// broadcast's floor on a machine whose cores the servers share).
// --connections N (multi only) keeps the scenario's 256 calls in flight over N connections in all:
// with an XClient over 2 servers, 16 is 8 XClients, as many connections as a plain Client's multi.
//
// --service registry serves day 7's Registry instead; its client first registers --servers
// entries, then measures `heartbeat` (POSTs as a server's heartbeat sends them, --window in flight,
// each on a connection of its own as the real heartbeat and the registry's Connection: close have
// it) or `get` (one GET ?format=json at a time, as RegistryDiscovery asks, every list compared
// with the one expected).
//
// `discovery` times, in one process, how long after a server starts registering a client's
// discovery lists it and its first call through an XClient succeeds: EtcdDiscovery (watching a
// LocalEtcd) or RegistryDiscovery (polling an in-process Registry every --refresh-ms, by default
// its own default). With --listed N it times instead how long a new discovery takes to read a
// list of N registered servers, and how much the process grows by holding it.
#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "geerpc/client.hpp"
#include "geerpc/registry/etcd.hpp"
#include "geerpc/registry/etcd_local.hpp"
#include "geerpc/registry/heartbeat.hpp"
#include "geerpc/registry/http_client.hpp"
#include "geerpc/registry/registry.hpp"
#include "geerpc/server.hpp"
#include "geerpc/service.hpp"
#include "geerpc/xclient/etcd_discovery.hpp"
#include "geerpc/xclient/registry_discovery.hpp"
#include "geerpc/xclient/xclient.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  int a = 0, b = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Args, a, b)

// The same service twice, as the two kinds of method. Both are called "Bench" on the wire; a
// server registers one of them. Plain methods run on the server's own threads (or on a handler
// pool with --handler-threads N), coroutine methods on the connection's strand.
namespace plain {
struct Bench {
  geerpc::Error Sum(Args args, int* reply) {
    *reply = args.a + args.b;
    return {};
  }
  geerpc::Error Echo(std::string args, std::string* reply) {
    *reply = std::move(args);
    return {};
  }
};
GEERPC_SERVICE(Bench, Sum, Echo)
}  // namespace plain

namespace coroutine {
struct Bench {
  asio::awaitable<geerpc::Error> Sum(Args args, int* reply) {
    *reply = args.a + args.b;
    co_return geerpc::Error{};
  }
  asio::awaitable<geerpc::Error> Echo(std::string args, std::string* reply) {
    *reply = std::move(args);
    co_return geerpc::Error{};
  }
};
GEERPC_SERVICE(Bench, Sum, Echo)
}  // namespace coroutine

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "geerpc_bench: %s\n", msg.c_str());
  std::fflush(stderr);
  std::_Exit(1);  // may be called from an I/O thread: skip destructors
}

struct Options {
  std::string mode;
  std::string addr = "127.0.0.1:0";
  std::string scenario = "seq";
  std::size_t payload = 0;
  double seconds = 3;
  std::string codec = "msgpack";
  std::string methods = "plain";
  std::size_t threads = 0;  // 0: the default of the mode and scenario
  std::size_t handler_threads = 0;  // the framework default: plain methods on the server's own threads
  std::string malloc = "tuned";
  std::string transport = "tcp";
  std::size_t listeners = 1;
  std::string call = "client";
  std::size_t target = 0;
  std::size_t connections = 0;  // multi only; 0: the scenario's 16
  std::string service = "bench";
  std::size_t servers = 10000;
  std::size_t window = 32;
  std::string via = "etcd";
  std::size_t rounds = 0;  // 0: the default of --via
  std::size_t refresh_ms = 0;  // 0: RegistryDiscovery's default
  std::size_t listed = 0;  // discovery: >0 times the first read of a list this long instead
};

// "a,b,c" -> {"a", "b", "c"}
std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> parts;
  for (std::size_t start = 0;;) {
    const auto comma = list.find(',', start);
    parts.push_back(list.substr(start, comma - start));
    if (comma == std::string::npos) return parts;
    start = comma + 1;
  }
}

Options parse_options(int argc, char** argv) {
  Options o;
  if (argc < 2)
    die("usage: geerpc_bench server|client --addr HOST:PORT [--scenario S --payload N --seconds S]"
        " [--codec json|msgpack] [--methods plain|coroutine] [--threads N] [--handler-threads N]"
        " [--malloc tuned|glibc] [--transport tcp|http] [--listeners N] [--call client|xclient|broadcast"
        "|parallel] [--target I] [--connections N] [--service bench|registry] [--servers N] [--window N];"
        " or: geerpc_bench discovery --via etcd|registry [--rounds N] [--refresh-ms MS] [--listed N]");
  o.mode = argv[1];
  if (o.mode != "server" && o.mode != "client" && o.mode != "discovery") die("unknown mode " + o.mode);
  if ((argc - 2) % 2 != 0) die(std::string("missing value for ") + argv[argc - 1]);
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--addr") o.addr = value;
    else if (flag == "--scenario") o.scenario = value;
    else if (flag == "--payload") o.payload = std::stoul(value);
    else if (flag == "--seconds") o.seconds = std::stod(value);
    else if (flag == "--codec") o.codec = value;
    else if (flag == "--methods") o.methods = value;
    else if (flag == "--threads") o.threads = std::stoul(value);
    else if (flag == "--handler-threads") o.handler_threads = std::stoul(value);
    else if (flag == "--malloc") o.malloc = value;
    else if (flag == "--transport") o.transport = value;
    else if (flag == "--listeners") o.listeners = std::stoul(value);
    else if (flag == "--call") o.call = value;
    else if (flag == "--target") o.target = std::stoul(value);
    else if (flag == "--connections") o.connections = std::stoul(value);
    else if (flag == "--service") o.service = value;
    else if (flag == "--servers") o.servers = std::stoul(value);
    else if (flag == "--window") o.window = std::stoul(value);
    else if (flag == "--via") o.via = value;
    else if (flag == "--rounds") o.rounds = std::stoul(value);
    else if (flag == "--refresh-ms") o.refresh_ms = std::stoul(value);
    else if (flag == "--listed") o.listed = std::stoul(value);
    else die("unknown flag " + flag);
  }
  if (o.codec != "json" && o.codec != "msgpack") die("unknown codec " + o.codec);
  if (o.methods != "plain" && o.methods != "coroutine") die("unknown methods " + o.methods);
  if (o.malloc != "tuned" && o.malloc != "glibc") die("unknown malloc " + o.malloc);
  if (o.transport != "tcp" && o.transport != "http") die("unknown transport " + o.transport);
  if (o.call != "client" && o.call != "xclient" && o.call != "broadcast" && o.call != "parallel")
    die("unknown call " + o.call);
  if (o.service != "bench" && o.service != "registry") die("unknown service " + o.service);
  if (o.via != "etcd" && o.via != "registry") die("unknown discovery " + o.via);
  if (o.listeners == 0 || o.servers == 0 || o.window == 0) die("--listeners, --servers and --window must be > 0");
  return o;
}

// ---------------------------------------------------------------- server

int run_server(const Options& o) {
  // Many idle connections (geerpc_idle_conns) need more descriptors than the usual soft limit.
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  asio::thread_pool io(o.threads ? o.threads : 2);
  std::vector<geerpc::Acceptor> listeners;
  std::string ports;
  for (std::size_t i = 0; i < o.listeners; ++i) {
    auto listener = geerpc::listen(io.get_executor(), "tcp", o.addr);
    if (!listener) die("listen " + o.addr + ": " + listener.error().message());
    const auto address = geerpc::to_string(listener->local_endpoint());
    ports += ' ';
    ports += std::string_view(address).substr(address.rfind(':') + 1);
    listeners.push_back(std::move(*listener));
  }
  // Only one of the two lives; each must outlive io.join().
  std::unique_ptr<geerpc::Server> server;
  std::unique_ptr<geerpc::Registry> registry;
  if (o.service == "registry") {
    registry = std::make_unique<geerpc::Registry>(io.get_executor());
    for (auto& listener : listeners) registry->serve(std::move(listener));
  } else {
    server = std::make_unique<geerpc::Server>(io.get_executor(),
                                              geerpc::ServerConfig{.handler_threads = o.handler_threads});
    auto error = o.methods == "plain" ? server->register_service(std::make_shared<plain::Bench>())
                                      : server->register_service(std::make_shared<coroutine::Bench>());
    if (error) die("register: " + error.message());
    if (o.transport == "http") server->handle_http();
    for (auto& listener : listeners) server->accept(std::move(listener));
  }
  std::printf("LISTENING%s\n", ports.c_str());
  std::fflush(stdout);
  io.join();  // serves until the driver kills the process
  return 0;
}

// ---------------------------------------------------------------- client

enum Phase : int { kWarmup, kMeasure, kStop };

struct Progress {
  std::atomic<int> phase{kWarmup};
  std::atomic<std::uint64_t> measured{0};
};

// A connection (or an XClient with one per server) and the number of its callers still running;
// the last one to stop closes it.
struct Connection {
  std::shared_ptr<geerpc::Client> client;
  std::unique_ptr<geerpc::XClient> xclient;  // instead of client, for --call xclient and broadcast
  std::vector<std::shared_ptr<geerpc::Client>> clients;  // instead of client, for --call parallel
  std::atomic<std::size_t> callers{0};

  geerpc::Error close() {
    if (xclient) return xclient->close();
    if (client) return client->close();
    for (auto& c : clients)
      if (auto error = c->close()) return error;
    return {};
  }
};

enum class CallKind { client, xclient, broadcast, parallel };

// --call parallel: one call to each of the connection's clients, sent together, then all awaited.
// Every reply must equal the first, which is the one returned.
template <class Args, class Reply>
asio::awaitable<geerpc::Error> call_all(Connection& conn, const char* method, const Args& args, Reply* reply) {
  std::vector<Reply> replies(conn.clients.size());
  std::vector<std::shared_ptr<geerpc::Call>> calls;
  for (std::size_t i = 0; i < conn.clients.size(); ++i) calls.push_back(conn.clients[i]->go(method, args, &replies[i]));
  geerpc::Error first;
  for (auto& call : calls) {
    auto error = co_await call->async_wait(asio::use_awaitable);
    if (error && !first) first = std::move(error);
  }
  if (first) co_return first;
  for (const auto& r : replies)
    if (r != replies.front()) co_return geerpc::Error(geerpc::errc::bad_body, "the servers' replies differ");
  *reply = std::move(replies.front());
  co_return geerpc::Error();
}

// One call the way --call makes it, into `err`. A statement in the caller, not a coroutine of its
// own: a frame more per call would be charged to the plain client too.
#define BENCH_CALL(err, conn, method, args, reply)                                                  \
  if constexpr (kind == CallKind::client)                                                           \
    err = co_await (conn).client->async_call(method, args, reply, asio::use_awaitable);             \
  else if constexpr (kind == CallKind::broadcast)                                                   \
    err = co_await (conn).xclient->async_broadcast({}, method, args, reply, asio::use_awaitable);   \
  else if constexpr (kind == CallKind::parallel)                                                    \
    err = co_await call_all(conn, method, args, reply);                                             \
  else                                                                                              \
    err = co_await (conn).xclient->async_call({}, method, args, reply, asio::use_awaitable)

// One caller: issues its next call as soon as the previous one returns, verifying every reply.
// Echo payloads are letters (JSON strings must be valid UTF-8); the first bytes carry the
// caller's call number in hex, so a stale or misrouted reply cannot pass.
// One instance per kind of call: with all three in one, GCC 12 misreports the larger coroutine
// frame (-Wmismatched-new-delete).
template <CallKind kind>
asio::awaitable<void> caller(Connection& conn, std::size_t payload, Progress& progress,
                             std::vector<std::int64_t>& latencies_ns) {
  std::string message(payload, 'a'), reply;
  for (std::size_t i = 0; i < payload; ++i) message[i] = static_cast<char>('a' + i * 7 % 26);
  const std::size_t tag_len = std::min<std::size_t>(payload, 8);
  for (std::uint64_t n = 0; progress.phase.load(std::memory_order_relaxed) != kStop; ++n) {
    const auto start = Clock::now();
    if (payload == 0) {
      int sum = 0;
      const Args args{1, 2};
      geerpc::Error err;
      BENCH_CALL(err, conn, "Bench.Sum", args, &sum);
      if (err) die("Bench.Sum: " + err.message());
      if (sum != 3) die("Bench.Sum: got " + std::to_string(sum) + ", want 3");
    } else {
      for (std::size_t i = 0; i < tag_len; ++i) message[i] = "0123456789abcdef"[(n >> (4 * i)) & 15];
      reply.clear();
      geerpc::Error err;
      BENCH_CALL(err, conn, "Bench.Echo", message, &reply);
      if (err) die("Bench.Echo: " + err.message());
      if (reply != message)
        die("Bench.Echo: reply of " + std::to_string(reply.size()) + " bytes differs from the " +
            std::to_string(message.size()) + " bytes sent");
    }
    const auto end = Clock::now();
    if (progress.phase.load(std::memory_order_relaxed) == kMeasure) {
      latencies_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count());
      progress.measured.fetch_add(1, std::memory_order_relaxed);
    }
  }
  // The last caller closes, which lets the io_context run out of work.
  if (conn.callers.fetch_sub(1) == 1 && conn.close())
    die("close: the client was closed already");
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

double percentile_us(const std::vector<std::int64_t>& sorted, double p) {
  // Nearest-rank, the same definition as the other peers.
  auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return static_cast<double>(sorted[std::max<std::size_t>(rank, 1) - 1]) / 1e3;
}

int run_client(const Options& o) {
  // seq has no concurrency for a second thread to use; for shared, spreading the 64 callers over
  // two threads measured faster than one (the connection's strand stays on the first).
  std::size_t conns = 1, window = 1, threads = 1;
  if (o.scenario == "shared") window = 64, threads = 2;
  else if (o.scenario == "multi") conns = 16, window = 16, threads = 2;
  else if (o.scenario != "seq") die("unknown scenario " + o.scenario);
  if (o.threads) threads = o.threads;
  const auto addrs = split(o.addr);
  // Connections per caller's Connection: an XClient (or the parallel client) has one per server.
  const std::size_t per = o.call == "client" ? 1 : addrs.size();
  if (o.connections) {
    // The same calls in flight, over this many connections in all.
    if (o.scenario != "multi" || o.connections % per != 0)
      die("--connections: multi only, and a multiple of the connections of one client");
    const std::size_t in_flight = conns * window;
    conns = o.connections / per;
    window = in_flight / conns;
  }

  // One single-threaded io_context per thread: a connection's strand and its callers share a
  // thread, so a completion reaches its caller without crossing threads.
  std::vector<std::unique_ptr<asio::io_context>> ios;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (std::size_t t = 0; t < threads; ++t) {
    ios.push_back(std::make_unique<asio::io_context>(1));
    guards.push_back(asio::make_work_guard(*ios.back()));
  }
  std::vector<std::thread> runners;
  for (auto& io : ios) runners.emplace_back([&io] { io->run(); });

  const geerpc::Option option{.codec_type = o.codec == "json" ? geerpc::json_type : geerpc::msgpack_type};
  if (o.target >= addrs.size()) die("--target " + std::to_string(o.target) + " is not in --addr " + o.addr);
  std::vector<std::string> rpc_addrs;  // XClient's, x_dial's form
  for (const auto& addr : addrs) rpc_addrs.push_back(o.transport + "@" + addr);
  std::vector<std::unique_ptr<Connection>> pool;
  for (std::size_t i = 0; i < conns; ++i) {
    pool.push_back(std::make_unique<Connection>());
    auto& conn = *pool.back();
    const auto executor = ios[i % threads]->get_executor();
    conn.callers = window;
    const auto dial = [&](const std::string& addr) {
      auto client = o.transport == "http" ? geerpc::dial_http(executor, "tcp", addr, option)
                                          : geerpc::dial(executor, "tcp", addr, option);
      if (!client) die("dial " + addr + ": " + client.error().message());
      return std::move(*client);
    };
    if (o.call == "client") {
      conn.client = dial(addrs[o.target]);
    } else if (o.call == "parallel") {
      for (const auto& addr : addrs) conn.clients.push_back(dial(addr));
    } else {
      // Its clients are dialed by its first calls, in the warm-up.
      conn.xclient = std::make_unique<geerpc::XClient>(
          executor, std::make_shared<geerpc::MultiServersDiscovery>(rpc_addrs), geerpc::SelectMode::round_robin, option);
    }
  }

  Progress progress;
  std::vector<std::vector<std::int64_t>> latencies(conns * window);  // one per caller: no locking
  for (std::size_t i = 0; i < conns; ++i) {
    for (std::size_t j = 0; j < window; ++j) {
      // With fewer connections than threads, a connection's callers spread over the threads.
      auto& io = *ios[conns >= threads ? i % threads : j % threads];
      auto& latency = latencies[i * window + j];
      asio::co_spawn(io,
                     o.call == "client"    ? caller<CallKind::client>(*pool[i], o.payload, progress, latency)
                     : o.call == "xclient"  ? caller<CallKind::xclient>(*pool[i], o.payload, progress, latency)
                     : o.call == "parallel" ? caller<CallKind::parallel>(*pool[i], o.payload, progress, latency)
                                            : caller<CallKind::broadcast>(*pool[i], o.payload, progress, latency),
                     [](std::exception_ptr e) {
                       if (!e) return;
                       try {
                         std::rethrow_exception(e);
                       } catch (const std::exception& ex) {
                         die(std::string("caller: ") + ex.what());
                       }
                     });
    }
  }
  guards.clear();  // from here the callers and connections keep the io_contexts running

  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::printf("MEASURING\n");  // bench/run.sh samples the server's CPU from here
  std::fflush(stdout);
  const double cpu0 = cpu_seconds();
  const auto t0 = Clock::now();
  progress.phase = kMeasure;
  const auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  for (auto now = Clock::now(); now < deadline; now = Clock::now()) {
    std::this_thread::sleep_for(std::min<Clock::duration>(std::chrono::seconds(1), deadline - now));
    std::fprintf(stderr, "geerpc %s %zuB: %.1fs %llu calls\n", o.scenario.c_str(), o.payload,
                 std::chrono::duration<double>(Clock::now() - t0).count(),
                 static_cast<unsigned long long>(progress.measured.load()));
  }
  progress.phase = kStop;
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = cpu_seconds() - cpu0;
  for (auto& r : runners) r.join();  // each caller finishes its call in flight, then stops
  pool.clear();

  std::vector<std::int64_t> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  if (all.empty()) die("no calls completed in the measured window");
  std::sort(all.begin(), all.end());
  std::printf("RESULT impl=geerpc scenario=%s payload=%zu codec=%s calls=%zu seconds=%.3f calls_per_s=%.1f "
              "p50_us=%.1f p99_us=%.1f client_cpu_s=%.3f methods=%s malloc=%s transport=%s call=%s servers=%zu "
              "target=%zu%s\n",
              o.scenario.c_str(), o.payload, o.codec.c_str(), all.size(), elapsed,
              static_cast<double>(all.size()) / elapsed, percentile_us(all, 0.50), percentile_us(all, 0.99), cpu,
              // The client gets the server's flags too: plain methods on a handler pool are "pool".
              o.methods == "plain" && o.handler_threads > 0 ? "pool" : o.methods.c_str(), o.malloc.c_str(),
              o.transport.c_str(), o.call.c_str(), addrs.size(), o.target,
              o.connections ? (" connections=" + std::to_string(o.connections)).c_str() : "");
  return 0;
}

// ---------------------------------------------------------------- registry

// io_contexts of one thread each, run by threads of their own until run_out() and join().
struct IoThreads {
  explicit IoThreads(std::size_t n) {
    for (std::size_t t = 0; t < n; ++t) {
      ios.push_back(std::make_unique<asio::io_context>(1));
      guards.push_back(asio::make_work_guard(*ios.back()));
    }
    for (auto& io : ios) runners.emplace_back([&io] { io->run(); });
  }
  void run_out() { guards.clear(); }  // the work spawned keeps them running
  void join() {
    run_out();
    for (auto& r : runners) r.join();
  }
  asio::io_context& operator[](std::size_t i) { return *ios[i % ios.size()]; }

  std::vector<std::unique_ptr<asio::io_context>> ios;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::vector<std::thread> runners;
};

void spawn_checked(asio::io_context& io, asio::awaitable<void> work) {
  asio::co_spawn(io, std::move(work), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      die(std::string("registry client: ") + ex.what());
    }
  });
}

// What one heartbeat sends (heartbeat.cpp's beat(), with its limits): a POST naming the server,
// on a connection of its own. Every answer must be a 2xx.
asio::awaitable<void> post_beat(const geerpc::HttpUrl& url, const std::string& entry) {
  const std::string method = "POST";  // named: GCC 12 destroys a temporary argument of a co_await'ed call twice
  const geerpc::HttpHeaders headers = {{std::string(geerpc::server_header), entry}};
  const std::string body;
  auto response = co_await geerpc::http_call(url, method, headers, body, std::chrono::seconds(5), std::size_t{1} << 20);
  if (!response) die("heartbeat " + entry + ": " + response.error().message());
}

// Registers entries [next, size) with `window` POSTs in flight; `done` counts down per worker.
asio::awaitable<void> register_some(const geerpc::HttpUrl& url, const std::vector<std::string>& entries,
                                    std::atomic<std::size_t>& next, std::atomic<std::size_t>& workers) {
  for (auto i = next.fetch_add(1); i < entries.size(); i = next.fetch_add(1)) co_await post_beat(url, entries[i]);
  workers.fetch_sub(1);
}

asio::awaitable<void> beater(const geerpc::HttpUrl& url, const std::vector<std::string>& entries,
                             std::atomic<std::size_t>& next, Progress& progress, std::vector<std::int64_t>& latencies_ns,
                             std::atomic<std::size_t>& workers) {
  while (progress.phase.load(std::memory_order_relaxed) != kStop) {
    const auto start = Clock::now();
    co_await post_beat(url, entries[next.fetch_add(1) % entries.size()]);
    if (progress.phase.load(std::memory_order_relaxed) == kMeasure) {
      latencies_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count());
      progress.measured.fetch_add(1, std::memory_order_relaxed);
    }
  }
  workers.fetch_sub(1);
}

// One GET at a time, as RegistryDiscovery's fetch() asks; the whole list is checked.
asio::awaitable<void> lister(const geerpc::HttpUrl& url, const std::string& expected, Progress& progress,
                             std::vector<std::int64_t>& latencies_ns, std::atomic<std::size_t>& workers) {
  const std::string method = "GET";
  const geerpc::HttpHeaders headers;
  const std::string body;
  while (progress.phase.load(std::memory_order_relaxed) != kStop) {
    const auto start = Clock::now();
    auto response = co_await geerpc::http_call(url, method, headers, body, std::chrono::seconds(5));
    const auto end = Clock::now();
    if (!response) die("GET " + url.text + ": " + response.error().message());
    if (response->body != expected)
      die("GET " + url.text + ": a list of " + std::to_string(response->body.size()) + " bytes, not the " +
          std::to_string(expected.size()) + " expected");
    if (progress.phase.load(std::memory_order_relaxed) == kMeasure) {
      latencies_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count());
      progress.measured.fetch_add(1, std::memory_order_relaxed);
    }
  }
  workers.fetch_sub(1);
}

int run_registry_client(const Options& o) {
  const bool get = o.scenario == "get";
  if (!get && o.scenario != "heartbeat") die("unknown registry scenario " + o.scenario);
  auto url = geerpc::parse_http_url("http://" + o.addr + std::string(geerpc::default_registry_path));
  if (!url) die(url.error().message());
  auto list_url = *url;
  list_url.target += "?format=json";

  // Addresses nobody dials: the registry does not check them. Sorted as the registry sorts them.
  std::vector<std::string> entries;
  for (std::size_t i = 0; i < o.servers; ++i)
    entries.push_back("tcp@10." + std::to_string(i >> 16 & 255) + "." + std::to_string(i >> 8 & 255) + "." +
                      std::to_string(i & 255) + ":7001");
  std::sort(entries.begin(), entries.end());
  const std::string expected = nlohmann::json{{"servers", entries}}.dump() + "\n";

  const std::size_t threads = o.threads ? o.threads : get ? 1 : 2;
  IoThreads io(threads);
  std::atomic<std::size_t> next{0}, workers{o.window};
  for (std::size_t w = 0; w < o.window; ++w) spawn_checked(io[w], register_some(*url, entries, next, workers));
  const auto registered_by = Clock::now() + std::chrono::seconds(120);
  while (workers.load() > 0) {
    if (Clock::now() > registered_by) die("registering " + std::to_string(o.servers) + " servers took over 120 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  Progress progress;
  const std::size_t callers = get ? 1 : o.window;
  std::vector<std::vector<std::int64_t>> latencies(callers);
  workers = callers;
  next = 0;
  for (std::size_t w = 0; w < callers; ++w)
    spawn_checked(io[w], get ? lister(list_url, expected, progress, latencies[w], workers)
                             : beater(*url, entries, next, progress, latencies[w], workers));
  io.run_out();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::printf("MEASURING\n");
  std::fflush(stdout);
  const double cpu0 = cpu_seconds();
  const auto t0 = Clock::now();
  progress.phase = kMeasure;
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  progress.phase = kStop;
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = cpu_seconds() - cpu0;
  io.join();

  std::vector<std::int64_t> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  if (all.empty()) die("no requests completed in the measured window");
  std::sort(all.begin(), all.end());
  std::printf("RESULT impl=geerpc service=registry scenario=%s payload=0 codec=http calls=%zu seconds=%.3f "
              "calls_per_s=%.1f p50_us=%.1f p99_us=%.1f client_cpu_s=%.3f servers=%zu window=%zu bytes=%zu\n",
              o.scenario.c_str(), all.size(), elapsed, static_cast<double>(all.size()) / elapsed,
              percentile_us(all, 0.50), percentile_us(all, 0.99), cpu, o.servers, callers,
              get ? expected.size() : std::size_t{0});
  return 0;
}

// ---------------------------------------------------------------- discovery

long rss_kb() {
  std::FILE* status = std::fopen("/proc/self/status", "r");
  if (!status) return 0;
  char line[256];
  long kb = 0;
  while (std::fgets(line, sizeof line, status))
    if (std::sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
  std::fclose(status);
  return kb;
}

// --listed N: N servers registered (made-up addresses nobody dials), then for each round a new
// discovery reads the whole list: the time until get_all() has all N, and the process's RSS growth
// by it. Every round's discovery is kept alive, so a later round cannot reuse an earlier one's
// freed memory; the first round also pays for what any first discovery starts (threads, arenas).
int run_discovery_scale(const Options& o) {
  const bool etcd = o.via == "etcd";
  const std::size_t rounds = o.rounds ? o.rounds : 5;
  asio::thread_pool pool(2);
  std::unique_ptr<geerpc::LocalEtcd> local;
  std::unique_ptr<geerpc::Registry> registry;
  std::string registry_url;
  const geerpc::EtcdConfig config{.endpoints = {""}, .prefix = "/geerpc-bench/listed"};
  std::vector<geerpc::Heartbeat> beats;
  std::vector<std::string> addrs;
  for (std::size_t i = 0; i < o.listed; ++i)
    addrs.push_back("tcp@127.0.0." + std::to_string(1 + i / 50000) + ":" + std::to_string(10000 + i % 50000));
  if (etcd) {
    auto started = geerpc::LocalEtcd::start();
    if (!started) die("etcd: " + started.error().message());
    local = std::move(*started);
    auto put_all = [&]() -> asio::awaitable<geerpc::Error> {
      geerpc::EtcdGateway gateway({local->endpoint()}, std::chrono::seconds(10));
      const std::chrono::seconds ttl(600);
      auto lease = co_await gateway.grant(ttl);
      if (!lease) co_return lease.error();
      for (const auto& addr : addrs) {
        const std::string key = config.prefix + "/" + addr;  // named: GCC 12 and temporaries in co_await
        auto error = co_await gateway.put(key, addr, *lease);
        if (error) co_return error;
      }
      co_return geerpc::Error();
    };
    if (auto error = asio::co_spawn(pool, put_all(), asio::use_future).get()) die("etcd put: " + error.message());
  } else {
    registry = std::make_unique<geerpc::Registry>(pool.get_executor());
    auto registry_listener = geerpc::listen(pool.get_executor(), "tcp", "127.0.0.1:0");
    if (!registry_listener) die("listen: " + registry_listener.error().message());
    registry_url = "http://" + geerpc::to_string(registry_listener->local_endpoint()) +
                   std::string(geerpc::default_registry_path);
    registry->serve(std::move(*registry_listener));
    for (const auto& addr : addrs) {
      auto beating = geerpc::heartbeat(pool.get_executor(), registry_url, addr);
      if (!beating) die("heartbeat: " + beating.error().message());
      beats.push_back(std::move(*beating));
    }
  }
  std::vector<double> listed_ms, grown_kb;
  std::vector<std::shared_ptr<geerpc::Discovery>> kept;
  for (std::size_t round = 0; round < rounds; ++round) {
    const long before = rss_kb();
    const auto t0 = Clock::now();
    geerpc::EtcdConfig mine = config;
    if (etcd) mine.endpoints = {local->endpoint()};
    std::shared_ptr<geerpc::Discovery> discovery;
    if (etcd)
      discovery = std::make_shared<geerpc::EtcdDiscovery>(mine);
    else
      discovery = std::make_shared<geerpc::RegistryDiscovery>(registry_url);
    auto all = discovery->get_all();
    if (!all) die("the list: " + all.error().message());
    if (all->size() != addrs.size())
      die("listed " + std::to_string(all->size()) + " servers, want " + std::to_string(addrs.size()));
    listed_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    grown_kb.push_back(static_cast<double>(rss_kb() - before));
    kept.push_back(std::move(discovery));
    std::fprintf(stderr, "geerpc discovery %s listed %zu: %.1f ms, +%.0f kB\n", o.via.c_str(), addrs.size(),
                 listed_ms.back(), grown_kb.back());
  }
  std::sort(listed_ms.begin(), listed_ms.end());
  std::sort(grown_kb.begin(), grown_kb.end());
  std::printf("RESULT impl=geerpc scenario=discovery-listed via=%s listed=%zu rounds=%zu full_list_p50_ms=%.2f "
              "full_list_max_ms=%.2f rss_growth_p50_kb=%.0f rss_growth_max_kb=%.0f\n",
              o.via.c_str(), addrs.size(), rounds, listed_ms[(rounds - 1) / 2], listed_ms.back(),
              grown_kb[(rounds - 1) / 2], grown_kb.back());
  std::fflush(stdout);
  kept.clear();
  beats.clear();
  if (registry) registry->stop();
  return 0;
}

// Each round: a client (discovery + XClient) that has read its first, empty list; then a server
// registers, and the client polls its discovery until it lists the server, then calls it.
int run_discovery(const Options& o) {
  const bool etcd = o.via == "etcd";
  const std::size_t rounds = o.rounds ? o.rounds : etcd ? 20 : 3;
  const std::chrono::milliseconds refresh = o.refresh_ms ? std::chrono::milliseconds(o.refresh_ms)
                                                         : std::chrono::seconds(10);  // RegistryDiscovery's default
  asio::thread_pool pool(2);
  geerpc::Server server(pool.get_executor());
  if (auto error = server.register_service(std::make_shared<plain::Bench>())) die("register: " + error.message());
  auto listener = geerpc::listen(pool.get_executor(), "tcp", "127.0.0.1:0");
  if (!listener) die("listen: " + listener.error().message());
  const std::string addr = "tcp@" + geerpc::to_string(listener->local_endpoint());
  server.accept(std::move(*listener));

  std::unique_ptr<geerpc::LocalEtcd> local;
  if (etcd) {
    auto started = geerpc::LocalEtcd::start();
    if (!started) die("etcd: " + started.error().message());
    local = std::move(*started);
  }

  const auto ms = [](Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
  std::vector<double> registered_ms, listed_ms, called_ms;
  for (std::size_t round = 0; round < rounds; ++round) {
    // A namespace of its own each round, so the list starts empty: a prefix, or a registry.
    const geerpc::EtcdConfig config{.endpoints = {etcd ? local->endpoint() : ""},
                                    .prefix = "/geerpc-bench/discovery/" + std::to_string(round)};
    std::unique_ptr<geerpc::Registry> registry;
    std::string registry_url;
    std::shared_ptr<geerpc::Discovery> discovery;
    if (etcd) {
      discovery = std::make_shared<geerpc::EtcdDiscovery>(config);
    } else {
      registry = std::make_unique<geerpc::Registry>(pool.get_executor());
      auto registry_listener = geerpc::listen(pool.get_executor(), "tcp", "127.0.0.1:0");
      if (!registry_listener) die("listen: " + registry_listener.error().message());
      registry_url = "http://" + geerpc::to_string(registry_listener->local_endpoint()) +
                     std::string(geerpc::default_registry_path);
      registry->serve(std::move(*registry_listener));
      discovery = o.refresh_ms ? std::make_shared<geerpc::RegistryDiscovery>(registry_url, refresh)
                               : std::make_shared<geerpc::RegistryDiscovery>(registry_url);
    }
    geerpc::XClient xclient(pool.get_executor(), discovery, geerpc::SelectMode::round_robin);
    auto first = discovery->get_all();
    if (!first) die("the first list: " + first.error().message());
    if (!first->empty()) die("the first list is not empty");
    const auto listed_empty = Clock::now();
    // A registry's client refreshes every `refresh`, so what a server waits depends on when in
    // that period it registers: the rounds register at evenly spread points of it. etcd's watch
    // has no period; a short pause lets the watch start, as it would have long before.
    std::this_thread::sleep_until(etcd ? listed_empty + std::chrono::milliseconds(50)
                                       : listed_empty + refresh * static_cast<long>(2 * round + 1) /
                                                            static_cast<long>(2 * rounds));

    const auto t0 = Clock::now();
    geerpc::EtcdRegistration registration;
    geerpc::Heartbeat beat;
    if (etcd) {
      auto registered = geerpc::etcd_register(config, addr);
      if (!registered) die("etcd_register: " + registered.error().message());
      registration = std::move(*registered);
    } else {
      auto beating = geerpc::heartbeat(pool.get_executor(), registry_url, addr);
      if (!beating) die("heartbeat: " + beating.error().message());
      beat = std::move(*beating);
    }
    registered_ms.push_back(ms(Clock::now() - t0));  // etcd_register and heartbeat return after their first write
    const auto give_up = t0 + refresh + std::chrono::seconds(10);
    for (;;) {
      auto all = discovery->get_all();
      if (all && std::find(all->begin(), all->end(), addr) != all->end()) break;
      if (Clock::now() > give_up) die("discovery did not list " + addr + " within " + std::to_string(ms(give_up - t0)) + " ms");
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    listed_ms.push_back(ms(Clock::now() - t0));
    int sum = 0;
    if (auto error = xclient.call(geerpc::Context::with_timeout(std::chrono::seconds(5)), "Bench.Sum", Args{1, 2}, &sum))
      die("the first call: " + error.message());
    if (sum != 3) die("the first call: got " + std::to_string(sum) + ", want 3");
    called_ms.push_back(ms(Clock::now() - t0));
    std::fprintf(stderr, "geerpc discovery %s round %zu: listed after %.1f ms, called after %.1f ms\n", o.via.c_str(),
                 round + 1, listed_ms.back(), called_ms.back());
    if (registry) registry->stop();
  }

  const auto summary = [](const char* what, std::vector<double> v) {
    std::sort(v.begin(), v.end());
    double mean = 0;
    for (double x : v) mean += x / static_cast<double>(v.size());
    char text[200];
    std::snprintf(text, sizeof text, "%s_p50_ms=%.2f %s_mean_ms=%.2f %s_min_ms=%.2f %s_max_ms=%.2f", what,
                  v[(v.size() - 1) / 2], what, mean, what, v.front(), what, v.back());
    return std::string(text);
  };
  std::printf("RESULT impl=geerpc scenario=discovery via=%s rounds=%zu refresh_ms=%lld %s %s %s\n", o.via.c_str(),
              rounds, etcd ? 0LL : static_cast<long long>(refresh.count()), summary("registered", registered_ms).c_str(),
              summary("listed", listed_ms).c_str(), summary("called", called_ms).c_str());
  std::fflush(stdout);
  server.stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  if (o.malloc == "tuned") {
    // glibc hands every freed block above 128 KiB back to the kernel at once (munmap, or a trim
    // of the heap), so each 1 MiB message page-faults its buffers in again: that doubled the CPU
    // per call. Go's heap keeps freed memory for reuse. A C++ server that moves large messages
    // sets this, as a Go one sets GOGC; --malloc glibc measures the untuned default.
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
  }
  try {
    if (o.mode == "discovery") return o.listed ? run_discovery_scale(o) : run_discovery(o);
    if (o.mode == "server") return run_server(o);
    return o.service == "registry" ? run_registry_client(o) : run_client(o);
  } catch (const std::exception& e) {
    die(e.what());
  }
}
