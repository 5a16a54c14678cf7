// geerpc_bench: geerpc's peer in the benchmark, with the CLI and RESULT line of raw_echo and
// netrpc-bench (see bench/run.sh).
//
//   geerpc_bench server --addr 127.0.0.1:0 [--codec json|msgpack] [--methods plain|coroutine]
//                       [--threads N] [--handler-threads N] [--malloc tuned|glibc]
//   geerpc_bench client --addr 127.0.0.1:PORT --scenario seq|shared|multi --payload N --seconds S
//                       [--codec json|msgpack] [--methods plain|coroutine] [--threads N]
//                       [--malloc tuned|glibc]
//
// Payload 0 calls Bench.Sum(Args{1, 2}) and expects 3; N > 0 calls Bench.Echo with an N-byte string
// and expects it back. The client keeps its calls in flight with coroutines (async_call +
// use_awaitable) on one single-threaded io_context per I/O thread (seq 1, shared and multi 2).
// As in net/rpc, the client's Option picks the codec: the server takes --codec only for symmetry.
// The client's --methods only labels its RESULT line; the server's decides which methods run.
#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "geerpc/client.hpp"
#include "geerpc/server.hpp"
#include "geerpc/service.hpp"

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
};

Options parse_options(int argc, char** argv) {
  Options o;
  if (argc < 2)
    die("usage: geerpc_bench server|client --addr HOST:PORT [--scenario S --payload N --seconds S]"
        " [--codec json|msgpack] [--methods plain|coroutine] [--threads N] [--handler-threads N]"
        " [--malloc tuned|glibc]");
  o.mode = argv[1];
  if (o.mode != "server" && o.mode != "client") die("unknown mode " + o.mode);
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
    else die("unknown flag " + flag);
  }
  if (o.codec != "json" && o.codec != "msgpack") die("unknown codec " + o.codec);
  if (o.methods != "plain" && o.methods != "coroutine") die("unknown methods " + o.methods);
  if (o.malloc != "tuned" && o.malloc != "glibc") die("unknown malloc " + o.malloc);
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
  geerpc::Server server(io.get_executor(), {.handler_threads = o.handler_threads});
  auto error = o.methods == "plain" ? server.register_service(std::make_shared<plain::Bench>())
                                    : server.register_service(std::make_shared<coroutine::Bench>());
  if (error) die("register: " + error.message());
  auto listener = geerpc::listen(io.get_executor(), "tcp", o.addr);
  if (!listener) die("listen " + o.addr + ": " + listener.error().message());
  const auto address = geerpc::to_string(listener->local_endpoint());
  std::printf("LISTENING %s\n", address.substr(address.rfind(':') + 1).c_str());
  std::fflush(stdout);
  server.accept(std::move(*listener));
  io.join();  // serves until the driver kills the process
  return 0;
}

// ---------------------------------------------------------------- client

enum Phase : int { kWarmup, kMeasure, kStop };

struct Progress {
  std::atomic<int> phase{kWarmup};
  std::atomic<std::uint64_t> measured{0};
};

// A connection and the number of its callers still running; the last one to stop closes it.
struct Connection {
  std::shared_ptr<geerpc::Client> client;
  std::atomic<std::size_t> callers{0};
};

// One caller: issues its next call as soon as the previous one returns, verifying every reply.
// Echo payloads are letters (JSON strings must be valid UTF-8); the first bytes carry the
// caller's call number in hex, so a stale or misrouted reply cannot pass.
asio::awaitable<void> caller(Connection& conn, std::size_t payload, Progress& progress,
                             std::vector<std::int64_t>& latencies_ns) {
  auto& client = *conn.client;
  std::string message(payload, 'a'), reply;
  for (std::size_t i = 0; i < payload; ++i) message[i] = static_cast<char>('a' + i * 7 % 26);
  const std::size_t tag_len = std::min<std::size_t>(payload, 8);
  for (std::uint64_t n = 0; progress.phase.load(std::memory_order_relaxed) != kStop; ++n) {
    const auto start = Clock::now();
    if (payload == 0) {
      int sum = 0;
      auto err = co_await client.async_call("Bench.Sum", Args{1, 2}, &sum, asio::use_awaitable);
      if (err) die("Bench.Sum: " + err.message());
      if (sum != 3) die("Bench.Sum: got " + std::to_string(sum) + ", want 3");
    } else {
      for (std::size_t i = 0; i < tag_len; ++i) message[i] = "0123456789abcdef"[(n >> (4 * i)) & 15];
      reply.clear();
      auto err = co_await client.async_call("Bench.Echo", message, &reply, asio::use_awaitable);
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
  if (conn.callers.fetch_sub(1) == 1 && conn.client->close()) die("close: the client was closed already");
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
  std::vector<std::unique_ptr<Connection>> pool;
  for (std::size_t i = 0; i < conns; ++i) {
    auto client = geerpc::dial(ios[i % threads]->get_executor(), "tcp", o.addr, option);
    if (!client) die("dial " + o.addr + ": " + client.error().message());
    pool.push_back(std::make_unique<Connection>());
    pool.back()->client = std::move(*client);
    pool.back()->callers = window;
  }

  Progress progress;
  std::vector<std::vector<std::int64_t>> latencies(conns * window);  // one per caller: no locking
  for (std::size_t i = 0; i < conns; ++i) {
    for (std::size_t j = 0; j < window; ++j) {
      // With fewer connections than threads, a connection's callers spread over the threads.
      auto& io = *ios[conns >= threads ? i % threads : j % threads];
      asio::co_spawn(io, caller(*pool[i], o.payload, progress, latencies[i * window + j]),
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
              "p50_us=%.1f p99_us=%.1f client_cpu_s=%.3f methods=%s malloc=%s\n",
              o.scenario.c_str(), o.payload, o.codec.c_str(), all.size(), elapsed,
              static_cast<double>(all.size()) / elapsed, percentile_us(all, 0.50), percentile_us(all, 0.99), cpu,
              // The client gets the server's flags too: plain methods on a handler pool are "pool".
              o.methods == "plain" && o.handler_threads > 0 ? "pool" : o.methods.c_str(), o.malloc.c_str());
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
    return o.mode == "server" ? run_server(o) : run_client(o);
  } catch (const std::exception& e) {
    die(e.what());
  }
}
