#include "geerpc/client.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_future.hpp>

namespace geerpc {

bool Call::is_done() {
  std::lock_guard lock(mutex_);
  return done_;
}

void Call::wait() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [this] { return done_; });
}

bool Call::wait_until(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  if (deadline == std::chrono::steady_clock::time_point::max()) {  // no deadline: avoid overflowing the clock
    cv_.wait(lock, [this] { return done_; });
    return true;
  }
  return cv_.wait_until(lock, deadline, [this] { return done_; });
}

void Call::on_done(std::function<void()> waiter) {
  {
    std::lock_guard lock(mutex_);
    if (!done_) {
      waiters_.push_back(std::move(waiter));
      return;
    }
  }
  waiter();
}

void Call::done() {
  std::vector<std::function<void()>> waiters;
  {
    std::lock_guard lock(mutex_);
    if (done_) return;
    done_ = true;
    waiters.swap(waiters_);
  }
  cv_.notify_all();
  for (auto& waiter : waiters) waiter();
}

struct Client::Private {};

Client::Client(Private, std::shared_ptr<Codec> codec, Option option)
    : codec_(std::move(codec)), option_(std::move(option)) {}

Client::~Client() {
  codec_->conn().close();
  terminate_calls(Error(errc::shutdown));
}

asio::awaitable<Result<std::shared_ptr<Client>>> Client::new_client(std::shared_ptr<Conn> conn, Option option) {
  auto codec = co_await client_handshake(conn, option);
  if (!codec) co_return codec.error();
  std::shared_ptr<Codec> shared = std::move(*codec);
  auto client = std::make_shared<Client>(Private{}, shared, option);
  asio::co_spawn(conn->get_executor(), receive(client, shared), asio::detached);
  co_return client;
}

Result<std::uint64_t> Client::register_call(const std::shared_ptr<Call>& call) {
  std::lock_guard lock(mutex_);
  if (closing_ || shutdown_) return errc::shutdown;
  call->seq = seq_++;
  pending_.emplace(call->seq, call);
  return call->seq;
}

std::shared_ptr<Call> Client::remove_call(std::uint64_t seq) {
  std::lock_guard lock(mutex_);
  auto it = pending_.find(seq);
  if (it == pending_.end()) return nullptr;
  auto call = std::move(it->second);
  pending_.erase(it);
  return call;
}

void Client::terminate_calls(const Error& error) {
  std::unordered_map<std::uint64_t, std::shared_ptr<Call>> pending;
  {
    std::lock_guard lock(mutex_);
    shutdown_ = true;
    pending.swap(pending_);
  }
  for (auto& [seq, call] : pending) {
    call->error = error;
    call->done();
  }
}

void Client::send(const std::shared_ptr<Call>& call, Body args) {
  auto seq = register_call(call);
  if (!seq) {
    call->error = seq.error();
    call->done();
    return;
  }
  // If the connection is already gone the bytes are dropped and the receive loop, which is
  // ending, fails this call with the others.
  if (auto ec = codec_->write({.service_method = call->service_method, .seq = *seq}, std::move(args))) {
    // Nothing was queued (the JSON codec refuses strings that are not UTF-8): this call alone fails.
    if (auto failed = remove_call(*seq)) {
      failed->error = Error(ec, "rpc client: cannot encode request: " + ec.message());
      failed->done();
    }
  }
}

asio::awaitable<void> Client::receive(std::weak_ptr<Client> weak, std::shared_ptr<Codec> codec) {
  std::error_code ec;
  Body body;
  for (;;) {
    Header h;
    if ((ec = co_await codec->read_header(h))) break;
    auto client = weak.lock();
    if (!client) co_return;  // the destructor already failed the pending calls
    auto call = client->remove_call(h.seq);
    if (!call) {
      // No such call (it was removed, e.g. cancelled): read the body and drop it.
      ec = co_await codec->read_body(nullptr);
    } else if (!h.error.empty()) {
      call->error = Error(errc::server_error, h.error);
      ec = co_await codec->read_body(nullptr);
      call->done();
    } else {
      ec = co_await codec->read_body(&body);
      call->error = ec ? Error(ec, "reading body: " + ec.message()) : call->decode_reply_(std::move(body));
      call->done();
    }
    // A body that does not decode costs only its own call: the frame was consumed whole.
    if (ec && ec != errc::bad_body) break;
  }
  if (auto client = weak.lock()) {
    const bool closing = [&] {
      std::lock_guard lock(client->mutex_);
      return client->closing_;
    }();
    client->terminate_calls(closing ? Error(errc::shutdown)
                                    : Error(errc::shutdown, "connection is shut down: " + ec.message()));
    client->codec_->conn().close();
  }
}

