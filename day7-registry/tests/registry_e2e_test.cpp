// Day 7 end to end: a registry, servers that heartbeat, an XClient that finds them through it.
#include <regex>

#include "child.hpp"
#include "registry_util.hpp"

namespace geerpc::test {
namespace {

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

TEST(RegistryEndToEnd, AKilledServerExpiresAndCallsMeanwhileSucceedThroughFailover) {
  Cluster cluster(500ms, 100ms);
  asio::thread_pool pool(2);
  auto discovery = std::make_shared<RegistryDiscovery>(cluster.registry.url, 50ms);
  XClient xc(pool.get_executor(), discovery, SelectMode::round_robin);
  const auto gone_addr = "tcp@" + to_string(cluster.servers[2].endpoint);
  int calls = 0, reply = 0;
  ASSERT_FALSE(xc.call({}, "Foo.Sum", Args{1, 1}, &reply));  // discovery has the list of three
  cluster.servers[2].server.stop();  // its heartbeat stops with it, and its port refuses connections
  const auto listed = [&] {
    const auto all = discovery->MultiServersDiscovery::get_all();
    return std::find(all->begin(), all->end(), gone_addr) != all->end();
  };
  // Until the registry drops it and discovery sees that, calls that pick it fail over.
  for (; listed(); ++calls) ASSERT_FALSE(xc.call(Context::with_timeout(wait_limit), "Foo.Sum", Args{1, 1}, &reply));
  EXPECT_GT(calls, 0);
}

TEST(RegistryEndToEnd, AServerWhoseBeatsStopIsNoLongerChosenOnceItExpires) {
  Cluster cluster(500ms, 100ms);
  asio::thread_pool pool(2);
  auto discovery = std::make_shared<RegistryDiscovery>(cluster.registry.url, 50ms);
  XClient xc(pool.get_executor(), discovery, SelectMode::round_robin);
  const auto quiet_addr = "tcp@" + to_string(cluster.servers[2].endpoint);
  cluster.beats[2].stop();  // the server still serves; the registry just stops hearing from it
  int reply = 0;
  ASSERT_TRUE(eventually([&] {
    EXPECT_FALSE(xc.call(Context::with_timeout(wait_limit), "Foo.Sum", Args{1, 1}, &reply));
    const auto all = discovery->MultiServersDiscovery::get_all();
    return std::find(all->begin(), all->end(), quiet_addr) == all->end();
  }));
  const auto before = sum_calls(cluster.servers[2].server);
  for (int i = 0; i < 20; ++i) ASSERT_FALSE(xc.call(Context::with_timeout(wait_limit), "Foo.Sum", Args{1, 1}, &reply));
  EXPECT_EQ(sum_calls(cluster.servers[2].server), before) << "an expired server was still chosen";
}

TEST(RegistryEndToEnd, TheDemoPrintsFiveCallsAndTheBroadcastsOutcomesWithinTenSeconds) {
  const auto start = std::chrono::steady_clock::now();
  Child demo(DAY_DEMO, {});
  const auto output = demo.read_all(60s);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
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
