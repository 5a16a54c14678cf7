// Discovery fed by the registry (GeeRPC's xclient/discovery_gee.go, GeeRegistryDiscovery): the
// hand-kept list of day 6, refreshed from the registry when it is older than update_timeout.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/thread_pool.hpp>
#include <chrono>
#include <mutex>
#include <string>

#include "geerpc/registry/http_client.hpp"
#include "geerpc/sync.hpp"
#include "geerpc/xclient/discovery.hpp"

namespace geerpc {

class RegistryDiscovery : public MultiServersDiscovery {
 public:
  // `registry_url`: "http://127.0.0.1:9999/_geerpc_/registry". A bad URL is reported by every
  // refresh.
  explicit RegistryDiscovery(std::string registry_url,
                             std::chrono::milliseconds update_timeout = std::chrono::seconds(10),
                             std::chrono::milliseconds request_timeout = std::chrono::seconds(5));
  ~RegistryDiscovery() override;

  // Asks the registry unless the list is younger than update_timeout. Concurrent refreshes share
  // one GET, and none holds a lock while it runs (Go holds its lock across a GET with no
  // timeout). When a list is at hand, only the refresh that starts the GET waits for it; the
  // others go on with the list they have. A failed GET keeps the last good list, and is tried
  // again after a second at the soonest.
  asio::awaitable<Error> async_refresh();
  // The same, blocking: the GET runs on a thread of the discovery's own.
  Error refresh() override;
  Error update(const std::vector<std::string>& servers) override;  // also counts as fresh

  // The list after a refresh. A refresh's error is reported only when there is no list to offer.
  Result<std::string> get(SelectMode mode, std::string_view key = {}) override;
  Result<std::vector<std::string>> get_all() override;
  asio::awaitable<Result<std::string>> async_get(SelectMode mode, std::string key) override;
  asio::awaitable<Result<std::vector<std::string>>> async_get_all() override;

 private:
  Error offer(const Error& refreshed, bool have_servers) const;

  const Result<HttpUrl> url_;
  const std::chrono::milliseconds update_timeout_, request_timeout_;
  asio::thread_pool io_{1};  // for refresh(), the blocking one
  std::mutex mutex_;  // guards the six below
  std::chrono::steady_clock::time_point last_update_{}, last_failure_{};
  Error last_error_;
  bool has_list_ = false;
  bool fetching_ = false;
  WaitGroup fetched_;  // 1 while a GET is under way
};

}  // namespace geerpc
