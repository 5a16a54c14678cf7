// Helpers shared by this day's tests: a server on a loopback port, and a client that speaks the
// protocol by hand (or sends raw bytes) with every wait bounded, so a bug fails a test instead of
// hanging it.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/local/connect_pair.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_future.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "geerpc/client.hpp"
#include "geerpc/codec.hpp"
#include "geerpc/http.hpp"
#include "geerpc/log.hpp"
#include "geerpc/server.hpp"
#include "geerpc/service.hpp"

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

// The server has no event for "a connection has ended" (nor the kernel for "descriptor closed"),
// so this polls, bounded.
inline bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit = wait_limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
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
  // Lines that contain `text`.
  std::size_t count(std::string_view text) {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(std::count_if(
        lines_.begin(), lines_.end(), [&](const std::string& line) { return line.find(text) != std::string::npos; }));
  }
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

struct Args {
  int num1 = 0, num2 = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Args, num1, num2)

// The service every test server offers.
struct Foo {
  Error Sum(Args args, int* reply) {
    *reply = args.num1 + args.num2;
    return {};
  }
  Error Echo(const std::string& text, std::string* reply) {
    *reply = text;
    return {};
  }
};
GEERPC_SERVICE(Foo, Sum, Echo)

// A server on 127.0.0.1 with an ephemeral port, offering Foo.
struct TestServer {
  explicit TestServer(ServerConfig config = {}) : server(pool.get_executor(), config) {
    EXPECT_FALSE(server.register_service(foo));
    auto listener = listen(pool.get_executor(), "tcp", "127.0.0.1:0");
    endpoint = listener->local_endpoint();
    server.accept(std::move(*listener));
  }
  ~TestServer() {
    server.stop();
    pool.join();
  }
  asio::thread_pool pool{2};
  Foo foo;
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

  void send_option(Option option = {}) { send_raw(option_line(option)); }
  void send_raw(std::string_view bytes) {
    // An Option line starts with '{'; a frame never does (its length would be over 2 GiB).
    if (bytes.starts_with('{')) answer_pending_ = true;
    conn_->send(std::string(bytes));
  }
  void write(std::uint64_t seq, const Body& body, std::string service_method = "Foo.Echo") {
    EXPECT_FALSE(codec_->write({.service_method = std::move(service_method), .seq = seq}, body));
  }

  // The next response, or the error that ended the connection. The server's answer to the Option
  // comes first and is consumed here.
  Result<Received> read() {
    const bool answer_pending = std::exchange(answer_pending_, false);
    return run(conn_->get_executor(), [](Codec& codec, bool answer_pending) -> asio::awaitable<Result<Received>> {
      if (answer_pending) {
        std::string line;
        if (auto ec = co_await codec.conn().read_line(line, max_option_line)) co_return ec;
      }
      co_return co_await read_message(codec);
    }(*codec_, answer_pending));
  }

  Conn& conn() { return *conn_; }
  Codec& codec() { return *codec_; }

 private:
  asio::any_io_executor executor_;
  std::shared_ptr<Conn> conn_;
  std::unique_ptr<Codec> codec_;
  bool answer_pending_ = false;
};

// For scripts that are done talking: returns once the peer closes the connection.
inline asio::awaitable<void> wait_for_hang_up(Codec& codec) {
  Header h;
  while (!co_await codec.read_header(h) && !co_await codec.read_body(nullptr)) {
  }
}

// A server whose behaviour the test writes as a coroutine over the codec of its one connection:
// for peers that misbehave on purpose (answer in reverse, never answer, hang up).
class ScriptedServer {
 public:
  using Script = std::function<asio::awaitable<void>(Codec&)>;

  explicit ScriptedServer(Script script) {
    auto listener = listen(pool.get_executor(), "tcp", "127.0.0.1:0");
    address = to_string(listener->local_endpoint());
    acceptor_ = std::make_shared<Acceptor>(std::move(*listener));
    asio::co_spawn(acceptor_->get_executor(), accept_one(std::move(script)), asio::detached);
  }
  ~ScriptedServer() {
    asio::post(acceptor_->get_executor(), [a = acceptor_] { a->close(); });
    {
      std::lock_guard lock(mutex_);
      if (conn_) conn_->close();
    }
    pool.join();
  }
  // Closes the connection from the server side.
  void hang_up() {
    std::lock_guard lock(mutex_);
    if (conn_) conn_->close();
  }

  asio::thread_pool pool{2};
  std::string address;

 private:
  asio::awaitable<void> accept_one(Script script) {
    auto [ec, socket] = co_await acceptor_->async_accept(asio::any_io_executor(asio::make_strand(pool)), use_nothrow);
    if (ec) co_return;
    auto conn = std::make_shared<Conn>(std::move(socket));
    {
      std::lock_guard lock(mutex_);
      conn_ = conn;
    }
    // The script runs on the connection's strand, where its reads belong.
    asio::co_spawn(conn->get_executor(), run_script(conn, std::move(script)), asio::detached);
  }
  static asio::awaitable<void> run_script(std::shared_ptr<Conn> conn, Script script) {
    auto handshake = co_await server_handshake(conn);
    if (!handshake) co_return;
    co_await script(*handshake->codec);
  }

  std::shared_ptr<Acceptor> acceptor_;
  std::mutex mutex_;
  std::shared_ptr<Conn> conn_;
};

}  // namespace geerpc::test
