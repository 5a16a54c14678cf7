// Helpers shared by this day's tests: a server on a loopback port, and a client that speaks the
// protocol by hand (or sends raw bytes) with every wait bounded, so a bug fails a test instead of
// hanging it.
#pragma once

#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/local/connect_pair.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_future.hpp>
#include <chrono>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "geerpc/codec.hpp"
#include "geerpc/log.hpp"
#include "geerpc/server.hpp"

namespace geerpc::test {

using namespace std::chrono_literals;

inline constexpr auto wait_limit = 10s;

// Runs a coroutine on a new strand of `executor` and waits for its result, at most wait_limit.
template <class T>
T run(const asio::any_io_executor& executor, asio::awaitable<T> coroutine) {
  auto future = asio::co_spawn(asio::make_strand(executor), std::move(coroutine), asio::use_future);
  if (future.wait_for(wait_limit) != std::future_status::ready) {
    ADD_FAILURE() << "coroutine did not finish in time";
    std::terminate();  // its frame still references the caller's objects
  }
  return future.get();
}

// Two connected sockets, each on its own strand: a connection without a network.
inline std::pair<Socket, Socket> socket_pair(const asio::any_io_executor& executor) {
  asio::local::stream_protocol::socket a(asio::make_strand(executor)), b(asio::make_strand(executor));
  asio::local::connect_pair(a, b);
  return {Socket(std::move(a)), Socket(std::move(b))};
}

// Collects log lines so a test can check what the server reported.
class LogCapture {
 public:
  LogCapture() {
    previous_ = set_log_sink([this](std::string_view line) {
      std::lock_guard lock(mutex_);
      lines_.emplace_back(line);
    });
  }
  ~LogCapture() { set_log_sink(std::move(previous_)); }
  bool contains(std::string_view text) {
    std::lock_guard lock(mutex_);
    for (auto& line : lines_)
      if (line.find(text) != std::string::npos) return true;
    return false;
  }

 private:
  LogSink previous_;
  std::mutex mutex_;
  std::vector<std::string> lines_;
};

// A server on 127.0.0.1 with an ephemeral port.
struct TestServer {
  explicit TestServer(ServerConfig config = {}) : server(pool.get_executor(), config) {
    auto listener = listen(pool.get_executor(), "tcp", "127.0.0.1:0");
    endpoint = listener->local_endpoint();
    server.accept(std::move(*listener));
  }
  ~TestServer() {
    server.stop();
    pool.join();
  }
  asio::thread_pool pool{2};
  Server server;
  Endpoint endpoint;
};

struct Received {
  Header header;
  Body body;
};

// One whole message, header then body, or the error that stopped it.
inline asio::awaitable<Result<Received>> read_message(Codec& codec) {
  Received m;
  if (auto ec = co_await codec.read_header(m.header)) co_return ec;
  if (auto ec = co_await codec.read_body(&m.body)) co_return ec;
  co_return m;
}

// The client side of the protocol, by hand: Option line, frames through a codec, raw bytes.
class HandClient {
 public:
  HandClient(const asio::any_io_executor& executor, const Endpoint& endpoint, const Type& type = msgpack_type)
      : executor_(executor) {
    Socket socket(asio::make_strand(executor));
    socket.connect(endpoint);
    conn_ = std::make_shared<Conn>(std::move(socket));
    codec_ = (*find_new_codec_func(type))(conn_);
  }
  ~HandClient() { conn_->close(); }

  void send_option(Option option = {}) { conn_->send(option_line(option)); }
  void send_raw(std::string_view bytes) { conn_->send(std::string(bytes)); }
  void write(std::uint64_t seq, const Body& body, std::string service_method = "Foo.Sum") {
    EXPECT_FALSE(codec_->write({.service_method = std::move(service_method), .seq = seq}, body));
  }

  // The next response, or the error that ended the connection.
  Result<Received> read() { return run(conn_->get_executor(), read_message(*codec_)); }

  Conn& conn() { return *conn_; }

 private:
  asio::any_io_executor executor_;
  std::shared_ptr<Conn> conn_;
  std::unique_ptr<Codec> codec_;
};

}  // namespace geerpc::test
