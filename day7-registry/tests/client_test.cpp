#include <latch>
#include <thread>

#include "test_util.hpp"

namespace geerpc::test {
namespace {

// A script for ScriptedServer: answers every request with its own body.
asio::awaitable<void> echo_every_request(Codec& codec) {
  for (;;) {
    Header h;
    Body body;
    if (co_await codec.read_header(h) || co_await codec.read_body(&body)) co_return;
    codec.write(h, body);
  }
}

// A real server offering Foo, and a client dialed to it.
struct ClientTest : ::testing::Test {
  TestServer ts;
  std::shared_ptr<Client> client = *dial(ts.pool.get_executor(), "tcp", to_string(ts.endpoint));
};

TEST_F(ClientTest, SynchronousCallReturnsTheReply) {
  int reply = 0;
  auto error = client->call("Foo.Sum", Args{1, 2}, &reply);
  ASSERT_FALSE(error) << error.message();
  EXPECT_EQ(reply, 3);
}

TEST_F(ClientTest, HundredConcurrentCallsFromManyThreadsEachGetTheirOwnReply) {
  constexpr int threads = 10, calls_per_thread = 10;
  std::vector<std::jthread> callers;
  std::atomic<int> right = 0;
  for (int t = 0; t < threads; ++t)
    callers.emplace_back([&, t] {
      for (int i = 0; i < calls_per_thread; ++i) {
        int reply = 0;
        auto call = client->go("Foo.Sum", Args{t, i}, &reply);
        call->wait();
        if (!call->error && reply == t + i) ++right;
      }
    });
  callers.clear();
  EXPECT_EQ(right, threads * calls_per_thread);
}

TEST(Client, RepliesArrivingInReverseOrderAreMatchedBySeq) {
  constexpr int n = 20;
  ScriptedServer server([](Codec& codec) -> asio::awaitable<void> {
    std::vector<std::pair<Header, Body>> requests(n);
    for (auto& [h, body] : requests)
      if (co_await codec.read_header(h) || co_await codec.read_body(&body)) co_return;
    for (auto it = requests.rbegin(); it != requests.rend(); ++it)
      codec.write(it->first, "reply to " + it->second.get<std::string>());
    co_await wait_for_hang_up(codec);
  });
  auto client = *dial(server.pool.get_executor(), "tcp", server.address);
  std::vector<std::string> replies(n);
  std::vector<std::shared_ptr<Call>> calls;
  for (int i = 0; i < n; ++i) calls.push_back(client->go("Echo.Echo", "request " + std::to_string(i), &replies[i]));
  for (int i = 0; i < n; ++i) {
    calls[i]->wait();
    ASSERT_FALSE(calls[i]->error) << calls[i]->error.message();
    EXPECT_EQ(replies[i], "reply to request " + std::to_string(i));
  }
}

TEST(Client, AsyncCallWithUseAwaitableLeavesTheIoThreadFree) {
  // This server answers only after it has received both requests. The client runs on ONE
  // thread; if awaiting the first call blocked it, the second call would never be sent.
  ScriptedServer server([](Codec& codec) -> asio::awaitable<void> {
    std::vector<std::pair<Header, Body>> requests(2);
    for (auto& [h, body] : requests)
      if (co_await codec.read_header(h) || co_await codec.read_body(&body)) co_return;
    for (auto& [h, body] : requests) codec.write(h, body);
    co_await wait_for_hang_up(codec);
  });
  asio::io_context io;
  std::shared_ptr<Client> client;
  int completed = 0;
  auto caller = [&](int i) -> asio::awaitable<void> {
    std::string reply;
    auto error = co_await client->async_call("Echo.Echo", "call " + std::to_string(i), &reply, asio::use_awaitable);
    EXPECT_FALSE(error) << error.message();
    EXPECT_EQ(reply, "call " + std::to_string(i));
    if (++completed == 2) {
      EXPECT_FALSE(client->close());
    }
  };
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto dialed = co_await async_dial(io.get_executor(), "tcp", server.address, asio::use_awaitable);
        if (!dialed) co_return;
        client = *dialed;
        asio::co_spawn(io, caller(0), asio::detached);
        asio::co_spawn(io, caller(1), asio::detached);
      },
      asio::detached);
  io.run_for(wait_limit);  // returns as soon as the client is closed and nothing is left to do
  EXPECT_EQ(completed, 2);
}

