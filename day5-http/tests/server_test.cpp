#include "test_util.hpp"

namespace geerpc::test {
namespace {

class ServerBothCodecs : public ::testing::TestWithParam<Type> {};
INSTANTIATE_TEST_SUITE_P(Server, ServerBothCodecs, ::testing::Values(json_type, msgpack_type));

TEST_P(ServerBothCodecs, AnswersFiveRequestsWithMatchingSeq) {
  TestServer ts;
  HandClient client(ts.pool.get_executor(), ts.endpoint, GetParam());
  client.send_option({.codec_type = GetParam()});
  for (std::uint64_t seq = 0; seq < 5; ++seq) client.write(seq, "geerpc req " + std::to_string(seq));
  for (std::uint64_t seq = 0; seq < 5; ++seq) {
    auto reply = client.read();
    ASSERT_TRUE(reply) << reply.error().message();
    // Handlers run concurrently, so replies may come in any order; the body names its seq.
    EXPECT_EQ(reply->body, "geerpc req " + std::to_string(reply->header.seq));
    EXPECT_EQ(reply->header.error, "");
  }
}

TEST(Server, AnswersAnOptionAndFirstRequestSentInOneWrite) {
  TestServer ts;
  HandClient client(ts.pool.get_executor(), ts.endpoint);
  // The Option line and the frames a MessagePack codec would write, in one buffer, one send.
  std::string bytes = option_line({});
  std::string header, body;
  nlohmann::json::to_msgpack(nlohmann::json(Header{.service_method = "Foo.Echo", .seq = 7}), header);
  nlohmann::json::to_msgpack(Body("geerpc req 7"), body);
  append_frame_length(bytes, header.size());
  bytes += header;
  append_frame_length(bytes, body.size());
  bytes += body;
  client.send_raw(bytes);
  auto reply = client.read();
  ASSERT_TRUE(reply) << reply.error().message();
  EXPECT_EQ(reply->header.seq, 7u);
  EXPECT_EQ(reply->body, "geerpc req 7");
}

// A connection that has done the handshake and answers, to show the server still serves it.
void expect_still_served(HandClient& good, std::uint64_t seq) {
  good.write(seq, "still there?");
  auto reply = good.read();
  ASSERT_TRUE(reply) << reply.error().message();
  EXPECT_EQ(reply->header.seq, seq);
}

struct BadPeerTest : ::testing::Test {
  LogCapture log;
  TestServer ts;
  HandClient good{ts.pool.get_executor(), ts.endpoint};
  HandClient bad{ts.pool.get_executor(), ts.endpoint};
  void SetUp() override {
    good.send_option();
    expect_still_served(good, 1);
  }
  // The bad connection is closed by the server: reading ends without a response.
  void expect_closed_without_reply() {
    auto reply = bad.read();
    EXPECT_FALSE(reply) << "got a response on a connection that should have been dropped";
  }
};

TEST_F(BadPeerTest, BadMagicClosesOnlyThatConnection) {
  bad.send_option({.magic_number = 0x123456});
  expect_closed_without_reply();
  EXPECT_TRUE(log.contains("invalid magic number"));
  expect_still_served(good, 2);
}

TEST_F(BadPeerTest, UnknownCodecClosesOnlyThatConnection) {
  bad.send_option({.codec_type = "application/gob"});
  expect_closed_without_reply();
  EXPECT_TRUE(log.contains("invalid codec type application/gob"));
  expect_still_served(good, 2);
}

TEST_F(BadPeerTest, GarbageAfterHandshakeClosesOnlyThatConnection) {
  bad.send_option();
  bad.send_raw(std::string("\0\0\0\x05hello", 9));  // a frame whose bytes are no header
  expect_closed_without_reply();
  EXPECT_TRUE(log.contains("cannot decode header"));
  expect_still_served(good, 2);
}

TEST_F(BadPeerTest, OversizedFrameClosesOnlyThatConnection) {
  bad.send_option();
  bad.send_raw("\x7f\xff\xff\xff");  // announces a 2 GiB header
  expect_closed_without_reply();
  EXPECT_TRUE(log.contains("frame exceeds the maximum size"));
  expect_still_served(good, 2);
}

TEST_F(BadPeerTest, ConnectionClosedMidFrameClosesOnlyThatConnection) {
  bad.send_option();
  bad.send_raw(std::string("\0\0\0\x40partial", 11));
  bad.conn().close_after_flush();
  expect_closed_without_reply();
  expect_still_served(good, 2);
}

TEST(Server, AClientThatSendsHalfAFrameAndGoesSilentIsDropped) {
  LogCapture log;
  TestServer ts({.frame_timeout = 100ms});
  HandClient good(ts.pool.get_executor(), ts.endpoint);
  good.send_option();
  expect_still_served(good, 1);
  HandClient silent(ts.pool.get_executor(), ts.endpoint);
  silent.send_option();
  silent.send_raw(std::string("\0\0\0\x40half", 8));  // 64 bytes announced, 4 sent, then nothing
  EXPECT_FALSE(silent.read()) << "the server kept a connection whose frame never completed";
  expect_still_served(good, 2);  // idle between frames is not a timeout
  ts.server.stop();  // returns once every connection has ended, so the reason has been logged
  EXPECT_TRUE(log.contains("timed out waiting for the rest of a frame"));
}

// The frames of a JSON request for Foo.Sum whose body is not JSON.
std::string json_request_with_bad_body(std::uint64_t seq) {
  const std::string header = nlohmann::json(Header{.service_method = "Foo.Sum", .seq = seq}).dump();
  std::string bytes;
  append_frame_length(bytes, header.size());
  bytes += header;
  append_frame_length(bytes, 5);
  bytes += "{oops";
  return bytes;
}

TEST(Server, BodyThatCannotBeDecodedGetsAnErrorAndTheConnectionGoesOn) {
  TestServer ts;
  HandClient client(ts.pool.get_executor(), ts.endpoint, json_type);
  client.send_option({.codec_type = json_type});
  std::string bytes = json_request_with_bad_body(3);
  client.send_raw(bytes);
  auto reply = client.read();
  ASSERT_TRUE(reply) << reply.error().message();
  EXPECT_EQ(reply->header.seq, 3u);
  EXPECT_EQ(reply->header.error, "rpc server: read body err: cannot decode body");
  expect_still_served(client, 4);
}

TEST(Server, AnErrorResponseQueuedBeforeAFatalFrameStillReachesTheClient) {
  TestServer ts;
  HandClient client(ts.pool.get_executor(), ts.endpoint, json_type);
  client.send_option({.codec_type = json_type});
  // Answered with an error; then a header that is no header ends the connection.
  std::string bytes = json_request_with_bad_body(5);
  bytes += std::string("\0\0\0\x05hello", 9);
  client.send_raw(bytes);
  auto reply = client.read();
  ASSERT_TRUE(reply) << reply.error();
  EXPECT_EQ(reply->header.seq, 5u);
  EXPECT_FALSE(reply->header.error.empty());
  EXPECT_FALSE(client.read());
}

TEST(ServerStop, ReturnsPromptlyWithIdleClientsConnected) {
  TestServer ts({.stop_timeout = 5s});
  std::vector<std::unique_ptr<HandClient>> clients;
  for (int i = 0; i < 10; ++i) {
    clients.push_back(std::make_unique<HandClient>(ts.pool.get_executor(), ts.endpoint));
    clients.back()->send_option();
    expect_still_served(*clients.back(), 1);
  }
  const auto start = std::chrono::steady_clock::now();
  ts.server.stop();
  // Idle connections have nothing in flight: stop must not wait for the timeout.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  for (auto& client : clients) EXPECT_FALSE(client->read()) << "connection still open after stop()";
}

TEST(ServerStop, AsyncStopCompletesTheTokenItIsGiven) {
  TestServer ts;
  std::promise<void> stopped;
  ts.server.async_stop([&stopped] { stopped.set_value(); });
  EXPECT_EQ(stopped.get_future().wait_for(wait_limit), std::future_status::ready);
  EXPECT_EQ(ts.server.connection_count(), 0u);
}

TEST(ServerStop, ReturnsWithinTheBoundWithRequestsInFlight) {
  TestServer ts({.stop_timeout = 1s});
  HandClient client(ts.pool.get_executor(), ts.endpoint);
  client.send_option();
  for (std::uint64_t seq = 0; seq < 2000; ++seq) client.write(seq, "geerpc req " + std::to_string(seq));
  ASSERT_TRUE(client.read());  // the server is busy with the rest now
  const auto start = std::chrono::steady_clock::now();
  ts.server.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  // Whatever was answered arrives whole; then the connection ends.
  for (;;) {
    auto reply = client.read();
    if (!reply) break;
    EXPECT_EQ(reply->body, "geerpc req " + std::to_string(reply->header.seq));
  }
}

}  // namespace
}  // namespace geerpc::test
