// Day 1 demo: a server on an ephemeral port, and a hand-made client that sends the Option and
// five requests through the codec and prints the five replies (GeeRPC day 1's main).
#include <asio/co_spawn.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_future.hpp>
#include <iostream>

#include "geerpc/codec.hpp"
#include "geerpc/protocol.hpp"
#include "geerpc/server.hpp"

// The client GeeRPC's day 1 writes by hand: the Option, five requests, five replies.
asio::awaitable<int> client(geerpc::Endpoint endpoint) {
  geerpc::Socket socket(co_await asio::this_coro::executor);
  if (auto [ec] = co_await socket.async_connect(endpoint, geerpc::use_nothrow); ec) {
    std::cerr << "connect: " << ec.message() << '\n';
    co_return 1;
  }
  const geerpc::Option option;  // a named variable: GCC 12 destroys a braced temporary argument twice
  auto codec = co_await geerpc::client_handshake(std::make_shared<geerpc::Conn>(std::move(socket)), option);
  if (!codec) {
    std::cerr << "handshake: " << codec.error() << '\n';
    co_return 1;
  }
  for (std::uint64_t seq = 0; seq < 5; ++seq) {
    if (auto ec = codec->write({.service_method = "Foo.Sum", .seq = seq}, "geerpc req " + std::to_string(seq))) {
      std::cerr << "write: " << ec.message() << '\n';
      co_return 1;
    }
  }
  for (int i = 0; i < 5; ++i) {
    geerpc::Header h;
    geerpc::Body reply;
    if (auto ec = co_await codec->read_header(h); ec || (ec = co_await codec->read_body(&reply))) {
      std::cerr << "read: " << ec.message() << '\n';
      co_return 1;
    }
    if (!h.error.empty() || !reply.is_string()) {
      std::cerr << "reply " << h.seq << ": " << (h.error.empty() ? "not a string" : h.error) << '\n';
      co_return 1;
    }
    std::cout << "reply: " << reply.get<std::string>() << '\n';
  }
  codec->close();
  co_return 0;
}

int main() {
  asio::thread_pool pool(2);
  auto listener = geerpc::listen(pool.get_executor(), "tcp", "127.0.0.1:0");
  if (!listener) {
    std::cerr << "listen: " << listener.error() << '\n';
    return 1;
  }
  const auto endpoint = listener->local_endpoint();
  std::cout << "start rpc server on " << geerpc::to_string(endpoint) << '\n';
  geerpc::Server server(pool.get_executor());
  server.accept(std::move(*listener));

  // The client runs on a strand of its own, as a connection's reader does in the server.
  const int rc = asio::co_spawn(asio::make_strand(pool), client(endpoint), asio::use_future).get();
  server.stop();
  return rc;
}
