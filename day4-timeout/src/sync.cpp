#include "geerpc/sync.hpp"

#include <algorithm>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

namespace geerpc {

void WaitGroup::add(int n) {
  std::lock_guard lock(mutex_);
  count_ += n;
}

void WaitGroup::done() {
  std::vector<std::shared_ptr<asio::steady_timer>> wake;
  {
    std::lock_guard lock(mutex_);
    --count_;
    if (waiters_.empty()) return;
    std::erase_if(waiters_, [&](const Waiter& w) {
      if (count_ >= w.below) return false;
      wake.push_back(w.timer);
      return true;
    });
  }
  // Timers are not thread-safe: the cancel that wakes a waiter runs on the waiter's executor.
  for (auto& timer : wake) asio::post(timer->get_executor(), [timer] { timer->cancel(); });
}

asio::awaitable<bool> WaitGroup::wait_for(long below, std::chrono::steady_clock::time_point deadline) {
  // Nearly every wait need not wait: it is answered without making a timer (each one costs a
  // lookup of Asio's timer service under its lock).
  {
    std::lock_guard lock(mutex_);
    if (count_ < below) co_return true;
  }
  const auto executor = co_await asio::this_coro::executor;
  auto timer = std::make_shared<asio::steady_timer>(executor, deadline);
  {
    std::lock_guard lock(mutex_);
    if (count_ < below) co_return true;
    waiters_.push_back({below, timer});
  }
  co_await timer->async_wait(asio::experimental::as_tuple(asio::use_awaitable));  // done() cancels it
  std::lock_guard lock(mutex_);
  // A waiter that done() took out of the list was woken because the count fell below: that is the
  // answer, even if an add() has raised the count again before this coroutine ran (a group reused
  // for the next dial or GET), as Go's Wait returns once the count reached zero.
  const auto still_listed = std::erase_if(waiters_, [&](const Waiter& w) { return w.timer == timer; });
  co_return still_listed == 0 || count_ < below;
}

asio::awaitable<bool> WaitGroup::wait_until(std::chrono::steady_clock::time_point deadline) {
  return wait_for(1, deadline);
}

asio::awaitable<void> WaitGroup::wait_below(long limit) {
  // One statement per co_await: GCC 12 mis-compiles some co_await inside larger expressions.
  for (;;) {
    const bool below = co_await wait_for(limit, std::chrono::steady_clock::time_point::max());
    if (below) co_return;
  }
}

}  // namespace geerpc
