// The server: the handshake, then a loop that reads requests, handles them concurrently and
// writes the responses back.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/thread_pool.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "geerpc/conn.hpp"
#include "geerpc/debug.hpp"
#include "geerpc/detail/async.hpp"
#include "geerpc/http.hpp"
#include "geerpc/net.hpp"
#include "geerpc/protocol.hpp"
#include "geerpc/service.hpp"

namespace geerpc {

// Limits that keep one bad client from hurting the others; notes/hardening.md gives the reasons.
struct ServerConfig {
  std::size_t max_frame_size = default_max_frame_size;
  // The rest of a frame that has started must arrive within this (0: no limit).
  std::chrono::milliseconds frame_timeout = default_frame_timeout;
  // Requests of one connection being handled at once; at the cap the server stops reading that
  // connection until some finish.
  std::size_t max_in_flight = 1024;
  // Responses queued for a peer that does not read them; above this the server stops reading.
  std::size_t max_unsent_bytes = std::size_t{32} * 1024 * 1024;
  // How long stop() lets in-flight requests finish before it closes their connections anyway.
  std::chrono::milliseconds stop_timeout{5000};
  // Where plain (non-coroutine) methods run. 0: on the server's own executor, on the thread that
  // read the request, with no hand-off between threads. A method that blocks holds that thread
  // meanwhile (as a blocking syscall holds a goroutine's thread in Go): the server's other threads
  // go on serving, so give the executor more threads than methods that may block at once. N > 0:
  // on a pool of N threads of their own, for methods that block for long (disk, other services),
  // at the price of two thread hand-offs per call.
  std::size_t handler_threads = 0;
  // After handle_http(): limits on a request head (size, and the time it may take to arrive).
  HttpLimits http;
};

// What find_service found: the service and the method, or the error that says why not.
struct ServiceMethod {
  std::shared_ptr<Service> svc;
  const MethodType* mtype = nullptr;
  Error error;
};

class Server {
 public:
  // Connections, handlers and stop() run on `executor` (typically a thread pool).
  explicit Server(const asio::any_io_executor& executor, ServerConfig config = {});
  ~Server();

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Go's Register: publishes the service's methods as "Name.Method". A name taken already is
  // errc::duplicate_service.
  [[nodiscard]] Error register_service(std::shared_ptr<Service> service);
  template <class T>
  Error register_service(T& rcvr) {
    return register_service(new_service(rcvr));
  }
  template <class T>
  Error register_service(std::shared_ptr<T> rcvr) {
    return register_service(new_service(std::move(rcvr)));
  }

  // "Service.Method" -> the service and its method; errc::ill_formed_method, unknown_service or
  // unknown_method otherwise.
  ServiceMethod find_service(std::string_view service_method) const;

  // Go's HandleHTTP: from now on a connection may also open with an HTTP/1.x request instead of
  // an Option line. CONNECT /_geerpc_ turns it into an RPC connection; GET /debug/geerpc serves
  // the debug page (?format=json for tools). One listener then serves both protocols.
  void handle_http();

  // A snapshot of the services and their call counts, sorted: what the debug page shows.
  std::vector<ServiceInfo> services() const;

  // Go's Accept: serves every connection the listener accepts, until stop(). Returns at once.
  void accept(Acceptor listener);

  // Go's ServeConn: the handshake, then requests until the peer leaves or stop(). Returns at once.
  void serve_conn(Socket socket);

  // Stops accepting, lets in-flight requests finish (at most config.stop_timeout), then closes
  // every connection. Completes with no arguments: use_awaitable, use_future or a callback.
  template <class Token>
  auto async_stop(Token&& token) {
    return detail::async_run(stop_executor(), stop_coroutine(), std::forward<Token>(token));
  }
  // The same, blocking: call it from a thread that is not running the executor.
  void stop();

  // Runs `hook` once when the server begins to stop (stop(), async_stop() or the destructor), or
  // at once if it is stopping already. A heartbeat (registry/heartbeat.hpp) ends this way.
  void on_stop(std::function<void()> hook);

  // Connections being served now; for monitoring and tests.
  std::size_t connection_count() const;

  struct State;

 private:
  asio::any_io_executor stop_executor() const;
  asio::awaitable<void> stop_coroutine();

  std::unique_ptr<asio::thread_pool> handlers_;  // joined last, after the state lets go of it
  std::shared_ptr<State> state_;
};

// Go's DefaultServer and its package-level functions: a server with threads of its own.
Server& default_server();
template <class T>
Error register_service(T& rcvr) {
  return default_server().register_service(rcvr);
}
inline void accept(Acceptor listener) {
  default_server().accept(std::move(listener));
}

}  // namespace geerpc