Error Client::close() {
  {
    std::lock_guard lock(mutex_);
    if (closing_) return Error(errc::shutdown);
    closing_ = true;
  }
  codec_->conn().close();  // the receive loop wakes with an error and fails what is pending
  return {};
}

void Client::cancel_call(const Call& call, Error error) {
  auto removed = remove_call(call.seq);
  if (!removed) return;  // done already, or the receive loop is completing it right now
  removed->error = std::move(error);
  removed->done();
}

std::size_t Client::pending_count() {
  std::lock_guard lock(mutex_);
  return pending_.size();
}

bool Client::is_available() {
  std::lock_guard lock(mutex_);
  return !shutdown_ && !closing_;
}

namespace {

// On a connected socket: CONNECT first when asked (Go's DialHTTP), then Go's NewClient.
asio::awaitable<Result<std::shared_ptr<Client>>> start_client(std::shared_ptr<Conn> conn, Option option,
                                                              bool over_http) {
  if (over_http) {
    const std::string rpc_path(default_rpc_path);  // named: see x_dial_on_strand
    if (auto refused = co_await http_connect(conn, rpc_path)) co_return refused;
  }
  co_return co_await Client::new_client(conn, option);
}

}  // namespace

namespace detail {

// Go's dialTimeout: connect, then new_client. When the timer fires first it closes the socket,
// which cuts short whichever step is in progress; the timer and the steps share the strand, so
// they never race.
asio::awaitable<Result<std::shared_ptr<Client>>> dial_on_strand(std::string network, std::string address, Option option,
                                                                bool over_http) {
  auto endpoint = resolve(network, address);
  if (!endpoint) co_return endpoint.error();
  const auto executor = co_await asio::this_coro::executor;
  auto socket = std::make_shared<Socket>(executor);
  auto cut_short = std::make_shared<std::function<void()>>([socket] {
    std::error_code ignored;
    socket->close(ignored);
  });
  auto expired = std::make_shared<bool>(false);
  asio::steady_timer timer(executor);
  if (option.connect_timeout.count() > 0) {
    timer.expires_after(option.connect_timeout);
    timer.async_wait([cut_short, expired](std::error_code ec) {
      if (ec || !*cut_short) return;
      *expired = true;
      (*cut_short)();
    });
  }
  Result<std::shared_ptr<Client>> result = Error(errc::connect_timeout);
  if (auto [ec] = co_await socket->async_connect(*endpoint, use_nothrow); ec) {
    result = Error(ec);
  } else {
    std::error_code ignored;
    socket->set_option(asio::ip::tcp::no_delay(true), ignored);
    auto conn = std::make_shared<Conn>(std::move(*socket));
    *cut_short = [conn] { conn->close(); };
    result = co_await start_client(conn, option, over_http);
  }
  *cut_short = nullptr;  // from here on the timer has nothing to cut short
  timer.cancel();
  if (*expired)
    co_return Error(errc::connect_timeout,
                    "rpc client: connect timeout: expect within " + format_duration(option.connect_timeout));
  co_return result;
}

asio::awaitable<Result<std::shared_ptr<Client>>> x_dial_on_strand(std::string rpc_addr, Option option) {
  const auto at = rpc_addr.find('@');
  if (at == std::string::npos || at == 0 || at + 1 == rpc_addr.size())
    co_return Error(errc::bad_address, "rpc client err: wrong format '" + rpc_addr + "', expect protocol@addr");
  // Every argument named: GCC 12 destroys a temporary argument of a co_await'ed call twice.
  const bool over_http = rpc_addr.substr(0, at) == "http";
  const std::string network = over_http ? "tcp" : rpc_addr.substr(0, at);
  const std::string address = rpc_addr.substr(at + 1);
  co_return co_await dial_on_strand(network, address, option, over_http);
}

}  // namespace detail

Result<std::shared_ptr<Client>> dial_http(const asio::any_io_executor& executor, std::string_view network,
                                          std::string_view address, Option option) {
  return async_dial_http(executor, network, address, std::move(option), asio::use_future).get();
}

Result<std::shared_ptr<Client>> x_dial(const asio::any_io_executor& executor, std::string_view rpc_addr,
                                       Option option) {
  return async_x_dial(executor, rpc_addr, std::move(option), asio::use_future).get();
}

Result<std::shared_ptr<Client>> dial(const asio::any_io_executor& executor, std::string_view network,
                                     std::string_view address, Option option) {
  return async_dial(executor, network, address, std::move(option), asio::use_future).get();
}

}  // namespace geerpc
