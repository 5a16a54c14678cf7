#include "geerpc/sync.hpp"

#include <asio/post.hpp>
#include <asio/this_coro.hpp>

#include "geerpc/conn.hpp"

namespace geerpc {

void WaitGroup::add(int n) {
  std::lock_guard lock(mutex_);
  count_ += n;
}

void WaitGroup::done() {
  std::vector<std::shared_ptr<asio::steady_timer>> waiters;
  {
    std::lock_guard lock(mutex_);
    if (--count_ > 0) return;
    waiters.swap(waiters_);
  }
  // Timers are not thread-safe: the cancel that wakes a waiter runs on the waiter's executor.
  for (auto& timer : waiters) asio::post(timer->get_executor(), [timer] { timer->cancel(); });
}

asio::awaitable<bool> WaitGroup::wait_until(std::chrono::steady_clock::time_point deadline) {
  auto timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor, deadline);
  {
    std::lock_guard lock(mutex_);
    if (count_ <= 0) co_return true;
    waiters_.push_back(timer);
  }
  co_await timer->async_wait(use_nothrow);
  std::lock_guard lock(mutex_);
  std::erase(waiters_, timer);
  co_return count_ <= 0;
}

}  // namespace geerpc
