// A day-7 server for the tests of the clients in other languages and of the geerpc command: a few
// small services, on a TCP listener that also speaks HTTP (so http@ works) and optionally on a
// Unix socket, registered with a registry or etcd when asked. Its services:
//   Foo.Sum     {"num1":a,"num2":b} -> a+b
//   Foo.Sleep   {"num1":ms,"num2":b} -> ms+b, after ms milliseconds (holding no thread)
//   Echo.Back   any value -> the same value
//   Echo.Fail   "text" -> fails the call with exactly that text
//   Echo.Name   anything -> the --name given (default "server")
//
//   geerpc_test_server [--tcp HOST:PORT] [--unix PATH] [--name NAME] [--weight N]
//                      [--registry-url URL | --etcd URL]
// Once it listens it prints one JSON line, {"tcp":"tcp@...","http":"http@...","unix":"unix@..."},
// and it serves until SIGTERM or SIGINT.
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>
#include <future>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include "geerpc/registry/etcd.hpp"
#include "geerpc/registry/heartbeat.hpp"
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
  asio::awaitable<geerpc::Error> Sleep(Args args, int* reply) {
    asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(args.num1));
    co_await timer.async_wait(geerpc::use_nothrow);
    *reply = args.num1 + args.num2;
    co_return geerpc::Error{};
  }
};
GEERPC_SERVICE(Foo, Sum, Sleep)

struct Echo {
  std::string name;
  geerpc::Error Back(geerpc::Body value, geerpc::Body* reply) {
    *reply = std::move(value);
    return {};
  }
  geerpc::Error Fail(std::string text, geerpc::Body* reply) {
    *reply = nullptr;
    return geerpc::Error(std::move(text));
  }
  geerpc::Error Name(geerpc::Body, std::string* reply) {
    *reply = name;
    return {};
  }
};
GEERPC_SERVICE(Echo, Back, Fail, Name)

namespace {

struct Options {
  std::string tcp = "127.0.0.1:0", unix_path, name = "server", weight, registry_url, etcd;
};

std::optional<Options> parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    std::string* field = flag == "--tcp"            ? &options.tcp
                         : flag == "--unix"         ? &options.unix_path
                         : flag == "--name"         ? &options.name
                         : flag == "--weight"       ? &options.weight
                         : flag == "--registry-url" ? &options.registry_url
                         : flag == "--etcd"         ? &options.etcd
                                                    : nullptr;
    if (!field) return std::nullopt;
    *field = argv[i + 1];
  }
  if (argc % 2 == 0) return std::nullopt;  // a flag without its value
  return options;
}

int fail(std::string_view what, const geerpc::Error& error) {
  std::cerr << "geerpc_test_server: " << what << ": " << error << '\n';
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const auto options = parse(argc, argv);
  if (!options) {
    std::cerr << "usage: geerpc_test_server [--tcp HOST:PORT] [--unix PATH] [--name NAME] [--weight N]\n"
                 "                          [--registry-url URL | --etcd URL]\n";
    return 2;
  }
  asio::thread_pool pool(2);
  asio::signal_set signals(pool, SIGINT, SIGTERM);
  std::promise<void> stop;
  signals.async_wait([&](std::error_code, int) { stop.set_value(); });

  Foo foo;
  Echo echo{.name = options->name};
  geerpc::Server server(pool.get_executor());
  if (auto error = server.register_service(foo)) return fail("register Foo", error);
  if (auto error = server.register_service(echo)) return fail("register Echo", error);
  server.handle_http();

  auto tcp = geerpc::listen(pool.get_executor(), "tcp", options->tcp);
  if (!tcp) return fail("listen " + options->tcp, tcp.error());
  const auto bound = geerpc::to_string(tcp->local_endpoint());
  server.accept(std::move(*tcp));
  nlohmann::json ready{{"tcp", "tcp@" + bound}, {"http", "http@" + bound}};
  if (!options->unix_path.empty()) {
    auto unix_listener = geerpc::listen(pool.get_executor(), "unix", options->unix_path);
    if (!unix_listener) return fail("listen " + options->unix_path, unix_listener.error());
    server.accept(std::move(*unix_listener));
    ready["unix"] = "unix@" + options->unix_path;
  }

  const auto entry = "tcp@" + bound + (options->weight.empty() ? "" : ";weight=" + options->weight);
  geerpc::Heartbeat beat;
  std::optional<geerpc::EtcdRegistration> registration;
  if (!options->registry_url.empty()) {
    auto beating = geerpc::heartbeat(server, pool.get_executor(), options->registry_url, entry);
    if (!beating) return fail("heartbeat", beating.error());
    beat = std::move(*beating);
  } else if (!options->etcd.empty()) {
    auto registered = geerpc::etcd_register(server, {.endpoints = {options->etcd}}, entry);
    if (!registered) return fail("etcd", registered.error());
    registration.emplace(std::move(*registered));
  }

  std::cout << ready.dump() << std::endl;
  stop.get_future().wait();
  server.stop();
  return 0;
}
