// The client: many callers share one connection; each call gets a seq, waits in the pending
// map, and is completed by the receive loop when the response with that seq arrives.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/post.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "geerpc/codec.hpp"
#include "geerpc/detail/async.hpp"
#include "geerpc/detail/executor.hpp"
#include "geerpc/error.hpp"
#include "geerpc/http.hpp"
#include "geerpc/net.hpp"
#include "geerpc/protocol.hpp"

namespace geerpc {

// What Go's context.Context is to a call: a deadline, and a cancellation that any thread can
// trigger through the std::stop_source behind `stop`. Coroutines use Asio's own cancellation
// instead (see Client::async_call).
struct Context {
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  std::stop_token stop;

  static Context with_timeout(std::chrono::steady_clock::duration timeout, std::stop_token stop = {}) {
    return {std::chrono::steady_clock::now() + timeout, std::move(stop)};
  }
};

// One RPC in flight. Go's Call, with `Done chan *Call` turned into wait() for threads and
// async_wait() for coroutines and callbacks. It does not keep Go's Args: the arguments are
// encoded once, at send, and moved into the message.
class Call : public std::enable_shared_from_this<Call> {
 public:
  std::uint64_t seq = 0;
  std::string service_method;  // "Service.Method"
  Error error;  // set when the call failed; read it after the call is done

  bool is_done();

  // Blocks this thread until the call is done. Not from a thread that runs the client's I/O.
  void wait();
  // The same, giving up at the deadline: true when the call is done.
  bool wait_until(std::chrono::steady_clock::time_point deadline);

  // Completes with the call's error once the call is done, on the handler's associated executor.
  template <class Token>
  auto async_wait(Token&& token) {
    return asio::async_initiate<Token, void(Error)>(
        [self = shared_from_this()](auto handler) {
          auto shared = std::make_shared<decltype(handler)>(std::move(handler));
          self->on_done([self, shared] {
            auto executor = asio::get_associated_executor(*shared);
            asio::post(executor, [shared, error = self->error]() mutable {
              // On the handler's own executor, where a cancellation may also be emitted: the
              // operation is over, so its slot must no longer lead to it.
              auto slot = asio::get_associated_cancellation_slot(*shared);
              if (slot.is_connected()) slot.clear();
              std::move (*shared)(std::move(error));
            });
          });
        },
        token);
  }

 private:
  friend class Client;
  void on_done(std::function<void()> waiter);
  void done();  // Go's call.done(): wakes every waiter, once

  std::function<Error(Body&&)> decode_reply_;  // fills the caller's reply object
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::vector<std::function<void()>> waiters_;
};

class Client : public std::enable_shared_from_this<Client> {
 public:
  // Go's NewClient: the handshake over `conn`, then the receive loop. Runs on the connection's
  // strand.
  static asio::awaitable<Result<std::shared_ptr<Client>>> new_client(std::shared_ptr<Conn> conn, Option option);

  ~Client();  // closes: calls still pending fail with errc::shutdown

  // Asynchronous: returns at once; the call completes when its response arrives. `reply` must
  // stay alive until then.
  template <class Args, class Reply>
  std::shared_ptr<Call> go(std::string service_method, const Args& args, Reply* reply) {
    auto call = std::make_shared<Call>();
    call->service_method = std::move(service_method);
    call->decode_reply_ = [reply](Body&& body) -> Error {
      try {
        take_body(std::move(body), *reply);
      } catch (const nlohmann::json::exception& e) {
        return {errc::bad_body, std::string("reading body: ") + e.what()};
      }
      return {};
    };
    send(call, Body(args));
    return call;
  }

  // Synchronous, for plain threads: the call's error, empty on success.
  template <class Args, class Reply>
  Error call(std::string service_method, const Args& args, Reply* reply) {
    auto c = go(std::move(service_method), args, reply);
    c->wait();
    return c->error;
  }

  // Go's Call(ctx, ...): fails with errc::call_timeout at the deadline, or errc::cancelled when
  // ctx.stop is triggered. Either way the call leaves the pending map at once, and a reply that
  // arrives later is read and dropped.
  template <class Args, class Reply>
  Error call(const Context& ctx, std::string service_method, const Args& args, Reply* reply) {
    auto c = go(std::move(service_method), args, reply);
    std::stop_callback on_stop(ctx.stop,
                               [&] { cancel_call(*c, Error(errc::cancelled, "rpc client: call failed: cancelled")); });
    if (!c->wait_until(ctx.deadline))
      cancel_call(*c, Error(errc::call_timeout, "rpc client: call failed: deadline exceeded"));
    c->wait();  // done now, or about to be: a reply being decoded at the deadline still wins
    return c->error;
  }

