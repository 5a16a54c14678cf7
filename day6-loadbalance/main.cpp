// Day 6 demo (GeeRPC day 6's main): two servers and one XClient over both. Five calls chosen at
// random, five in round robin, then broadcasts of Foo.Sum and of Foo.Sleep under a 2 s deadline
// (Sleep takes num1 seconds: two succeed, three time out).
//   day6_demo                     all of that on ephemeral ports, then exits
//   day6_demo --serve ADDR        serves Foo over TCP and HTTP on ADDR (e.g. 127.0.0.1:7001) until
//                                 Ctrl-C; open http://ADDR/debug/geerpc in a browser
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>
#include <functional>
#include <future>
#include <iostream>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "geerpc/http.hpp"
#include "geerpc/server.hpp"
#include "geerpc/service.hpp"
#include "geerpc/xclient/xclient.hpp"

struct Args {
  int num1 = 0, num2 = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Args, num1, num2)

struct Foo {
  geerpc::Error Sum(Args args, int* reply) {
    *reply = args.num1 + args.num2;
    return {};
  }
  // As Go's: sleeps num1 seconds, then sums; holds no thread meanwhile.
  asio::awaitable<geerpc::Error> Sleep(Args args, int* reply) {
    asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::seconds(args.num1));
    co_await timer.async_wait(geerpc::use_nothrow);
    *reply = args.num1 + args.num2;
    co_return geerpc::Error{};
  }
};
GEERPC_SERVICE(Foo, Sum, Sleep)

namespace {

int serve(asio::thread_pool& pool, geerpc::Server& server, const std::string& address) {
  auto listener = geerpc::listen(pool.get_executor(), "tcp", address);
  if (!listener) {
    std::cerr << "listen " << address << ": " << listener.error() << '\n';
    return 1;
  }
  // Signals first: whoever reads the address below may send SIGTERM at once.
  asio::signal_set signals(pool, SIGINT, SIGTERM);
  const auto bound = geerpc::to_string(listener->local_endpoint());
  std::cout << "rpc server on tcp@" << bound << " and http@" << bound << '\n'
            << "debug page: http://" << bound << geerpc::default_debug_path << std::endl;
  server.accept(std::move(*listener));
  std::promise<int> stopped;
  signals.async_wait([&stopped](std::error_code, int signal) { stopped.set_value(signal); });
  const int signal = stopped.get_future().get();
  std::cout << "signal " << signal << ": stopping" << std::endl;
  server.stop();
  return 0;
}

struct Outcomes {
  int ok = 0, timed_out = 0, failed = 0;
};
std::mutex print;  // one line at a time, whoever prints it

// Go's foo(): one call or broadcast through the XClient, and a line saying how it went.
void foo(geerpc::XClient& xc, const geerpc::Context& ctx, std::string_view kind, const std::string& service_method,
         Args args, Outcomes& outcomes) {
  int reply = 0;
  const auto error =
      kind == "call" ? xc.call(ctx, service_method, args, &reply) : xc.broadcast(ctx, service_method, args, &reply);
  std::lock_guard lock(print);
  if (error) {
    std::cout << kind << " " << service_method << " error: " << error << std::endl;
    ++(error == geerpc::errc::call_timeout ? outcomes.timed_out : outcomes.failed);
  } else {
    std::cout << kind << " " << service_method << " success: " << args.num1 << " + " << args.num2 << " = " << reply
              << std::endl;
    ++outcomes.ok;
  }
}

// Five goroutines' worth: `body(i)` on five threads at once.
void five_at_once(const std::function<void(int)>& body) {
  std::vector<std::jthread> threads;
  for (int i = 0; i < 5; ++i) threads.emplace_back(body, i);
}

int demo(asio::thread_pool& pool, geerpc::Server& first, geerpc::Server& second) {
  std::vector<std::string> servers;
  for (auto* server : {&first, &second}) {
    auto listener = geerpc::listen(pool.get_executor(), "tcp", "127.0.0.1:0");
    if (!listener) {
      std::cerr << "listen: " << listener.error() << '\n';
      return 1;
    }
    servers.push_back("tcp@" + geerpc::to_string(listener->local_endpoint()));
    std::cout << "start rpc server on " << servers.back() << '\n';
    server->accept(std::move(*listener));
  }
  auto discovery = std::make_shared<geerpc::MultiServersDiscovery>(servers);
  Outcomes calls, sums, sleeps;
  for (const auto mode : {geerpc::SelectMode::random, geerpc::SelectMode::round_robin}) {
    geerpc::XClient xc(pool.get_executor(), discovery, mode);
    five_at_once([&](int i) { foo(xc, {}, "call", "Foo.Sum", Args{i, i * i}, calls); });
  }
  geerpc::XClient xc(pool.get_executor(), discovery, geerpc::SelectMode::random);
  five_at_once([&](int i) {
    foo(xc, {}, "broadcast", "Foo.Sum", Args{i, i * i}, sums);
    // Sleep takes i seconds: 0 and 1 finish in time, 2, 3 and 4 do not.
    foo(xc, geerpc::Context::with_timeout(std::chrono::seconds(2)), "broadcast", "Foo.Sleep", Args{i, i * i}, sleeps);
  });
  const bool as_expected = calls.ok == 10 && sums.ok == 5 && sleeps.ok == 2 && sleeps.timed_out == 3;
  if (!as_expected) std::cerr << "unexpected outcomes\n";
  return as_expected ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  if (!args.empty() && !(args.size() == 2 && args[0] == "--serve")) {
    std::cerr << "usage: day6_demo [--serve ADDR]\n";
    return 2;
  }
  asio::thread_pool pool(2);
  geerpc::Server first(pool.get_executor()), second(pool.get_executor());
  Foo foo;
  for (auto* server : {&first, &second}) {
    if (auto error = server->register_service(foo)) {
      std::cerr << "register: " << error << '\n';
      return 1;
    }
    server->handle_http();
  }
  const int rc = args.empty() ? demo(pool, first, second) : serve(pool, first, std::string(args[1]));
  first.stop();
  second.stop();
  return rc;
}
