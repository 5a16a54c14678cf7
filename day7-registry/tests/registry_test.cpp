// Day 7's registry: what a POST registers, what a GET lists, expiry, and its HTTP answers.
#include <algorithm>
#include <atomic>

#include "registry_util.hpp"

namespace geerpc::test {
namespace {

TEST(Registry, APostedServerIsListedByAGet) {
  TestRegistry r;
  ASSERT_FALSE(r.post("tcp@127.0.0.1:7002"));
  ASSERT_FALSE(r.post("tcp@127.0.0.1:7001;weight=3"));
  auto response = r.request("GET");
  ASSERT_TRUE(response) << response.error();
  ASSERT_NE(response->header("X-Geerpc-Servers"), nullptr);
  EXPECT_EQ(*response->header("X-Geerpc-Servers"), "tcp@127.0.0.1:7001;weight=3,tcp@127.0.0.1:7002");
  auto json = r.request("GET", {}, "?format=json");
  ASSERT_TRUE(json) << json.error();
  EXPECT_EQ(json->header("X-Geerpc-Servers"), nullptr) << "the JSON answer leaves the long header out";
  EXPECT_EQ(nlohmann::json::parse(json->body).at("servers").size(), 2u);
}

TEST(Registry, APostRefreshesTheServerInsteadOfAddingItAgain) {
  TestRegistry r(200ms, "127.0.0.1:0", true);
  ASSERT_FALSE(r.post("tcp@127.0.0.1:7001"));
  r.offset = 150ms;
  ASSERT_FALSE(r.post("tcp@127.0.0.1:7001"));
  r.offset = 300ms;  // past the first beat's lease, within the second's
  EXPECT_EQ(r.registry.alive(), std::vector<std::string>{"tcp@127.0.0.1:7001"});
}

TEST(Registry, AServerNotHeardFromWithinTheTimeoutIsNoLongerListed) {
  TestRegistry r(200ms, "127.0.0.1:0", true);
  ASSERT_FALSE(r.post("tcp@127.0.0.1:7001"));
  EXPECT_EQ(r.registry.alive().size(), 1u);
  r.offset = std::chrono::milliseconds(199);
  EXPECT_EQ(r.registry.alive().size(), 1u);
  r.offset = std::chrono::milliseconds(200);
  EXPECT_TRUE(r.registry.alive().empty());
  auto listed = r.request("GET");
  ASSERT_TRUE(listed && listed->header("X-Geerpc-Servers")) << "no list";
  EXPECT_EQ(*listed->header("X-Geerpc-Servers"), "");
}

TEST(Registry, TheSweepDropsExpiredServersWithoutAnyoneAsking) {
  TestRegistry r(200ms, "127.0.0.1:0", true);
  ASSERT_FALSE(r.post("tcp@127.0.0.1:7001"));
  r.offset = std::chrono::seconds(1);
  EXPECT_TRUE(eventually([&] { return r.registry.size() == 0; })) << "no GET came, and the entry is still kept";
}

TEST(Registry, ATimeoutOfZeroNeverExpires) {
  TestRegistry r(0ms);
  ASSERT_FALSE(r.post("tcp@127.0.0.1:7001"));
  r.offset = std::chrono::hours(24 * 365);
  EXPECT_EQ(r.registry.alive().size(), 1u);
}

TEST(Registry, APostWithoutTheServerHeaderIs400) {
  TestRegistry r;
  auto response = r.request("POST");
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error(), errc::bad_http_status);
  EXPECT_NE(response.error().message().find("answered 400"), std::string::npos) << response.error();
}

TEST(Registry, AMalformedServerHeaderIs400) {
  TestRegistry r;
  for (const auto* bad : {"", "tcp@127.0.0.1:7001;weight=0", ";weight=2", "foo", "tcp@a,tcp@b", "tcp@a b"}) {
    auto response = r.request("POST", {{"X-Geerpc-Server", bad}});
    ASSERT_FALSE(response) << bad;
    EXPECT_NE(response.error().message().find("answered 400"), std::string::npos) << response.error();
  }
  EXPECT_TRUE(r.registry.alive().empty());
}

TEST(Registry, OtherMethodsAre405AndOtherPaths404) {
  TestRegistry r;
  EXPECT_NE(r.request("DELETE").error().message().find("answered 405"), std::string::npos);
  auto other = parse_http_url(r.url + "/elsewhere");
  auto response = run(r.pool.get_executor(), http_call(*other, "GET", {}, "", 5s));
  EXPECT_NE(response.error().message().find("answered 404"), std::string::npos) << response.error();
}

TEST(Registry, TenThousandServersAreAllListedSortedInTheHeaderAndInJson) {
  TestRegistry r;
  std::vector<std::string> servers;
  for (int i = 0; i < 10'000; ++i)
    servers.push_back("tcp@10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250) + ":7001");
  // Sixteen posting at once, as many servers would.
  std::atomic<std::size_t> next{0};
  {
    std::vector<std::jthread> posters;
    for (int t = 0; t < 16; ++t)
      posters.emplace_back([&] {
        for (std::size_t i; (i = next++) < servers.size();) EXPECT_FALSE(r.post(servers[i])) << servers[i];
      });
  }
  std::sort(servers.begin(), servers.end());
  auto response = r.request("GET");
  ASSERT_TRUE(response) << response.error();
  std::string joined;
  for (const auto& server : servers) joined.append(joined.empty() ? "" : ",").append(server);
  ASSERT_NE(response->header("X-Geerpc-Servers"), nullptr);
  EXPECT_TRUE(*response->header("X-Geerpc-Servers") == joined);  // not EXPECT_EQ: 200 KB apart
  auto json = r.request("GET", {}, "?format=json");
  ASSERT_TRUE(json) << json.error();
  EXPECT_EQ(nlohmann::json::parse(json->body).at("servers").get<std::vector<std::string>>(), servers);
}

TEST(Registry, CountsWhatItAnswers) {
  TestRegistry r;
  ASSERT_FALSE(r.post("tcp@127.0.0.1:7001"));
  ASSERT_TRUE(r.request("GET"));
  ASSERT_TRUE(r.request("GET"));
  EXPECT_EQ(r.registry.counts().heartbeats, 1u);
  EXPECT_EQ(r.registry.counts().lists, 2u);
}

}  // namespace
}  // namespace geerpc::test
