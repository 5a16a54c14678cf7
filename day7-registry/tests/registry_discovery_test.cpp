// Day 7's RegistryDiscovery: refresh throttled and shared, never stuck behind a silent registry,
// the last good list kept when the registry fails.
#include <future>
#include <latch>

#include "geerpc/detail/server_list.hpp"
#include "registry_util.hpp"

namespace geerpc::test {
namespace {

TEST(RegistryDiscovery, AJsonListMustBeAListOfAddresses) {
  HttpMessage response;
  response.status = 200;
  for (const std::string body :
       {R"({"servers":"tcp@127.0.0.1:7001"})", R"({"servers":{"a":"tcp@127.0.0.1:7001"}})",
        R"({"servers":["tcp@127.0.0.1:7001",7]})", R"({"servers":[""]})", R"(["servers"])", "{oops"}) {
    response.body = body;
    auto list = detail::read_server_list(response);
    ASSERT_FALSE(list) << body << " was taken for a list";
    EXPECT_EQ(list.error(), errc::bad_http);
    EXPECT_EQ(list.error().message(), R"(the registry's list is not {"servers": [...]})");
  }
  response.body = R"({"servers":["tcp@127.0.0.1:7001","unix@/tmp/a;weight=2"]})";
  auto list = detail::read_server_list(response);
  ASSERT_TRUE(list) << list.error();
  EXPECT_EQ(*list, (std::vector<std::string>{"tcp@127.0.0.1:7001", "unix@/tmp/a;weight=2"}));
}

TEST(RegistryDiscovery, ListsWhatTheRegistryLists) {
  TestRegistry r;
  ASSERT_FALSE(r.post("tcp@127.0.0.1:7001"));
  ASSERT_FALSE(r.post("tcp@127.0.0.1:7002;weight=2"));
  RegistryDiscovery d(r.url);
  auto all = d.get_all();
  ASSERT_TRUE(all) << all.error();
  EXPECT_EQ(*all, (std::vector<std::string>{"tcp@127.0.0.1:7001", "tcp@127.0.0.1:7002;weight=2"}));
}

TEST(RegistryDiscovery, AThousandConcurrentGetsMakeOneRequestPerUpdateTimeout) {
  TestRegistry r;
  ASSERT_FALSE(r.post("tcp@127.0.0.1:7001"));
  RegistryDiscovery d(r.url, std::chrono::minutes(1));
  std::latch start(1);
  std::atomic<int> failed{0};
  {
    std::vector<std::jthread> callers;
    for (int t = 0; t < 20; ++t)
      callers.emplace_back([&] {
        start.wait();
        for (int i = 0; i < 50; ++i) failed += !d.get(SelectMode::round_robin);
      });
    start.count_down();
  }
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(r.registry.counts().lists, 1u);
}

TEST(RegistryDiscovery, OffersServersAtHandOnlyWhileItsListIsFresh) {
  TestRegistry r;
  ASSERT_FALSE(r.post("tcp@127.0.0.1:7001"));
  RegistryDiscovery fresh(r.url, std::chrono::minutes(1));
  EXPECT_FALSE(fresh.try_get(SelectMode::random, {})) << "no list was fetched yet";
  EXPECT_FALSE(fresh.try_get_all()) << "no list was fetched yet";
  ASSERT_FALSE(fresh.refresh());
  EXPECT_EQ(fresh.try_get(SelectMode::random, {}), "tcp@127.0.0.1:7001");
  EXPECT_EQ(fresh.try_get_all(), std::vector<std::string>{"tcp@127.0.0.1:7001"});
  RegistryDiscovery stale(r.url, std::chrono::milliseconds(0));  // every list is too old at once
  ASSERT_FALSE(stale.refresh());
  EXPECT_FALSE(stale.try_get(SelectMode::random, {})) << "a list past its update timeout must be fetched again";
  EXPECT_FALSE(stale.try_get_all()) << "a list past its update timeout must be fetched again";
  EXPECT_EQ(r.registry.counts().lists, 2u) << "try_get and try_get_all never ask the registry";
}

TEST(RegistryDiscovery, ASilentRegistryHoldsNoGetAndARefreshOnlyUntilItsTimeout) {
  // It accepts connections and never answers.
  asio::io_context io;
  auto silent = listen(io.get_executor(), "tcp", "127.0.0.1:0");
  RegistryDiscovery d("http://" + to_string(silent->local_endpoint()) + "/_geerpc_/registry", 0ms, 1s);
  ASSERT_FALSE(d.update({"tcp@127.0.0.1:7001"}));  // a list at hand, stale at once
  const auto start = std::chrono::steady_clock::now();
  auto refreshing = std::async(std::launch::async, [&] { return d.refresh(); });
  Socket request(io);
  silent->async_accept(request, [](std::error_code) {});
  io.run_for(wait_limit);  // returns once the GET has reached the registry, where it waits
  ASSERT_TRUE(request.is_open()) << "the refresh never asked the registry";
  for (int i = 0; i < 100; ++i) {
    auto got = d.get(SelectMode::random);  // meanwhile every get goes on with the list at hand
    ASSERT_TRUE(got) << got.error();
    EXPECT_EQ(*got, "tcp@127.0.0.1:7001");
  }
  EXPECT_EQ(refreshing.wait_for(0s), std::future_status::timeout) << "the refresh should still wait";
  ASSERT_EQ(refreshing.wait_for(wait_limit), std::future_status::ready);
  EXPECT_EQ(refreshing.get(), errc::http_timeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s) << "held beyond its 1 s request timeout";
  EXPECT_EQ(*d.get(SelectMode::random), "tcp@127.0.0.1:7001");  // the list at hand still serves
}

TEST(RegistryDiscovery, AFailedRefreshKeepsTheLastGoodList) {
  auto r = std::make_unique<TestRegistry>();
  ASSERT_FALSE(r->post("tcp@127.0.0.1:7001"));
  RegistryDiscovery d(r->url, 0ms);
  ASSERT_EQ(*d.get(SelectMode::random), "tcp@127.0.0.1:7001");
  r.reset();  // the registry is gone
  EXPECT_EQ(d.refresh(), asio::error::connection_refused);
  auto got = d.get(SelectMode::random);
  ASSERT_TRUE(got) << got.error();
  EXPECT_EQ(*got, "tcp@127.0.0.1:7001");
}

TEST(RegistryDiscovery, WithNothingToOfferItSaysWhy) {
  RegistryDiscovery d("http://127.0.0.1:1/_geerpc_/registry");
  auto got = d.get(SelectMode::random);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error(), asio::error::connection_refused);
  EXPECT_TRUE(got.error().message().starts_with("rpc registry discovery: ")) << got.error();
  EXPECT_EQ(RegistryDiscovery("not a url").get(SelectMode::random).error(), errc::bad_address);
}

}  // namespace
}  // namespace geerpc::test
