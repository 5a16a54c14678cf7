// Day 7 end to end: a registry, servers that heartbeat, an XClient that finds them through it.
#include <regex>

#include "child.hpp"
#include "registry_util.hpp"

namespace geerpc::test {
namespace {

std::uint64_t sum_calls(const Server& server) {
  for (const auto& service : server.services())
    for (const auto& m : service.methods)
      if (service.name == "Foo" && m.name == "Sum") return m.calls;
  return 0;
}

// Three servers that heartbeat to a registry.
struct Cluster {
  explicit Cluster(std::chrono::milliseconds registry_timeout, std::chrono::milliseconds period)
      : registry(registry_timeout) {
    for (auto& ts : servers) {
      auto beat = heartbeat(ts.server, ts.pool.get_executor(), registry.url, "tcp@" + to_string(ts.endpoint),
                            {.period = period});
      EXPECT_TRUE(beat) << beat.error();
      beats.push_back(std::move(*beat));
    }
  }
  TestRegistry registry;
  std::array<TestServer, 3> servers;
  std::vector<Heartbeat> beats;
};

TEST(RegistryEndToEnd, CallsSpreadOverTheServersTheRegistryLists) {
  Cluster cluster(std::chrono::minutes(5), std::chrono::minutes(4));
  asio::thread_pool pool(2);
  XClient xc(pool.get_executor(), std::make_shared<RegistryDiscovery>(cluster.registry.url), SelectMode::round_robin);
  for (int i = 0; i < 30; ++i) {
    int reply = 0;
    ASSERT_FALSE(xc.call({}, "Foo.Sum", Args{i, 1}, &reply)) << "call " << i;
    EXPECT_EQ(reply, i + 1);
  }
  for (auto& ts : cluster.servers) EXPECT_EQ(sum_calls(ts.server), 10u);
}

TEST(RegistryEndToEnd, AStoppedServerExpiresAndCallsMeanwhileSucceed) {
  Cluster cluster(500ms, 100ms);
  asio::thread_pool pool(2);
  XClient xc(pool.get_executor(), std::make_shared<RegistryDiscovery>(cluster.registry.url, 50ms),
             SelectMode::round_robin);
  auto& gone = cluster.servers[2];
  const auto gone_addr = "tcp@" + to_string(gone.endpoint);
  gone.server.stop();  // its heartbeat stops with it, and its port refuses connections
  int reply = 0;
  // Until the registry drops it, calls that pick it fail over to the others.
  const auto listed = [&] {
    const auto alive = cluster.registry.registry.alive();
    return std::find(alive.begin(), alive.end(), gone_addr) != alive.end();
  };
  while (listed()) ASSERT_FALSE(xc.call(Context::with_timeout(wait_limit), "Foo.Sum", Args{1, 1}, &reply));
  // Then it is no longer chosen at all.
  const auto before = sum_calls(cluster.servers[0].server) + sum_calls(cluster.servers[1].server);
  for (int i = 0; i < 20; ++i) ASSERT_FALSE(xc.call(Context::with_timeout(wait_limit), "Foo.Sum", Args{1, 1}, &reply));
  EXPECT_EQ(sum_calls(cluster.servers[0].server) + sum_calls(cluster.servers[1].server), before + 20);
}

TEST(RegistryEndToEnd, TheDemoPrintsFiveCallsAndTheBroadcastsOutcomes) {
  Child demo(DAY_DEMO, {});
  const auto output = demo.read_all(60s);
  const auto lines = [&](const std::string& pattern) {
    const std::regex re(pattern);
    return std::distance(std::sregex_iterator(output.begin(), output.end(), re), std::sregex_iterator());
  };
  EXPECT_EQ(lines("call Foo.Sum success: \\d+ \\+ \\d+ = \\d+"), 5) << output;
  EXPECT_EQ(lines("broadcast Foo.Sum success"), 5) << output;
  EXPECT_EQ(lines("broadcast Foo.Sleep success"), 2) << output;
  EXPECT_EQ(lines("broadcast Foo.Sleep error: rpc client: call failed: deadline exceeded"), 3) << output;
  EXPECT_EQ(demo.terminate(), 0);
}

}  // namespace
}  // namespace geerpc::test
