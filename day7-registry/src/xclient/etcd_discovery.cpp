#include "geerpc/xclient/etcd_discovery.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_future.hpp>
#include <map>

#include "geerpc/log.hpp"

namespace geerpc {
namespace {

using Clock = std::chrono::steady_clock;

// A watch with nothing to say is started again after this: a connection that died without a word
// (a machine gone, a firewall) is found out.
constexpr auto watch_idle = std::chrono::minutes(5);

}  // namespace

EtcdDiscovery::EtcdDiscovery(EtcdConfig config)
    : config_(std::move(config)), gateway_(config_.endpoints, config_.request_timeout) {
  listed_.add();
  asio::co_spawn(asio::make_strand(io_), follow(), asio::detached);
}

EtcdDiscovery::~EtcdDiscovery() {
  // The watch never ends by itself: stopping the thread drops it, and its socket with it.
  io_.stop();
  io_.join();
}

asio::awaitable<void> EtcdDiscovery::follow() {
  const auto prefix = config_.prefix + "/";
  std::map<std::string, std::string> servers;  // key -> the entry its server put
  const auto publish = [&] {
    std::vector<std::string> list;
    for (const auto& [key, entry] : servers)
      if (parse_server_entry(entry)) list.push_back(entry);  // what is not an entry is not ours
    auto current = MultiServersDiscovery::get_all();
    if (!current || *current != list) (void)MultiServersDiscovery::update(list);
  };
  asio::steady_timer pause(co_await asio::this_coro::executor);
  bool listed = false, failing = false;
  auto wait = std::chrono::milliseconds(100);
  for (;;) {
    auto range = co_await gateway_.range(prefix);
    Error error = range ? Error() : range.error();
    if (range) {
      servers.clear();
      for (auto& kv : range->kvs) servers[kv.key] = std::move(kv.value);
      publish();
      if (!listed) listed_.done();
      listed = true;
      if (failing) log("rpc etcd: discovery of " + prefix + " works again");
      failing = false;
      wait = std::chrono::milliseconds(100);
      ++watches_;
      // A named std::function, not a lambda converted in the call: GCC 12 destroys a temporary
      // argument of a co_await'ed call twice.
      const std::function<bool(std::vector<EtcdGateway::Event>&)> apply = [&](std::vector<EtcdGateway::Event>& events) {
        for (auto& event : events) {
          if (event.deleted)
            servers.erase(event.kv.key);
          else
            servers[event.kv.key] = std::move(event.kv.value);
        }
        publish();
        return true;
      };
      error = co_await gateway_.watch(prefix, range->revision + 1, apply, watch_idle);
    }
    {
      std::lock_guard lock(mutex_);
      last_error_ = error;
    }
    if (!failing) log("rpc etcd: discovery of " + prefix + " lost etcd, trying again: " + error.message());
    failing = true;
    // Not at once: an etcd that is down answers at once too.
    pause.expires_after(wait);
    co_await pause.async_wait(use_nothrow);
    wait = std::min(wait * 2, std::chrono::milliseconds(2000));
  }
}

asio::awaitable<Error> EtcdDiscovery::wait_for_list(Deadline deadline) {
  if (co_await listed_.wait_until(std::min(deadline, Clock::now() + config_.request_timeout))) co_return Error();
  std::lock_guard lock(mutex_);
  co_return Error(errc::etcd_error,
                  "rpc etcd discovery: no list yet" + (last_error_ ? ": " + last_error_.message() : std::string()));
}

Error EtcdDiscovery::blocking_wait() {
  auto strand = asio::make_strand(io_);  // a WaitGroup is waited for on a strand
  return asio::co_spawn(strand, wait_for_list(Clock::time_point::max()), asio::use_future).get();
}

Error EtcdDiscovery::refresh() {
  return blocking_wait();
}

Result<std::string> EtcdDiscovery::get(SelectMode mode, std::string_view key) {
  if (auto error = blocking_wait()) return error;
  return MultiServersDiscovery::get(mode, key);
}

Result<std::vector<std::string>> EtcdDiscovery::get_all() {
  if (auto error = blocking_wait()) return error;
  return MultiServersDiscovery::get_all();
}

asio::awaitable<Result<std::string>> EtcdDiscovery::async_get(SelectMode mode, std::string key, Deadline deadline) {
  if (auto error = co_await wait_for_list(deadline)) co_return error;
  co_return MultiServersDiscovery::get(mode, key);
}

asio::awaitable<Result<std::vector<std::string>>> EtcdDiscovery::async_get_all(Deadline deadline) {
  if (auto error = co_await wait_for_list(deadline)) co_return error;
  co_return MultiServersDiscovery::get_all();
}

}  // namespace geerpc
