// Day 4 demo: one call that the client gives up on, one that the server times out, and one that
// succeeds (GeeRPC day 4's timeouts).
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>
#include <iostream>

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
  // Takes `ms` milliseconds, holding no thread meanwhile.
  asio::awaitable<geerpc::Error> Sleep(int ms, int* reply) {
    asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(ms));
    co_await timer.async_wait(geerpc::use_nothrow);
    *reply = ms;
    co_return geerpc::Error{};
  }
};
GEERPC_SERVICE(Foo, Sum, Sleep)

int main() {
  using namespace std::chrono_literals;
  asio::thread_pool pool(2);
  geerpc::Server server(pool.get_executor());
  Foo foo;
  if (auto error = server.register_service(foo)) {
    std::cerr << "register: " << error << '\n';
    return 1;
  }
  auto listener = geerpc::listen(pool.get_executor(), "tcp", "127.0.0.1:0");
  if (!listener) {
    std::cerr << "listen: " << listener.error() << '\n';
    return 1;
  }
  const auto address = geerpc::to_string(listener->local_endpoint());
  std::cout << "start rpc server on " << address << '\n';
  server.accept(std::move(*listener));

  int failures = 0;
  auto expect = [&](const char* what, const geerpc::Error& error, geerpc::errc wanted) {
    std::cout << what << ": " << (error ? error.message() : "ok") << '\n';
    if (wanted == geerpc::errc{} ? static_cast<bool>(error) : !(error == wanted)) ++failures;
  };

  auto client = geerpc::dial(pool.get_executor(), "tcp", address);
  // This connection asks the server to give up on any request after 100ms.
  auto impatient = geerpc::dial(pool.get_executor(), "tcp", address, {.handle_timeout = 100ms});
  if (!client || !impatient) {
    std::cerr << "dial: " << (client ? impatient.error() : client.error()) << '\n';
    return 1;
  }

  // The client gives up after 100ms; the method would take a second.
  int reply = 0;
  expect("client deadline", client->call(geerpc::Context::with_timeout(100ms), "Foo.Sleep", 1000, &reply),
         geerpc::errc::call_timeout);

  // The server gives up after 100ms.
  expect("server handle timeout", impatient->call("Foo.Sleep", 1000, &reply), geerpc::errc::server_error);

  // Both connections are still fine.
  expect("Foo.Sum", client->call(geerpc::Context::with_timeout(1s), "Foo.Sum", Args{1, 2}, &reply), geerpc::errc{});
  std::cout << "1 + 2 = " << reply << '\n';

  expect("close", client->close(), geerpc::errc{});
  expect("close", impatient->close(), geerpc::errc{});
  server.stop();
  return failures == 0 ? 0 : 1;
}
