// A peer in a process of its own, for the fault tests that kill one mid-call (fault_test.cpp).
//   fault_peer silent-server     prints "LISTENING <port>", reads requests and never answers,
//                                printing "GOT <seq>" for each
//   fault_peer client <address>  calls Foo.Sum over and over, 1,000 calls in flight at a time,
//                                prints "CALLING" once the first batch is answered
//   fault_peer etcd-server <endpoint> <prefix>
//                                serves Foo.Sum, registered in etcd with a 2 s lease, and prints
//                                "REGISTERED <addr>"
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>
#include <cstdio>
#include <string>

#include "geerpc/client.hpp"
#include "geerpc/protocol.hpp"
#include "geerpc/registry/etcd.hpp"
#include "geerpc/server.hpp"
#include "geerpc/service.hpp"

namespace {

asio::awaitable<void> ignore_requests(std::shared_ptr<geerpc::Conn> conn) {
  auto handshake = co_await geerpc::server_handshake(conn);
  if (!handshake) co_return;
  auto& codec = handshake->codec;
  for (;;) {
    geerpc::Header h;
    if (co_await codec->read_header(h) || co_await codec->read_body(nullptr)) co_return;
    std::printf("GOT %llu\n", static_cast<unsigned long long>(h.seq));
    std::fflush(stdout);
  }
}

asio::awaitable<void> accept_forever(geerpc::Acceptor& listener, asio::thread_pool& pool) {
  for (;;) {
    auto [ec, socket] =
        co_await listener.async_accept(asio::any_io_executor(asio::make_strand(pool)), geerpc::use_nothrow);
    if (ec) co_return;
    auto conn = std::make_shared<geerpc::Conn>(std::move(socket));
    asio::co_spawn(conn->get_executor(), ignore_requests(conn), asio::detached);
  }
}

// The etcd tests' server: Foo.Sum, on any JSON object with num1 and num2.
struct Foo {
  geerpc::Error Sum(const geerpc::Body& args, int* reply) {
    *reply = args.value("num1", 0) + args.value("num2", 0);
    return {};
  }
};
GEERPC_SERVICE(Foo, Sum)

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  asio::thread_pool pool(1);
  if (mode == "silent-server") {
    auto listener = geerpc::listen(pool.get_executor(), "tcp", "127.0.0.1:0");
    if (!listener) return 1;
    std::printf("LISTENING %s\n", geerpc::to_string(listener->local_endpoint()).c_str());
    std::fflush(stdout);
    asio::co_spawn(pool, accept_forever(*listener, pool), asio::detached);
    pool.join();  // until killed
  } else if (mode == "etcd-server" && argc > 3) {
    geerpc::Server server(pool.get_executor());
    Foo foo;
    auto listener = geerpc::listen(pool.get_executor(), "tcp", "127.0.0.1:0");
    if (!listener || server.register_service(foo)) return 1;
    const auto addr = "tcp@" + geerpc::to_string(listener->local_endpoint());
    server.accept(std::move(*listener));
    auto registration =
        geerpc::etcd_register({.endpoints = {argv[2]}, .prefix = argv[3], .ttl = std::chrono::seconds(2)}, addr);
    if (!registration) return 1;
    std::printf("REGISTERED %s\n", addr.c_str());
    std::fflush(stdout);
    pool.join();  // until killed
  } else if (mode == "client" && argc > 2) {
    auto client = geerpc::dial(pool.get_executor(), "tcp", argv[2]);
    if (!client) return 1;
    for (bool first = true;; first = false) {
      std::vector<geerpc::Body> replies(1000);
      std::vector<std::shared_ptr<geerpc::Call>> calls;
      for (auto& reply : replies)
        calls.push_back(client->go("Foo.Sum", geerpc::Body{{"num1", 1}, {"num2", 2}}, &reply));
      for (auto& call : calls) call->wait();
      if (first) {
        std::printf("CALLING\n");
        std::fflush(stdout);
      }
    }
  }
  return 2;
}
