// XClient (GeeRPC's xclient/xclient.go): one client for many servers. Discovery says where they
// are, the select mode which one a call goes to, and a client per server is dialed once and kept.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/use_future.hpp>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "geerpc/client.hpp"
#include "geerpc/detail/async.hpp"
#include "geerpc/service.hpp"  // type_name
#include "geerpc/xclient/discovery.hpp"

namespace geerpc {

// A call's Context and the key that SelectMode::consistent_hash routes it by (a user id, say).
struct CallContext : Context {
  CallContext(Context ctx = {}, std::string key = {}) : Context(std::move(ctx)), key(std::move(key)) {}  // NOLINT
  std::string key;
};

struct XClientConfig {
  // Servers one call may try. A call moves to the next only while its request cannot have reached
  // a server (the dial failed, or the cached client was already down); once sent, it is never
  // sent again, because the method may have run.
  std::size_t max_tries = 3;
};

class XClient {
 public:
  // Calls and dials run on `executor`; every client dialed gets `option`.
  XClient(const asio::any_io_executor& executor, std::shared_ptr<Discovery> discovery, SelectMode mode,
          Option option = {}, XClientConfig config = {});
  // Closes every client: calls in flight fail, and nothing they hold dangles. A dial in flight
  // ends within its connect timeout, and its client is closed then.
  ~XClient();

  XClient(const XClient&) = delete;
  XClient& operator=(const XClient&) = delete;

  // Go's Call: one server, chosen by the mode. Completes with void(Error); deadline and stop as
  // Client's (errc::call_timeout, errc::cancelled), and Asio cancellation when the token has a
  // slot. `reply` must stay alive until then.
  template <class Args, class Reply, class Token>
  auto async_call(CallContext ctx, std::string service_method, const Args& args, Reply* reply, Token&& token) {
    auto fast = try_fast_call(state_, ctx);
    if (fast.leased)
      return leased_call(std::move(fast.leased), std::move(service_method), args, reply, std::forward<Token>(token));
    return detail::async_run(
        call_executor(),
        call_decoded(state_, std::move(ctx), std::move(service_method), Body(args), reply, std::move(fast.picked)),
        std::forward<Token>(token));
  }
  // The same, blocking. Not from a thread that runs `executor`.
  template <class Args, class Reply>
  Error call(const CallContext& ctx, std::string service_method, const Args& args, Reply* reply) {
    return async_call(ctx, std::move(service_method), args, reply, asio::use_future).get();
  }

  // Go's Broadcast: every server at once. The first error cancels the others at once and is
  // returned; when all succeed, `reply` holds one of the replies.
  template <class Args, class Reply, class Token>
  auto async_broadcast(CallContext ctx, std::string service_method, const Args& args, Reply* reply, Token&& token) {
    if (auto all = try_fast_broadcast(state_, ctx)) {
      send_all(*all, service_method, Body(args));
      return leased_broadcast(std::move(all), reply, std::forward<Token>(token));
    }
    return detail::async_run(call_executor(),
                             broadcast_decoded(state_, std::move(ctx), std::move(service_method), Body(args), reply),
                             std::forward<Token>(token));
  }
  template <class Args, class Reply>
  Error broadcast(const CallContext& ctx, std::string service_method, const Args& args, Reply* reply) {
    return async_broadcast(ctx, std::move(service_method), args, reply, asio::use_future).get();
  }

  // Closes every client; later calls fail at once with errc::shutdown.
  Error close();

  // Clients dialed and kept now; for tests and monitoring.
  std::size_t open_clients();

  struct State;

 private:
  asio::any_io_executor call_executor();
  // Calls take the state along: they may outlive this object, and then end with errc::shutdown.
  // `picked`: the server the fast path chose already, tried first.
  static asio::awaitable<Error> call_body(std::shared_ptr<State> state, CallContext ctx, std::string service_method,
                                          Body args, Body* reply, std::optional<std::string> picked);
  static asio::awaitable<Error> broadcast_body(std::shared_ptr<State> state, CallContext ctx,
                                               std::string service_method, Body args, Body* reply);

  template <class Reply>
  static Error decode(Body&& body, Reply* reply) {
    try {
      take_body(std::move(body), *reply);
    } catch (const nlohmann::json::exception&) {
      return {errc::bad_body, "reading body: the reply does not fit " + type_name<Reply>()};
    }
    return {};
  }
  template <class Reply>
  static asio::awaitable<Error> call_decoded(std::shared_ptr<State> state, CallContext ctx, std::string service_method,
                                             Body args, Reply* reply, std::optional<std::string> picked) {
    Body body;
    auto error = co_await call_body(std::move(state), std::move(ctx), std::move(service_method), std::move(args), &body,
                                    std::move(picked));
    co_return error ? error : decode(std::move(body), reply);
  }

  template <class Reply>
  static asio::awaitable<Error> broadcast_decoded(std::shared_ptr<State> state, CallContext ctx,
                                                  std::string service_method, Body args, Reply* reply) {
    Body body;
    auto error =
        co_await broadcast_body(std::move(state), std::move(ctx), std::move(service_method), std::move(args), &body);
    co_return error ? error : decode(std::move(body), reply);
  }

  // The fast paths (geerpc/xclient/fast_path.hpp and src/xclient/fast_path.cpp; a first reading
  // may skip them): a call or a broadcast with no deadline or stop, to servers whose clients are
  // up, from a list that has not changed, goes straight to those clients as a plain Client's call
  // does, without a coroutine of its own. Otherwise `picked` is the server the mode chose
  // already, so that the full path does not choose again.
  struct Leased;  // a server's client, taken for one call, and the body of its reply
  struct LeasedAll;  // every listed server's client, taken for one broadcast, and their calls
  struct FastCall {
    std::shared_ptr<Leased> leased;
    std::optional<std::string> picked;
  };
  [[nodiscard]] static FastCall try_fast_call(const std::shared_ptr<State>& state, const CallContext& ctx);
  [[nodiscard]] static std::shared_ptr<LeasedAll> try_fast_broadcast(const std::shared_ptr<State>& state,
                                                                     const CallContext& ctx);
  static void send_all(LeasedAll& all, const std::string& service_method, const Body& args);
  template <class Args, class Reply, class Token>
  static auto leased_call(std::shared_ptr<Leased> leased, std::string service_method, const Args& args, Reply* reply,
                          Token&& token);
  template <class Reply, class Token>
  static auto leased_broadcast(std::shared_ptr<LeasedAll> all, Reply* reply, Token&& token);
  // What those two use.
  class Sent;
  class SentAll;
  static Client& client_of(Leased& leased);
  static Body* body_of(Leased& leased);
  static void keep_until_done(std::shared_ptr<Leased> leased, Call& call);
  static const std::vector<std::shared_ptr<Call>>& calls_of(LeasedAll& all);
  // One call is done; true for the last. The first error cancels the calls still running.
  static bool one_done(LeasedAll& all, std::size_t index, Error error);
  // Once all are done: the first error, or one reply in `body`. The clients go back.
  static Error finish_all(LeasedAll& all, Body* body);
  static void cancel_all(LeasedAll& all);
  static void keep_all_until_done(const std::shared_ptr<LeasedAll>& all);

  std::shared_ptr<State> state_;
};

}  // namespace geerpc

#include "geerpc/xclient/fast_path.hpp"  // the fast paths' templates
