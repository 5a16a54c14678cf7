// Go's sync.WaitGroup for coroutines: waiting suspends the coroutine instead of blocking a thread.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

namespace geerpc {

class WaitGroup {
 public:
  void add(int n = 1);
  void done();

  // True once the count is zero; false when the deadline came first. Call it from a coroutine
  // running on a strand: the wake-up is posted there, so it cannot slip in before the wait starts.
  asio::awaitable<bool> wait_until(std::chrono::steady_clock::time_point deadline);

 private:
  std::mutex mutex_;
  long count_ = 0;
  std::vector<std::shared_ptr<asio::steady_timer>> waiters_;
};

}  // namespace geerpc
