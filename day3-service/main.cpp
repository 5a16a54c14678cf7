// Day 3 demo: a Foo service registered from an ordinary C++ object, and five concurrent calls
// to Foo.Sum (GeeRPC day 3's main).
#include <asio/thread_pool.hpp>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include "geerpc/client.hpp"
#include "geerpc/server.hpp"
#include "geerpc/service.hpp"

struct Args {
  int num1 = 0, num2 = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Args, num1, num2)

struct Foo {
  geerpc::Error Sum(Args args, int* reply) {
    *reply = args.num1 + args.num2;
    return {};
  }
};
GEERPC_SERVICE(Foo, Sum)

int main() {
  asio::thread_pool pool(2);
  geerpc::Server server(pool.get_executor());
  Foo foo;
  if (auto error = server.register_service(foo)) {
    std::cerr << "register error: " << error.message() << '\n';
    return 1;
  }
  auto listener = geerpc::listen(pool.get_executor(), "tcp", "127.0.0.1:0");
  if (!listener) {
    std::cerr << "listen: " << listener.error().message() << '\n';
    return 1;
  }
  const auto address = geerpc::to_string(listener->local_endpoint());
  std::cout << "start rpc server on " << address << '\n';
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
      const Args args{i, i * i};
      int reply = 0;
      auto error = client->call("Foo.Sum", args, &reply);
      std::lock_guard lock(print);
      if (error) {
        std::cerr << "call Foo.Sum error: " << error.message() << '\n';
        ++failures;
      } else {
        std::cout << args.num1 << " + " << args.num2 << " = " << reply << '\n';
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
