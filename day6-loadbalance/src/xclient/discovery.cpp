#include "geerpc/xclient/discovery.hpp"

#include <charconv>

namespace geerpc {

Result<ServerEntry> parse_server_entry(std::string_view text) {
  constexpr std::string_view weight_tag = ";weight=";
  ServerEntry entry;
  const auto tag = text.find(weight_tag);
  entry.addr = std::string(text.substr(0, tag));
  if (tag != std::string_view::npos) {
    const auto digits = text.substr(tag + weight_tag.size());
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), entry.weight);
    if (ec != std::errc{} || end != digits.data() + digits.size() || entry.weight < 1 || entry.weight > 10'000)
      return Error(errc::bad_address, "rpc discovery: bad weight in '" + std::string(text) + "'");
  }
  if (entry.addr.empty()) return Error(errc::bad_address, "rpc discovery: empty server address");
  return entry;
}

std::string to_string(const ServerEntry& entry) {
  return entry.weight == 1 ? entry.addr : entry.addr + ";weight=" + std::to_string(entry.weight);
}

MultiServersDiscovery::MultiServersDiscovery(const std::vector<std::string>& servers)
    : random_(std::random_device{}()) {
  bad_list_ = update(servers);
}

Error MultiServersDiscovery::refresh() {
  return {};
}

Error MultiServersDiscovery::update(const std::vector<std::string>& servers) {
  std::vector<ServerEntry> entries;
  std::vector<unsigned> weights;
  for (const auto& text : servers) {
    auto entry = parse_server_entry(text);
    if (!entry) return entry.error();
    weights.push_back(entry->weight);
    entries.push_back(std::move(*entry));
  }
  std::lock_guard lock(mutex_);
  servers_ = servers;
  entries_ = std::move(entries);
  bad_list_ = {};
  // Go starts its round robin at a random server, so that clients do not all begin with the first.
  round_robin_.reset(entries_.empty() ? 0
                                      : std::uniform_int_distribution<std::size_t>(0, entries_.size() - 1)(random_));
  weighted_.reset(weights);
  ring_ = HashRing();  // rebuilt from the new list by the next call that needs it
  ring_built_ = false;
  ++generation_;
  return {};
}

Result<std::string> MultiServersDiscovery::get(SelectMode mode, std::string_view key) {
  std::lock_guard lock(mutex_);
  if (bad_list_) return bad_list_;
  const std::size_t n = entries_.size();
  if (n == 0) return Error(errc::no_servers, "rpc discovery: no available servers");
  switch (mode) {
    case SelectMode::random: return entries_[std::uniform_int_distribution<std::size_t>(0, n - 1)(random_)].addr;
    case SelectMode::round_robin: return entries_[round_robin_.next(n)].addr;
    case SelectMode::weighted_round_robin: return entries_[weighted_.next()].addr;
    case SelectMode::consistent_hash:
      // Built by the first call that needs it: its points (160 a server) are memory that a client
      // of the other modes would carry for nothing.
      if (!ring_built_) {
        std::vector<std::string> addrs;
        for (const auto& entry : entries_) addrs.push_back(entry.addr);
        ring_.reset(addrs);
        ring_built_ = true;
      }
      return entries_[ring_.get(key)].addr;
  }
  return Error(errc::no_servers, "rpc discovery: not supported select mode");
}

Result<std::vector<std::string>> MultiServersDiscovery::get_all() {
  std::lock_guard lock(mutex_);
  if (bad_list_) return bad_list_;
  return servers_;
}

std::uint64_t MultiServersDiscovery::generation() {
  std::lock_guard lock(mutex_);
  return generation_;
}

std::optional<std::string> MultiServersDiscovery::try_get(SelectMode mode, std::string_view key) {
  // This class's get, not an override's: day 7's discoveries may fetch in theirs.
  auto addr = MultiServersDiscovery::get(mode, key);
  if (!addr) return std::nullopt;
  return std::move(*addr);
}

std::optional<std::vector<std::string>> MultiServersDiscovery::try_get_all() {
  auto all = MultiServersDiscovery::get_all();
  if (!all) return std::nullopt;
  return std::move(*all);
}

}  // namespace geerpc