TEST(Client, ServerClosingTheConnectionFailsEveryPendingCall) {
  std::latch received(3);
  ScriptedServer server([&](Codec& codec) -> asio::awaitable<void> {
    for (int i = 0; i < 3; ++i) {
      Header h;
      if (co_await codec.read_header(h) || co_await codec.read_body(nullptr)) co_return;
      received.count_down();
    }
    co_await wait_for_hang_up(codec);
  });
  auto client = *dial(server.pool.get_executor(), "tcp", server.address);
  std::string replies[3];
  std::vector<std::shared_ptr<Call>> calls;
  for (auto& reply : replies) calls.push_back(client->go("Foo.Sum", 1, &reply));
  received.wait();  // all three are pending on the client now
  server.hang_up();
  for (auto& call : calls) {
    call->wait();
    EXPECT_EQ(call->error, errc::shutdown);
    EXPECT_NE(call->error.message().find("connection is shut down"), std::string::npos) << call->error.message();
  }
  EXPECT_FALSE(client->is_available());
  std::string reply;
  EXPECT_EQ(client->call("Foo.Sum", 1, &reply), errc::shutdown);
}

TEST_F(ClientTest, CloseTwiceReportsShutdownAndLaterCallsFailAtOnce) {
  EXPECT_FALSE(client->close());
  EXPECT_EQ(client->close(), errc::shutdown);
  EXPECT_FALSE(client->is_available());
  std::string reply;
  auto call = client->go("Foo.Sum", 1, &reply);
  EXPECT_TRUE(call->is_done());  // failed without touching the network
  EXPECT_EQ(call->error, errc::shutdown);
}

TEST(Client, DialingAPortWithNothingListeningFails) {
  asio::thread_pool pool(1);
  std::string address;
  {
    auto listener = listen(pool.get_executor(), "tcp", "127.0.0.1:0");
    address = to_string(listener->local_endpoint());
  }  // closed: nothing listens there now
  auto client = dial(pool.get_executor(), "tcp", address);
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error(), asio::error::connection_refused);
}

TEST(Client, DialingAnUnknownNetworkFails) {
  asio::thread_pool pool(1);
  EXPECT_EQ(dial(pool.get_executor(), "udp", "127.0.0.1:1").error(), errc::bad_address);
}

TEST(Client, AReplyWhoseSeqMatchesNoPendingCallIsSkipped) {
  ScriptedServer server([](Codec& codec) -> asio::awaitable<void> {
    for (;;) {
      Header h;
      Body body;
      if (co_await codec.read_header(h) || co_await codec.read_body(&body)) co_return;
      codec.write({.service_method = h.service_method, .seq = h.seq + 1000}, "stray");  // nobody waits for it
      codec.write(h, body);
    }
  });
  auto client = *dial(server.pool.get_executor(), "tcp", server.address);
  for (std::string text : {"first", "second"}) {
    std::string reply;
    auto error = client->call("Echo.Echo", text, &reply);
    ASSERT_FALSE(error) << error.message();
    EXPECT_EQ(reply, text);
  }
}

TEST(Client, AReplyThatDoesNotFitTheReplyTypeFailsThatCallOnly) {
  ScriptedServer server(echo_every_request);
  auto client = *dial(server.pool.get_executor(), "tcp", server.address);
  int number = 0;
  EXPECT_EQ(client->call("Echo.Echo", "not a number", &number), errc::bad_body);
  std::string text;
  EXPECT_FALSE(client->call("Echo.Echo", "still works", &text));
  EXPECT_EQ(text, "still works");
}

TEST(Client, ArgumentsTheCodecCannotEncodeFailThatCallAtOnceAndTheNextCallWorks) {
  ScriptedServer server(echo_every_request);
  auto client = *dial(server.pool.get_executor(), "tcp", server.address, {.codec_type = json_type});
  std::string reply;
  auto call = client->go("Echo.Echo", std::string("\xff not UTF-8"), &reply);
  EXPECT_TRUE(call->is_done());  // nothing was sent, nothing waits
  EXPECT_EQ(call->error, errc::bad_body);
  EXPECT_FALSE(client->call("Echo.Echo", std::string("fine"), &reply));
  EXPECT_EQ(reply, "fine");
}

}  // namespace
}  // namespace geerpc::test
