#include "geerpc/client.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/ip/tcp.hpp>
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

bool Client::is_available() {
  std::lock_guard lock(mutex_);
  return !shutdown_ && !closing_;
}

namespace detail {

asio::awaitable<Result<std::shared_ptr<Client>>> dial_on_strand(std::string network, std::string address,
                                                                Option option) {
  auto endpoint = resolve(network, address);
  if (!endpoint) co_return endpoint.error();
  Socket socket(co_await asio::this_coro::executor);
  if (auto [ec] = co_await socket.async_connect(*endpoint, use_nothrow); ec) co_return ec;
  std::error_code ignored;
  socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  auto conn = std::make_shared<Conn>(std::move(socket));
  co_return co_await Client::new_client(conn, option);
}

}  // namespace detail

Result<std::shared_ptr<Client>> dial(const asio::any_io_executor& executor, std::string_view network,
                                     std::string_view address, Option option) {
  return async_dial(executor, network, address, std::move(option), asio::use_future).get();
}

}  // namespace geerpc
