// Day 6's select modes, through MultiServersDiscovery: who gets the next call.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "geerpc/xclient/discovery.hpp"

namespace geerpc {
namespace {

std::vector<std::string> picks(Discovery& d, SelectMode mode, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(*d.get(mode));
  return out;
}

TEST(RoundRobin, HitsEachServerInTurnAndWraps) {
  MultiServersDiscovery d({"a", "b", "c"});
  const auto got = picks(d, SelectMode::round_robin, 7);
  const std::vector<std::string> order = {"a", "b", "c"};
  // Go starts at a random server; from there it is a, b, c, a, ...
  const auto start = std::find(order.begin(), order.end(), got[0]) - order.begin();
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], order[(start + i) % 3]) << "pick " << i;
}

TEST(Random, SpreadsThreeThousandCallsOverThreeServers) {
  MultiServersDiscovery d({"a", "b", "c"});
  std::map<std::string, int> hits;
  for (const auto& server : picks(d, SelectMode::random, 3000)) ++hits[server];
  ASSERT_EQ(hits.size(), 3u);
  for (const auto& [server, n] : hits) EXPECT_GE(n, 800) << server;
}

TEST(SmoothWeightedRoundRobin, WeightsFiveOneOneGiveTheSpreadOutSequence) {
  MultiServersDiscovery d({"a;weight=5", "b", "c"});
  const std::vector<std::string> want = {"a", "a", "b", "a", "c", "a", "a"};
  EXPECT_EQ(picks(d, SelectMode::weighted_round_robin, 7), want);
  EXPECT_EQ(picks(d, SelectMode::weighted_round_robin, 7), want);  // and again
}

TEST(SmoothWeightedRoundRobin, WeightsTwoTwoOneGiveTheSpreadOutSequence) {
  MultiServersDiscovery d({"a;weight=2", "b;weight=2", "c"});
  const std::vector<std::string> want = {"a", "b", "c", "a", "b"};
  EXPECT_EQ(picks(d, SelectMode::weighted_round_robin, 5), want);
}

std::vector<std::string> servers(int n) {
  std::vector<std::string> list;
  for (int i = 0; i < n; ++i) list.push_back("tcp@10.0.0." + std::to_string(i + 1) + ":7001");
  return list;
}

std::map<std::string, std::string> owners(Discovery& d, int keys) {
  std::map<std::string, std::string> owner;
  for (int k = 0; k < keys; ++k) {
    const auto key = "user-" + std::to_string(k);
    owner[key] = *d.get(SelectMode::consistent_hash, key);
  }
  return owner;
}

TEST(ConsistentHash, TheSameKeyAlwaysReachesTheSameServer) {
  MultiServersDiscovery d(servers(4));
  const auto first = owners(d, 1000);
  EXPECT_EQ(owners(d, 1000), first);
  MultiServersDiscovery other(servers(4));  // another client, same list: same answer
  EXPECT_EQ(owners(other, 1000), first);
}

TEST(ConsistentHash, TenThousandKeysSpreadWithinThirtyPercentOfEven) {
  MultiServersDiscovery d(servers(4));
  std::map<std::string, int> load;
  for (const auto& [key, server] : owners(d, 10'000)) ++load[server];
  ASSERT_EQ(load.size(), 4u);
  for (const auto& [server, n] : load) {
    EXPECT_GE(n, 2500 * 0.7) << server;
    EXPECT_LE(n, 2500 * 1.3) << server;
  }
}

TEST(ConsistentHash, AddingAFifthServerMovesAboutAFifthOfTheKeysAllToIt) {
  MultiServersDiscovery d(servers(4));
  const auto before = owners(d, 10'000);
  ASSERT_FALSE(d.update(servers(5)));
  const auto after = owners(d, 10'000);
  int moved = 0;
  for (const auto& [key, server] : before) {
    if (after.at(key) == server) continue;
    ++moved;
    EXPECT_EQ(after.at(key), servers(5).back()) << key << " moved, but not to the new server";
  }
  EXPECT_GE(moved, 1200);
  EXPECT_LE(moved, 3000);
}

TEST(ConsistentHash, RemovingAServerMovesOnlyItsKeys) {
  MultiServersDiscovery d(servers(5));
  const auto before = owners(d, 10'000);
  auto fewer = servers(5);
  const auto gone = fewer[2];
  fewer.erase(fewer.begin() + 2);
  ASSERT_FALSE(d.update(fewer));
  for (const auto& [key, server] : owners(d, 10'000)) {
    if (before.at(key) != gone) {
      EXPECT_EQ(server, before.at(key)) << key;
    }
  }
}

TEST(Discovery, AnEmptyListHasNoAvailableServers) {
  MultiServersDiscovery d;
  auto got = d.get(SelectMode::random);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error(), errc::no_servers);
  EXPECT_EQ(got.error().message(), "rpc discovery: no available servers");
}

TEST(Discovery, KeepsACopyOfTheListItIsGiven) {
  std::vector<std::string> list = {"a", "b;weight=3"};
  MultiServersDiscovery d(list);
  list.clear();
  EXPECT_EQ(*d.get_all(), (std::vector<std::string>{"a", "b;weight=3"}));
}

TEST(ServerEntry, ReadsAnAddressAndAnOptionalWeight) {
  EXPECT_EQ(parse_server_entry("tcp@127.0.0.1:7001")->weight, 1u);
  auto weighted = parse_server_entry("tcp@127.0.0.1:7001;weight=5");
  ASSERT_TRUE(weighted);
  EXPECT_EQ(weighted->addr, "tcp@127.0.0.1:7001");
  EXPECT_EQ(weighted->weight, 5u);
  EXPECT_EQ(to_string(*weighted), "tcp@127.0.0.1:7001;weight=5");
  for (const auto* bad : {"", "a;weight=", "a;weight=0", "a;weight=x", "a;weight=99999", ";weight=2"})
    EXPECT_EQ(parse_server_entry(bad).error(), errc::bad_address) << bad;
}

TEST(Discovery, AListWithABadEntryIsRefusedAndTheOldOneKept) {
  MultiServersDiscovery d({"a"});
  EXPECT_EQ(d.update({"b", "c;weight=-1"}), errc::bad_address);
  EXPECT_EQ(*d.get_all(), std::vector<std::string>{"a"});
}

}  // namespace
}  // namespace geerpc
