// The registry (GeeRPC's registry/registry.go, GeeRegistry): servers say they are alive with a
// heartbeat, clients ask which are. An HTTP service of its own, at /_geerpc_/registry:
//   POST with "X-Geerpc-Server: tcp@127.0.0.1:7001" (";weight=N" optional) adds the server or
//        refreshes its time; a missing or malformed header is a 400
//   GET  answers "X-Geerpc-Servers: a,b,c": the live servers, sorted; with ?format=json also the
//        body {"servers":["a","b","c"]}
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "geerpc/detail/async.hpp"
#include "geerpc/http.hpp"
#include "geerpc/net.hpp"

namespace geerpc {

inline constexpr std::string_view default_registry_path = "/_geerpc_/registry";
inline constexpr std::string_view server_header = "X-Geerpc-Server";
inline constexpr std::string_view servers_header = "X-Geerpc-Servers";

struct RegistryConfig {
  // A server is dropped this long after its last heartbeat; 0: never.
  std::chrono::milliseconds timeout = std::chrono::minutes(5);
  HttpLimits http;
  // What time it is; tests may give a clock of their own.
  std::function<std::chrono::steady_clock::time_point()> clock = std::chrono::steady_clock::now;
};

class Registry {
 public:
  explicit Registry(const asio::any_io_executor& executor, RegistryConfig config = {});
  ~Registry();  // closes its listeners and connections without waiting

  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Answers HTTP on every connection `listener` accepts, until stop(). Returns at once.
  void serve(Acceptor listener);

  // The live servers, sorted by address, each as its heartbeat gave it.
  std::vector<std::string> alive();
  // Entries kept now, live or not yet swept; for tests and monitoring.
  std::size_t size();
  // Requests answered so far, for monitoring: heartbeats (POST) and lists (GET).
  struct Counts {
    std::uint64_t heartbeats = 0, lists = 0;
  };
  Counts counts();

  // Stops accepting and closes every connection. Completes with no arguments.
  template <class Token>
  auto async_stop(Token&& token) {
    return detail::async_run(executor(), stop_coroutine(), std::forward<Token>(token));
  }
  void stop();

  struct State;

 private:
  asio::any_io_executor executor() const;
  asio::awaitable<void> stop_coroutine();

  std::shared_ptr<State> state_;
};

}  // namespace geerpc
