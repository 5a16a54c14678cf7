#include "geerpc/server.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_future.hpp>
#include <atomic>
#include <mutex>
#include <set>
#include <vector>

#include "geerpc/detail/executor.hpp"
#include "geerpc/log.hpp"
#include "geerpc/sync.hpp"

namespace geerpc {

namespace {

// A listening socket and the strand its accept loop runs on. The caller's executor may be a
// pool of threads, and closing an acceptor while another thread starts an accept on it is a data
// race, so the close goes through the same strand.
struct Listener {
  explicit Listener(Acceptor a) : acceptor(std::move(a)), strand(asio::make_strand(acceptor.get_executor())) {}
  Acceptor acceptor;
  asio::strand<asio::any_io_executor> strand;
};

void close_listener(const std::shared_ptr<Listener>& listener) {
  asio::post(listener->strand, [listener] {
    std::error_code ignored;
    listener->acceptor.close(ignored);
  });
}

}  // namespace

struct Server::State {
  State(const asio::any_io_executor& ex, ServerConfig cfg) : executor(ex), config(cfg) {}

  asio::any_io_executor executor;
  const ServerConfig config;

  std::mutex mutex;  // guards the three members below
  bool stopping = false;
  std::vector<std::shared_ptr<Listener>> listeners;
  std::set<std::shared_ptr<Conn>> conns;

