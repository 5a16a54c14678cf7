#include <asio/write.hpp>

#include "test_util.hpp"

namespace geerpc::test {
namespace {

// Both ends of a socket pair, each with a codec of the given type.
struct CodecPair {
  explicit CodecPair(const Type& type, std::size_t max_frame = default_max_frame_size) {
    auto [a, b] = socket_pair(pool.get_executor());
    writer_conn = std::make_shared<Conn>(std::move(a), max_frame);
    reader_conn = std::make_shared<Conn>(std::move(b), max_frame);
    writer = (*find_new_codec_func(type))(writer_conn);
    reader = (*find_new_codec_func(type))(reader_conn);
  }
  ~CodecPair() {
    writer_conn->close();
    reader_conn->close();
    pool.join();
  }
  Result<Message> read() {
    return run(reader_conn->get_executor(), [](Codec& codec) -> asio::awaitable<Result<Message>> {
      Message m;
      if (auto ec = co_await codec.read_header(m.header)) co_return ec;
      if (auto ec = co_await codec.read_body(&m.body)) co_return ec;
      co_return m;
    }(*reader));
  }
  asio::thread_pool pool{2};
  std::shared_ptr<Conn> writer_conn, reader_conn;
  std::unique_ptr<Codec> writer, reader;
};

class BothCodecs : public ::testing::TestWithParam<Type> {};
INSTANTIATE_TEST_SUITE_P(Codec, BothCodecs, ::testing::Values(json_type, msgpack_type));

TEST_P(BothCodecs, RoundTripsHeaderAndBody) {
  CodecPair pair(GetParam());
  const std::vector<Header> headers = {
      {.service_method = "", .seq = 0, .error = ""},
      {.service_method = "Grüße.Sum", .seq = 18446744073709551615ull, .error = "失败: ünïcødé"},
      {.service_method = "Foo.Sum", .seq = 1ull << 40, .error = std::string(100000, 'e')},
  };
  const std::vector<Body> bodies = {"", "héllo 世界", Body{{"a", 1}, {"b", {1, 2, 3}}}};
  for (std::size_t i = 0; i < headers.size(); ++i) pair.writer->write(headers[i], bodies[i]);
  for (std::size_t i = 0; i < headers.size(); ++i) {
    auto m = pair.read();
    ASSERT_TRUE(m) << "message " << i << ": " << m.error().message();
    EXPECT_EQ(m->header.service_method, headers[i].service_method);
    EXPECT_EQ(m->header.seq, headers[i].seq);
    EXPECT_EQ(m->header.error, headers[i].error);
    EXPECT_EQ(m->body, bodies[i]);
  }
}

TEST(CodecFactory, BuildsTheCodecNamedByTheType) {
  // The first byte after the length prefix tells the format apart: '{' for JSON, a
  // MessagePack fixmap (0x83, three keys) for MessagePack.
  for (auto [type, first_byte] : {std::pair{json_type, '{'}, std::pair{msgpack_type, '\x83'}}) {
    CodecPair pair(type);
    pair.writer->write({.service_method = "A.B", .seq = 1}, 1);
    std::string bytes = run(pair.reader_conn->get_executor(), [](Conn& conn) -> asio::awaitable<std::string> {
      std::string_view frame;
      co_await conn.read_frame(frame);
      co_return std::string(frame);
    }(*pair.reader_conn));
    ASSERT_FALSE(bytes.empty());
    EXPECT_EQ(bytes[0], first_byte) << type;
  }
}

TEST(CodecFactory, ReportsAnUnknownType) {
  auto f = find_new_codec_func("application/gob");
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error(), errc::unknown_codec);
  EXPECT_EQ(new_codec_func_map().size(), 2u);
}

// Raw bytes in, frames out: these drive Conn::read_frame directly.
struct FramePair {
  explicit FramePair(std::size_t max_frame = default_max_frame_size) {
    auto [a, b] = socket_pair(pool.get_executor());
    raw = std::move(a);
    conn = std::make_shared<Conn>(std::move(b), max_frame);
  }
  ~FramePair() {
    conn->close();
    pool.join();
  }
  Result<std::string> read_frame() {
    return run(conn->get_executor(), [](Conn& c) -> asio::awaitable<Result<std::string>> {
      std::string_view frame;
      if (auto ec = co_await c.read_frame(frame)) co_return ec;
      co_return std::string(frame);
    }(*conn));
  }
  asio::thread_pool pool{2};
  Socket raw{pool};
  std::shared_ptr<Conn> conn;
};

std::string frame(std::string_view payload) {
  std::string out;
  Conn::append_length(out, payload.size());
  out += payload;
  return out;
}

TEST(FrameReader, DecodesAFrameDeliveredOneByteAtATime) {
  FramePair pair;
  auto future = std::async(std::launch::async, [&] { return pair.read_frame(); });
  for (char c : frame("hello, world")) {
    asio::write(pair.raw, asio::buffer(&c, 1));
    std::this_thread::yield();
  }
  auto got = future.get();
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(*got, "hello, world");
}

TEST(FrameReader, DecodesTwoMessagesArrivingInOneReadAsTwo) {
  FramePair pair;
  asio::write(pair.raw, asio::buffer(frame("first") + frame("second")));
  EXPECT_EQ(*pair.read_frame(), "first");
  EXPECT_EQ(*pair.read_frame(), "second");
}

TEST(FrameReader, RejectsAnOversizedFrame) {
  FramePair pair(1024);
  asio::write(pair.raw, asio::buffer(frame(std::string(1025, 'x'))));
  auto got = pair.read_frame();
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error(), errc::frame_too_large);
}

TEST(FrameReader, ReportsAConnectionClosedMidFrame) {
  FramePair pair;
  asio::write(pair.raw, asio::buffer(frame("truncated").substr(0, 6)));
  pair.raw.close();
  auto got = pair.read_frame();
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error(), errc::truncated_frame);
}

TEST(FrameReader, KeepsBytesAfterTheOptionLineForTheFrames) {
  FramePair pair;
  asio::write(pair.raw, asio::buffer("{\"line\":1}\n" + frame("next")));
  auto line = run(pair.conn->get_executor(), [](Conn& c) -> asio::awaitable<std::string> {
    std::string l;
    co_await c.read_line(l, 100);
    co_return l;
  }(*pair.conn));
  EXPECT_EQ(line, "{\"line\":1}");
  EXPECT_EQ(*pair.read_frame(), "next");
}

}  // namespace
}  // namespace geerpc::test
