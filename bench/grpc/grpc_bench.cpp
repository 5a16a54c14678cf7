// grpc_bench: the gRPC C++ peer of the benchmark, with the CLI and RESULT line of raw_echo,
// netrpc-bench and geerpc_bench (see bench/run.sh): Bench.Sum and Bench.Echo of bench.proto over
// HTTP/2 on 127.0.0.1, insecure credentials, default channel and server options.
//
//   grpc_bench server --addr 127.0.0.1:0 [--queues N]
//   grpc_bench client --addr 127.0.0.1:PORT --scenario seq|shared|multi --payload N --seconds S
//
// Both sides use the asynchronous completion-queue API, with threads of our own polling the
// queues: unlike the callback API, it says which threads do the work, so the client's can be those
// of the other peers (one for seq, two for shared and multi).
//
// Server: --queues completion queues, one thread each, by default one. One queue per core (two)
// was tried first: in seq a call's request is often taken by the queue whose thread is not the one
// polling the socket, so calls hand over between the two threads and seq ran much slower than with
// one queue; shared and multi came out about the same either way (see notes/performance.md). Every
// method has a request posted on every queue; a call that arrives posts the next one, is answered
// on the thread that took it (the work is an addition or a move) and frees itself once its reply
// is sent.
//
// Client: every caller is a Slot with one call in flight, issued again from the completion of the
// last one, as the other peers' callers do. seq: 1 channel, 1 caller; shared: 1 channel, 64
// callers; multi: 16 channels of 16 callers. Callers (shared) or channels (multi) are spread over
// the client's queues. Each channel gets a subchannel pool of its own, so 16 channels are 16 TCP
// connections: with the default global pool, channels to one address with the same arguments
// would share one connection.
//
// Payload 0 calls Sum(1, 2) and expects 3; N > 0 calls Echo with N bytes and expects them back.
// The first bytes of an Echo carry the caller's call number, so a stale reply cannot pass.
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;
using geerpc_bench::Bench;

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "grpc_bench: %s\n", msg.c_str());
  std::fflush(stderr);
  std::_Exit(1);  // may be called from a polling thread: skip destructors
}

struct Options {
  std::string mode;
  std::string addr = "127.0.0.1:0";
  std::string scenario = "seq";
  std::size_t payload = 0;
  double seconds = 3;
  int queues = 1;
};

Options parse_options(int argc, char** argv) {
  Options o;
  if (argc < 2)
    die("usage: grpc_bench server|client --addr HOST:PORT [--queues N] [--scenario S --payload N --seconds S]");
  o.mode = argv[1];
  if (o.mode != "server" && o.mode != "client") die("unknown mode " + o.mode);
  if ((argc - 2) % 2 != 0) die(std::string("missing value for ") + argv[argc - 1]);
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
    else if (flag == "--queues")
      o.queues = std::stoi(value);
    else
      die("unknown flag " + flag);
  }
  if (o.queues < 1) die("--queues must be > 0");
  return o;
}

// ---------------------------------------------------------------- server

// What a completion-queue tag points to on the server.
class Handler {
 public:
  virtual ~Handler() = default;
  virtual void proceed(bool ok) = 0;
};

// One server call of a unary method: posted as a request, answered, then deleted. Request is the
// AsyncService's RequestSum or RequestEcho, answer fills the reply from the request.
template <class Req, class Reply, auto request, auto answer>
class UnaryCall final : public Handler {
 public:
  UnaryCall(Bench::AsyncService& service, grpc::ServerCompletionQueue& cq)
      : service_(service), cq_(cq), responder_(&ctx_) {
    (service_.*request)(&ctx_, &req_, &responder_, &cq_, &cq_, this);
  }

  void proceed(bool ok) override {
    if (!ok || answered_) {  // a shutdown, or the reply has been sent
      delete this;
      return;
    }
    new UnaryCall(service_, cq_);  // the next call of this method on this queue
    answer(req_, reply_);
    answered_ = true;
    responder_.Finish(reply_, grpc::Status::OK, this);
  }

 private:
  Bench::AsyncService& service_;
  grpc::ServerCompletionQueue& cq_;
  grpc::ServerContext ctx_;
  Req req_;
  Reply reply_;
  grpc::ServerAsyncResponseWriter<Reply> responder_;
  bool answered_ = false;
};

