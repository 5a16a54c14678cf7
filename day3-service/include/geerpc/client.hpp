// The client: many callers share one connection; each call gets a seq, waits in the pending
// map, and is completed by the receive loop when the response with that seq arrives.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/post.hpp>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "geerpc/codec.hpp"
#include "geerpc/detail/async.hpp"
#include "geerpc/detail/executor.hpp"
#include "geerpc/error.hpp"
#include "geerpc/net.hpp"
#include "geerpc/protocol.hpp"

namespace geerpc {

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

  // Completes with the call's error once the call is done, on the handler's associated executor.
  template <class Token>
  auto async_wait(Token&& token) {
    return asio::async_initiate<Token, void(Error)>(
        [self = shared_from_this()](auto handler) {
          auto shared = std::make_shared<decltype(handler)>(std::move(handler));
          self->on_done([self, shared] {
            auto executor = asio::get_associated_executor(*shared);
            asio::post(executor, [shared, error = self->error]() mutable { std::move (*shared)(std::move(error)); });
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

  // With an Asio completion token: use_awaitable, use_future or a callback taking Error.
  template <class Args, class Reply, class Token>
  auto async_call(std::string service_method, const Args& args, Reply* reply, Token&& token) {
    return go(std::move(service_method), args, reply)->async_wait(std::forward<Token>(token));
  }

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
// async_dial's work, on the new connection's strand.
asio::awaitable<Result<std::shared_ptr<Client>>> dial_on_strand(std::string network, std::string address,
                                                                Option option);
}  // namespace detail

// Go's Dial: connects, runs the handshake, and completes `token` with a ready client or the error:
// void(Result<std::shared_ptr<Client>>). use_awaitable, use_future or a callback.
template <class Token>
auto async_dial(const asio::any_io_executor& executor, std::string_view network, std::string_view address,
                Option option, Token&& token) {
  return detail::async_run(make_conn_strand(executor),
                           detail::dial_on_strand(std::string(network), std::string(address), std::move(option)),
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

}  // namespace geerpc
