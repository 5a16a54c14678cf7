// etcd as the registry: each test starts an etcd of its own on loopback (LocalEtcd).
#include "geerpc/registry/etcd.hpp"

#include <regex>

#include "child.hpp"
#include "geerpc/registry/etcd_local.hpp"
#include "geerpc/xclient/etcd_discovery.hpp"
#include "registry_util.hpp"

namespace geerpc::test {
namespace {

struct EtcdTest : ::testing::Test {
  EtcdTest() {
    auto started = LocalEtcd::start();
    if (!started) throw std::runtime_error("etcd: " + started.error().message());
    etcd = std::move(*started);
  }
  EtcdConfig config(std::chrono::seconds ttl = std::chrono::seconds(2)) {
    return {.endpoints = {etcd->endpoint()}, .prefix = "/geerpc-test", .ttl = ttl, .request_timeout = 1s};
  }
  // Whether `discovery` lists `addr` now.
  static bool lists(Discovery& discovery, const std::string& addr) {
    auto all = discovery.get_all();
    return all && std::find(all->begin(), all->end(), addr) != all->end();
  }
  std::unique_ptr<LocalEtcd> etcd;
};

TEST_F(EtcdTest, DiscoverySeesARegisteredServerWithinASecond) {
  EtcdDiscovery discovery(config());
  ASSERT_FALSE(discovery.refresh());  // the first (empty) list is read
  auto registration = etcd_register(config(), "tcp@127.0.0.1:7001");
  ASSERT_TRUE(registration) << registration.error();
  EXPECT_TRUE(eventually([&] { return lists(discovery, "tcp@127.0.0.1:7001"); }, 1s)) << "no event within a second";
}

TEST_F(EtcdTest, ACleanStopRemovesTheEntryAtOnce) {
  EtcdDiscovery discovery(config(std::chrono::seconds(60)));
  {
    auto registration = etcd_register(config(std::chrono::seconds(60)), "tcp@127.0.0.1:7001");
    ASSERT_TRUE(registration) << registration.error();
    ASSERT_TRUE(eventually([&] { return lists(discovery, "tcp@127.0.0.1:7001"); }));
  }  // revoked here, long before its 60 s lease would lapse
  EXPECT_TRUE(eventually([&] { return !lists(discovery, "tcp@127.0.0.1:7001"); }, 1s));
}

TEST_F(EtcdTest, AKilledServerIsGoneWithinItsTtlAndXClientStopsChoosingIt) {
  TestServer good;
  auto registration = etcd_register(config(), "tcp@" + to_string(good.endpoint));
  ASSERT_TRUE(registration) << registration.error();
  Child doomed(FAULT_PEER, {"etcd-server", etcd->endpoint(), "/geerpc-test"});  // a 2 s lease
  const auto line = doomed.read_line();
  ASSERT_TRUE(line.starts_with("REGISTERED ")) << line;
  const auto doomed_addr = line.substr(11);
  auto discovery = std::make_shared<EtcdDiscovery>(config());
  ASSERT_TRUE(eventually([&] { return lists(*discovery, doomed_addr); }));
  asio::thread_pool pool(2);
  XClient xc(pool.get_executor(), discovery, SelectMode::round_robin);
  doomed.kill_now();  // SIGKILL: no revoke, only the lease's end
  const auto killed = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] {
    int reply = 0;
    EXPECT_FALSE(xc.call(Context::with_timeout(wait_limit), "Foo.Sum", Args{1, 2}, &reply));  // failover meanwhile
    return !lists(*discovery, doomed_addr);
  }));
  EXPECT_LT(std::chrono::steady_clock::now() - killed, 3s + 500ms) << "gone later than its 2 s TTL and a second";
  const auto before = sum_calls(good.server);
  int reply = 0;
  for (int i = 0; i < 10; ++i) ASSERT_FALSE(xc.call({}, "Foo.Sum", Args{1, 2}, &reply));
  EXPECT_EQ(sum_calls(good.server), before + 10);
}

TEST_F(EtcdTest, WhenEtcdRestartsCallsGoOnAndTheWatchComesBack) {
  TestServer ts;
  const auto addr = "tcp@" + to_string(ts.endpoint);
  auto registration = etcd_register(config(), addr);
  ASSERT_TRUE(registration) << registration.error();
  auto discovery = std::make_shared<EtcdDiscovery>(config());
  ASSERT_TRUE(eventually([&] { return lists(*discovery, addr); }));
  asio::thread_pool pool(2);
  XClient xc(pool.get_executor(), discovery, SelectMode::random);
  int reply = 0;
  // Counted before the stop: a watch only starts after a read that succeeds, so nothing counts
  // while etcd is down, and the watch may well be back by the time restart() returns.
  const auto watches = discovery->watches();
  etcd->stop();  // down: the list at hand serves
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(xc.call({}, "Foo.Sum", Args{i, 1}, &reply));
  ASSERT_FALSE(etcd->restart());  // the same data dir, the same ports
  EXPECT_TRUE(eventually([&] { return discovery->watches() > watches; })) << "the watch did not come back";
  EXPECT_TRUE(eventually([&] { return lists(*discovery, addr); }));
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(xc.call({}, "Foo.Sum", Args{i, 1}, &reply));
}

