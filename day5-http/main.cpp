// Day 5 demo (GeeRPC day 5's main): one listener that speaks both RPC and HTTP. A client dials
// it with HTTP CONNECT and makes five calls at once; then the debug page is fetched and printed.
//   day5_demo                     all of that on an ephemeral port, then exits
//   day5_demo --serve ADDR        serves Foo over TCP and HTTP on ADDR (e.g. 127.0.0.1:7001) until
//                                 Ctrl-C; open http://ADDR/debug/geerpc in a browser
#include <asio/co_spawn.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_future.hpp>
#include <future>
#include <iostream>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "geerpc/client.hpp"
#include "geerpc/http.hpp"
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

// The page's text without its tags: what a browser would show, one table row per line.
std::string page_text(std::string_view html) {
  std::string text;
  bool in_tag = false, in_head = false;
  for (std::size_t i = 0; i < html.size(); ++i) {
    if (html.compare(i, 6, "<head>") == 0) in_head = true;
    if (html.compare(i, 7, "</head>") == 0) in_head = false;
    const char c = html[i];
    if (c == '<') {
      in_tag = true;
      if (html.compare(i, 4, "</tr") == 0 || html.compare(i, 4, "</h1") == 0 || html.compare(i, 4, "</h2") == 0)
        text += '\n';
      else if (html.compare(i, 3, "<td") == 0 && html.compare(i, 16, "<td class=\"calls") == 0)
        text += "  calls: ";
    } else if (c == '>') {
      in_tag = false;
    } else if (!in_tag && !in_head && c != '\n') {
      text += c;
    }
  }
  // Entities the page uses for names.
  for (auto [from, to] : {std::pair<std::string_view, std::string_view>{"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}})
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at))
      text.replace(at, from.size(), to);
  return text;
}

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

int demo(asio::thread_pool& pool, geerpc::Server& server) {
  auto listener = geerpc::listen(pool.get_executor(), "tcp", "127.0.0.1:0");
  if (!listener) {
    std::cerr << "listen: " << listener.error() << '\n';
    return 1;
  }
  const auto endpoint = listener->local_endpoint();
  const auto address = geerpc::to_string(endpoint);
  std::cout << "start rpc server on " << address << '\n';
  server.accept(std::move(*listener));

  auto client = geerpc::x_dial(pool.get_executor(), "http@" + address);
  if (!client) {
    std::cerr << "dial: " << client.error() << '\n';
    return 1;
  }
  std::mutex print;
  int failures = 0;
  std::vector<std::jthread> callers;
  for (int i = 0; i < 5; ++i) {
    callers.emplace_back([&, i] {
      const Args args{i, i * i};
      int reply = 0;
      auto error = client->call(geerpc::Context::with_timeout(std::chrono::seconds(2)), "Foo.Sum", args, &reply);
      std::lock_guard lock(print);
      if (error) {
        std::cerr << "call Foo.Sum error: " << error << '\n';
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

  const std::string request = "GET " + std::string(geerpc::default_debug_path) + " HTTP/1.1\r\nHost: " + address +
                              "\r\nConnection: close\r\n\r\n";
  auto page = asio::co_spawn(pool, geerpc::http_round_trip(endpoint, request, std::chrono::seconds(5), 1 << 20),
                             asio::use_future)
                  .get();
  if (!page || page->status != 200) {
    std::cerr << "debug page: " << (page ? std::to_string(page->status) : page.error().message()) << '\n';
    return 1;
  }
  std::cout << "\nGET http://" << address << geerpc::default_debug_path << "\n" << page_text(page->body);
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  if (!args.empty() && !(args.size() == 2 && args[0] == "--serve")) {
    std::cerr << "usage: day5_demo [--serve ADDR]\n";
    return 2;
  }
  asio::thread_pool pool(2);
  geerpc::Server server(pool.get_executor());
  Foo foo;
  if (auto error = server.register_service(foo)) {
    std::cerr << "register: " << error << '\n';
    return 1;
  }
  server.handle_http();
  const int rc = args.empty() ? demo(pool, server) : serve(pool, server, std::string(args[1]));
  server.stop();
  return rc;
}
