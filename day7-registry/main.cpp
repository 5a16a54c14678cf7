// Day 7 demo, the main job (GeeRPC day 7's main): a registry, two servers that heartbeat to it,
// and an XClient that finds them through the registry. Five calls, then five broadcasts of
// Foo.Sum and five of Foo.Sleep under a 2 s deadline (Sleep takes num1 seconds: two succeed,
// three time out). Everything on loopback, on ports the system picks.
//   day7_demo                                   all of that, then exits
//   day7_demo --registry ADDR                   a registry only, until Ctrl-C
//   day7_demo --serve ADDR [--registry-url URL] a server (that heartbeats to URL), until Ctrl-C
//   day7_demo --registry-url URL                the calls and broadcasts, to servers found at URL
//   day7_demo --etcd                            the demo with etcd as the registry, an etcd of its own
//   day7_demo --etcd-endpoints URL              the same with the etcd at URL
// For example, in three terminals:
//   day7_demo --registry 127.0.0.1:9999
//   day7_demo --serve 127.0.0.1:7001 --registry-url http://127.0.0.1:9999/_geerpc_/registry
//   day7_demo --registry-url http://127.0.0.1:9999/_geerpc_/registry
//   curl -s http://127.0.0.1:9999/_geerpc_/registry?format=json
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
#include "geerpc/registry/etcd.hpp"
#include "geerpc/registry/etcd_local.hpp"
#include "geerpc/registry/heartbeat.hpp"
#include "geerpc/registry/registry.hpp"
#include "geerpc/server.hpp"
#include "geerpc/service.hpp"
#include "geerpc/xclient/etcd_discovery.hpp"
#include "geerpc/xclient/registry_discovery.hpp"
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

// Blocks until Ctrl-C or SIGTERM. The signals are taken before the caller says it is ready.
class Signals {
 public:
  explicit Signals(asio::thread_pool& pool) : signals_(pool, SIGINT, SIGTERM) {
    signals_.async_wait([this](std::error_code, int signal) { caught_.set_value(signal); });
  }
  void wait() { std::cout << "signal " << caught_.get_future().get() << ": stopping" << std::endl; }

 private:
  asio::signal_set signals_;
  std::promise<int> caught_;
};

int serve_registry(asio::thread_pool& pool, const std::string& address) {
  Signals signals(pool);
  geerpc::Registry registry(pool.get_executor());
  auto listener = geerpc::listen(pool.get_executor(), "tcp", address);
  if (!listener) {
    std::cerr << "listen " << address << ": " << listener.error() << '\n';
    return 1;
  }
  std::cout << "registry at http://" << geerpc::to_string(listener->local_endpoint()) << geerpc::default_registry_path
            << std::endl;
  registry.serve(std::move(*listener));
  signals.wait();
  registry.stop();
  return 0;
}

