// Discovery fed by etcd: the servers under a prefix, read once and then watched, so the list
// changes as events arrive, not on a poll.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/thread_pool.hpp>
#include <atomic>
#include <chrono>
#include <mutex>

#include "geerpc/registry/etcd.hpp"
#include "geerpc/sync.hpp"
#include "geerpc/xclient/discovery.hpp"

namespace geerpc {

class EtcdDiscovery : public MultiServersDiscovery {
 public:
  // Starts reading and watching `config.prefix` at once, on a thread of its own. When the watch
  // breaks (etcd restarted, an endpoint went down) it reads the prefix again and watches from
  // there, trying the next endpoint when one does not answer; the last list serves meanwhile.
  explicit EtcdDiscovery(EtcdConfig config);
  ~EtcdDiscovery() override;

  // Waits until the first list has been read (at most the request timeout): errc::etcd_error and
  // what went wrong otherwise. The watch keeps the list current after that.
  Error refresh() override;

  // The list, once the first one has been read; until then each waits for it, at most the request
  // timeout (or its deadline).
  Result<std::string> get(SelectMode mode, std::string_view key = {}) override;
  Result<std::vector<std::string>> get_all() override;
  asio::awaitable<Result<std::string>> async_get(SelectMode mode, std::string key, Deadline deadline) override;
  asio::awaitable<Result<std::vector<std::string>>> async_get_all(Deadline deadline) override;

  // Times the watch was (re)started; for tests and monitoring.
  std::uint64_t watches() const { return watches_.load(); }

 private:
  asio::awaitable<void> follow();
  asio::awaitable<Error> wait_for_list(Deadline deadline);
  Error blocking_wait();

  const EtcdConfig config_;
  EtcdGateway gateway_;
  WaitGroup listed_;  // 1 until the first list is read
  std::mutex mutex_;
  Error last_error_;  // under mutex_
  std::atomic<std::uint64_t> watches_{0};
  asio::thread_pool io_{1};  // last: stopped and joined first, while the rest still lives
};

}  // namespace geerpc
