#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <semaphore>
#include <thread>

#include "geerpc/sync.hpp"
#include "test_util.hpp"

namespace geerpc::test {
namespace {

// A listener that reads the Option and answers it only after `delay`, or never.
class SlowHandshakeServer {
 public:
  explicit SlowHandshakeServer(std::optional<std::chrono::milliseconds> delay) : delay_(delay) {
    auto listener = listen(pool_.get_executor(), "tcp", "127.0.0.1:0");
    address = to_string(listener->local_endpoint());
    acceptor_ = std::make_shared<Acceptor>(std::move(*listener));
    asio::co_spawn(acceptor_->get_executor(), accept_loop(), asio::detached);
  }
  ~SlowHandshakeServer() {
    asio::post(acceptor_->get_executor(), [a = acceptor_] { a->close(); });
    {
      std::lock_guard lock(mutex_);
      for (auto& conn : conns_) conn->close();
    }
    pool_.join();
  }
  std::string address;

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] =
          co_await acceptor_->async_accept(asio::any_io_executor(asio::make_strand(pool_)), use_nothrow);
      if (ec) co_return;
      auto conn = std::make_shared<Conn>(std::move(socket));
      {
        std::lock_guard lock(mutex_);
        conns_.push_back(conn);
      }
      asio::co_spawn(conn->get_executor(), answer_late(conn, delay_), asio::detached);
    }
  }
  static asio::awaitable<void> answer_late(std::shared_ptr<Conn> conn, std::optional<std::chrono::milliseconds> delay) {
    std::string line;
    if (co_await conn->read_line(line, max_option_line) || !delay) co_return;
    asio::steady_timer timer(co_await asio::this_coro::executor, *delay);
    co_await timer.async_wait(use_nothrow);
    conn->send(line + '\n');
  }

  asio::thread_pool pool_{1};
  std::optional<std::chrono::milliseconds> delay_;
  std::shared_ptr<Acceptor> acceptor_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<Conn>> conns_;
};

TEST(DialTimeout, FailsWhenTheHandshakeIsSlowerThanTheConnectTimeout) {
  SlowHandshakeServer server(500ms);
  asio::thread_pool pool(1);
  auto client = dial(pool.get_executor(), "tcp", server.address, {.connect_timeout = 100ms});
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error(), errc::connect_timeout);
  EXPECT_EQ(client.error().message(), "rpc client: connect timeout: expect within 100ms");
}

TEST(DialTimeout, ZeroMeansNoLimitAndASlowHandshakeSucceeds) {
  SlowHandshakeServer server(300ms);
  asio::thread_pool pool(1);
  auto client = dial(pool.get_executor(), "tcp", server.address, {.connect_timeout = 0ms});
  EXPECT_TRUE(client) << client.error();
}

TEST(DialTimeout, AListenerThatNeverAnswersTheHandshakeTimesOutWithinTheBound) {
  SlowHandshakeServer server(std::nullopt);
  asio::thread_pool pool(1);
  const auto start = std::chrono::steady_clock::now();
  auto client = dial(pool.get_executor(), "tcp", server.address, {.connect_timeout = 200ms});
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error(), errc::connect_timeout);
}

TEST(Option, CarriesBothTimeoutsAndPeersOfEarlierDaysMayOmitThem) {
  auto option = parse_option(option_line({.connect_timeout = 1500ms, .handle_timeout = 20ms}));
  ASSERT_TRUE(option) << option.error();
  EXPECT_EQ(option->connect_timeout, 1500ms);
  EXPECT_EQ(option->handle_timeout, 20ms);
  auto old = parse_option(R"({"magic_number":3927900,"codec_type":"application/json"})");
  ASSERT_TRUE(old) << old.error();
  EXPECT_EQ(old->handle_timeout, 0ms);
  EXPECT_EQ(parse_option(R"({"magic_number":3927900,"codec_type":"x","handle_timeout_ms":-1})").error(),
            errc::bad_option);
  EXPECT_EQ(format_duration(1500ms), "1.5s");
}

TEST(Option, ATimeoutBeyondAnyRealDeadlineIsABadOption) {
  const auto with = [](std::string_view ms) {
    return parse_option(R"({"magic_number":3927900,"codec_type":"x","handle_timeout_ms":)" + std::string(ms) + "}");
  };
  EXPECT_TRUE(with("1000000000000"));  // about 31 years
  EXPECT_EQ(with("1000000000001").error(), errc::bad_option);
  EXPECT_EQ(with("9223372036854775807").error(), errc::bad_option);
}

// Methods that take their time.
struct Sleepy {
  // Sleeps `ms` without holding a thread, then replies with it.
  asio::awaitable<Error> Sleep(int ms, int* reply) {
    asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(ms));
    co_await timer.async_wait(use_nothrow);
    *reply = ms;
    finished.release();
    co_return Error{};
  }
  // Waits until the test ends.
  asio::awaitable<Error> Hang(int, int*) {
    entered.release();
    co_await gate.wait_until(std::chrono::steady_clock::now() + wait_limit);
    co_return Error{};
  }
  // A plain method that holds its thread until the test releases it.
  Error Block(int, int*) {
    release.acquire();
    return {};
  }
  std::counting_semaphore<100000> finished{0}, entered{0};
  std::binary_semaphore release{0};
  WaitGroup gate;
};
GEERPC_SERVICE(Sleepy, Sleep, Hang, Block)

