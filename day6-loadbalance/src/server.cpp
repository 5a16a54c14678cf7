#include "geerpc/server.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/defer.hpp>
#include <asio/detached.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_future.hpp>
#include <atomic>
#include <mutex>
#include <set>
#include <shared_mutex>
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
  explicit Listener(Acceptor a) : acceptor(std::move(a)), strand(asio::make_strand(acceptor.get_executor())) {
    std::error_code ignored;  // a closed acceptor has no endpoint, and then no file either
    path = unix_path(acceptor.local_endpoint(ignored));
    if (!path.empty() && ::lstat(path.c_str(), &file) != 0) path.clear();
  }
  Acceptor acceptor;
  asio::strand<asio::any_io_executor> strand;
  std::string path;  // a Unix socket's file, removed when the listener closes
  struct stat file {};  // which file: another may have taken the path since
};

// On the listener's strand.
void close_now(Listener& listener) {
  std::error_code ignored;
  listener.acceptor.close(ignored);
  struct stat now {};
  if (!listener.path.empty() && ::lstat(listener.path.c_str(), &now) == 0 && now.st_dev == listener.file.st_dev &&
      now.st_ino == listener.file.st_ino)
    ::unlink(listener.path.c_str());
}

void close_listener(const std::shared_ptr<Listener>& listener) {
  asio::post(listener->strand, [listener] { close_now(*listener); });
}

// The same, finished when it returns: stop() leaves no socket file behind.
asio::awaitable<void> close_on_strand(std::shared_ptr<Listener> listener) {
  close_now(*listener);
  co_return;
}

}  // namespace

struct Server::State {
  State(const asio::any_io_executor& ex, const asio::any_io_executor& handler_ex, ServerConfig cfg)
      : executor(ex), handlers(handler_ex), config(cfg) {}

  asio::any_io_executor executor;
  asio::any_io_executor handlers;  // where plain methods run: the handler pool, or `executor`
  const ServerConfig config;

  mutable std::shared_mutex services_mutex;  // read on every request, written at registration
  std::map<std::string, std::shared_ptr<Service>, std::less<>> service_map;
  std::atomic<bool> http{false};  // handle_http() was called

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
  Value argv, replyv;  // of the method's own argument and reply types
  std::shared_ptr<Service> svc;
  const MethodType* mtype = nullptr;
  std::atomic<bool> answered{false};  // by the method or by the handle timeout, whichever is first
};

ServiceMethod find_service(const State& state, std::string_view service_method) {
  const auto dot = service_method.rfind('.');
  if (dot == std::string_view::npos)
    return {.error = Error(errc::ill_formed_method,
                           "rpc server: service/method request ill-formed: " + std::string(service_method))};
  const auto service_name = service_method.substr(0, dot);
  const auto method_name = service_method.substr(dot + 1);
  std::shared_ptr<Service> svc;
  {
    std::shared_lock lock(state.services_mutex);
    if (auto it = state.service_map.find(service_name); it != state.service_map.end()) svc = it->second;
  }
  if (!svc)
    return {.error = Error(errc::unknown_service, "rpc server: can't find service " + std::string(service_name))};
  const auto it = svc->method.find(method_name);
  if (it == svc->method.end())
    return {.error = Error(errc::unknown_method, "rpc server: can't find method " + std::string(method_name))};
  return {.svc = std::move(svc), .mtype = it->second.get()};
}

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
asio::awaitable<std::error_code> read_request(const State& state, Codec& codec, Request& req) {
  if (auto ec = co_await codec.read_header(req.h)) co_return ec;
  req.h.error.clear();  // requests carry no error; whatever a client put there is ignored
  auto found = find_service(state, req.h.service_method);
  if (found.error) {
    req.h.error = found.error.message();
    co_return co_await codec.read_body(nullptr);  // keep the stream in step (Go forgets this)
  }
  req.svc = std::move(found.svc);
  req.mtype = found.mtype;
  req.argv = req.mtype->new_argv();
  req.replyv = req.mtype->new_replyv();
  Body body;
  if (auto ec = co_await codec.read_body(&body)) {
    // The frame was consumed whole, so the stream is still in step: only this request failed.
    if (ec != errc::bad_body) co_return ec;
    req.h.error = "rpc server: read body err: " + ec.message();
  } else if (auto err = req.mtype->decode_argv(std::move(body), req.argv.get())) {
    req.h.error = "rpc server: read argv err: " + err.message();
  }
  co_return std::error_code{};
}

