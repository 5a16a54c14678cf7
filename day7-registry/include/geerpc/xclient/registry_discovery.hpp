// Discovery fed by the registry (GeeRPC's xclient/discovery_gee.go, GeeRegistryDiscovery): the
// hand-kept list of day 6, refreshed from the registry when it is older than update_timeout.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/thread_pool.hpp>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>

#include "geerpc/registry/http_client.hpp"
#include "geerpc/sync.hpp"
#include "geerpc/xclient/discovery.hpp"

namespace geerpc {

class RegistryDiscovery : public MultiServersDiscovery {
 public:
  // `registry_url`: "http://127.0.0.1:9999/_geerpc_/registry". A bad URL is reported by every
  // refresh.
  explicit RegistryDiscovery(const std::string& registry_url,
                             std::chrono::milliseconds update_timeout = std::chrono::seconds(10),
                             std::chrono::milliseconds request_timeout = std::chrono::seconds(5));
  ~RegistryDiscovery() override;

  // Asks the registry now (unless a GET is under way already) and waits for the answer, at most
  // request_timeout. A failed GET keeps the last good list.
  Error refresh() override;
  Error update(const std::vector<std::string>& servers) override;  // also counts as fresh

  // The list, refreshed first when it is older than update_timeout. The GET runs on a thread of
  // the discovery's own, holding no lock (Go holds its lock across a GET with no timeout), and
  // all callers share it. With a list at hand nobody waits for it: the list at hand serves until
  // the answer comes. Only when there is no list yet do callers wait, each until its deadline.
  // A failed GET is tried again after min(update_timeout, 1 s), and its error is reported only
  // when there is no list to offer.
  Result<std::string> get(SelectMode mode, std::string_view key = {}) override;
  Result<std::vector<std::string>> get_all() override;
  asio::awaitable<Result<std::string>> async_get(SelectMode mode, std::string key, Deadline deadline) override;
  asio::awaitable<Result<std::vector<std::string>>> async_get_all(Deadline deadline) override;
  // Only while the list is fresh: an older one is fetched again first, by async_get.
  std::optional<std::string> try_get(SelectMode mode, std::string_view key) override;
  std::optional<std::vector<std::string>> try_get_all() override;

 private:
  bool is_fresh();  // a list at hand, younger than update_timeout
  // Starts a GET if the list is stale and none runs; with `wait`, or with no list at hand, waits
  // for the GET under way until `deadline`.
  asio::awaitable<Error> async_refresh(bool wait, Deadline deadline);
  asio::awaitable<void> fetch_and_update();
  Error offer(const Error& refreshed, bool have_servers) const;

  const Result<HttpUrl> url_;
  const std::chrono::milliseconds update_timeout_, request_timeout_;
  asio::thread_pool io_{1};  // the GETs run here, whoever waits for them
  std::mutex mutex_;  // guards the six below
  std::chrono::steady_clock::time_point last_update_{}, last_failure_{};
  Error last_error_;
  bool has_list_ = false;
  bool fetching_ = false;
  WaitGroup fetched_;  // 1 while a GET is under way
};

}  // namespace geerpc
