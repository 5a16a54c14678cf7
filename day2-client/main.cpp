// Day 2 demo: one client, five calls from five threads at once over one connection
// (GeeRPC day 2's main). The server still answers with day 1's placeholder.
#include <asio/thread_pool.hpp>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include "geerpc/client.hpp"
#include "geerpc/log.hpp"
#include "geerpc/server.hpp"

int main() {
  asio::thread_pool pool(2);
  auto listener = geerpc::listen(pool.get_executor(), "tcp", "127.0.0.1:0");
  if (!listener) {
    std::cerr << "listen: " << listener.error().message() << '\n';
    return 1;
  }
  const auto address = geerpc::to_string(listener->local_endpoint());
  std::cout << "start rpc server on " << address << '\n';
  geerpc::Server server(pool.get_executor());
  server.accept(std::move(*listener));

  auto client = geerpc::dial(pool.get_executor(), "tcp", address);
  if (!client) {
    std::cerr << "dial: " << client.error().message() << '\n';
    return 1;
  }
  std::mutex print;
  int failures = 0;
  std::vector<std::jthread> callers;
  for (int i = 0; i < 5; ++i) {
    callers.emplace_back([&, i] {
      std::string reply;
      auto error = client->call("Foo.Sum", "geerpc req " + std::to_string(i), &reply);
      std::lock_guard lock(print);
      if (error) {
        std::cerr << "call Foo.Sum error: " << error.message() << '\n';
        ++failures;
      } else {
        std::cout << "reply: " << reply << '\n';
      }
    });
  }
  callers.clear();  // joins
  if (auto error = client->close()) {
    std::cerr << "close: " << error << '\n';
    ++failures;
  }
  server.stop();
  return failures == 0 ? 0 : 1;
}