// The replies a connection owes. The last one leaves at once: nothing else is coming to share its
// write. One of several is batched with the others, which are due any moment.
Flush reply_flush(std::atomic<long>& owed) {
  return owed.fetch_sub(1, std::memory_order_acq_rel) == 1 ? Flush::now : Flush::batched;
}

// The method's reply, or its error, goes back to the client: every request is answered.
void send_result(Codec& codec, Request& req, const Error& err, Flush flush) {
  if (err) {
    req.h.error = err.message();
    send_response(codec, req.h, invalid_request, flush);
    return;
  }
  Body reply;
  try {
    reply = req.mtype->encode_replyv(req.replyv.get());
  } catch (const nlohmann::json::exception&) {  // in the project's words, not the library's
    req.h.error = "rpc server: cannot encode reply: " + req.mtype->reply_type + " does not convert to JSON";
    send_response(codec, req.h, invalid_request, flush);
    return;
  } catch (const std::exception& e) {  // the reply type's own to_json threw, in its words
    req.h.error = std::string("rpc server: cannot encode reply: ") + e.what();
    send_response(codec, req.h, invalid_request, flush);
    return;
  }
  send_response(codec, req.h, std::move(reply), flush);
}

// GeeRPC's called/sent phases become one flag: the method's result and the handle timeout race
// to answer, the first to set `answered` sends, and the other is dropped.
asio::awaitable<void> handle_request(Codec& codec, std::shared_ptr<Request> req, std::atomic<long>& owed) {
  auto err = co_await req->svc->call(*req->mtype, req->argv, req->replyv);
  if (req->answered.exchange(true)) co_return;  // too late: the timeout was answered already
  send_result(codec, *req, err, reply_flush(owed));
}

// A plain method needs no coroutine: it runs to completion on the thread that calls this.
void handle_plain_request(Codec& codec, Request& req, std::atomic<long>& owed) {
  auto err = req.svc->call_plain(*req.mtype, req.argv, req.replyv);
  if (req.answered.exchange(true)) return;  // too late: the timeout was answered already
  send_result(codec, req, err, reply_flush(owed));
}

// A method that outlived its timeout still ends here, harmlessly: its result was dropped.
void cancel_timeout(const std::shared_ptr<asio::steady_timer>& timeout) {
  if (timeout) asio::post(timeout->get_executor(), [timeout] { timeout->cancel(); });
}

asio::awaitable<void> serve_codec(std::shared_ptr<State> state, std::unique_ptr<Codec> codec,
                                  std::chrono::milliseconds handle_timeout) {
  WaitGroup wg;  // the handlers still running: the connection closes once they are done
  std::atomic<long> owed{0};
  for (;;) {
    // Back-pressure: a connection at its limits is not read until it drains, so its memory
    // stays bounded however fast its client sends.
    co_await wg.wait_below(static_cast<long>(state->config.max_in_flight));
    co_await codec->conn().wait_writable(state->config.max_unsent_bytes);
    auto req = std::make_shared<Request>();
    if (auto ec = co_await read_request(*state, *codec, *req)) {
      if (ec != asio::error::eof && ec != asio::error::operation_aborted)
        log("rpc server: read request error: " + ec.message());
      break;
    }
    if (!req->h.error.empty()) {
      send_response(*codec, req->h, invalid_request);
      continue;
    }
    // Go's `go server.handleRequest(...)`: requests of one connection are handled concurrently.
    // A coroutine method runs on the connection's strand: it suspends instead of blocking. A
    // plain method may block, so it never runs on the strand, where it would stall its connection
    // and its handle timeout. It is deferred, not posted, to the handler executor: the thread that
    // read the request runs it as soon as the reader suspends, with no hand-off to another thread.
    wg.add();
    owed.fetch_add(1, std::memory_order_relaxed);
    std::shared_ptr<asio::steady_timer> timeout;
    if (handle_timeout.count() > 0) {
      timeout = std::make_shared<asio::steady_timer>(codec->conn().get_executor(), handle_timeout);
      // `codec` and `owed` are touched only by the winner of the race; while the method runs they
      // are alive.
      timeout->async_wait([&codec, &owed, req, handle_timeout](std::error_code ec) {
        if (ec || req->answered.exchange(true)) return;
        send_response(*codec,
                      {.service_method = req->h.service_method,
                       .seq = req->h.seq,
                       .error = "rpc server: request handle timeout: expect within " + format_duration(handle_timeout)},
                      invalid_request, reply_flush(owed));
      });
    }
    if (req->mtype->is_coroutine) {
      asio::co_spawn(codec->conn().get_executor(), handle_request(*codec, req, owed),
                     [&wg, timeout](const std::exception_ptr& error) {
                       if (error) log("rpc server: a handler ended with an exception");
                       cancel_timeout(timeout);
                       wg.done();
                     });
    } else {
      asio::defer(state->handlers, [&codec = *codec, req, timeout, &owed, &wg] {
        try {
          handle_plain_request(codec, *req, owed);
        } catch (...) {  // as co_spawn's handler above: logged, and the request still counts as done
          log("rpc server: a handler ended with an exception");
        }
        cancel_timeout(timeout);
        wg.done();
      });
    }
  }
  co_await wg.wait_until(std::chrono::steady_clock::time_point::max());
  codec->close();
}