void answer_sum(geerpc_bench::SumArgs& args, geerpc_bench::SumReply& reply) {
  reply.set_sum(args.a() + args.b());
}

void answer_echo(geerpc_bench::EchoMessage& args, geerpc_bench::EchoMessage& reply) {
  reply.mutable_payload()->swap(*args.mutable_payload());  // the request is not needed again: no copy
}

using SumCall = UnaryCall<geerpc_bench::SumArgs, geerpc_bench::SumReply, &Bench::AsyncService::RequestSum, answer_sum>;
using EchoCall =
    UnaryCall<geerpc_bench::EchoMessage, geerpc_bench::EchoMessage, &Bench::AsyncService::RequestEcho, answer_echo>;

int run_server(const Options& o) {
  Bench::AsyncService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(o.addr, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> cqs;
  for (int i = 0; i < o.queues; ++i) cqs.push_back(builder.AddCompletionQueue());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) die("cannot listen on " + o.addr);
  std::printf("LISTENING %d\n", port);
  std::fflush(stdout);

  std::vector<std::thread> threads;
  for (auto& cq : cqs) {
    new SumCall(service, *cq);
    new EchoCall(service, *cq);
    threads.emplace_back([&cq] {
      void* tag = nullptr;
      bool ok = false;
      while (cq->Next(&tag, &ok)) static_cast<Handler*>(tag)->proceed(ok);
    });
  }
  for (auto& t : threads) t.join();  // serves until the driver kills the process
  return 0;
}

// ---------------------------------------------------------------- client

enum Phase : int { kWarmup, kMeasure, kStop };

struct Progress {
  std::atomic<int> phase{kWarmup};
  std::atomic<std::uint64_t> measured{0};
};

// One caller: one call in flight at a time on its channel's stub, completed on its queue.
class Slot {
 public:
  Slot(Bench::Stub& stub, grpc::CompletionQueue& cq, std::size_t payload, Progress& progress)
      : stub_(stub), cq_(cq), payload_(payload), progress_(progress) {
    sum_args_.set_a(1);
    sum_args_.set_b(2);
    std::string& message = *echo_args_.mutable_payload();
    message.resize(payload);
    for (std::size_t i = 0; i < payload; ++i) message[i] = static_cast<char>(i * 7);
  }

  // A ClientContext serves one call only, so every call gets a new one.
  void start() {
    ctx_ = std::make_unique<grpc::ClientContext>();
    started_at_ = Clock::now();
    if (payload_ == 0) {
      sum_ = stub_.PrepareAsyncSum(ctx_.get(), sum_args_, &cq_);
      sum_->StartCall();
      sum_->Finish(&sum_reply_, &status_, this);
    } else {
      // Written in place: the request is serialized when the call is prepared, so a per-call copy
      // of the payload would be the benchmark's cost, not gRPC's.
      const std::size_t tag_len = std::min<std::size_t>(payload_, sizeof calls_);
      std::memcpy(echo_args_.mutable_payload()->data(), &calls_, tag_len);
      echo_ = stub_.PrepareAsyncEcho(ctx_.get(), echo_args_, &cq_);
      echo_->StartCall();
      echo_->Finish(&echo_reply_, &status_, this);
    }
  }

  // The call's completion: verifies the reply and records its latency.
  void finish(bool ok) {
    const auto end = Clock::now();
    if (!ok || !status_.ok()) die((payload_ == 0 ? "Sum: " : "Echo: ") + status_.error_message());
    if (payload_ == 0 && sum_reply_.sum() != 3) die("Sum: got " + std::to_string(sum_reply_.sum()) + ", want 3");
    if (payload_ != 0 && echo_reply_.payload() != echo_args_.payload())
      die("Echo: reply of " + std::to_string(echo_reply_.payload().size()) + " bytes differs from the " +
          std::to_string(payload_) + " bytes sent");
    ++calls_;
    if (progress_.phase.load(std::memory_order_relaxed) == kMeasure) {
      latencies_ns_.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(end - started_at_).count());
      progress_.measured.fetch_add(1, std::memory_order_relaxed);
    }
  }

  const std::vector<std::int64_t>& latencies_ns() const { return latencies_ns_; }

 private:
  Bench::Stub& stub_;
  grpc::CompletionQueue& cq_;
  std::size_t payload_;
  Progress& progress_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  geerpc_bench::SumArgs sum_args_;
  geerpc_bench::SumReply sum_reply_;
  geerpc_bench::EchoMessage echo_args_, echo_reply_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<geerpc_bench::SumReply>> sum_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<geerpc_bench::EchoMessage>> echo_;
  grpc::Status status_;
  Clock::time_point started_at_;
  std::uint64_t calls_ = 0;
  std::vector<std::int64_t> latencies_ns_;
};

