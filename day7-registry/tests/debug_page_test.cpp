// Day 5's debug page: what it lists, how it escapes, its JSON form, and how a real browser sees
// it when the demo serves it.
#include <cstdlib>
#include <filesystem>
#include <regex>

#include "child.hpp"
#include "test_util.hpp"

namespace geerpc::test {
namespace {

struct DebugPageTest : ::testing::Test {
  DebugPageTest() { ts.server.handle_http(); }
  HttpMessage get(const std::string& target) {
    auto response = run(ts.pool.get_executor(),
                        http_round_trip(ts.endpoint, "GET " + target + " HTTP/1.1\r\nHost: test\r\n\r\n", 5s, 1 << 20));
    EXPECT_TRUE(response) << response.error();
    return response ? std::move(*response) : HttpMessage{};
  }
  std::uint64_t sum_calls() {
    const auto page = nlohmann::json::parse(get("/debug/geerpc?format=json").body);
    for (const auto& service : page.at("services"))
      for (const auto& method : service.at("methods"))
        if (service.at("name") == "Foo" && method.at("name") == "Sum") return method.at("calls").get<std::uint64_t>();
    ADD_FAILURE() << "no Foo.Sum on the page";
    return 0;
  }
  TestServer ts;
};

TEST_F(DebugPageTest, CallCountsGrowWithCalls) {
  const auto before = sum_calls();
  auto client = dial(ts.pool.get_executor(), "tcp", to_string(ts.endpoint));
  ASSERT_TRUE(client) << client.error();
  int reply = 0;
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(client->call("Foo.Sum", Args{i, i}, &reply));
  EXPECT_EQ(sum_calls(), before + 3);
}

TEST_F(DebugPageTest, TheHtmlPageListsEachServiceSortedWithItsSignatures) {
  const auto page = get("/debug/geerpc");
  EXPECT_EQ(page.status, 200);
  ASSERT_NE(page.header("Content-Type"), nullptr);
  EXPECT_EQ(*page.header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("<title>GeeRPC Services</title>"), std::string::npos);
  const auto echo = page.body.find("Echo(std::string, std::string*) -&gt; error");
  const auto sum = page.body.find("Sum(geerpc::test::Args, int*) -&gt; error");
  ASSERT_NE(echo, std::string::npos) << page.body;
  ASSERT_NE(sum, std::string::npos) << page.body;
  EXPECT_LT(echo, sum);  // sorted by method
}

TEST(DebugPage, EveryNameIsHtmlEscaped) {
  const std::vector<ServiceInfo> services = {
      {.name = "A<&>B", .methods = {{.name = "M", .signature = "M(std::map<int, A&B>, int*) -> error", .calls = 1}}}};
  const auto page = debug_html(services);
  EXPECT_NE(page.find("Service A&lt;&amp;&gt;B"), std::string::npos) << page;
  EXPECT_NE(page.find("M(std::map&lt;int, A&amp;B&gt;, int*) -&gt; error"), std::string::npos) << page;
  EXPECT_EQ(page.find("A<&>B"), std::string::npos);
}

TEST_F(DebugPageTest, TheJsonFormParses) {
  const auto page = get("/debug/geerpc?format=json");
  ASSERT_NE(page.header("Content-Type"), nullptr);
  EXPECT_EQ(*page.header("Content-Type"), "application/json");
  const auto json = nlohmann::json::parse(page.body);
  ASSERT_EQ(json.at("services").size(), 1u);
  const auto& foo = json.at("services").at(0);
  EXPECT_EQ(foo.at("name"), "Foo");
  ASSERT_EQ(foo.at("methods").size(), 2u);
  EXPECT_EQ(foo.at("methods").at(1).at("signature"), "Sum(geerpc::test::Args, int*) -> error");
  EXPECT_EQ(foo.at("methods").at(1).at("arg_type"), "geerpc::test::Args");
}

// Headless Chromium as the test environment runs it: as root it needs --no-sandbox, and with no
// network it must not try to reach Google's services.
std::vector<std::string> chromium_args(const std::string& profile) {
  return {"--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-quic",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
          "--user-data-dir=" + profile};
}

TEST(DebugPageInABrowser, ChromiumShowsTheServiceTableWithTheCallCounts) {
  Child demo(DAY_DEMO, {"--serve", "127.0.0.1:0"});
  const auto first = demo.read_line();  // "rpc server on tcp@ADDR and http@ADDR"
  const auto second = demo.read_line();  // "debug page: URL"
  std::smatch address, url;
  ASSERT_TRUE(std::regex_search(first, address, std::regex("tcp@(\\S+)"))) << first;
  ASSERT_TRUE(std::regex_search(second, url, std::regex("http://\\S+"))) << second;

  asio::thread_pool pool(1);
  auto client = x_dial(pool.get_executor(), "http@" + address[1].str());
  ASSERT_TRUE(client) << client.error();
  int reply = 0;
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(client->call("Foo.Sum", Args{i, 1}, &reply));

  const auto profile = std::filesystem::temp_directory_path() / ("geerpc_chromium_" + std::to_string(::getpid()));
  auto args = chromium_args(profile.string());
  args.insert(args.end(), {"--dump-dom", url.str()});
  Child chromium("/usr/bin/chromium", args);
  const auto dom = chromium.read_all(60s);
  EXPECT_NE(dom.find("<title>GeeRPC Services</title>"), std::string::npos) << dom;
  EXPECT_NE(dom.find("<h2>Service Foo</h2>"), std::string::npos) << dom;
  // The browser re-serialises the page: '>' inside text comes back as &gt;.
  EXPECT_TRUE(
      std::regex_search(dom, std::regex("Sum\\(Args, int\\*\\) -&gt; error</td>\\s*<td class=\"calls\">3</td>")))
      << dom;
  EXPECT_TRUE(
      std::regex_search(dom, std::regex("Sleep\\(Args, int\\*\\) -&gt; error</td>\\s*<td class=\"calls\">0</td>")))
      << dom;

  // scripts/debug-page-screenshot.sh sets this to refresh the picture in the notes.
  if (const char* screenshot = std::getenv("GEERPC_SCREENSHOT")) {
    auto shot = chromium_args(profile.string());
    shot.insert(shot.end(),
                {"--hide-scrollbars", "--window-size=480,250", std::string("--screenshot=") + screenshot, url.str()});
    Child painter("/usr/bin/chromium", shot);
    painter.read_all(60s);
    EXPECT_TRUE(std::filesystem::exists(screenshot));
  }
  std::filesystem::remove_all(profile);

  EXPECT_FALSE(client->close());
  EXPECT_EQ(demo.terminate(), 0);  // --serve stops gracefully on SIGTERM
}

}  // namespace
}  // namespace geerpc::test
