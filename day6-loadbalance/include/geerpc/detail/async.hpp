// Lets a function that runs a coroutine take any Asio completion token (use_awaitable, use_future,
// a callback...), as every async_* function in geerpc does. A first reading may skip this file.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/co_spawn.hpp>
#include <asio/dispatch.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <exception>
#include <memory>
#include <utility>

namespace geerpc::detail {

template <class T>
struct completion {
  using signature = void(T);
};
template <>
struct completion<void> {
  using signature = void();
};

// A cancelled coroutine would throw at its next co_await of another coroutine; geerpc's report
// cancellation as an error value instead (errc::cancelled, operation_aborted).
template <class T>
asio::awaitable<T> errors_as_values(asio::awaitable<T> coroutine) {
  co_await asio::this_coro::throw_if_cancelled(false);
  co_return co_await std::move(coroutine);
}

// Runs `coroutine` on `executor`, which must be a strand, and completes `token` with what it
// returns: void() or void(T). geerpc's coroutines return their errors as values, so no
// exception_ptr comes with it (one that escapes anyway is a bug, and is rethrown where the
// completion runs). A cancellation slot on the token, `(op || timer)` say, cancels the coroutine.
template <class T, class Token>
auto async_run(const asio::any_io_executor& executor, asio::awaitable<T> coroutine, Token&& token) {
  return asio::async_initiate<Token, typename completion<T>::signature>(
      [executor](auto handler, asio::awaitable<T> coroutine) {
        // Asio runs a cancellation's handlers on the thread that cancels. This one goes through a
        // signal emitted on the strand instead, where the coroutine's operations live, and after
        // the coroutine has started (the strand runs in order).
        auto signal = std::make_shared<asio::cancellation_signal>();
        auto slot = asio::get_associated_cancellation_slot(handler);
        if (slot.is_connected())
          slot.assign([executor, signal](asio::cancellation_type type) {
            asio::post(executor, [signal, type] { signal->emit(type); });
          });
        asio::co_spawn(
            executor, errors_as_values(std::move(coroutine)),
            asio::bind_cancellation_slot(signal->slot(), [handler = std::move(handler), signal](
                                                             const std::exception_ptr& error, auto... value) mutable {
              if (error) std::rethrow_exception(error);
              auto target = asio::get_associated_executor(handler);
              asio::dispatch(target, [handler = std::move(handler), ... value = std::move(value)]() mutable {
                // On the caller's executor, where it may also cancel: the operation is
                // over, so its slot must no longer lead here.
                auto slot = asio::get_associated_cancellation_slot(handler);
                if (slot.is_connected()) slot.clear();
                std::move(handler)(std::move(value)...);
              });
            }));
      },
      token, std::move(coroutine));
}

}  // namespace geerpc::detail
