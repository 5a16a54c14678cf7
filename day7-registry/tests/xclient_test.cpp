// Day 6's XClient end to end: calls spread as the mode says, dials never block other calls,
// failover before a request leaves and never after, broadcast, and clients of departed servers.
#include "geerpc/xclient/xclient.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <future>
#include <latch>
#include <thread>

#include "child.hpp"
#include "geerpc/detail/executor.hpp"
#include "test_util.hpp"

namespace geerpc::test {
namespace {

// How often `method` of Foo ran on `server`, from its debug snapshot.
std::uint64_t calls_to(const Server& server, const std::string& method = "Sum") {
  for (const auto& service : server.services())
    for (const auto& m : service.methods)
      if (service.name == "Foo" && m.name == method) return m.calls;
  return 0;
}

// A key that consistent hashing sends to `target` among `servers`.
std::string key_for(const std::vector<std::string>& servers, const std::string& target) {
  MultiServersDiscovery d(servers);
  for (int i = 0;; ++i) {
    const auto key = "key-" + std::to_string(i);
    if (*d.get(SelectMode::consistent_hash, key) == target) return key;
  }
}

std::string tcp(const TestServer& ts) {
  return "tcp@" + to_string(ts.endpoint);
}

// An address where nothing listens: connections are refused.
std::string refused_address() {
  asio::io_context io;
  auto listener = listen(io.get_executor(), "tcp", "127.0.0.1:0");
  return "tcp@" + to_string(listener->local_endpoint());  // closed again on return
}

TEST(XClientSpread, RoundRobinReachesTcpUnixAndHttpServersInTurn) {
  TestServer a, b, c;
  const auto path = ::testing::TempDir() + "geerpc_xclient_" + std::to_string(::getpid()) + ".sock";
  auto unix_listener = listen(b.pool.get_executor(), "unix", path);
  ASSERT_TRUE(unix_listener) << unix_listener.error();
  b.server.accept(std::move(*unix_listener));
  c.server.handle_http();
  auto discovery = std::make_shared<MultiServersDiscovery>(
      std::vector<std::string>{tcp(a), "unix@" + path, "http@" + to_string(c.endpoint)});
  asio::thread_pool pool(2);
  XClient xc(pool.get_executor(), discovery, SelectMode::round_robin);
  for (int i = 0; i < 30; ++i) {
    int reply = 0;
    ASSERT_FALSE(xc.call({}, "Foo.Sum", Args{i, 1}, &reply));
    EXPECT_EQ(reply, i + 1);
  }
  EXPECT_EQ(calls_to(a.server), 10u);
  EXPECT_EQ(calls_to(b.server), 10u);
  EXPECT_EQ(calls_to(c.server), 10u);
}

TEST(XClientSpread, WeightedRoundRobinFollowsTheWeights) {
  TestServer a, b;
  auto discovery = std::make_shared<MultiServersDiscovery>(std::vector<std::string>{tcp(a) + ";weight=3", tcp(b)});
  asio::thread_pool pool(2);
  XClient xc(pool.get_executor(), discovery, SelectMode::weighted_round_robin);
  int reply = 0;
  for (int i = 0; i < 40; ++i) ASSERT_FALSE(xc.call({}, "Foo.Sum", Args{1, 1}, &reply));
  EXPECT_EQ(calls_to(a.server), 30u);
  EXPECT_EQ(calls_to(b.server), 10u);
}

TEST(XClientSpread, ConsistentHashSendsAKeyToOneServer) {
  TestServer a, b;
  const std::vector<std::string> servers = {tcp(a), tcp(b)};
  asio::thread_pool pool(2);
  XClient xc(pool.get_executor(), std::make_shared<MultiServersDiscovery>(servers), SelectMode::consistent_hash);
  int reply = 0;
  for (int i = 0; i < 20; ++i)
    ASSERT_FALSE(xc.call(CallContext({}, key_for(servers, tcp(b))), "Foo.Sum", Args{1, 1}, &reply));
  EXPECT_EQ(calls_to(a.server), 0u);
  EXPECT_EQ(calls_to(b.server), 20u);
}

TEST(XClientDial, AServerThatHangsInItsHandshakeDoesNotDelayCallsToTheOthers) {
  TestServer good;
  asio::thread_pool pool(2);
  // It accepts connections, and then nobody answers the Option.
  asio::io_context io;
  auto silent = listen(io.get_executor(), "tcp", "127.0.0.1:0");
  const std::string hanging = "tcp@" + to_string(silent->local_endpoint());
  const std::vector<std::string> servers = {hanging, tcp(good)};
  XClient xc(pool.get_executor(), std::make_shared<MultiServersDiscovery>(servers), SelectMode::consistent_hash,
             {.connect_timeout = 2s});
  int slow_reply = 0, fast_reply = 0;
  auto slow = std::async(std::launch::async, [&] {
    return xc.call(CallContext({}, key_for(servers, hanging)), "Foo.Sum", Args{1, 2}, &slow_reply);
  });
  Socket stuck(io);
  silent->accept(stuck);  // the first call's dial has reached the silent server, and waits there
  // Another call, to the good server, while the first is stuck in its dial.
  EXPECT_FALSE(xc.call(CallContext({}, key_for(servers, tcp(good))), "Foo.Sum", Args{3, 4}, &fast_reply));
  EXPECT_EQ(fast_reply, 7);
  EXPECT_EQ(slow.wait_for(0s), std::future_status::timeout) << "the first call should still be dialing";
  EXPECT_FALSE(slow.get());  // after its connect timeout it fails over to the good server
  EXPECT_EQ(slow_reply, 3);
}

TEST(XClientDial, ConcurrentFirstCallsToANewServerDialItOnce) {
  TestServer ts;
  // The server is reached through a listener that counts what it accepts.
  auto listener = listen(ts.pool.get_executor(), "tcp", "127.0.0.1:0");
  const std::string addr = "tcp@" + to_string(listener->local_endpoint());
  std::atomic<int> accepted{0};
  std::jthread acceptor([&] {
    std::error_code ec;
    for (;;) {
      Socket socket(make_conn_strand(ts.pool.get_executor()));
      listener->accept(socket, ec);
      if (ec) return;
      ++accepted;
      ts.server.serve_conn(std::move(socket));
    }
  });
  asio::thread_pool pool(2);
  XClient xc(pool.get_executor(), std::make_shared<MultiServersDiscovery>(std::vector<std::string>{addr}),
             SelectMode::random);
  std::latch start(16);
  std::vector<std::jthread> callers;
  for (int i = 0; i < 16; ++i)
    callers.emplace_back([&] {
      start.arrive_and_wait();
      int reply = 0;
      EXPECT_FALSE(xc.call({}, "Foo.Sum", Args{1, 1}, &reply));
    });
  callers.clear();
  EXPECT_EQ(accepted, 1);
  ::shutdown(listener->native_handle(), SHUT_RDWR);  // ends the acceptor's blocking accept
}

TEST(XClientFailover, EveryCallSucceedsWhenOneOfThreeServersRefusesConnections) {
  TestServer a, b;
  asio::thread_pool pool(2);
  XClient xc(pool.get_executor(),
             std::make_shared<MultiServersDiscovery>(std::vector<std::string>{refused_address(), tcp(a), tcp(b)}),
             SelectMode::round_robin);
  for (int i = 0; i < 30; ++i) {
    int reply = 0;
    EXPECT_FALSE(xc.call({}, "Foo.Sum", Args{i, i}, &reply)) << "call " << i;
  }
  EXPECT_EQ(calls_to(a.server) + calls_to(b.server), 30u);
}

TEST(XClientFailover, ACallWhoseServerDiesMidCallFailsAndIsNotSentAgain) {
  TestServer good;
  Child peer(FAULT_PEER, {"silent-server"});  // reads requests, never answers
  const auto line = peer.read_line();
  ASSERT_TRUE(line.starts_with("LISTENING ")) << line;
  const std::string doomed = "tcp@" + line.substr(10);
  const std::vector<std::string> servers = {doomed, tcp(good)};
  asio::thread_pool pool(2);
  XClient xc(pool.get_executor(), std::make_shared<MultiServersDiscovery>(servers), SelectMode::consistent_hash);
  const CallContext to_doomed({}, key_for(servers, doomed));
  int reply = 0;
  auto call = std::async(std::launch::async, [&] {
    return xc.call(CallContext(Context::with_timeout(wait_limit), to_doomed.key), "Foo.Sum", Args{1, 2}, &reply);
  });
  ASSERT_TRUE(peer.read_line().starts_with("GOT")) << "the request never reached the server";
  peer.kill_now();
  const auto error = call.get();
  EXPECT_EQ(error, errc::shutdown) << error;
  EXPECT_EQ(calls_to(good.server), 0u) << "a request that was sent must not be sent again";
  // Later calls for the same key find the server gone before sending, and go to the other one.
  EXPECT_FALSE(xc.call(to_doomed, "Foo.Sum", Args{1, 2}, &reply));
  EXPECT_EQ(calls_to(good.server), 1u);
}

// Fails at once on one server, sleeps on the other. A test releases the sleepers when it ends, so
// that its servers stop without waiting out the sleep.
struct Flaky {
  bool fail = false;
  std::atomic<bool> released{false};
  asio::awaitable<Error> Call(int seconds, int* reply) {
    if (fail) co_return Error("boom");
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (int tenths = 0; tenths < seconds * 10 && !released; ++tenths) {
      timer.expires_after(100ms);
      co_await timer.async_wait(use_nothrow);
    }
    *reply = seconds;
    co_return Error{};
  }
};
GEERPC_SERVICE(Flaky, Call)

TEST(XClientBroadcast, WhenAllSucceedTheReplyIsSet) {
  TestServer a, b, c;
  asio::thread_pool pool(2);
  XClient xc(pool.get_executor(),
             std::make_shared<MultiServersDiscovery>(std::vector<std::string>{tcp(a), tcp(b), tcp(c)}),
             SelectMode::random);
  int reply = 0;
  EXPECT_FALSE(xc.broadcast({}, "Foo.Sum", Args{20, 22}, &reply));
  EXPECT_EQ(reply, 42);
  EXPECT_EQ(calls_to(a.server) + calls_to(b.server) + calls_to(c.server), 3u);
}

TEST(XClientBroadcast, TheFirstErrorReturnsAtOnceAndCancelsTheSleepingCallOnBothPaths) {
  Flaky fails{.fail = true}, sleeps;  // before the servers: they outlive them
  TestServer failing, sleeping;
  ASSERT_FALSE(failing.server.register_service(fails));
  ASSERT_FALSE(sleeping.server.register_service(sleeps));
  asio::thread_pool pool(2);
  XClient xc(pool.get_executor(),
             std::make_shared<MultiServersDiscovery>(std::vector<std::string>{tcp(failing), tcp(sleeping)}),
             SelectMode::random);
  // The first broadcast dials both servers (the full path). Once a broadcast has succeeded, both
  // clients are up, and the next one takes the fast path.
  for (const char* path : {"full", "fast"}) {
    int reply = 0;
    const auto start = std::chrono::steady_clock::now();
    const auto error = xc.broadcast({}, "Flaky.Call", 10, &reply);
    // Broadcast waits for every run to end; it is back long before the 10 s sleep could end only
    // because the sleeping run was cancelled.
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s) << path;
    EXPECT_EQ(error, errc::server_error) << path;
    EXPECT_EQ(error.message(), "boom") << path;
    ASSERT_FALSE(xc.broadcast({}, "Foo.Sum", Args{1, 1}, &reply)) << path;
  }
  sleeps.released = true;
}

TEST(XClientBroadcast, ADeadlineEndsItWithATimeout) {
  Flaky sa, sb;  // before the servers: they outlive them
  TestServer a, b;
  ASSERT_FALSE(a.server.register_service(sa));
  ASSERT_FALSE(b.server.register_service(sb));
  asio::thread_pool pool(2);
  XClient xc(pool.get_executor(), std::make_shared<MultiServersDiscovery>(std::vector<std::string>{tcp(a), tcp(b)}),
             SelectMode::random);
  int reply = 0;
  const auto error = xc.broadcast(Context::with_timeout(200ms), "Flaky.Call", 10, &reply);
  EXPECT_EQ(error, errc::call_timeout) << error;
  sa.released = sb.released = true;
}

TEST(XClientClients, TheClientOfAServerThatLeavesTheListIsClosed) {
  TestServer a, b, c;
  auto discovery = std::make_shared<MultiServersDiscovery>(std::vector<std::string>{tcp(a), tcp(b), tcp(c)});
  asio::thread_pool pool(2);
  XClient xc(pool.get_executor(), discovery, SelectMode::round_robin);
  int reply = 0;
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(xc.call({}, "Foo.Sum", Args{1, 1}, &reply));
  EXPECT_EQ(xc.open_clients(), 3u);
  ASSERT_FALSE(discovery->update({tcp(a), tcp(b)}));
  ASSERT_FALSE(xc.call({}, "Foo.Sum", Args{1, 1}, &reply));
  EXPECT_EQ(xc.open_clients(), 2u);
  EXPECT_TRUE(eventually([&] { return c.server.connection_count() == 0; })) << "c's connection is still open";
}

TEST(XClientClients, CallsAfterCloseFailAtOnce) {
  TestServer a;
  asio::thread_pool pool(2);
  XClient xc(pool.get_executor(), std::make_shared<MultiServersDiscovery>(std::vector<std::string>{tcp(a)}),
             SelectMode::random);
  int reply = 0;
  ASSERT_FALSE(xc.call({}, "Foo.Sum", Args{1, 1}, &reply));
  EXPECT_FALSE(xc.close());
  EXPECT_EQ(xc.open_clients(), 0u);
  EXPECT_EQ(xc.call({}, "Foo.Sum", Args{1, 1}, &reply), errc::shutdown);
}

// A call with no deadline or stop to a server whose client is up goes straight to that client
// (the fast path); these check that it still behaves as every XClient call does. WarmXClient's
// first call dials, so the calls of a test take the fast path.
struct WarmXClient {
  WarmXClient() { EXPECT_FALSE(xc.call({}, "Foo.Sum", Args{1, 1}, &sum)); }
  TestServer a;
  asio::thread_pool pool{2};
  XClient xc{pool.get_executor(), std::make_shared<MultiServersDiscovery>(std::vector<std::string>{tcp(a)}),
             SelectMode::random};
  int sum = 0;
};

// A call and a broadcast each have a fast path: each test below runs for both.
enum class Op { call, broadcast };

template <class Args, class Reply, class Token>
auto start(Op op, XClient& x, const CallContext& ctx, const std::string& method, const Args& args, Reply* reply,
           Token&& token) {
  return op == Op::call ? x.async_call(ctx, method, args, reply, std::forward<Token>(token))
                        : x.async_broadcast(ctx, method, args, reply, std::forward<Token>(token));
}

template <class Args, class Reply>
Error blocking(Op op, XClient& x, const CallContext& ctx, const std::string& method, const Args& args, Reply* reply) {
  return start(op, x, ctx, method, args, reply, asio::use_future).get();
}

class XClientFastPath : public ::testing::TestWithParam<Op> {};

INSTANTIATE_TEST_SUITE_P(CallAndBroadcast, XClientFastPath, ::testing::Values(Op::call, Op::broadcast),
                         [](const auto& info) { return info.param == Op::call ? "Call" : "Broadcast"; });

TEST_P(XClientFastPath, OneWithNoDeadlineIsCancelledByItsTokenAndTheClientStaysUsable) {
  Flaky sleeps;  // before the server: it outlives it
  WarmXClient w;
  ASSERT_FALSE(w.a.server.register_service(sleeps));
  const auto error = run(w.pool.get_executor(), [](XClient& x, Op op) -> asio::awaitable<Error> {
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer timer(co_await asio::this_coro::executor, 100ms);
    int reply = 0;
    auto result =
        co_await (start(op, x, {}, "Flaky.Call", 10, &reply, asio::use_awaitable) || timer.async_wait(use_nothrow));
    if (result.index() == 0) co_return std::get<0>(result);
    // `||` waits for the loser to end: a call the timer did not cancel would have run its 10 s.
    co_return reply == 0 ? Error(errc::call_timeout, "the timer won") : Error("the call was not cancelled");
  }(w.xc, GetParam()));
  EXPECT_EQ(error, errc::call_timeout) << error;
  sleeps.released = true;
  ASSERT_FALSE(blocking(GetParam(), w.xc, {}, "Foo.Sum", Args{2, 3}, &w.sum));
  EXPECT_EQ(w.sum, 5);
  EXPECT_EQ(w.xc.open_clients(), 1u);
}

TEST_P(XClientFastPath, AReplyThatDoesNotFitIsABadBodyInTheSameWordsOnBothPaths) {
  WarmXClient w;
  // No deadline: the fast path; a deadline: the full one.
  for (const CallContext& ctx : {CallContext(), CallContext(Context::with_timeout(5s))}) {
    int not_text = 0;
    const auto error = blocking(GetParam(), w.xc, ctx, "Foo.Echo", std::string("hello"), &not_text);
    EXPECT_EQ(error, errc::bad_body);
    EXPECT_EQ(error.message(), "reading body: the reply does not fit int");
  }
}

TEST_P(XClientFastPath, AFutureACallbackAndACoroutineAllComplete) {
  WarmXClient w;
  EXPECT_FALSE(start(GetParam(), w.xc, {}, "Foo.Sum", Args{2, 2}, &w.sum, asio::use_future).get());
  EXPECT_EQ(w.sum, 4);
  std::promise<Error> done;
  start(GetParam(), w.xc, {}, "Foo.Sum", Args{3, 3}, &w.sum, [&](Error e) { done.set_value(std::move(e)); });
  EXPECT_FALSE(done.get_future().get());
  EXPECT_EQ(w.sum, 6);
  const auto error = run(w.pool.get_executor(), [](XClient& x, Op op, int* reply) -> asio::awaitable<Error> {
    co_return co_await start(op, x, {}, "Foo.Sum", Args{4, 4}, reply, asio::use_awaitable);
  }(w.xc, GetParam(), &w.sum));
  EXPECT_FALSE(error);
  EXPECT_EQ(w.sum, 8);
}

TEST_P(XClientFastPath, OneWhoseAwaitableIsDroppedUnawaitedStillEndsCleanly) {
  WarmXClient w;
  {
    // Sent at once, like a Client's call; its reply still has somewhere to go (ASan would say).
    auto dropped = start(GetParam(), w.xc, {}, "Foo.Sum", Args{2, 2}, &w.sum, asio::use_awaitable);
  }
  EXPECT_TRUE(eventually([&] { return calls_to(w.a.server) == 2; })) << "the dropped call was not sent";
  ASSERT_FALSE(blocking(GetParam(), w.xc, {}, "Foo.Sum", Args{3, 3}, &w.sum));
  EXPECT_EQ(w.sum, 6) << "only waited-for calls fill the reply";
  EXPECT_EQ(w.xc.open_clients(), 1u);
}

TEST(XClientLoad, SixtyFourThreadsCallWhileTheListChangesEveryMillisecond) {
  TestServer a, b, c;
  const std::vector<std::vector<std::string>> lists = {
      {tcp(a), tcp(b), tcp(c)}, {tcp(a)}, {}, {tcp(b), tcp(c)}, {tcp(c), tcp(a)}};
  auto discovery = std::make_shared<MultiServersDiscovery>(lists[0]);
  asio::thread_pool pool(2);
  XClient xc(pool.get_executor(), discovery, SelectMode::round_robin);
  std::atomic<bool> done{false};
  std::atomic<int> empty{0}, failed{0};
  std::jthread updater([&] {
    for (std::size_t i = 1; !done; ++i) {
      EXPECT_FALSE(discovery->update(lists[i % lists.size()]));
      std::this_thread::sleep_for(1ms);  // the pace of the changes, not a synchronisation
    }
  });
  {
    std::vector<std::jthread> callers;
    for (int t = 0; t < 64; ++t)
      callers.emplace_back([&, t] {
        for (int i = 0; i < 50; ++i) {
          int reply = 0;
          const auto error = xc.call({}, "Foo.Sum", Args{t, i}, &reply);
          if (error == errc::no_servers) {
            ++empty;
          } else if (error || reply != t + i) {
            if (failed++ == 0) ADD_FAILURE() << "first failure: " << (error ? error.message() : "wrong reply");
          }
        }
      });
  }
  done = true;
  updater.join();
  EXPECT_EQ(failed, 0);
  // Once the list settles, the clients of the servers that left are closed.
  ASSERT_FALSE(discovery->update({tcp(a)}));
  int reply = 0;
  EXPECT_FALSE(xc.call({}, "Foo.Sum", Args{1, 1}, &reply));
  EXPECT_EQ(xc.open_clients(), 1u);
  EXPECT_TRUE(eventually([&] { return b.server.connection_count() + c.server.connection_count() == 0; }));
}

}  // namespace
}  // namespace geerpc::test
