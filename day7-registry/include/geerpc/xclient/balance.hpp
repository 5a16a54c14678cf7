// The select modes' state: which of N servers comes next. Not thread-safe on its own: discovery
// calls it under its lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace geerpc {

// Go's round robin: each server in turn, from wherever it starts.
class RoundRobin {
 public:
  void reset(std::size_t start) { index_ = start; }
  std::size_t next(std::size_t n) {
    const std::size_t i = index_ % n;
    index_ = (i + 1) % n;
    return i;
  }

 private:
  std::size_t index_ = 0;
};

// nginx's smooth weighted round robin. Every pick adds each server's weight to its current
// weight, picks the largest (the earlier server on a tie), and takes the total of the weights
// from the one picked. Weights 5, 1, 1 give a a b a c a a: in proportion, and spread out.
class SmoothWeightedRoundRobin {
 public:
  void reset(const std::vector<unsigned>& weights);
  std::size_t next();

 private:
  std::vector<std::int64_t> weight_, current_;
  std::int64_t total_ = 0;
};

// Consistent hashing: every server owns `replicas` points on a ring of 64-bit hashes, and a key
// goes to the owner of the first point at or after the key's hash. Adding one server to N moves
// about 1/(N+1) of the keys, all to the new one; removing one moves only the keys it had.
class HashRing {
 public:
  explicit HashRing(unsigned replicas = 160) : replicas_(replicas) {}
  void reset(const std::vector<std::string>& servers);
  // The index in `servers` of the one that owns `key`. The ring must not be empty.
  std::size_t get(std::string_view key) const;

 private:
  unsigned replicas_;
  std::vector<std::pair<std::uint64_t, std::size_t>> points_;  // (hash, server), sorted
};

// The hash the ring uses: FNV-1a, then a mix so that similar keys land far apart. The same in
// every process, so that two clients send a key to the same server.
std::uint64_t ring_hash(std::string_view text);

}  // namespace geerpc
