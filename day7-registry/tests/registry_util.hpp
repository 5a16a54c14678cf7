// What day 7's tests share: a registry on a loopback port with a clock the test can move.
#pragma once

#include <atomic>

#include "geerpc/registry/heartbeat.hpp"
#include "geerpc/registry/http_client.hpp"
#include "geerpc/registry/registry.hpp"
#include "geerpc/xclient/registry_discovery.hpp"
#include "geerpc/xclient/xclient.hpp"
#include "test_util.hpp"

namespace geerpc::test {

// How many times `server` has run Foo.Sum: which server a call went to.
inline std::uint64_t sum_calls(const Server& server) {
  for (const auto& service : server.services())
    for (const auto& m : service.methods)
      if (service.name == "Foo" && m.name == "Sum") return m.calls;
  return 0;
}

// A registry on an ephemeral loopback port. Its clock is the real one plus `offset`, or, when
// `frozen`, stands still at `offset` past its start: then only the test moves it.
struct TestRegistry {
  // `address`: "127.0.0.1:0" for a port the system picks, or the port of a registry restarted.
  explicit TestRegistry(std::chrono::milliseconds timeout = std::chrono::minutes(5),
                        std::string address = "127.0.0.1:0", bool frozen = false)
      : frozen(frozen), registry(pool.get_executor(), {.timeout = timeout, .clock = [this] { return now(); }}) {
    auto listener = listen(pool.get_executor(), "tcp", address);
    endpoint = listener->local_endpoint();
    url = "http://" + to_string(listener->local_endpoint()) + std::string(default_registry_path);
    registry.serve(std::move(*listener));
  }
  ~TestRegistry() {
    registry.stop();
    pool.join();
  }
  std::chrono::steady_clock::time_point now() const {
    return (frozen ? start : std::chrono::steady_clock::now()) + offset.load();
  }
  Result<HttpMessage> request(std::string method, HttpHeaders headers = {}, std::string query = {}) {
    auto target = parse_http_url(url + query);
    return run(pool.get_executor(), http_call(*target, std::move(method), std::move(headers), "", 5s));
  }
  Error post(const std::string& server) {
    auto response = request("POST", {{"X-Geerpc-Server", server}});
    return response ? Error() : response.error();
  }

  asio::thread_pool pool{2};
  const std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  const bool frozen;
  std::atomic<std::chrono::steady_clock::duration> offset{};
  Registry registry;
  std::string url;
  Endpoint endpoint;
};

}  // namespace geerpc::test
