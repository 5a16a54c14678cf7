// raw_echo: the benchmark's "machine limit" peer. It moves the same bytes as
// an RPC call (4-byte big-endian length prefix + payload) but does no
// decoding, dispatch or allocation per message, so any RPC implementation
// can be compared against what the kernel and Asio alone can do.
//
//   raw_echo server --addr 127.0.0.1:0
//   raw_echo client --addr 127.0.0.1:PORT --scenario seq|shared|multi
//                   --payload N --seconds S
#include <sys/resource.h>

#include <algorithm>
#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto use_awaitable = asio::use_awaitable;

constexpr std::size_t kHeader = 4;
constexpr std::size_t kInitialBuffer = 64 * 1024;
// Caps one client write so a 64 x 1 MiB window does not build a 64 MiB batch.
constexpr std::size_t kMaxWriteBatch = 256 * 1024;

// async_write's default completion condition sends at most 64 KiB per system call; offer the
// kernel everything that is left instead, as a plain write() would.
std::size_t whole_buffer(const std::error_code& ec, std::size_t) {
  return ec ? 0 : std::numeric_limits<std::size_t>::max();
}

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "raw_echo: %s\n", msg.c_str());
  std::fflush(stderr);
  std::_Exit(1);  // may be called from an I/O thread: skip destructors
}

struct Options {
  std::string mode;
  std::string addr = "127.0.0.1:0";
  std::string scenario = "seq";
  std::size_t payload = 0;
  double seconds = 3;
};

Options parse_options(int argc, char** argv) {
  Options o;
  if (argc < 2) die("usage: raw_echo server|client --addr HOST:PORT [--scenario S --payload N --seconds S]");
  o.mode = argv[1];
  if (o.mode != "server" && o.mode != "client") die("unknown mode " + o.mode);
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--addr")
      o.addr = value;
    else if (flag == "--scenario")
      o.scenario = value;
    else if (flag == "--payload")
      o.payload = std::stoul(value);
    else if (flag == "--seconds")
      o.seconds = std::stod(value);
    else
      die("unknown flag " + flag);
  }
  if ((argc - 2) % 2 != 0) die(std::string("missing value for ") + argv[argc - 1]);
  return o;
}

tcp::endpoint parse_endpoint(const std::string& addr) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos) die("address must be HOST:PORT: " + addr);
  return {asio::ip::make_address(addr.substr(0, colon)),
          static_cast<unsigned short>(std::stoul(addr.substr(colon + 1)))};
}

std::uint32_t read_be32(const unsigned char* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}

void write_be32(unsigned char* p, std::uint32_t v) {
  p[0] = static_cast<unsigned char>(v >> 24);
  p[1] = static_cast<unsigned char>(v >> 16);
  p[2] = static_cast<unsigned char>(v >> 8);
  p[3] = static_cast<unsigned char>(v);
}

// Returns the byte count of the complete frames at the front of buf[0, have)
// and grows buf so the following partial frame will fit once it arrives.
std::size_t complete_frames(std::vector<unsigned char>& buf, std::size_t have) {
  std::size_t end = 0;
  while (have - end >= kHeader) {
    std::size_t frame = kHeader + read_be32(&buf[end]);
    if (have - end < frame) {
      if (frame > buf.size()) buf.resize(frame);  // the remainder moves to the front
      break;
    }
    end += frame;
  }
  return end;
}

// Drops the consumed prefix so the next read appends to the partial frame.
std::size_t consume(std::vector<unsigned char>& buf, std::size_t have, std::size_t used) {
  std::memmove(buf.data(), buf.data() + used, have - used);
  return have - used;
}

// ---------------------------------------------------------------- server

asio::awaitable<void> echo_session(tcp::socket sock) {
  std::vector<unsigned char> buf(kInitialBuffer);
  std::size_t have = 0;
  try {
    for (;;) {
      have += co_await sock.async_read_some(asio::buffer(buf.data() + have, buf.size() - have), use_awaitable);
      // An echo is byte-identical to its request, so the batch of replies for
      // this read is exactly the prefix of complete frames: one write, no copy.
      std::size_t end = complete_frames(buf, have);
      if (end > 0) co_await asio::async_write(sock, asio::buffer(buf.data(), end), whole_buffer, use_awaitable);
      have = consume(buf, have, end);
    }
  } catch (const std::system_error&) {
    // Peer went away; the client side is responsible for reporting errors.
  }
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor) {
  for (;;) {
    tcp::socket sock = co_await acceptor.async_accept(use_awaitable);
    sock.set_option(tcp::no_delay(true));
    asio::co_spawn(acceptor.get_executor(), echo_session(std::move(sock)), asio::detached);
  }
}

