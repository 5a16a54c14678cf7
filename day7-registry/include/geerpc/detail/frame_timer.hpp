// Keeps a peer that sends half a frame and goes silent from holding its connection forever: the
// rest of a frame that has started must arrive within the frame timeout. A first reading may skip
// this file: Conn's reader arms it when a frame has begun and disarms it when the frame is whole.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <system_error>
#include <utility>

namespace geerpc {

class FrameTimer {
 public:
  // A timeout of 0 means no limit. Used only on the connection's strand.
  FrameTimer(const asio::any_io_executor& executor, std::chrono::milliseconds timeout)
      : timer_(executor), timeout_(timeout) {}

  // Starts timing unless it runs already; `on_expiry` runs if disarm() does not come first.
  template <class F>
  void arm(F on_expiry) {
    if (armed_ || timeout_.count() <= 0) return;
    armed_ = true;
    timer_.expires_after(timeout_);
    timer_.async_wait([this, generation = generation_, on_expiry = std::move(on_expiry)](std::error_code ec) mutable {
      // ec first: a timer destroyed with its owner still runs this, with operation_aborted.
      if (ec || generation != generation_) return;  // cancelled, or a stale expiry
      expired_ = true;
      on_expiry();
    });
  }

  void disarm() {
    if (!armed_) return;
    armed_ = false;
    ++generation_;
    timer_.cancel();
  }

  bool expired() const { return expired_; }

 private:
  asio::steady_timer timer_;
  const std::chrono::milliseconds timeout_;
  std::uint64_t generation_ = 0;  // tells a stale expiry from the current one
  bool armed_ = false, expired_ = false;
};

}  // namespace geerpc
