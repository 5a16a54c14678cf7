#include "geerpc/xclient/balance.hpp"

#include <algorithm>

namespace geerpc {

void SmoothWeightedRoundRobin::reset(const std::vector<unsigned>& weights) {
  weight_.assign(weights.begin(), weights.end());
  current_.assign(weights.size(), 0);
  total_ = 0;
  for (const auto w : weight_) total_ += w;
}

std::size_t SmoothWeightedRoundRobin::next() {
  std::size_t best = 0;
  for (std::size_t i = 0; i < weight_.size(); ++i) {
    current_[i] += weight_[i];
    if (current_[i] > current_[best]) best = i;  // strictly greater: a tie stays with the earlier
  }
  current_[best] -= total_;
  return best;
}

std::uint64_t ring_hash(std::string_view text) {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  // splitmix64's finaliser: FNV alone leaves keys that differ in their last byte close together.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

void HashRing::reset(const std::vector<std::string>& servers) {
  points_.clear();
  points_.reserve(servers.size() * replicas_);
  for (std::size_t s = 0; s < servers.size(); ++s)
    for (unsigned r = 0; r < replicas_; ++r) points_.emplace_back(ring_hash(servers[s] + "#" + std::to_string(r)), s);
  std::sort(points_.begin(), points_.end());
}

std::size_t HashRing::get(std::string_view key) const {
  const auto h = ring_hash(key);
  auto it = std::lower_bound(points_.begin(), points_.end(), std::pair{h, std::size_t{0}});
  if (it == points_.end()) it = points_.begin();  // past the last point: round to the first
  return it->second;
}

}  // namespace geerpc