int run_server(const Options& o) {
  asio::io_context io(2);
  tcp::acceptor acceptor(io, parse_endpoint(o.addr));
  std::printf("LISTENING %u\n", static_cast<unsigned>(acceptor.local_endpoint().port()));
  std::fflush(stdout);
  asio::co_spawn(io, accept_loop(acceptor), [](std::exception_ptr e) {
    if (e) die("accept loop failed");
  });
  // Each session is one coroutine, so it never runs on both threads at once.
  std::thread second([&] { io.run(); });
  io.run();
  second.join();
  return 0;
}

// ---------------------------------------------------------------- client

enum Phase : int { kWarmup, kMeasure, kStop };

struct Progress {
  std::atomic<int> phase{kWarmup};
  std::atomic<std::uint64_t> measured{0};
};

// One pipelined connection: the writer keeps `window` requests in flight and
// the reader matches replies in FIFO order (the server answers in order).
// Reader and writer are separate coroutines so a large write can never block
// draining the replies (that would deadlock with big payloads).
// All members are touched only from the connection's single-threaded io_context.
class Conn {
 public:
  Conn(asio::io_context& io, const tcp::endpoint& ep, std::size_t msg_len, std::size_t window, Progress& progress)
      : sock_(io), wake_(io, Clock::time_point::max()), tmpl_(msg_len), to_send_(window), progress_(progress) {
    sock_.connect(ep);
    sock_.set_option(tcp::no_delay(true));
    for (std::size_t i = 0; i < msg_len; ++i) tmpl_[i] = static_cast<unsigned char>(i * 7);
    started_at_.assign(window, Clock::now());
  }

  void start() {
    auto on_error = [this](std::exception_ptr e) {
      if (e && !closed_) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          die(std::string("client: ") + ex.what());
        }
      }
    };
    asio::co_spawn(sock_.get_executor(), reader(), on_error);
    asio::co_spawn(sock_.get_executor(), writer(), on_error);
  }

  // Must run on the connection's io_context; lets both coroutines finish.
  void close() {
    closed_ = true;
    asio::error_code ignored;
    sock_.close(ignored);
    wake_.cancel();
  }

  const std::vector<std::int64_t>& latencies_ns() const { return latencies_; }

 private:
  // The first bytes carry a sequence number so a reordered or stale reply fails.
  std::size_t tag_len() const { return std::min<std::size_t>(sizeof(std::uint64_t), tmpl_.size()); }

  asio::awaitable<void> writer() {
    std::vector<unsigned char> out;
    while (!closed_) {
      if (to_send_ == 0) {
        asio::error_code ec;  // cancel() is the wake-up signal, not an error
        co_await wake_.async_wait(asio::redirect_error(use_awaitable, ec));
        continue;
      }
      out.clear();
      const std::size_t frame = kHeader + tmpl_.size();
      for (; to_send_ > 0 && (out.empty() || out.size() + frame <= kMaxWriteBatch); --to_send_) {
        std::size_t at = out.size();
        out.resize(at + frame);
        write_be32(&out[at], static_cast<std::uint32_t>(tmpl_.size()));
        std::memcpy(&out[at + kHeader], tmpl_.data(), tmpl_.size());
        std::memcpy(&out[at + kHeader], &next_tag_, tag_len());
        ++next_tag_;
      }
      co_await asio::async_write(sock_, asio::buffer(out), whole_buffer, use_awaitable);
    }
  }

  asio::awaitable<void> reader() {
    std::vector<unsigned char> buf(kInitialBuffer);
    std::size_t have = 0;
    while (!closed_) {
      have += co_await sock_.async_read_some(asio::buffer(buf.data() + have, buf.size() - have), use_awaitable);
      const auto now = Clock::now();
      const bool measuring = progress_.phase.load(std::memory_order_relaxed) == kMeasure;
      std::size_t end = complete_frames(buf, have);
      for (std::size_t at = 0; at < end; at += kHeader + tmpl_.size()) {
        verify(&buf[at]);
        if (measuring) {
          latencies_.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(now - started_at_.front()).count());
          progress_.measured.fetch_add(1, std::memory_order_relaxed);
        }
        // Like a caller that issues its next call as soon as one returns: the
        // new call starts now, even if it waits for the writer (counts queueing).
        started_at_.pop_front();
        started_at_.push_back(now);
        ++to_send_;
      }
      have = consume(buf, have, end);
      if (to_send_ > 0) wake_.cancel();
    }
  }

  void verify(const unsigned char* frame) {
    const std::size_t len = read_be32(frame);
    const unsigned char* body = frame + kHeader;
    if (len != tmpl_.size()) die("echo length " + std::to_string(len) + " != " + std::to_string(tmpl_.size()));
    if (std::memcmp(body, &expect_tag_, tag_len()) != 0) die("echo out of order");
    if (std::memcmp(body + tag_len(), tmpl_.data() + tag_len(), len - tag_len()) != 0) die("echo payload differs");
    ++expect_tag_;
  }

  tcp::socket sock_;
  asio::steady_timer wake_;  // used as a condition variable for the writer
  std::vector<unsigned char> tmpl_;
  std::size_t to_send_;  // requests the writer may issue to refill the window
  std::deque<Clock::time_point> started_at_;  // per in-flight call, FIFO like the replies
  std::uint64_t next_tag_ = 0, expect_tag_ = 0;
  bool closed_ = false;
  Progress& progress_;
  std::vector<std::int64_t> latencies_;
};

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