// A client thread and its completion queue: completes its slots' calls and issues their next ones
// until the stop, then shuts the queue down once the last call in flight is back.
struct Poller {
  grpc::CompletionQueue cq;
  std::vector<Slot*> slots;

  void run(const Progress& progress) {
    std::size_t in_flight = slots.size();
    for (Slot* slot : slots) slot->start();
    void* tag = nullptr;
    bool ok = false;
    while (cq.Next(&tag, &ok)) {
      auto* slot = static_cast<Slot*>(tag);
      slot->finish(ok);
      if (progress.phase.load(std::memory_order_relaxed) != kStop)
        slot->start();
      else if (--in_flight == 0)
        cq.Shutdown();
    }
  }
};

std::shared_ptr<grpc::Channel> connect(const std::string& addr) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own (see the top)
  auto channel = grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5)))
    die("connect " + addr + ": not connected after 5 s");
  return channel;
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
  std::size_t channels = 1, window = 1, threads = 1;
  if (o.scenario == "shared")
    window = 64, threads = 2;
  else if (o.scenario == "multi")
    channels = 16, window = 16, threads = 2;
  else if (o.scenario != "seq")
    die("unknown scenario " + o.scenario);

  std::vector<std::shared_ptr<grpc::Channel>> pool;
  std::vector<std::unique_ptr<Bench::Stub>> stubs;
  for (std::size_t i = 0; i < channels; ++i) {
    pool.push_back(connect(o.addr));
    stubs.push_back(Bench::NewStub(pool.back()));
  }
  std::vector<std::unique_ptr<Poller>> pollers;
  for (std::size_t t = 0; t < threads; ++t) pollers.push_back(std::make_unique<Poller>());
  Progress progress;
  std::vector<std::unique_ptr<Slot>> slots;
  for (std::size_t i = 0; i < channels; ++i) {
    for (std::size_t j = 0; j < window; ++j) {
      // With fewer channels than threads, a channel's callers spread over the threads.
      auto& poller = *pollers[channels >= threads ? i % threads : j % threads];
      slots.push_back(std::make_unique<Slot>(*stubs[i], poller.cq, o.payload, progress));
      poller.slots.push_back(slots.back().get());
    }
  }
  std::vector<std::thread> runners;
  for (auto& poller : pollers) runners.emplace_back([&poller, &progress] { poller->run(progress); });

  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const double cpu0 = cpu_seconds();
  const auto t0 = Clock::now();
  progress.phase = kMeasure;
  const auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  for (auto now = Clock::now(); now < deadline; now = Clock::now()) {
    std::this_thread::sleep_for(std::min<Clock::duration>(std::chrono::seconds(1), deadline - now));
    std::fprintf(stderr, "grpc %s %zuB: %.1fs %llu calls\n", o.scenario.c_str(), o.payload,
                 std::chrono::duration<double>(Clock::now() - t0).count(),
                 static_cast<unsigned long long>(progress.measured.load()));
  }
  progress.phase = kStop;
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = cpu_seconds() - cpu0;
  for (auto& r : runners) r.join();  // each caller finishes its call in flight, then stops

  std::vector<std::int64_t> all;
  for (auto& s : slots) all.insert(all.end(), s->latencies_ns().begin(), s->latencies_ns().end());
  if (all.empty()) die("no calls completed in the measured window");
  std::sort(all.begin(), all.end());
  std::printf(
      "RESULT impl=grpc scenario=%s payload=%zu codec=protobuf calls=%zu seconds=%.3f calls_per_s=%.1f "
      "p50_us=%.1f p99_us=%.1f client_cpu_s=%.3f\n",
      o.scenario.c_str(), o.payload, all.size(), elapsed, static_cast<double>(all.size()) / elapsed,
      percentile_us(all, 0.50), percentile_us(all, 0.99), cpu);
  std::fflush(stdout);
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