int serve(asio::thread_pool& pool, geerpc::Server& server, const std::string& address, const std::string& registry) {
  Signals signals(pool);
  auto listener = geerpc::listen(pool.get_executor(), "tcp", address);
  if (!listener) {
    std::cerr << "listen " << address << ": " << listener.error() << '\n';
    return 1;
  }
  const auto bound = geerpc::to_string(listener->local_endpoint());
  server.accept(std::move(*listener));
  geerpc::Heartbeat beat;
  if (!registry.empty()) {
    auto beating = geerpc::heartbeat(server, pool.get_executor(), registry, "tcp@" + bound);
    if (!beating) {
      std::cerr << "heartbeat: " << beating.error() << '\n';
      return 1;
    }
    beat = std::move(*beating);
  }
  std::cout << "rpc server on tcp@" << bound << " and http@" << bound
            << (registry.empty() ? "" : ", registered at " + registry) << '\n'
            << "debug page: http://" << bound << geerpc::default_debug_path << std::endl;
  signals.wait();
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

// GeeRPC day 7's call() and broadcast(): servers found through `discovery`.
int call(asio::thread_pool& pool, const std::shared_ptr<geerpc::Discovery>& discovery) {
  geerpc::XClient xc(pool.get_executor(), discovery, geerpc::SelectMode::random);
  Outcomes calls, sums, sleeps;
  five_at_once([&](int i) { foo(xc, {}, "call", "Foo.Sum", Args{i, i * i}, calls); });
  five_at_once([&](int i) {
    foo(xc, {}, "broadcast", "Foo.Sum", Args{i, i * i}, sums);
    // Sleep takes i seconds: 0 and 1 finish in time, 2, 3 and 4 do not.
    foo(xc, geerpc::Context::with_timeout(std::chrono::seconds(2)), "broadcast", "Foo.Sleep", Args{i, i * i}, sleeps);
  });
  const bool as_expected = calls.ok == 5 && sums.ok == 5 && sleeps.ok == 2 && sleeps.timed_out == 3;
  if (!as_expected) std::cerr << "unexpected outcomes\n";
  return as_expected ? 0 : 1;
}

// Starts `server` on a loopback port the system picks; its address for clients, empty on failure.
std::string serve_on_loopback(asio::thread_pool& pool, geerpc::Server& server) {
  auto listener = geerpc::listen(pool.get_executor(), "tcp", "127.0.0.1:0");
  if (!listener) {
    std::cerr << "listen: " << listener.error() << '\n';
    return {};
  }
  auto address = "tcp@" + geerpc::to_string(listener->local_endpoint());
  server.accept(std::move(*listener));
  return address;
}

int demo(asio::thread_pool& pool, geerpc::Server& first, geerpc::Server& second) {
  geerpc::Registry registry(pool.get_executor());
  auto registry_listener = geerpc::listen(pool.get_executor(), "tcp", "127.0.0.1:0");
  if (!registry_listener) {
    std::cerr << "listen: " << registry_listener.error() << '\n';
    return 1;
  }
  const std::string registry_url =
      "http://" + geerpc::to_string(registry_listener->local_endpoint()) + std::string(geerpc::default_registry_path);
  std::cout << "registry at " << registry_url << '\n';
  registry.serve(std::move(*registry_listener));

  // Each server registers an address clients can dial, and beats until it stops.
  std::vector<geerpc::Heartbeat> beats;
  for (auto* server : {&first, &second}) {
    const auto address = serve_on_loopback(pool, *server);
    if (address.empty()) return 1;
    auto beat = geerpc::heartbeat(*server, pool.get_executor(), registry_url, address);
    if (!beat) {
      std::cerr << "heartbeat: " << beat.error() << '\n';
      return 1;
    }
    std::cout << "start rpc server on " << address << '\n';
    beats.push_back(std::move(*beat));
  }

  const int rc = call(pool, std::make_shared<geerpc::RegistryDiscovery>(registry_url));
  registry.stop();
  return rc;
}

// The same flow with etcd as the registry: servers register under a lease, the client watches.
int demo_etcd(asio::thread_pool& pool, geerpc::Server& first, geerpc::Server& second, std::string endpoint) {
  std::unique_ptr<geerpc::LocalEtcd> local;
  if (endpoint.empty()) {  // an etcd of our own on loopback, stopped when the demo ends
    auto started = geerpc::LocalEtcd::start();
    if (!started) {
      std::cerr << "etcd: " << started.error() << '\n';
      return 1;
    }
    local = std::move(*started);
    endpoint = local->endpoint();
    std::cout << "etcd at " << endpoint << " (pid " << local->pid() << ")\n";
  }
  const geerpc::EtcdConfig config{.endpoints = {endpoint}, .prefix = "/geerpc/demo"};
  std::vector<geerpc::EtcdRegistration> registrations;
  for (auto* server : {&first, &second}) {
    const auto address = serve_on_loopback(pool, *server);
    if (address.empty()) return 1;
    auto registration = geerpc::etcd_register(*server, config, address);
    if (!registration) {
      std::cerr << "etcd_register: " << registration.error() << '\n';
      return 1;
    }
    std::cout << "start rpc server on " << address << '\n';
    registrations.push_back(std::move(*registration));
  }
  return call(pool, std::make_shared<geerpc::EtcdDiscovery>(config));
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  const auto option = [&](std::string_view name) {
    for (std::size_t i = 0; i + 1 < args.size(); i += 2)
      if (args[i] == name) return std::string(args[i + 1]);
    return std::string();
  };
  const bool registry_only = args.size() == 2 && args[0] == "--registry";
  const bool server_only =
      (args.size() == 2 || (args.size() == 4 && !option("--registry-url").empty())) && !option("--serve").empty();
  const bool client_only = args.size() == 2 && args[0] == "--registry-url";
  const bool with_etcd =
      (args.size() == 1 && args[0] == "--etcd") || (args.size() == 2 && args[0] == "--etcd-endpoints");
  if (!args.empty() && !registry_only && !server_only && !client_only && !with_etcd) {
    std::cerr << "usage: day7_demo [--registry ADDR | --serve ADDR [--registry-url URL] | --registry-url URL |\n"
                 "                  --etcd | --etcd-endpoints URL]\n";
    return 2;
  }
  asio::thread_pool pool(2);
  if (registry_only) return serve_registry(pool, option("--registry"));
  if (client_only) return call(pool, std::make_shared<geerpc::RegistryDiscovery>(option("--registry-url")));
  geerpc::Server first(pool.get_executor()), second(pool.get_executor());
  Foo foo;
  for (auto* server : {&first, &second}) {
    if (auto error = server->register_service(foo)) {
      std::cerr << "register: " << error << '\n';
      return 1;
    }
    server->handle_http();
  }
  const int rc = args.empty() ? demo(pool, first, second)
                 : with_etcd  ? demo_etcd(pool, first, second, option("--etcd-endpoints"))
                              : serve(pool, first, option("--serve"), option("--registry-url"));
  first.stop();
  second.stop();
  return rc;
}