struct TimeoutTest : ::testing::Test {
  TimeoutTest() {
    sleepy.gate.add();
    EXPECT_FALSE(ts.server.register_service(sleepy));
  }
  ~TimeoutTest() override { sleepy.gate.done(); }
  std::shared_ptr<Client> dial_client(Option option = {}) {
    return *dial(ts.pool.get_executor(), "tcp", to_string(ts.endpoint), option);
  }
  Sleepy sleepy;
  TestServer ts;
};

TEST_F(TimeoutTest, ACallPastTheCallersDeadlineFailsAndLeavesNothingPending) {
  auto client = dial_client();
  int reply = 0;
  auto error = client->call(Context::with_timeout(100ms), "Sleepy.Sleep", 1000, &reply);
  EXPECT_EQ(error, errc::call_timeout);
  EXPECT_EQ(error.message(), "rpc client: call failed: deadline exceeded");
  EXPECT_EQ(client->pending_count(), 0u);
}

TEST_F(TimeoutTest, TheServerAnswersAHandleTimeoutWhenTheMethodRunsTooLong) {
  auto client = dial_client({.handle_timeout = 100ms});
  int reply = 0;
  auto error = client->call("Sleepy.Sleep", 1000, &reply);
  EXPECT_EQ(error, errc::server_error);
  EXPECT_EQ(error.message(), "rpc server: request handle timeout: expect within 100ms");
}

TEST_F(TimeoutTest, AHandleTimeoutIsAnsweredWhileAPlainMethodStillHoldsItsThread) {
  auto client = dial_client({.handle_timeout = 50ms});
  int reply = 0;
  auto error = client->call("Sleepy.Block", 0, &reply);  // Block returns only after this
  sleepy.release.release();
  EXPECT_EQ(error.message(), "rpc server: request handle timeout: expect within 50ms");
  EXPECT_FALSE(client->call("Sleepy.Sleep", 0, &reply));  // the connection goes on
}

TEST_F(TimeoutTest, AfterAThousandTimedOutCallsThePendingMapIsEmptyAndTheNextCallSucceeds) {
  auto client = dial_client();
  std::vector<std::jthread> callers;
  std::atomic<int> timed_out = 0;
  for (int t = 0; t < 10; ++t)
    callers.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        int reply = 0;
        if (client->call(Context::with_timeout(1ms), "Sleepy.Sleep", 50, &reply) == errc::call_timeout) ++timed_out;
      }
    });
  callers.clear();
  EXPECT_EQ(timed_out, 1000);
  EXPECT_EQ(client->pending_count(), 0u);
  int reply = -1;
  EXPECT_FALSE(client->call("Sleepy.Sleep", 0, &reply));
  EXPECT_EQ(reply, 0);
}

TEST_F(TimeoutTest, AReplyArrivingAfterItsCallTimedOutIsDroppedAndTheNextCallGetsItsOwnReply) {
  auto client = dial_client();
  int late = 0;
  EXPECT_EQ(client->call(Context::with_timeout(20ms), "Sleepy.Sleep", 100, &late), errc::call_timeout);
  // The late reply (100) arrives while this call (200) is pending: it must not be taken for it.
  int reply = 0;
  EXPECT_FALSE(client->call("Sleepy.Sleep", 200, &reply));
  EXPECT_EQ(reply, 200);
  EXPECT_EQ(late, 0);  // the timed-out call's reply object was never written
}

TEST_F(TimeoutTest, AHandleTimeoutSendsExactlyOneResponsePerRequest) {
  HandClient client(ts.pool.get_executor(), ts.endpoint);
  client.send_option({.handle_timeout = 50ms});
  client.write(1, 200, "Sleepy.Sleep");
  auto first = client.read();
  ASSERT_TRUE(first) << first.error();
  EXPECT_EQ(first->header.seq, 1u);
  EXPECT_EQ(first->header.error, "rpc server: request handle timeout: expect within 50ms");
  sleepy.finished.acquire();  // the method has run to its end
  ts.server.stop();  // waits for the handler, flushes what it sent, closes
  int responses = 1;
  while (client.read()) ++responses;
  EXPECT_EQ(responses, 1);
}

TEST_F(TimeoutTest, CancellingACallFromAnotherThreadFailsItPromptly) {
  auto client = dial_client();
  std::stop_source stop;
  auto result = std::async(std::launch::async, [&] {
    int reply = 0;
    return client->call(Context{.stop = stop.get_token()}, "Sleepy.Hang", 0, &reply);
  });
  sleepy.entered.acquire();  // the call is at the server now
  stop.request_stop();
  ASSERT_EQ(result.wait_for(1s), std::future_status::ready);
  EXPECT_EQ(result.get(), errc::cancelled);
  EXPECT_EQ(client->pending_count(), 0u);
}

TEST_F(TimeoutTest, ACoroutineDeadlineIsATimerRacingTheCall) {
  using namespace asio::experimental::awaitable_operators;
  auto client = dial_client();
  asio::io_context io;
  std::optional<std::size_t> winner;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        int reply = 0;
        asio::steady_timer deadline(io, 50ms);
        auto result = co_await (client->async_call("Sleepy.Hang", 0, &reply, asio::use_awaitable) ||
                                deadline.async_wait(asio::use_awaitable));
        winner = result.index();
      },
      asio::detached);
  io.run_for(wait_limit);
  ASSERT_TRUE(winner);
  EXPECT_EQ(*winner, 1u);  // the timer
  EXPECT_EQ(client->pending_count(), 0u);
}

}  // namespace
}  // namespace geerpc::test