  WaitGroup serving;  // one count per connection being served
};

namespace {

using State = Server::State;

struct Request {
  Header h;
  Body argv;
  Body replyv;
};

// Go's invalidRequest: the body that goes with an error response.
const Body invalid_request = nullptr;

void send_response(Codec& codec, const Header& h, Body body, Flush flush = Flush::batched) {
  // The connection's outbox keeps whole messages apart; no `sending` mutex is needed here.
  if (auto ec = codec.write(h, std::move(body), flush)) {
    // A reply the codec cannot encode (a string that is not UTF-8, for JSON) is still answered.
    const Header failed{.service_method = h.service_method,
                        .seq = h.seq,
                        .error = "rpc server: cannot encode response: a string in it is not valid UTF-8"};
    if (codec.write(failed, invalid_request, flush)) log("rpc server: cannot encode response " + std::to_string(h.seq));
  }
}

// Go's readRequest. An error returned here ends the connection; a failure that belongs to this
// request alone goes into req.h.error, and the request is answered with it.
asio::awaitable<std::error_code> read_request(Codec& codec, Request& req) {
  if (auto ec = co_await codec.read_header(req.h)) co_return ec;
  req.h.error.clear();  // requests carry no error; whatever a client put there is ignored
  // Day 1 does not know the argument types yet: the body is whatever JSON value arrived.
  if (auto ec = co_await codec.read_body(&req.argv)) {
    // The frame was consumed whole, so the stream is still in step: only this request failed.
    if (ec != errc::bad_body) co_return ec;
    req.h.error = "rpc server: read body err: " + ec.message();
  }
  co_return std::error_code{};
}

// The replies a connection owes. The last one leaves at once: nothing else is coming to share its
// write. One of several is batched with the others, which are due any moment.
Flush reply_flush(std::atomic<long>& owed) {
  return owed.fetch_sub(1, std::memory_order_acq_rel) == 1 ? Flush::now : Flush::batched;
}

asio::awaitable<void> handle_request(Codec& codec, std::shared_ptr<Request> req, std::atomic<long>& owed) {
  // MessagePack strings may hold any bytes; dump() would throw on invalid UTF-8 by default.
  const auto args = req->argv.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  log("rpc server: " + req->h.service_method + " seq " + std::to_string(req->h.seq) + " args " + args);
  req->replyv = "geerpc resp " + std::to_string(req->h.seq);
  send_response(codec, req->h, std::move(req->replyv), reply_flush(owed));
  co_return;
}

asio::awaitable<void> serve_codec(std::shared_ptr<State> state, std::unique_ptr<Codec> codec) {
  WaitGroup wg;  // the handlers still running: the connection closes once they are done
  std::atomic<long> owed{0};
  for (;;) {
    // Back-pressure: a connection at its limits is not read until it drains, so its memory
    // stays bounded however fast its client sends.
    co_await wg.wait_below(static_cast<long>(state->config.max_in_flight));
    co_await codec->conn().wait_writable(state->config.max_unsent_bytes);
    auto req = std::make_shared<Request>();
    if (auto ec = co_await read_request(*codec, *req)) {
      if (ec != asio::error::eof && ec != asio::error::operation_aborted)
        log("rpc server: read request error: " + ec.message());
      break;
    }
    if (!req->h.error.empty()) {
      send_response(*codec, req->h, invalid_request);
      continue;
    }
    // Go's `go server.handleRequest(...)`: each request is a coroutine of its own, so requests of
    // one connection are handled concurrently, on the server's executor.
    wg.add();
    owed.fetch_add(1, std::memory_order_relaxed);
    asio::co_spawn(state->executor, handle_request(*codec, req, owed), [&wg](const std::exception_ptr& error) {
      if (error) log("rpc server: a handler ended with an exception");
      wg.done();
    });
  }
  co_await wg.wait_until(std::chrono::steady_clock::time_point::max());
  codec->close();
}

asio::awaitable<void> serve_conn(std::shared_ptr<State> state, std::shared_ptr<Conn> conn) {
  auto handshake = co_await server_handshake(conn);
  if (!handshake) {
    const auto error = handshake.error();
    if (error != asio::error::eof && error != asio::error::operation_aborted)
      log("rpc server: options error: " + error.message());
    conn->close();
    co_return;
  }
  co_await serve_codec(state, std::move(handshake->codec));
}

void start_serving(const std::shared_ptr<State>& state, Socket socket) {
  auto conn = std::make_shared<Conn>(std::move(socket), state->config.max_frame_size, state->config.frame_timeout);
  {
    std::lock_guard lock(state->mutex);
    if (state->stopping) {
      conn->close();
      return;
    }
    state->conns.insert(conn);
    state->serving.add();
  }
  asio::co_spawn(conn->get_executor(), serve_conn(state, conn), [state, conn](const std::exception_ptr& error) {
    if (error) log("rpc server: connection ended by an exception");
    // Not close(): that would drop responses still queued, such as the error answer to a bad
    // body that came just before the frame that ended the connection.
    conn->close_after_flush();
    {
      std::lock_guard lock(state->mutex);
      state->conns.erase(conn);
    }
    state->serving.done();
  });
}

asio::awaitable<void> accept_loop(std::shared_ptr<State> state, std::shared_ptr<Listener> listener) {
  for (;;) {
    // Each connection gets its own strand: its reader, writer and cancellation never race.
    // (make_conn_strand is asio::make_strand, made cheaper: detail/executor.hpp.)
    auto [ec, socket] = co_await listener->acceptor.async_accept(make_conn_strand(state->executor), use_nothrow);
    if (ec == asio::error::operation_aborted || !listener->acceptor.is_open()) co_return;
    if (ec) {
      // Out of descriptors and the like: back off instead of spinning on the error.
      log("rpc server: accept error: " + ec.message());
      asio::steady_timer pause(state->executor, std::chrono::milliseconds(50));
      co_await pause.async_wait(use_nothrow);
      continue;
    }
    std::error_code ignored;
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);  // fails harmlessly on non-TCP
    start_serving(state, std::move(socket));
  }
}

asio::awaitable<void> stop_on_strand(std::shared_ptr<State> state) {
  std::vector<std::shared_ptr<Listener>> listeners;
  std::vector<std::shared_ptr<Conn>> conns;
  {
    std::lock_guard lock(state->mutex);
    state->stopping = true;
    listeners.swap(state->listeners);
    conns.assign(state->conns.begin(), state->conns.end());
  }
  for (auto& listener : listeners) close_listener(listener);
  // Reading stops; requests already read finish and their responses are flushed.
  for (auto& conn : conns) conn->cancel_read();
  const auto deadline = std::chrono::steady_clock::now() + state->config.stop_timeout;
  if (co_await state->serving.wait_until(deadline)) co_return;
  log("rpc server: stop timeout, closing connections with requests still in flight");
  {
    std::lock_guard lock(state->mutex);
    conns.assign(state->conns.begin(), state->conns.end());
  }
  for (auto& conn : conns) conn->close();
}

}  // namespace

Server::Server(const asio::any_io_executor& executor, ServerConfig config)
    : state_(std::make_shared<State>(executor, config)) {}

Server::~Server() {
  // Must not block (the executor may already be gone): close everything without waiting.
  std::lock_guard lock(state_->mutex);
  state_->stopping = true;
  for (auto& listener : state_->listeners) close_listener(listener);
  for (auto& conn : state_->conns) conn->close();
}

void Server::accept(Acceptor listener) {
  auto shared = std::make_shared<Listener>(std::move(listener));
  {
    std::lock_guard lock(state_->mutex);
    if (state_->stopping) return;
    state_->listeners.push_back(shared);
  }
  asio::co_spawn(shared->strand, accept_loop(state_, shared), asio::detached);
}

void Server::serve_conn(Socket socket) {
  start_serving(state_, std::move(socket));
}

asio::any_io_executor Server::stop_executor() const {
  return asio::make_strand(state_->executor);  // WaitGroup waits belong on a strand
}

asio::awaitable<void> Server::stop_coroutine() {
  return stop_on_strand(state_);
}

void Server::stop() {
  async_stop(asio::use_future).get();
}

std::size_t Server::connection_count() const {
  std::lock_guard lock(state_->mutex);
  return state_->conns.size();
}

}  // namespace geerpc
