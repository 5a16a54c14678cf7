// Day 7's HTTP client against a peer that answers with canned bytes: what it makes of responses
// that are not what a registry or etcd sends.
#include "geerpc/registry/http_client.hpp"

#include <asio/write.hpp>

#include "test_util.hpp"

namespace geerpc::test {
namespace {

// A loopback server that answers every connection with `response`, whatever was asked, then
// closes its side and waits for the client to close.
class CannedHttpPeer {
 public:
  explicit CannedHttpPeer(std::string response) : response_(std::move(response)) {
    auto listener = listen(pool.get_executor(), "tcp", "127.0.0.1:0");
    url = *parse_http_url("http://" + to_string(listener->local_endpoint()) + "/path");
    acceptor_ = std::make_shared<Acceptor>(std::move(*listener));
    asio::co_spawn(acceptor_->get_executor(), accept_loop(acceptor_, response_), asio::detached);
  }
  ~CannedHttpPeer() {
    asio::post(acceptor_->get_executor(), [a = acceptor_] { a->close(); });
    pool.join();
  }

  asio::thread_pool pool{1};
  HttpUrl url;

 private:
  static asio::awaitable<void> accept_loop(std::shared_ptr<Acceptor> acceptor, std::string response) {
    for (;;) {
      auto [ec, socket] = co_await acceptor->async_accept(use_nothrow);
      if (ec) co_return;
      co_await asio::async_write(socket, asio::buffer(response), use_nothrow);
      std::error_code ignored;
      socket.shutdown(Socket::shutdown_send, ignored);
      char buffer[256];
      for (;;) {
        auto [read_error, n] = co_await socket.async_read_some(asio::buffer(buffer), use_nothrow);
        if (read_error) break;
      }
    }
  }

  std::string response_;
  std::shared_ptr<Acceptor> acceptor_;
};

struct Streamed {
  Error error;
  std::vector<std::string> lines;
};

asio::awaitable<Streamed> stream_lines(HttpUrl url, std::size_t max_line) {
  Streamed streamed;
  const std::string method = "POST", body;  // named: GCC 12 destroys temporary arguments twice
  const HttpHeaders headers;
  const std::function<bool(std::string_view)> on_line = [&](std::string_view line) {
    streamed.lines.emplace_back(line);
    return true;
  };
  streamed.error = co_await http_stream(url, method, headers, body, 5s, on_line, max_line);
  co_return streamed;
}

TEST(HttpClient, AStreamLineOverMaxLineIsRefusedEvenWhenItArrivesWholeInOneRead) {
  const std::string body = "short\n" + std::string(100, 'x') + "\nafter\n";
  CannedHttpPeer peer("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  asio::thread_pool pool(1);
  auto streamed = run(pool.get_executor(), stream_lines(peer.url, 10));
  EXPECT_EQ(streamed.error, errc::http_too_large) << streamed.error;
  EXPECT_EQ(streamed.lines, std::vector<std::string>{"short"}) << "the long line was handed out";
}

TEST(HttpClient, AStreamLineOfExactlyMaxLineIsHandedOut) {
  const std::string body = std::string(10, 'x') + "\n";
  CannedHttpPeer peer("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  asio::thread_pool pool(1);
  auto streamed = run(pool.get_executor(), stream_lines(peer.url, 10));
  EXPECT_FALSE(streamed.error) << streamed.error;
  EXPECT_EQ(streamed.lines, std::vector<std::string>{std::string(10, 'x')});
}

}  // namespace
}  // namespace geerpc::test
