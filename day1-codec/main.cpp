// Day 1 demo: a server on an ephemeral port, and a hand-made client that sends the Option and
// five requests through the codec and prints the five replies (GeeRPC day 1's main).
#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_future.hpp>
#include <iostream>

#include "geerpc/codec.hpp"
#include "geerpc/server.hpp"

int main() {
  asio::thread_pool pool(2);
  auto listener = geerpc::listen(pool.get_executor(), "tcp", "127.0.0.1:0");
  if (!listener) {
    std::cerr << "listen: " << listener.error().message() << '\n';
    return 1;
  }
  const auto endpoint = listener->local_endpoint();
  std::cout << "start rpc server on " << geerpc::to_string(endpoint) << '\n';
  geerpc::Server server(pool.get_executor());
  server.accept(std::move(*listener));

  auto client = [endpoint]() -> asio::awaitable<int> {
    geerpc::Socket socket(asio::make_strand(co_await asio::this_coro::executor));
    co_await socket.async_connect(endpoint, asio::use_awaitable);
    auto conn = std::make_shared<geerpc::Conn>(std::move(socket));
    conn->send(geerpc::option_line({}));
    auto codec = (*geerpc::find_new_codec_func(geerpc::msgpack_type))(conn);
    for (std::uint64_t seq = 0; seq < 5; ++seq)
      codec->write({.service_method = "Foo.Sum", .seq = seq}, "geerpc req " + std::to_string(seq));
    for (int i = 0; i < 5; ++i) {
      geerpc::Header h;
      geerpc::Body reply;
      if (auto ec = co_await codec->read_header(h); ec || (ec = co_await codec->read_body(&reply))) {
        std::cerr << "read: " << ec.message() << '\n';
        co_return 1;
      }
      std::cout << "reply: " << reply.get<std::string>() << '\n';
    }
    codec->close();
    co_return 0;
  };
  // The client coroutine runs on its own strand, like a connection's reader in the server.
  const int rc = asio::co_spawn(asio::make_strand(pool), client(), asio::use_future).get();
  server.stop();
  return rc;
}
