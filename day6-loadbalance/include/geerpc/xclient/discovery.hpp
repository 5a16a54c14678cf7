// Service discovery (GeeRPC's xclient/discovery.go): where the servers are, and which one the next
// call goes to.
#pragma once

#include <asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "geerpc/error.hpp"
#include "geerpc/xclient/balance.hpp"

namespace geerpc {

// How a server is chosen for a call. Go has the first two; the other two are the TODO of
// GeeRPC's README.
enum class SelectMode {
  random,  // any server, uniformly
  round_robin,  // each in turn, starting at a random one
  weighted_round_robin,  // each in proportion to its weight, spread out (nginx's smooth rule)
  consistent_hash,  // the same key always to the same server, while the list is unchanged
};

// A server as discovery lists it: an x_dial address with an optional weight, written
// "tcp@127.0.0.1:7001" or "tcp@127.0.0.1:7001;weight=5" (the registry of day 7 carries this text).
struct ServerEntry {
  std::string addr;
  unsigned weight = 1;
};
// errc::bad_address for an empty address or a weight that is not a whole number from 1 to 10,000.
[[nodiscard]] Result<ServerEntry> parse_server_entry(std::string_view text);
std::string to_string(const ServerEntry& entry);

// Go's Discovery interface.
class Discovery {
 public:
  virtual ~Discovery() = default;
  // Fetches the list from wherever it comes from (a no-op for a hand-kept list).
  [[nodiscard]] virtual Error refresh() = 0;
  // Replaces the list; entries as parse_server_entry reads them.
  [[nodiscard]] virtual Error update(const std::vector<std::string>& servers) = 0;
  // The address for the next call. `key` matters to consistent_hash only. errc::no_servers
  // ("rpc discovery: no available servers") when the list is empty.
  [[nodiscard]] virtual Result<std::string> get(SelectMode mode, std::string_view key = {}) = 0;
  // Every entry, as given to update.
  [[nodiscard]] virtual Result<std::vector<std::string>> get_all() = 0;
  // The same two for coroutines, which XClient uses: a discovery whose refresh does I/O (day 7's)
  // waits for it without holding a thread, and not past `deadline`. By default they are the
  // blocking ones.
  using Deadline = std::chrono::steady_clock::time_point;
  virtual asio::awaitable<Result<std::string>> async_get(SelectMode mode, std::string key, Deadline deadline) {
    (void)deadline;
    co_return get(mode, key);
  }
  virtual asio::awaitable<Result<std::vector<std::string>>> async_get_all(Deadline deadline) {
    (void)deadline;
    co_return get_all();
  }
  // Grows by one with every change of the list: how XClient notices servers that left.
  virtual std::uint64_t generation() = 0;
  // The address for the next call when it is at hand: no I/O, no waiting and no error to report.
  // XClient asks this first, and async_get when it is empty. By default it is always empty.
  virtual std::optional<std::string> try_get(SelectMode mode, std::string_view key) {
    (void)mode;
    (void)key;
    return std::nullopt;
  }
  // Every entry, as get_all gives them, on the same terms: XClient's broadcast asks this first.
  virtual std::optional<std::vector<std::string>> try_get_all() { return std::nullopt; }
};

// Go's MultiServersDiscovery: a list kept by hand. Thread-safe; it copies what it is given.
class MultiServersDiscovery : public Discovery {
 public:
  // A constructor's list that does not parse (errc::bad_address) is reported by every get and
  // get_all until an update succeeds.
  explicit MultiServersDiscovery(const std::vector<std::string>& servers = {});

  Error refresh() override;
  Error update(const std::vector<std::string>& servers) override;
  Result<std::string> get(SelectMode mode, std::string_view key = {}) override;
  Result<std::vector<std::string>> get_all() override;
  std::uint64_t generation() override;
  std::optional<std::string> try_get(SelectMode mode, std::string_view key) override;
  std::optional<std::vector<std::string>> try_get_all() override;

 private:
  std::mutex mutex_;  // guards everything below
  std::vector<std::string> servers_;  // as given
  std::vector<ServerEntry> entries_;  // as parsed
  Error bad_list_;  // the constructor's list did not parse
  std::mt19937_64 random_;
  RoundRobin round_robin_;
  SmoothWeightedRoundRobin weighted_;
  HashRing ring_;
  bool ring_built_ = false;  // for the list in entries_
  std::uint64_t generation_ = 0;
};

}  // namespace geerpc