TEST_F(EtcdTest, ALeaseThatLapsedWhileEtcdWasPausedIsRenewed) {
  auto registration = etcd_register(config(), "tcp@127.0.0.1:7001");
  ASSERT_TRUE(registration) << registration.error();
  etcd->pause();
  std::this_thread::sleep_for(4s);  // twice the TTL: the pause is the test's subject
  etcd->resume();
  EXPECT_TRUE(eventually([&] { return registration->leases() >= 2; })) << "the lapsed lease was not replaced";
  EtcdDiscovery discovery(config());
  EXPECT_TRUE(eventually([&] { return lists(discovery, "tcp@127.0.0.1:7001"); }));
}

TEST_F(EtcdTest, WithTheFirstEndpointDownBothSidesUseTheSecond) {
  auto both = config();
  both.endpoints = {"http://127.0.0.1:1", etcd->endpoint()};
  auto registration = etcd_register(both, "tcp@127.0.0.1:7001");
  ASSERT_TRUE(registration) << registration.error();
  EtcdDiscovery discovery(both);
  EXPECT_TRUE(eventually([&] { return lists(discovery, "tcp@127.0.0.1:7001"); }));
}

TEST_F(EtcdTest, TheDemoRunsAgainstAnEtcdItStartsItself) {
  Child demo(DAY_DEMO, {"--etcd"});
  const auto output = demo.read_all(60s);
  const auto count = [&](const std::string& pattern) {
    const std::regex re(pattern);
    return std::distance(std::sregex_iterator(output.begin(), output.end(), re), std::sregex_iterator());
  };
  EXPECT_EQ(count("call Foo.Sum success"), 5) << output;
  EXPECT_EQ(count("broadcast Foo.Sleep success"), 2) << output;
  EXPECT_EQ(count("broadcast Foo.Sleep error"), 3) << output;
  EXPECT_EQ(demo.terminate(), 0);
}

// An HTTP server that answers every request with `answer`: a gateway that is not etcd.
class CannedAnswers {
 public:
  explicit CannedAnswers(std::string answer) : answer_(std::move(answer)) {
    auto listener = listen(pool_.get_executor(), "tcp", "127.0.0.1:0");
    endpoint = "http://" + to_string(listener->local_endpoint());
    acceptor_ = std::make_shared<Acceptor>(std::move(*listener));
    asio::co_spawn(pool_, serve(), asio::detached);
  }
  ~CannedAnswers() {
    asio::post(pool_, [a = acceptor_] { a->close(); });
    pool_.join();
  }
  std::string endpoint;

 private:
  asio::awaitable<void> serve() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_->async_accept(use_nothrow);
      if (ec) co_return;
      std::string request(4096, '\0');  // not an array in the frame: GCC 12 misreports large frames
      co_await socket.async_read_some(asio::buffer(request), use_nothrow);  // one segment is enough here
      co_await asio::async_write(socket, asio::buffer(answer_), use_nothrow);
    }
  }
  asio::thread_pool pool_{1};  // one thread: the accept and the close never run at once
  std::string answer_;
  std::shared_ptr<Acceptor> acceptor_;
};

TEST(EtcdGateway, AnswersThatAreNotEtcdsAreCleanErrors) {
  const auto ok = [](const std::string& body) {
    return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  };
  const std::vector<std::string> answers = {
      ok("not json!"),  // not JSON
      ok("{}"),  // no fields at all
      ok(R"({"ID":"x","header":[1],"result":{"TTL":"y"}})"),  // fields of the wrong kind
      "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
  };
  asio::thread_pool pool(1);
  for (const auto& answer : answers) {
    CannedAnswers server(answer);
    EtcdGateway gateway({server.endpoint}, 1s);
    auto lease = run(pool.get_executor(), gateway.grant(std::chrono::seconds(5)));
    EXPECT_EQ(lease.error(), errc::etcd_error) << answer;
    auto range = run(pool.get_executor(), gateway.range("/p"));
    EXPECT_EQ(range.error(), errc::etcd_error) << answer;
    EXPECT_EQ(run(pool.get_executor(), gateway.keep_alive(1)), errc::etcd_error) << answer;
    EXPECT_TRUE(range.error().message().starts_with("rpc etcd: ")) << range.error();
  }
}

}  // namespace
}  // namespace geerpc::test