  // With an Asio completion token: use_awaitable, use_future or a callback taking Error. Supports
  // Asio's per-operation cancellation, so a deadline is `co_await (async_call(..., use_awaitable)
  // || timer.async_wait(use_awaitable))`: when the timer wins, the call fails with errc::cancelled
  // and leaves the pending map.
  template <class Args, class Reply, class Token>
  auto async_call(std::string service_method, const Args& args, Reply* reply, Token&& token) {
    auto c = go(std::move(service_method), args, reply);
    return asio::async_initiate<Token, void(Error)>(
        [c, weak = weak_from_this()](auto handler) {
          auto slot = asio::get_associated_cancellation_slot(handler);
          if (slot.is_connected())
            slot.assign([c, weak](asio::cancellation_type) {
              if (auto client = weak.lock())
                client->cancel_call(*c, Error(errc::cancelled, "rpc client: call failed: cancelled"));
            });
          c->async_wait(std::move(handler));
        },
        token);
  }

  // Fails the call with `error` and removes it from the pending map, unless it is done already.
  // Thread-safe.
  void cancel_call(const Call& call, Error error);

  // Calls waiting for a reply; for tests and monitoring.
  std::size_t pending_count();

  // Closes the connection; pending calls fail. A second close reports errc::shutdown.
  Error close();

  // False once the client is closed or its connection has failed.
  bool is_available();

  struct Private;  // lets only new_client construct
  Client(Private, std::shared_ptr<Codec> codec, Option option);

 private:
  void send(const std::shared_ptr<Call>& call, Body args);
  Result<std::uint64_t> register_call(const std::shared_ptr<Call>& call);
  std::shared_ptr<Call> remove_call(std::uint64_t seq);
  void terminate_calls(const Error& error);
  static asio::awaitable<void> receive(std::weak_ptr<Client> weak, std::shared_ptr<Codec> codec);

  const std::shared_ptr<Codec> codec_;  // writes never interleave: the codec's Conn queues whole messages
  const Option option_;
  std::mutex mutex_;  // guards the four below
  std::uint64_t seq_ = 1;
  std::unordered_map<std::uint64_t, std::shared_ptr<Call>> pending_;
  bool closing_ = false;  // the user called close()
  bool shutdown_ = false;  // the connection failed
};

namespace detail {
// The dial functions' work, on the new connection's strand. `over_http`: CONNECT first.
asio::awaitable<Result<std::shared_ptr<Client>>> dial_on_strand(std::string network, std::string address, Option option,
                                                                bool over_http);
// x_dial's: splits "protocol@addr", then dials.
asio::awaitable<Result<std::shared_ptr<Client>>> x_dial_on_strand(std::string rpc_addr, Option option);
}  // namespace detail

// Go's Dial: connects, runs the handshake, and completes `token` with a ready client or the error:
// void(Result<std::shared_ptr<Client>>). use_awaitable, use_future or a callback. Fails with
// errc::connect_timeout ("connect timeout: expect within <d>") when connecting plus the Option
// exchange take longer than option.connect_timeout (0: no limit).
template <class Token>
auto async_dial(const asio::any_io_executor& executor, std::string_view network, std::string_view address,
                Option option, Token&& token) {
  return detail::async_run(make_conn_strand(executor),
                           detail::dial_on_strand(std::string(network), std::string(address), std::move(option), false),
                           std::forward<Token>(token));
}

template <class Token>
auto async_dial(const asio::any_io_executor& executor, std::string_view network, std::string_view address,
                Token&& token) {
  return async_dial(executor, network, address, Option(), std::forward<Token>(token));
}

// The same, blocking. Not from a thread that runs `executor`.
[[nodiscard]] Result<std::shared_ptr<Client>> dial(const asio::any_io_executor& executor, std::string_view network,
                                                   std::string_view address, Option option = {});

// Go's DialHTTP: connects, sends CONNECT /_geerpc_ and checks the answer (errc::bad_http_status,
// "unexpected HTTP response: <status>"), then runs the client over the same connection. The
// connect timeout covers all three steps: connect, CONNECT, Option.
template <class Token>
auto async_dial_http(const asio::any_io_executor& executor, std::string_view network, std::string_view address,
                     Option option, Token&& token) {
  return detail::async_run(make_conn_strand(executor),
                           detail::dial_on_strand(std::string(network), std::string(address), std::move(option), true),
                           std::forward<Token>(token));
}
[[nodiscard]] Result<std::shared_ptr<Client>> dial_http(const asio::any_io_executor& executor, std::string_view network,
                                                        std::string_view address, Option option = {});

// Go's XDial: one string names the transport and the address, "tcp@127.0.0.1:9999",
// "unix@/tmp/geerpc.sock" or "http@127.0.0.1:7001". Anything else is errc::bad_address,
// "rpc client err: wrong format '<s>', expect protocol@addr".
template <class Token>
auto async_x_dial(const asio::any_io_executor& executor, std::string_view rpc_addr, Option option, Token&& token) {
  return detail::async_run(make_conn_strand(executor),
                           detail::x_dial_on_strand(std::string(rpc_addr), std::move(option)),
                           std::forward<Token>(token));
}
[[nodiscard]] Result<std::shared_ptr<Client>> x_dial(const asio::any_io_executor& executor, std::string_view rpc_addr,
                                                     Option option = {});

}  // namespace geerpc