double percentile_us(const std::vector<std::int64_t>& sorted, double p) {
  // Nearest-rank, the same definition as netrpc-bench.
  auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return static_cast<double>(sorted[std::max<std::size_t>(rank, 1) - 1]) / 1e3;
}

int run_client(const Options& o) {
  std::size_t conns = 1, window = 1, threads = 1;
  if (o.scenario == "shared")
    window = 64;
  else if (o.scenario == "multi")
    conns = 16, window = 16, threads = 2;
  else if (o.scenario != "seq")
    die("unknown scenario " + o.scenario);
  const std::size_t msg_len = o.payload == 0 ? 16 : o.payload;  // payload 0 stands in for a tiny Sum call

  // One single-threaded io_context per thread keeps each Conn strand-free.
  std::vector<std::unique_ptr<asio::io_context>> ios;
  for (std::size_t t = 0; t < threads; ++t) ios.push_back(std::make_unique<asio::io_context>(1));
  Progress progress;
  const tcp::endpoint ep = parse_endpoint(o.addr);
  std::vector<std::unique_ptr<Conn>> pool;
  for (std::size_t i = 0; i < conns; ++i) {
    try {
      pool.push_back(std::make_unique<Conn>(*ios[i % threads], ep, msg_len, window, progress));
    } catch (const std::system_error& e) {
      die("connect " + o.addr + ": " + e.what());
    }
    pool.back()->start();
  }
  std::vector<std::thread> runners;
  for (auto& io : ios) runners.emplace_back([&io] { io->run(); });

  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const double cpu0 = cpu_seconds();
  const auto t0 = Clock::now();
  progress.phase = kMeasure;
  const auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  for (auto now = Clock::now(); now < deadline; now = Clock::now()) {
    std::this_thread::sleep_for(std::min<Clock::duration>(std::chrono::seconds(1), deadline - now));
    std::fprintf(stderr, "raw %s %zuB: %.1fs %llu calls\n", o.scenario.c_str(), o.payload,
                 std::chrono::duration<double>(Clock::now() - t0).count(),
                 static_cast<unsigned long long>(progress.measured.load()));
  }
  progress.phase = kStop;
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = cpu_seconds() - cpu0;

  for (std::size_t i = 0; i < conns; ++i) asio::post(*ios[i % threads], [c = pool[i].get()] { c->close(); });
  for (auto& r : runners) r.join();

  std::vector<std::int64_t> all;
  for (auto& c : pool) all.insert(all.end(), c->latencies_ns().begin(), c->latencies_ns().end());
  if (all.empty()) die("no calls completed in the measured window");
  std::sort(all.begin(), all.end());
  std::printf(
      "RESULT impl=raw scenario=%s payload=%zu codec=raw calls=%zu seconds=%.3f calls_per_s=%.1f "
      "p50_us=%.1f p99_us=%.1f client_cpu_s=%.3f\n",
      o.scenario.c_str(), o.payload, all.size(), elapsed, static_cast<double>(all.size()) / elapsed,
      percentile_us(all, 0.50), percentile_us(all, 0.99), cpu);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  try {
    return o.mode == "server" ? run_server(o) : run_client(o);
  } catch (const std::exception& e) {
    die(e.what());
  }
}
