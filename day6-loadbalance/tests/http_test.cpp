// Day 5: one listener, two protocols. HTTP CONNECT hands a connection to RPC with no byte lost,
// x_dial's three transports, and every bad HTTP request costs only its own connection.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "test_util.hpp"

namespace geerpc::test {
namespace {

const std::string connect_head = "CONNECT /_geerpc_ HTTP/1.0\r\n\r\n";

// A JSON-codec request for Foo.Sum as raw frames.
std::string sum_request(std::uint64_t seq, int a, int b) {
  const std::string header = R"({"error":"","seq":)" + std::to_string(seq) + R"(,"service_method":"Foo.Sum"})";
  const std::string body = R"({"num1":)" + std::to_string(a) + R"(,"num2":)" + std::to_string(b) + "}";
  std::string bytes;
  append_frame_length(bytes, header.size());
  bytes += header;
  append_frame_length(bytes, body.size());
  bytes += body;
  return bytes;
}

// What a hand-made client reads after CONNECT: the HTTP answer's status line and blank line, the
// Option answer, then one reply.
struct AfterConnect {
  std::string status_line;
  Received reply;
};
Result<AfterConnect> read_after_connect(HandClient& client) {
  return run(client.conn().get_executor(), [](Codec& codec) -> asio::awaitable<Result<AfterConnect>> {
    AfterConnect got;
    std::string line;
    if (auto ec = co_await codec.conn().read_line(got.status_line, 1024)) co_return ec;
    do {
      if (auto ec = co_await codec.conn().read_line(line, 1024)) co_return ec;
    } while (line != "\r");
    if (auto ec = co_await codec.conn().read_line(line, max_option_line)) co_return ec;  // the Option answer
    auto reply = co_await read_message(codec);
    if (!reply) co_return reply.error();
    got.reply = std::move(*reply);
    co_return got;
  }(client.codec()));
}

struct HttpTest : ::testing::Test {
  HttpTest() { ts.server.handle_http(); }
  // One HTTP request on a connection of its own; the whole response.
  Result<HttpMessage> round_trip(std::string request) {
    return run(ts.pool.get_executor(), http_round_trip(ts.endpoint, std::move(request), 5s, 1 << 20));
  }
  // Another connection that is served as usual whatever the test did to its own.
  void expect_others_served() {
    auto client = dial(ts.pool.get_executor(), "tcp", to_string(ts.endpoint));
    ASSERT_TRUE(client) << client.error();
    int reply = 0;
    EXPECT_FALSE(client->call("Foo.Sum", Args{20, 22}, &reply));
    EXPECT_EQ(reply, 42);
  }
  LogCapture log;  // bad requests are logged
  TestServer ts;
};

TEST_F(HttpTest, ConnectOptionAndFirstRequestInOneWriteGetTheReply) {
  HandClient client(ts.pool.get_executor(), ts.endpoint, json_type);
  client.send_raw(connect_head + option_line({.codec_type = json_type}) + sum_request(7, 3, 4));
  auto got = read_after_connect(client);
  ASSERT_TRUE(got) << got.error();
  EXPECT_EQ(got->status_line, "HTTP/1.0 200 Connected to Gee RPC\r");
  EXPECT_EQ(got->reply.header.seq, 7u);
  EXPECT_EQ(got->reply.header.error, "");
  EXPECT_EQ(got->reply.body, 7);
}

TEST_F(HttpTest, ConnectOptionAndFirstRequestSentAByteAtATimeGetTheReply) {
  HandClient client(ts.pool.get_executor(), ts.endpoint, json_type);
  // Each byte leaves in a system call of its own (Flush::now on an idle outbox).
  for (const char c : connect_head + option_line({.codec_type = json_type}) + sum_request(8, 5, 6))
    client.conn().send(std::string(1, c), Flush::now);
  auto got = read_after_connect(client);
  ASSERT_TRUE(got) << got.error();
  EXPECT_EQ(got->reply.header.seq, 8u);
  EXPECT_EQ(got->reply.body, 11);
}

TEST_F(HttpTest, DialHttpCarriesAHundredConcurrentCalls) {
  auto client = dial_http(ts.pool.get_executor(), "tcp", to_string(ts.endpoint));
  ASSERT_TRUE(client) << client.error();
  std::vector<int> replies(100);
  std::vector<std::shared_ptr<Call>> calls;
  for (int i = 0; i < 100; ++i) calls.push_back(client->go("Foo.Sum", Args{i, i}, &replies[i]));
  for (int i = 0; i < 100; ++i) {
    calls[i]->wait();
    EXPECT_FALSE(calls[i]->error) << calls[i]->error;
    EXPECT_EQ(replies[i], 2 * i);
  }
}

TEST_F(HttpTest, XDialReachesTheServerOverTcpUnixAndHttp) {
  const std::string path = ::testing::TempDir() + "geerpc_xdial_" + std::to_string(::getpid()) + ".sock";
  auto unix_listener = listen(ts.pool.get_executor(), "unix", path);
  ASSERT_TRUE(unix_listener) << unix_listener.error();
  ts.server.accept(std::move(*unix_listener));
  for (const auto& address : {"tcp@" + to_string(ts.endpoint), "unix@" + path, "http@" + to_string(ts.endpoint)}) {
    auto client = x_dial(ts.pool.get_executor(), address);
    ASSERT_TRUE(client) << address << ": " << client.error();
    int reply = 0;
    EXPECT_FALSE(client->call("Foo.Sum", Args{1, 2}, &reply)) << address;
    EXPECT_EQ(reply, 3) << address;
  }
}

TEST(XDial, AMalformedAddressSaysWhatItExpects) {
  asio::thread_pool pool(1);
  for (const std::string address : {"127.0.0.1:7001", "@127.0.0.1:7001", "tcp@", ""}) {
    auto client = x_dial(pool.get_executor(), address);
    ASSERT_FALSE(client) << address;
    EXPECT_EQ(client.error(), errc::bad_address);
    EXPECT_EQ(client.error().message(), "rpc client err: wrong format '" + address + "', expect protocol@addr");
  }
  EXPECT_EQ(x_dial(pool.get_executor(), "ftp@127.0.0.1:21").error(), errc::bad_address);  // no such network
}

TEST_F(HttpTest, ARefusedOptionAfterConnectStillGetsTheConnectAnswerFirst) {
  auto response = round_trip(connect_head + R"({"magic_number":1,"codec_type":"application/json"})" + "\n");
  ASSERT_TRUE(response) << response.error();  // the answer, then the end of the connection
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->reason, "Connected to Gee RPC");
  EXPECT_EQ(response->body, "") << "the refused Option is not answered";
  expect_others_served();
}

TEST_F(HttpTest, GetOnTheRpcPathIs405MustConnect) {
  auto response = round_trip("GET /_geerpc_ HTTP/1.1\r\nHost: test\r\n\r\n");
  ASSERT_TRUE(response) << response.error();
  EXPECT_EQ(response->status, 405);
  EXPECT_EQ(response->body, "405 must CONNECT\n");
  expect_others_served();
}

TEST_F(HttpTest, AnyOtherPathIs404) {
  auto response = round_trip("GET /_geerpc_/other HTTP/1.1\r\nHost: test\r\n\r\n");
  ASSERT_TRUE(response) << response.error();
  EXPECT_EQ(response->status, 404);
  expect_others_served();
}

TEST_F(HttpTest, AMalformedHeadIs400AndTheConnectionCloses) {
  auto response = round_trip("G@T / HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(response) << response.error();  // complete: the server closed after answering
  EXPECT_EQ(response->status, 400);
  expect_others_served();
}

TEST_F(HttpTest, AHeadOver8KiBIs431) {
  auto response = round_trip("GET /debug/geerpc HTTP/1.1\r\nX-Big: " + std::string(9 * 1024, 'x') + "\r\n\r\n");
  ASSERT_TRUE(response) << response.error();
  EXPECT_EQ(response->status, 431);
  expect_others_served();
}

TEST(HttpDeadline, ASilentHalfHeadIsDroppedAtTheDeadline) {
  TestServer ts({.http = {.head_timeout = 200ms}});
  ts.server.handle_http();
  HandClient silent(ts.pool.get_executor(), ts.endpoint);
  silent.send_raw("GET /debug/geerpc HTTP/1.1\r\nHost: te");
  EXPECT_FALSE(silent.read()) << "the server kept a connection whose head never came";
  auto client = dial(ts.pool.get_executor(), "tcp", to_string(ts.endpoint));
  ASSERT_TRUE(client) << client.error();
  int reply = 0;
  EXPECT_FALSE(client->call("Foo.Sum", Args{1, 1}, &reply));
}

// A server that answers whatever arrives first with `answer`, then waits for the peer to leave.
// One thread: the accept and the destructor's close never run at once.
class WrongAnswerServer {
 public:
  explicit WrongAnswerServer(std::string answer) {
    auto listener = listen(pool_.get_executor(), "tcp", "127.0.0.1:0");
    address = to_string(listener->local_endpoint());
    acceptor_ = std::make_shared<Acceptor>(std::move(*listener));
    asio::co_spawn(pool_, serve(acceptor_, std::move(answer)), asio::detached);
  }
  ~WrongAnswerServer() {
    asio::post(pool_, [a = acceptor_] { a->close(); });
    pool_.join();
  }
  std::string address;

 private:
  static asio::awaitable<void> serve(std::shared_ptr<Acceptor> acceptor, std::string answer) {
    auto [ec, socket] = co_await acceptor->async_accept(use_nothrow);
    if (ec) co_return;
    co_await asio::async_write(socket, asio::buffer(answer), use_nothrow);
    char byte = 0;
    co_await socket.async_read_some(asio::buffer(&byte, 1), use_nothrow);  // until the client hangs up
  }
  asio::thread_pool pool_{1};
  std::shared_ptr<Acceptor> acceptor_;
};

TEST(DialHttp, AnyAnswerButConnectedFailsWithTheStatus) {
  WrongAnswerServer server("HTTP/1.0 404 Not Found\r\n\r\n");
  asio::thread_pool pool(1);
  auto client = dial_http(pool.get_executor(), "tcp", server.address);
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error(), errc::bad_http_status);
  EXPECT_EQ(client.error().message(), "unexpected HTTP response: 404 Not Found");
}

TEST(DialHttp, AnAnswerWhoseStatusHasFewerThanThreeDigitsIsNotHttp) {
  WrongAnswerServer server("HTTP/1.0 2 00 Connected to Gee RPC\r\n\r\n");
  asio::thread_pool pool(1);
  auto client = dial_http(pool.get_executor(), "tcp", server.address);
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error(), errc::bad_http);
  EXPECT_EQ(client.error().message(), "rpc client: CONNECT failed: invalid HTTP status code");
  HttpParser parser(HttpParser::Kind::response);
  EXPECT_FALSE(parser.feed("HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_EQ(parser.error(), "invalid HTTP status code");
}

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "geerpc_" + name + "_" + std::to_string(::getpid()) + ".sock";
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

TEST(UnixSocket, AStaleSocketFileFromAnEarlierRunIsReplaced) {
  const auto path = temp_path("stale");
  asio::thread_pool pool(1);
  {
    auto first = listen(pool.get_executor(), "unix", path);  // closed without removing its file
    ASSERT_TRUE(first) << first.error();
  }
  ASSERT_TRUE(exists(path));
  auto second = listen(pool.get_executor(), "unix", path);
  EXPECT_TRUE(second) << second.error();
  std::remove(path.c_str());
}

TEST(UnixSocket, ALiveSocketOrAFileThatIsNotASocketIsLeftAlone) {
  asio::thread_pool pool(1);
  const auto live_path = temp_path("live");
  auto live = listen(pool.get_executor(), "unix", live_path);
  ASSERT_TRUE(live) << live.error();
  EXPECT_FALSE(listen(pool.get_executor(), "unix", live_path));
  const auto file_path = temp_path("file");
  std::ofstream(file_path) << "precious";
  EXPECT_FALSE(listen(pool.get_executor(), "unix", file_path));
  EXPECT_TRUE(exists(file_path));
  std::remove(live_path.c_str());
  std::remove(file_path.c_str());
}

TEST(UnixSocket, TheServerRemovesItsSocketFileOnStop) {
  const auto path = temp_path("own");
  TestServer ts;
  auto listener = listen(ts.pool.get_executor(), "unix", path);
  ASSERT_TRUE(listener) << listener.error();
  ts.server.accept(std::move(*listener));
  ASSERT_TRUE(exists(path));
  ts.server.stop();
  EXPECT_FALSE(exists(path));
}

}  // namespace
}  // namespace geerpc::test
