// What a load run (geerpc call --count N --concurrency C) measures: every call's latency, a
// progress line while it runs, and the summary at the end. No network here.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

namespace geerpc::cli {

class LoadStats {
 public:
  explicit LoadStats(std::size_t count);

  // From any thread, once per finished call.
  void record(std::chrono::steady_clock::duration latency, bool ok);

  std::size_t done() const { return done_.load(std::memory_order_relaxed); }
  std::size_t failed() const { return failed_.load(std::memory_order_relaxed); }

  // "  350/1000 calls, 0 failed, 3500 calls/s"
  std::string progress(std::chrono::steady_clock::duration elapsed) const;
  // Two lines: the counts and rate, then min, p50, p90, p99 and max latency of the calls that
  // succeeded. Call it when every call has been recorded.
  std::string summary(std::chrono::steady_clock::duration elapsed);

 private:
  const std::size_t count_;
  std::atomic<std::size_t> done_{0}, failed_{0};
  std::mutex mutex_;
  std::vector<float> latencies_us_;  // of the calls that succeeded
};

}  // namespace geerpc::cli
