// Day 7's heartbeat: the first beat's error, beats that keep a server listed, beats that survive a
// registry outage, and beats that end with their server or their handle.
#include "registry_util.hpp"

namespace geerpc::test {
namespace {

TEST(Heartbeat, KeepsItsServerListedAcrossSeveralTimeouts) {
  TestRegistry r(1s);
  asio::thread_pool pool(1);
  auto beat = heartbeat(pool.get_executor(), r.url, "tcp@127.0.0.1:7001", {.period = 100ms});
  ASSERT_TRUE(beat) << beat.error();
  bool always_listed = true;
  // 35 beats take three and a half seconds: more than three of the registry's timeouts.
  EXPECT_TRUE(eventually([&] {
    always_listed = always_listed && r.registry.alive().size() == 1;
    return beat->beats() >= 35;
  }));
  EXPECT_TRUE(always_listed);
}

TEST(Heartbeat, TheFirstBeatsErrorIsReturned) {
  asio::thread_pool pool(1);
  auto nowhere = heartbeat(pool.get_executor(), "http://127.0.0.1:1/_geerpc_/registry", "tcp@127.0.0.1:7001");
  ASSERT_FALSE(nowhere);
  EXPECT_EQ(nowhere.error(), asio::error::connection_refused);
  TestRegistry r;
  auto wrong_path = heartbeat(pool.get_executor(), r.url + "/wrong", "tcp@127.0.0.1:7001");
  ASSERT_FALSE(wrong_path);
  EXPECT_EQ(wrong_path.error(), errc::bad_http_status);  // a 404 is not a success (Go counts a 500 as one)
  EXPECT_EQ(heartbeat(pool.get_executor(), "ftp://x", "tcp@127.0.0.1:7001").error(), errc::bad_address);
}

TEST(Heartbeat, AnAddressOfEveryInterfaceIsRefused) {
  TestRegistry r;
  asio::thread_pool pool(1);
  for (const auto* every : {"tcp@0.0.0.0:7001", "tcp@[::]:7001", "tcp@:7001", "tcp@[::0]:7001", "tcp@127.0.0.1:0"}) {
    auto beat = heartbeat(pool.get_executor(), r.url, every);
    ASSERT_FALSE(beat) << every;
    EXPECT_NE(beat.error().message().find("clients cannot dial"), std::string::npos) << beat.error();
  }
  EXPECT_EQ(r.registry.counts().heartbeats, 0u);
}

TEST(Heartbeat, BeatsResumeWhenTheRegistryComesBackAndItLogsOncePerOutage) {
  LogCapture log;
  auto r = std::make_unique<TestRegistry>(std::chrono::minutes(5));
  const auto url = r->url;
  const auto address = to_string(r->endpoint);
  asio::thread_pool pool(1);
  auto beat = heartbeat(pool.get_executor(), url, "tcp@127.0.0.1:7001", {.period = 100ms, .request_timeout = 1s});
  ASSERT_TRUE(beat) << beat.error();
  r.reset();  // the registry is gone, and with it every entry
  ASSERT_TRUE(eventually([&] { return log.count("failed, trying again") == 1; }));
  std::this_thread::sleep_for(300ms);  // the outage lasts three periods: the time is the test's subject
  r = std::make_unique<TestRegistry>(std::chrono::minutes(5), address);
  EXPECT_TRUE(eventually([&] { return r->registry.alive() == std::vector<std::string>{"tcp@127.0.0.1:7001"}; }));
  EXPECT_TRUE(eventually([&] { return log.count("works again") == 1; }));
  EXPECT_EQ(log.count("failed, trying again"), 1u) << "one line per outage, not one per failed beat";
}

TEST(Heartbeat, StoppingTheServerStopsItsBeats) {
  TestRegistry r;
  TestServer ts;
  auto beat = heartbeat(ts.server, ts.pool.get_executor(), r.url, "tcp@" + to_string(ts.endpoint), {.period = 20ms});
  ASSERT_TRUE(beat) << beat.error();
  ASSERT_TRUE(eventually([&] { return r.registry.counts().heartbeats >= 3; }));
  ts.server.stop();
  const auto after_stop = r.registry.counts().heartbeats;
  std::this_thread::sleep_for(200ms);  // ten periods: long enough for beats that should not come
  EXPECT_LE(r.registry.counts().heartbeats, after_stop + 1) << "at most the beat already under way";
}

TEST(Heartbeat, DestroyingTheHandleStopsTheBeats) {
  TestRegistry r;
  asio::thread_pool pool(1);
  {
    auto beat = heartbeat(pool.get_executor(), r.url, "tcp@127.0.0.1:7001", {.period = 20ms});
    ASSERT_TRUE(beat) << beat.error();
    ASSERT_TRUE(eventually([&] { return r.registry.counts().heartbeats >= 3; }));
  }
  const auto after = r.registry.counts().heartbeats;
  std::this_thread::sleep_for(200ms);  // ten periods
  EXPECT_LE(r.registry.counts().heartbeats, after + 1) << "at most the beat already under way";
}

}  // namespace
}  // namespace geerpc::test
