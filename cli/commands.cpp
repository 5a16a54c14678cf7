#include "commands.hpp"

#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_future.hpp>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <iostream>
#include <iterator>
#include <mutex>
#include <thread>
#include <vector>

#include "geerpc/client.hpp"
#include "geerpc/log.hpp"
#include "geerpc/registry/http_client.hpp"
#include "geerpc/xclient/etcd_discovery.hpp"
#include "geerpc/xclient/registry_discovery.hpp"
#include "geerpc/xclient/xclient.hpp"
#include "stats.hpp"

namespace geerpc::cli {
namespace {

using Clock = std::chrono::steady_clock;

// The kind of failure, for the exit code.
Exit classify(const Error& error) {
  const auto& code = error.code();
  if (code.category() == geerpc_category()) {
    switch (static_cast<errc>(code.value())) {
      case errc::server_error:
      case errc::ill_formed_method:
      case errc::unknown_service:
      case errc::unknown_method:
      case errc::method_error:
      case errc::method_exception: return exit_server;
      case errc::connect_timeout:
      case errc::call_timeout:
      case errc::http_timeout: return exit_timeout;
      case errc::bad_address: return exit_usage;
      case errc::bad_body: return exit_failure;
      default: return exit_connection;
    }
  }
  return code == std::errc::timed_out ? exit_timeout : exit_connection;  // the system's: refused, reset
}

// `what` says what was being done, when the error's own words do not.
int fail(const Error& error, const std::string& what = {}) {
  std::cerr << "geerpc: " << (what.empty() ? "" : what + ": ") << error.message() << '\n';
  return classify(error);
}

int usage_error(const std::string& what) {
  std::cerr << "geerpc: " << what << '\n';
  return exit_usage;
}

Context context(const Options& o) {
  return o.timeout.count() > 0 ? Context::with_timeout(o.timeout) : Context{};
}

SelectMode select_mode(const std::string& mode) {
  if (mode == "round_robin") return SelectMode::round_robin;
  if (mode == "weighted_round_robin") return SelectMode::weighted_round_robin;
  if (mode == "consistent_hash") return SelectMode::consistent_hash;
  return SelectMode::random;
}

// The servers named on the command line, or found at a registry or in etcd.
std::shared_ptr<Discovery> make_discovery(const Options& o) {
  const auto timeout = o.timeout.count() > 0 ? o.timeout : std::chrono::milliseconds(10'000);
  if (!o.registry.empty()) return std::make_shared<RegistryDiscovery>(o.registry, std::chrono::seconds(10), timeout);
  if (!o.etcd.empty())
    return std::make_shared<EtcdDiscovery>(
        EtcdConfig{.endpoints = o.etcd, .prefix = o.etcd_prefix, .request_timeout = timeout});
  return std::make_shared<MultiServersDiscovery>(o.addresses);
}

void print_json(const Body& value, bool compact) {
  // Strings from a MessagePack peer need not be UTF-8; they are printed, not refused.
  std::cout << value.dump(compact ? -1 : 2, ' ', false, Body::error_handler_t::replace) << std::endl;
}

// One call, however it is made; the reply lands in `reply`.
using CallOnce = std::function<Error(Body& reply)>;

// --count N --concurrency C: C threads make the N calls between them, each waiting for its reply
// before the next, and a progress line on stderr meanwhile; the summary goes to stdout.
int load(const Options& o, const CallOnce& once) {
  LoadStats stats(o.count);
  std::atomic<std::size_t> next{0};
  std::mutex mutex;
  std::condition_variable finished;
  std::size_t running = o.concurrency;
  Error first_error;
  const auto start = Clock::now();
  std::vector<std::jthread> workers;
  for (std::size_t i = 0; i < o.concurrency; ++i) {
    workers.emplace_back([&] {
      while (next.fetch_add(1, std::memory_order_relaxed) < o.count) {
        Body reply;
        const auto began = Clock::now();
        auto error = once(reply);
        stats.record(Clock::now() - began, !error);
        if (error) {
          std::lock_guard lock(mutex);
          if (!first_error) first_error = std::move(error);
        }
      }
      std::lock_guard lock(mutex);
      if (--running == 0) finished.notify_all();
    });
  }
  // A terminal gets one line rewritten in place; a log gets a line a second.
  const bool terminal = isatty(STDERR_FILENO) != 0;
  {
    std::unique_lock lock(mutex);
    const auto period = terminal ? std::chrono::milliseconds(200) : std::chrono::milliseconds(1000);
    while (!finished.wait_for(lock, period, [&] { return running == 0; }))
      std::cerr << (terminal ? "\r" : "") << stats.progress(Clock::now() - start) << (terminal ? "" : "\n")
                << std::flush;
  }
  const auto elapsed = Clock::now() - start;
  workers.clear();
  if (terminal) std::cerr << '\r' << stats.progress(elapsed) << '\n';
  std::cout << stats.summary(elapsed) << std::flush;
  if (!first_error) return exit_ok;
  std::cerr << "geerpc: " << stats.failed() << " of " << o.count
            << " calls failed; the first: " << first_error.message() << '\n';
  return classify(first_error);
}

int call_or_broadcast(const Options& o, const Body& args) {
  asio::thread_pool io(2);
  const Option option{.codec_type = o.codec, .connect_timeout = o.timeout};
  std::shared_ptr<Client> client;  // one server named: a Client of its own
  std::unique_ptr<XClient> xclient;  // else discovery and an XClient
  CallOnce once;
  if (o.command == Command::call && o.addresses.size() == 1) {
    auto dialed = x_dial(io.get_executor(), o.addresses.front(), option);
    if (!dialed) return fail(dialed.error(), "dial " + o.addresses.front());
    client = *dialed;
    once = [&](Body& reply) { return client->call(context(o), o.service_method, args, &reply); };
  } else {
    xclient = std::make_unique<XClient>(io.get_executor(), make_discovery(o), select_mode(o.mode), option);
    if (o.command == Command::broadcast)
      once = [&](Body& reply) {
        return xclient->broadcast(CallContext(context(o), o.key), o.service_method, args, &reply);
      };
    else
      once = [&](Body& reply) { return xclient->call(CallContext(context(o), o.key), o.service_method, args, &reply); };
  }
  int rc = exit_ok;
  if (o.count > 1) {
    rc = load(o, once);
  } else {
    Body reply;
    if (auto error = once(reply))
      rc = fail(error);
    else
      print_json(reply, o.compact);
  }
  if (client) (void)client->close();
  if (xclient) (void)xclient->close();
  return rc;
}

// http@HOST:PORT (or tcp@, http://, HOST:PORT) -> the debug page's JSON URL.
std::string debug_url(std::string address) {
  for (std::string_view prefix : {"http@", "tcp@", "http://"})
    if (address.starts_with(prefix)) address.erase(0, prefix.size());
  if (auto slash = address.find('/'); slash != std::string::npos) address.resize(slash);
  return "http://" + address + std::string(default_debug_path) + "?format=json";
}

int list(const Options& o) {
  auto url = parse_http_url(debug_url(o.addresses.front()));
  if (!url) return fail(url.error());
  asio::thread_pool io(1);
  const HttpHeaders headers;
  const auto timeout = o.timeout.count() > 0 ? o.timeout : std::chrono::milliseconds(10'000);
  auto response = asio::co_spawn(io, http_call(*url, "GET", headers, "", timeout), asio::use_future).get();
  if (!response) return fail(response.error(), "GET " + url->text);
  if (o.json) {
    std::cout << response->body << (response->body.ends_with('\n') ? "" : "\n") << std::flush;
    return exit_ok;
  }
  const auto page = Body::parse(response->body, nullptr, false);
  if (page.is_discarded() || !page.contains("services") || !page["services"].is_array()) {
    std::cerr << "geerpc: " << url->text << " is not a geerpc debug page\n";
    return exit_failure;
  }
  try {
    for (const auto& service : page["services"]) {
      std::cout << service.at("name").get<std::string>() << '\n';
      std::size_t width = 0;
      for (const auto& method : service.at("methods"))
        width = std::max(width, method.at("signature").get<std::string>().size());
      for (const auto& method : service.at("methods")) {
        const auto signature = method.at("signature").get<std::string>();
        const auto calls = method.at("calls").get<std::uint64_t>();
        std::cout << "  " << signature << std::string(width - signature.size() + 2, ' ') << calls
                  << (calls == 1 ? " call\n" : " calls\n");
      }
    }
  } catch (const nlohmann::json::exception&) {
    std::cerr << "geerpc: " << url->text << " is not a geerpc debug page\n";
    return exit_failure;
  }
  std::cout << std::flush;
  return exit_ok;
}

int servers(const Options& o) {
  auto discovery = make_discovery(o);
  auto all = discovery->get_all();
  if (!all) return fail(all.error());
  for (const auto& server : *all) std::cout << server << '\n';
  std::cout << std::flush;
  return exit_ok;
}

}  // namespace

int run(const Options& o) {
  set_log_sink({});  // one line on stderr, the command's own: the library's log would add more
  switch (o.command) {
    case Command::call:
    case Command::broadcast: {
      std::string text = o.args;
      if (text == "-") text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
      auto args = Body::parse(text, nullptr, false);
      if (args.is_discarded())
        return usage_error("the argument is not JSON: " + (text.size() > 60 ? text.substr(0, 57) + "..." : text));
      return call_or_broadcast(o, args);
    }
    case Command::list: return list(o);
    case Command::servers: return servers(o);
    case Command::help: break;
  }
  std::cout << usage(Command::help);
  return exit_ok;
}

}  // namespace geerpc::cli
