#include "stats.hpp"

#include <algorithm>
#include <cstdio>

namespace geerpc::cli {
namespace {

double seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

std::string format(const char* pattern, auto... values) {
  char buffer[256];
  std::snprintf(buffer, sizeof buffer, pattern, values...);
  return buffer;
}

std::string millis(float us) {
  return format("%.3f ms", us / 1000.0);
}

}  // namespace

LoadStats::LoadStats(std::size_t count) : count_(count) {
  latencies_us_.reserve(count);
}

void LoadStats::record(std::chrono::steady_clock::duration latency, bool ok) {
  if (ok) {
    const auto us = static_cast<float>(std::chrono::duration<double, std::micro>(latency).count());
    std::lock_guard lock(mutex_);
    latencies_us_.push_back(us);
  } else {
    failed_.fetch_add(1, std::memory_order_relaxed);
  }
  done_.fetch_add(1, std::memory_order_relaxed);
}

std::string LoadStats::progress(std::chrono::steady_clock::duration elapsed) const {
  const auto n = done();
  const double rate = seconds(elapsed) > 0 ? static_cast<double>(n) / seconds(elapsed) : 0;
  return format("%zu/%zu calls, %zu failed, %.0f calls/s", n, count_, failed(), rate);
}

std::string LoadStats::summary(std::chrono::steady_clock::duration elapsed) {
  std::lock_guard lock(mutex_);
  const auto n = done();
  const double rate = seconds(elapsed) > 0 ? static_cast<double>(n) / seconds(elapsed) : 0;
  std::string out = format("calls    %zu (%zu ok, %zu failed) in %.3f s, %.0f calls/s\n", n, n - failed(), failed(),
                           seconds(elapsed), rate);
  if (latencies_us_.empty()) return out + "latency  no call succeeded\n";
  std::sort(latencies_us_.begin(), latencies_us_.end());
  // The nearest-rank percentile: the smallest latency that p% of the calls did not exceed.
  const auto at = [&](double p) {
    const auto rank = static_cast<std::size_t>(p / 100.0 * static_cast<double>(latencies_us_.size()) + 0.999999);
    return latencies_us_[std::clamp<std::size_t>(rank, 1, latencies_us_.size()) - 1];
  };
  return out + "latency  min " + millis(latencies_us_.front()) + ", p50 " + millis(at(50)) + ", p90 " + millis(at(90)) +
         ", p99 " + millis(at(99)) + ", max " + millis(latencies_us_.back()) + "\n";
}

}  // namespace geerpc::cli