std::vector<ServiceInfo> services(const State& state) {
  std::vector<ServiceInfo> list;
  std::shared_lock lock(state.services_mutex);
  for (const auto& [name, svc] : state.service_map) {  // a sorted map: sorted by service
    auto& info = list.emplace_back(ServiceInfo{.name = name});
    for (const auto& [method_name, m] : svc->method)  // and by method
      info.methods.push_back({.name = method_name,
                              .signature = m->signature(),
                              .arg_type = m->arg_type,
                              .reply_type = m->reply_type,
                              .calls = m->num_calls()});
  }
  return list;
}

asio::awaitable<void> serve_conn(std::shared_ptr<State> state, std::shared_ptr<Conn> conn) {
  // With handle_http(), a connection may open with an HTTP request: an Option line starts '{'.
  if (state->http.load(std::memory_order_relaxed)) {
    char first = 0;
    if (co_await conn->peek(first)) co_return;
    if (first != '{') {
      // Named, not a temporary: GCC 12 destroys a temporary argument of a co_await'ed call twice.
      std::function<std::vector<ServiceInfo>()> snapshot = [state] { return services(*state); };
      const bool rpc = co_await serve_http(conn, state->config.http, snapshot);
      if (!rpc) co_return;
    }
  }
  auto handshake = co_await server_handshake(conn);
  if (!handshake) {
    const auto error = handshake.error();
    if (error != asio::error::eof && error != asio::error::operation_aborted)
      log("rpc server: options error: " + error.message());
    // Not close(): after CONNECT, its answer is still queued, and the client must get it before
    // the connection ends (else it cannot tell a refused Option from a server that is not geerpc).
    conn->close_after_flush();
    co_return;
  }
  co_await serve_codec(state, std::move(handshake->codec), handshake->option.handle_timeout);
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
  for (auto& listener : listeners) {
    auto close = close_on_strand(listener);
    co_await asio::co_spawn(listener->strand, std::move(close), asio::use_awaitable);
  }
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
    : handlers_(config.handler_threads ? std::make_unique<asio::thread_pool>(config.handler_threads) : nullptr),
      state_(std::make_shared<State>(executor, handlers_ ? asio::any_io_executor(handlers_->get_executor()) : executor,
                                     config)) {}

Server::~Server() {
  // Must not block (the executor may already be gone): close everything without waiting.
  std::lock_guard lock(state_->mutex);
  state_->stopping = true;
  for (auto& listener : state_->listeners) close_listener(listener);
  for (auto& conn : state_->conns) conn->close();
}

Error Server::register_service(std::shared_ptr<Service> service) {
  std::unique_lock lock(state_->services_mutex);
  const std::string name = service->name;
  if (!state_->service_map.emplace(name, std::move(service)).second)
    return Error(errc::duplicate_service, "rpc: service already defined: " + name);
  return {};
}

ServiceMethod Server::find_service(std::string_view service_method) const {
  return geerpc::find_service(*state_, service_method);
}

void Server::handle_http() {
  state_->http.store(true, std::memory_order_relaxed);
}

std::vector<ServiceInfo> Server::services() const {
  return geerpc::services(*state_);
}

Server& default_server() {
  static asio::thread_pool io(2);
  static Server server(io.get_executor());
  return server;
}

void Server::accept(Acceptor listener) {
  auto shared = std::make_shared<Listener>(std::move(listener));
  {
    std::lock_guard lock(state_->mutex);
    if (state_->stopping) {
      close_now(*shared);  // not served: its socket file goes too
      return;
    }
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
