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

  // Go's Wait, with a deadline: true once the count is zero, false when the deadline came first.
  // A count that reached zero is zero for the waiters it woke, even if add() raises it again
  // before they run. Call it from a coroutine running on a strand: the wake-up is posted there, so
  // it cannot slip in before the wait starts.
  asio::awaitable<bool> wait_until(std::chrono::steady_clock::time_point deadline);

  // The same wait for a count below `limit` instead of zero: how the server caps the requests of
  // one connection that are in flight. Same rule: on a strand.
  asio::awaitable<void> wait_below(long limit);

 private:
  struct Waiter {
    long below;  // woken once count_ < below
    std::shared_ptr<asio::steady_timer> timer;
  };
  asio::awaitable<bool> wait_for(long below, std::chrono::steady_clock::time_point deadline);

  std::mutex mutex_;
  long count_ = 0;
  std::vector<Waiter> waiters_;
};

}  // namespace geerpc
