#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/read.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>
#include <asio/write.hpp>
#include <atomic>
#include <functional>
#include <optional>
#include <thread>

#include "geerpc/detail/executor.hpp"
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
  Result<Received> read() { return run(reader_conn->get_executor(), read_message(*reader)); }
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

// Another codec plugs in from outside through the map, as in Go; the built-in two stay as they are.
TEST(CodecFactory, RegistersACodecFromOutsideButNeverReplacesABuiltInOne) {
  const NewCodecFunc json = *find_new_codec_func(json_type);
  const NewCodecFunc msgpack = *find_new_codec_func(msgpack_type);
  EXPECT_FALSE(register_codec("application/x-test", json));
  auto found = find_new_codec_func("application/x-test");
  ASSERT_TRUE(found);
  EXPECT_EQ(*found, json);
  EXPECT_EQ(register_codec(msgpack_type, json).code(), std::errc::invalid_argument);
  EXPECT_EQ(*find_new_codec_func(msgpack_type), msgpack);
  EXPECT_EQ(register_codec("", json).code(), std::errc::invalid_argument);
  EXPECT_EQ(register_codec("application/x-none", nullptr).code(), std::errc::invalid_argument);
  EXPECT_FALSE(find_new_codec_func("application/x-none"));
}

// Raw bytes in, frames out: these drive Conn::read_frame directly.
struct FramePair {
  explicit FramePair(std::size_t max_frame = default_max_frame_size,
                     std::chrono::milliseconds frame_timeout = default_frame_timeout) {
    auto [a, b] = socket_pair(pool.get_executor());
    raw = std::move(a);
    conn = std::make_shared<Conn>(std::move(b), max_frame, frame_timeout);
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
  append_frame_length(out, payload.size());
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

TEST(FrameReader, ALineOfTheMaximumLengthIsRefusedWhereverItsNewlineArrives) {
  for (const std::size_t length : {99u, 100u}) {
    FramePair pair;
    asio::write(pair.raw, asio::buffer(std::string(length, 'x') + "\n"));  // one write: the newline comes along
    auto got = run(pair.conn->get_executor(), [](Conn& c) -> asio::awaitable<std::error_code> {
      std::string l;
      co_return co_await c.read_line(l, 100);
    }(*pair.conn));
    EXPECT_EQ(got, length < 100 ? std::error_code() : make_error_code(errc::frame_too_large)) << length;
  }
}

TEST(FrameReader, AFrameRefusedAfterItStartedLeavesNothingHoldingTheConnection) {
  asio::io_context io;  // run only here, so the two halves of the length arrive in two reads
  auto [raw, socket] = socket_pair(io.get_executor());
  auto conn = std::make_shared<Conn>(std::move(socket), 1024);
  std::optional<Result<std::string_view>> got;
  asio::co_spawn(
      io,
      [](Conn& c) -> asio::awaitable<Result<std::string_view>> {
        std::string_view frame;
        if (auto ec = co_await c.read_frame(frame)) co_return ec;
        co_return frame;
      }(*conn),
      [&](std::exception_ptr, Result<std::string_view> r) { got = std::move(r); });
  asio::write(raw, asio::buffer(frame(std::string(2048, 'x')).substr(0, 2)));
  io.poll();  // the first half is read; the frame has started, so its timer runs
  asio::write(raw, asio::buffer(frame(std::string(2048, 'x')).substr(2, 2)));
  io.poll();
  ASSERT_TRUE(got && !*got);
  EXPECT_EQ(got->error(), errc::frame_too_large);
  std::weak_ptr<Conn> weak = conn;
  conn.reset();
  EXPECT_TRUE(weak.expired()) << "the frame timer kept the connection alive";
  io.run();  // the timer's wait ends with the connection, not 30 s later
}

// Sends `bytes` one at a time, each well within the frame timeout, until they are all sent or the
// reader has closed the connection.
void trickle(Socket& socket, std::string_view bytes, std::chrono::milliseconds gap) {
  for (char c : bytes) {
    std::error_code ec;
    asio::write(socket, asio::buffer(&c, 1), ec);
    if (ec) return;
    std::this_thread::sleep_for(gap);
  }
}

TEST(FrameReader, ATrickleOfBytesCannotKeepAFrameOpenPastTheFrameTimeout) {
  FramePair pair(default_max_frame_size, 200ms);
  auto reader = std::async(std::launch::async, [&] { return pair.read_frame(); });
  trickle(pair.raw, frame(std::string(40, 'x')), 20ms);  // each gap 20 ms, the frame 880 ms
  auto got = reader.get();
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error(), errc::frame_timeout);
}

TEST(FrameReader, ATrickleOfBytesCannotKeepALineOpenPastTheFrameTimeout) {
  FramePair pair(default_max_frame_size, 200ms);
  auto reader = std::async(std::launch::async, [&] {
    return run(pair.conn->get_executor(), [](Conn& c) -> asio::awaitable<std::error_code> {
      std::string l;
      co_return co_await c.read_line(l, 100);
    }(*pair.conn));
  });
  trickle(pair.raw, std::string(40, 'x') + "\n", 20ms);
  EXPECT_EQ(reader.get(), errc::frame_timeout);
}

// Bytes out: a Conn whose io_context runs only when a test says so, so the deferred writer
// runs exactly then, and a raw peer socket to see what has been written so far.
using namespace std::string_view_literals;

struct Wire {
  Wire() {
    auto [a, b] = socket_pair(io.get_executor());
    raw = std::move(a);
    conn = std::make_shared<Conn>(std::move(b));
  }
  ~Wire() {
    conn->close();
    io.restart();
    io.run();
  }
  std::string received(std::size_t n) {
    std::string bytes(n, '\0');
    asio::read(raw, asio::buffer(bytes));
    return bytes;
  }
  asio::io_context io;
  Socket raw{io};
  std::shared_ptr<Conn> conn;
};

TEST(Outbox, AMessageFlushedNowIsWrittenOnTheCallingThread) {
  Wire out;
  out.conn->send(std::string("hello"), Flush::now);
  EXPECT_EQ(out.raw.available(), 5u);  // and the io_context has not run at all
  EXPECT_EQ(out.received(5), "hello");
}

TEST(Outbox, ABatchedMessageWaitsForTheWriter) {
  Wire out;
  out.conn->send(std::string("hello"));
  EXPECT_EQ(out.raw.available(), 0u);
  out.io.poll();
  EXPECT_EQ(out.received(5), "hello");
}

TEST(Outbox, AMessageOver64KiBLeavesAtOnceEvenWhenBatched) {
  Wire out;
  out.conn->send(std::string(100 * 1024, 'x'));
  EXPECT_GT(out.raw.available(), 0u);
}

TEST(Outbox, AMessageFlushedNowNeverOvertakesOneAlreadyQueued) {
  Wire out;
  out.conn->send(std::string("first,"));
  out.conn->send(std::string("second"), Flush::now);
  EXPECT_EQ(out.raw.available(), 0u);
  out.io.poll();
  EXPECT_EQ(out.received(12), "first,second");
}

TEST(Outbox, WhatTheSocketCannotTakeAtOnceIsWrittenLaterInOrder) {
  Wire out;
  std::string big(8 << 20, '\0');  // more than a socket buffer holds
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 23);
  out.conn->send(std::string(big), Flush::now);
  out.conn->send(std::string("tail"));
  std::thread writer([&] { out.io.run(); });
  const auto got = out.received(big.size() + 4);
  writer.join();
  EXPECT_TRUE(got == big + "tail");  // not EXPECT_EQ: a failure would print 8 MiB
}

TEST(Outbox, AMessageInThreePartsLeavesWholeBeforeTheNextOne) {
  Wire out;
  std::string big(8 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 23);
  const std::string want = "head," + big + ",end" + "next";
  Message message(std::string("head,"));
  message.blob = big;
  message.blob_tail = ",end";
  out.conn->send(std::move(message), Flush::now);
  out.conn->send(std::string("next"), Flush::now);
  std::thread writer([&] { out.io.run(); });
  const auto got = out.received(want.size());
  writer.join();
  EXPECT_TRUE(got == want);
}

// A connection's strand, on each kind of executor a server or client may be given: two threads
// run its handlers, and still never two handlers at once.
void expect_one_handler_at_a_time(const asio::any_io_executor& executor, const std::function<void()>& run) {
  const auto strand = make_conn_strand(executor);
  std::atomic<int> inside{0};
  std::atomic<bool> overlapped{false};
  for (int i = 0; i < 2000; ++i)
    asio::post(strand, [&] {
      if (inside.fetch_add(1) != 0) overlapped = true;
      std::this_thread::yield();  // gives the other thread a chance to break in
      inside.fetch_sub(1);
    });
  run();
  EXPECT_FALSE(overlapped);
}

TEST(ConnStrand, RunsOneHandlerAtATimeOnAThreadPool) {
  asio::thread_pool pool(2);
  expect_one_handler_at_a_time(pool.get_executor(), [&] { pool.join(); });
}

TEST(ConnStrand, RunsOneHandlerAtATimeOnAnIoContextRunByTwoThreads) {
  asio::io_context io;
  expect_one_handler_at_a_time(io.get_executor(), [&] {
    std::thread second([&] { io.run(); });
    io.run();
    second.join();
  });
}

TEST(ConnStrand, RunsOneHandlerAtATimeOnAnExecutorOfAnotherKind) {
  asio::thread_pool pool(2);
  // A strand is neither an io_context's nor a thread_pool's executor: the general case.
  expect_one_handler_at_a_time(asio::make_strand(pool.get_executor()), [&] { pool.join(); });
}

// ---- The codec against nlohmann: the header fast paths must be invisible on the wire ----

using nlohmann::json;

// What nlohmann writes for `value` in `type`'s format: the bytes peers and older builds expect.
template <class J>
std::string nlohmann_bytes(const Type& type, const J& value) {
  if (type == json_type) return value.dump();
  std::string out;
  J::to_msgpack(value, out);
  return out;
}

// The generic decoder (a json DOM, then from_json): the behaviour every fast path must keep.
Result<Header> dom_header(const Type& type, std::string_view bytes) {
  try {
    const json value = type == json_type ? json::parse(bytes) : json::from_msgpack(bytes.begin(), bytes.end());
    return value.get<Header>();
  } catch (const std::exception&) {  // from_json refuses a seq that is not an unsigned integer
    return errc::bad_header;
  }
}

// Every length and seq where an encoding switches form, plus strings JSON must escape.
std::vector<Header> sample_headers() {
  std::vector<Header> headers;
  for (std::uint64_t seq : {0ull, 1ull, 127ull, 128ull, 255ull, 256ull, 65535ull, 65536ull, 4294967295ull,
                            4294967296ull, 18446744073709551615ull}) {
    headers.push_back({.service_method = "Foo.Sum", .seq = seq, .error = ""});
  }
  for (std::size_t n : {0, 1, 31, 32, 255, 256, 65535, 65536, 70000}) {
    headers.push_back({.service_method = std::string(n, 'm'), .seq = n, .error = std::string(n, 'e')});
  }
  std::string utf8;
  for (int i = 0; i < 200; ++i) utf8 += "é";
  headers.push_back({.service_method = "Grüße.Sum", .seq = 7, .error = "失败: ünïcødé"});
  headers.push_back({.service_method = utf8, .seq = 8, .error = utf8 + utf8});
  headers.push_back(
      {.service_method = "quote\"back\\slash", .seq = 9, .error = "tab\\t newline\n nul" + std::string(1, '\0')});
  headers.push_back({.service_method = " !~\x7f", .seq = 10, .error = "\x1f\x01"});
  return headers;
}

// The header frames a codec of `type` writes for `headers`.
std::vector<std::string> written_header_frames(const Type& type, const std::vector<Header>& headers) {
  CodecPair pair(type);
  for (const auto& header : headers) pair.writer->write(header, nullptr);
  std::vector<std::string> frames;
  for (std::size_t i = 0; i < headers.size(); ++i) {
    frames.push_back(run(pair.reader_conn->get_executor(), [](Conn& conn) -> asio::awaitable<std::string> {
      std::string_view view;
      if (auto ec = co_await conn.read_frame(view)) co_return "<" + ec.message() + ">";
      std::string header(view);  // the next read invalidates the view
      co_await conn.read_frame(view);  // the body
      co_return header;
    }(*pair.reader_conn)));
  }
  return frames;
}

// Sends each payload as one frame from a raw socket and reads each back through a codec of `type`.
template <class T>
std::vector<Result<T>> read_through_codec(const Type& type, const std::vector<std::string>& payloads) {
  FramePair pair;
  auto codec = (*find_new_codec_func(type))(pair.conn);
  std::string bytes;
  for (const auto& payload : payloads) bytes += frame(payload);
  // From another thread: big frames fit the socket buffer only as the codec reads them.
  auto writer = std::async(std::launch::async, [&] { asio::write(pair.raw, asio::buffer(bytes)); });
  std::vector<Result<T>> results;
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    results.push_back(run(pair.conn->get_executor(), [](Codec& codec) -> asio::awaitable<Result<T>> {
      T value;
      std::error_code ec;
      if constexpr (std::is_same_v<T, Header>) {
        ec = co_await codec.read_header(value);
      } else {
        ec = co_await codec.read_body(&value);
      }
      if (ec) co_return ec;
      co_return value;
    }(*codec)));
  }
  writer.get();
  return results;
}

void expect_same(Result<Header> got, Result<Header> want, const std::string& what) {
  ASSERT_EQ(got.has_value(), want.has_value()) << what << ": " << got.error() << " / " << want.error();
  if (!want) {
    EXPECT_EQ(got.error().code(), want.error().code()) << what;
    return;
  }
  EXPECT_EQ(got->service_method, want->service_method) << what;
  EXPECT_EQ(got->seq, want->seq) << what;
  EXPECT_EQ(got->error, want->error) << what;
}

TEST_P(BothCodecs, WritesHeadersByteForByteAsNlohmannDoes) {
  const auto headers = sample_headers();
  const auto frames = written_header_frames(GetParam(), headers);
  for (std::size_t i = 0; i < headers.size(); ++i) {
    EXPECT_EQ(frames[i], nlohmann_bytes(GetParam(), json(headers[i]))) << "header " << i;
  }
}

// The body frame a codec of `type` writes for `body`.
std::string written_body_frame(const Type& type, const std::string& body) {
  CodecPair pair(type);
  if (auto ec = pair.writer->write({.service_method = "A.B", .seq = 1}, body)) return "<" + ec.message() + ">";
  return run(pair.reader_conn->get_executor(), [](Conn& conn) -> asio::awaitable<std::string> {
    std::string_view view;
    if (auto ec = co_await conn.read_frame(view)) co_return "<" + ec.message() + ">";  // the header
    if (auto ec = co_await conn.read_frame(view)) co_return "<" + ec.message() + ">";
    co_return std::string(view);
  }(*pair.reader_conn));
}

// Large ones leave from their own buffer, behind a frame head written by hand.
TEST_P(BothCodecs, WritesStringBodiesByteForByteAsNlohmannDoes) {
  for (std::size_t n : {0, 31, 65536, 65537, 1 << 20}) {
    const std::string body(n, 'b');
    const auto frame = written_body_frame(GetParam(), body);
    EXPECT_TRUE(frame == nlohmann_bytes(GetParam(), json(body))) << n << " bytes";  // not EXPECT_EQ: 1 MiB
  }
}

// Strings of plain bytes take a shortcut both ways (JSON); the others must still come out exactly
// as nlohmann writes and reads them.
std::vector<std::string> sample_strings() {
  return {"",
          "plain text",
          std::string(1 << 20, 'p'),
          std::string(100'000, 'x') + "\n",  // large, but needs escaping: no shortcut
          "a \" inside",
          "a back\\slash",
          "tab\tand\nnewline",
          "del \x7f",
          "caf\xc3\xa9",
          std::string("nul \0 byte", 10),
          "\"",
          "\\",
          "\"\""};
}

TEST_P(BothCodecs, WritesStringBodiesOfEveryKindAsNlohmannDoes) {
  for (const auto& body : sample_strings()) {
    const auto frame = written_body_frame(GetParam(), body);
    EXPECT_TRUE(frame == nlohmann_bytes(GetParam(), json(body))) << body.substr(0, 20);
  }
}

TEST_P(BothCodecs, ReadsStringBodiesOfEveryKindAsNlohmannDoes) {
  const auto strings = sample_strings();
  std::vector<std::string> payloads;
  for (const auto& s : strings) payloads.push_back(nlohmann_bytes(GetParam(), json(s)));
  auto got = read_through_codec<Body>(GetParam(), payloads);
  for (std::size_t i = 0; i < strings.size(); ++i) {
    ASSERT_TRUE(got[i]) << strings[i].substr(0, 20) << ": " << got[i].error();
    EXPECT_TRUE(*got[i] == json(strings[i])) << strings[i].substr(0, 20);
  }
}

TEST(JsonBodies, TextThatOnlyLooksLikeOnePlainStringIsLeftToTheParser) {
  auto got = read_through_codec<Body>(json_type, {R"("a" "b")", R"("a\")", R"("a\"")"});
  EXPECT_FALSE(got[0]);  // two strings: not JSON
  EXPECT_FALSE(got[1]);  // the last quote is escaped: the string never ends
  ASSERT_TRUE(got[2]);
  EXPECT_EQ(*got[2], json("a\""));
}

TEST_P(BothCodecs, ReadsNlohmannHeadersAsTheDomDecoderDoes) {
  std::vector<std::string> payloads;
  for (const auto& header : sample_headers()) payloads.push_back(nlohmann_bytes(GetParam(), json(header)));
  auto got = read_through_codec<Header>(GetParam(), payloads);
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    ASSERT_TRUE(got[i]) << "header " << i << ": " << got[i].error();
    expect_same(got[i], dom_header(GetParam(), payloads[i]), "header " + std::to_string(i));
  }
}

TEST_P(BothCodecs, ReadsAHeaderWithItsKeysInAnotherOrder) {
  const nlohmann::ordered_json header{{"seq", 300}, {"service_method", "Foo.Sum"}, {"error", "oops"}};
  auto got = read_through_codec<Header>(GetParam(), {nlohmann_bytes(GetParam(), header)});
  ASSERT_TRUE(got[0]) << got[0].error();
  expect_same(got[0], Header{.service_method = "Foo.Sum", .seq = 300, .error = "oops"}, "reordered");
}

TEST_P(BothCodecs, ReadsAHeaderWithAnExtraKey) {
  const json header{{"error", ""}, {"seq", 5}, {"service_method", "Foo.Sum"}, {"trace", "abc"}};
  auto got = read_through_codec<Header>(GetParam(), {nlohmann_bytes(GetParam(), header)});
  ASSERT_TRUE(got[0]) << got[0].error();
  expect_same(got[0], Header{.service_method = "Foo.Sum", .seq = 5}, "extra key");
}

TEST_P(BothCodecs, RejectsEveryTruncationOfAHeader) {
  const std::string whole =
      nlohmann_bytes(GetParam(), json(Header{.service_method = "Foo.Sum", .seq = 300, .error = "x"}));
  std::vector<std::string> prefixes;
  for (std::size_t n = 0; n < whole.size(); ++n) prefixes.push_back(whole.substr(0, n));
  auto got = read_through_codec<Header>(GetParam(), prefixes);
  for (std::size_t n = 0; n < prefixes.size(); ++n) {
    ASSERT_FALSE(got[n]) << n << " bytes";
    EXPECT_EQ(got[n].error(), errc::bad_header) << n << " bytes";
  }
}

TEST_P(BothCodecs, RejectsGarbageAsAHeader) {
  std::vector<std::string> payloads = {"\xc1", "}{",
                                       "\x83\xa5"
                                       "error"};
  for (const json& value : {json(nullptr), json::array(), json::object(), json{{"error", ""}, {"seq", 1}},
                            json{{"error", 1}, {"seq", 1}, {"service_method", "x"}},
                            json{{"error", ""}, {"seq", "1"}, {"service_method", "x"}}}) {
    payloads.push_back(nlohmann_bytes(GetParam(), value));
  }
  auto got = read_through_codec<Header>(GetParam(), payloads);
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    ASSERT_FALSE(got[i]) << "payload " << i;
    EXPECT_EQ(got[i].error(), errc::bad_header) << "payload " << i;
  }
}

TEST_P(BothCodecs, RoundTripsLargeStringBodies) {
  CodecPair pair(GetParam());
  const std::vector<Body> bodies = {std::string(64 * 1024, 'a'), std::string(1024 * 1024, 'b')};
  for (const auto& body : bodies) pair.writer->write({.service_method = "Foo.Sum", .seq = 1}, body);
  for (const auto& body : bodies) {
    auto m = pair.read();
    ASSERT_TRUE(m) << m.error();
    EXPECT_TRUE(m->body == body);  // not EXPECT_EQ: a failure would print a MiB
  }
}

TEST(JsonCodec, ReadsHeadersOffTheFastPathAsTheDomDecoderDoes) {
  // Escapes, whitespace, other number forms, leading zeros: valid or not, all the DOM's call.
  const std::vector<std::string> payloads = {
      R"({"error":"\u0041","seq":1,"service_method":"x"})",      R"( {"error":"","seq":1,"service_method":"x"} )",
      R"({"error": "","seq":1,"service_method":"x"})",           R"({"error":"","seq":1.0,"service_method":"x"})",
      R"({"error":"","seq":-1,"service_method":"x"})",           R"({"error":"","seq":01,"service_method":"x"})",
      R"({"error":"","seq":0,"service_method":"x"}x)",           R"({"error":"","seq":,"service_method":"x"})",
      "{\"error\":\"\xff\",\"seq\":1,\"service_method\":\"x\"}",  // not UTF-8
      "{\"error\":\"\x01\",\"seq\":1,\"service_method\":\"x\"}",  // a raw control character
  };
  auto got = read_through_codec<Header>(json_type, payloads);
  for (std::size_t i = 0; i < payloads.size(); ++i)
    expect_same(got[i], dom_header(json_type, payloads[i]), payloads[i]);
}

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out += static_cast<char>(v);
  return out;
}

TEST(MsgpackCodec, ReadsHeadersInNonShortestFormsAsTheDomDecoderDoes) {
  const std::string error = bytes({0x83, 0xa5}) + "error", seq = bytes({0xa3}) + "seq",
                    method = bytes({0xae}) + "service_method";
  const std::vector<std::string> payloads = {
      error + bytes({0xd9, 0x01, 'e'}) + seq + bytes({0xcf, 0, 0, 0, 0, 0, 0, 0, 7}) + method +
          bytes({0xda, 0, 1, 'm'}),
      error + bytes({0xdb, 0, 0, 0, 0}) + seq + bytes({0xcc, 0x01}) + method + bytes({0xa1, 'm'}),
      error + bytes({0xa0}) + seq + bytes({0xd0, 0x01}) + method + bytes({0xa1, 'm'}),  // signed seq
      error + bytes({0xa0}) + seq + bytes({0xff}) + method + bytes({0xa1, 'm'}),  // negative seq
      error + bytes({0xa0}) + seq + bytes({0x01}) + method + bytes({0xa1, 'm', 0x00}),  // trailing byte
      error + bytes({0xa0}) + seq + bytes({0xcd, 0x01}) + method + bytes({0xa1, 'm'}),  // short uint16
      error + bytes({0xdb, 0xff, 0xff, 0xff, 0xff}) + seq,  // a string longer than the frame
  };
  auto got = read_through_codec<Header>(msgpack_type, payloads);
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    expect_same(got[i], dom_header(msgpack_type, payloads[i]), "payload " + std::to_string(i));
  }
}

// ==, and the same types too: nlohmann's == has 1u, 1 and 1.0 equal.
bool identical(const json& a, const json& b) {
  if (a.type() != b.type() || a.size() != b.size()) return false;
  if (a.is_number_float())
    return std::bit_cast<std::uint64_t>(a.get<double>()) == std::bit_cast<std::uint64_t>(b.get<double>());
  if (!a.is_structured()) return a == b;
  for (auto i = a.begin(), j = b.begin(); i != a.end(); ++i, ++j) {
    if ((a.is_object() && i.key() != j.key()) || !identical(*i, *j)) return false;
  }
  return true;
}

TEST(MsgpackCodec, DecodesEveryKindOfBodyExactlyAsNlohmann) {
  std::vector<std::string> payloads = {
      bytes({0x00}),
      bytes({0x7f}),
      bytes({0xe0}),
      bytes({0xff}),
      bytes({0xc0}),
      bytes({0xc2}),
      bytes({0xc3}),
      bytes({0xcc, 0xff}),
      bytes({0xcd, 0x01, 0x00}),
      bytes({0xce, 0xff, 0, 0, 1}),
      bytes({0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),
      bytes({0xd0, 0x80}),
      bytes({0xd0, 0x7f}),
      bytes({0xd1, 0x80, 0x00}),
      bytes({0xd2, 0xff, 0xff, 0xff, 0xfe}),
      bytes({0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0}),
      bytes({0xd3, 0, 0, 0, 0, 0, 0, 0, 5}),
      bytes({0xca, 0x3f, 0x80, 0, 0}),
      bytes({0xca, 0x7f, 0xc0, 0, 1}),
      bytes({0xcb, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18}),
      bytes({0xa0}),
      bytes({0xa3, 'a', 'b', 'c'}),
      bytes({0xd9, 0x01, 'x'}),
      bytes({0xda, 0x00, 0x01, 'x'}),
      bytes({0xdb, 0, 0, 0, 1, 'x'}),
      bytes({0xc4, 0x02, 1, 2}),
      bytes({0xc5, 0, 1, 9}),
      bytes({0xc6, 0, 0, 0, 0}),
      bytes({0xd4, 0x01, 0x05}),
      bytes({0xc7, 0x01, 0xfe, 0x07}),  // ext: nlohmann's own path
      bytes({0x92, 0x01, 0xa1, 'x'}),
      bytes({0xdc, 0x00, 0x02, 0xc2, 0xc3}),
      bytes({0xdd, 0, 0, 0, 1, 0x90}),
      bytes({0x82, 0xa1, 'b', 0x01, 0xa1, 'a', 0x02}),
      bytes({0x82, 0xa1, 'a', 0x01, 0xa1, 'a', 0x92, 0x01, 0x02}),
      bytes({0xde, 0, 1, 0xd9, 1, 'k', 0xc0}),
      bytes({0xdf, 0, 0, 0, 0}),
      bytes({0x81, 0xda, 0, 0, 0x80}),
      std::string(max_nesting, '\x91') + bytes({0x01}),  // nested as deep as the limit allows
      // Invalid: every one must stay an error.
      "",
      bytes({0xc1}),
      bytes({0x81, 0x01, 0x02}),
      bytes({0x01, 0x02}),
      bytes({0xdd, 0xff, 0xff, 0xff, 0xff}),
      bytes({0xdb, 0xff, 0xff, 0xff, 0xff, 'x'}),
      bytes({0xc6, 0, 0, 1, 0}),
      bytes({0x92, 0x01}),
      bytes({0xcb, 0x40}),
      std::string(100, '\x91'),
  };
  payloads.push_back(nlohmann_bytes(msgpack_type, json::parse(R"({"a":[1,-2,3.5,"s",null,true,{"b":{}}],"c":"x"})")));
  auto got = read_through_codec<Body>(msgpack_type, payloads);
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    try {
      const json want = json::from_msgpack(payloads[i].begin(), payloads[i].end());
      ASSERT_TRUE(got[i]) << "payload " << i << ": " << got[i].error();
      EXPECT_TRUE(identical(*got[i], want)) << "payload " << i << ": " << got[i]->dump() << " vs " << want.dump();
    } catch (const json::exception&) {
      ASSERT_FALSE(got[i]) << "payload " << i << " decoded to " << got[i]->dump();
      EXPECT_EQ(got[i].error(), errc::bad_body) << "payload " << i;
    }
  }
}

TEST(MsgpackCodec, RejectsEveryTruncationOfABody) {
  const std::string whole = nlohmann_bytes(
      msgpack_type, json{{"a", {1, -2, 3.5, std::string(300, 's'), nullptr}}, {"b", json::binary({1, 2, 3})}});
  std::vector<std::string> prefixes;
  for (std::size_t n = 0; n < whole.size(); ++n) prefixes.push_back(whole.substr(0, n));
  auto got = read_through_codec<Body>(msgpack_type, prefixes);
  for (std::size_t n = 0; n < prefixes.size(); ++n) {
    ASSERT_FALSE(got[n]) << n << " bytes";
    EXPECT_EQ(got[n].error(), errc::bad_body) << n << " bytes";
  }
}

TEST(MsgpackCodec, RoundTripsALargeBinaryBody) {
  CodecPair pair(msgpack_type);
  std::vector<std::uint8_t> data(1024 * 1024);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 7);
  const Body body = json::binary(data);
  pair.writer->write({.service_method = "Foo.Sum", .seq = 1}, body);
  auto m = pair.read();
  ASSERT_TRUE(m) << m.error();
  EXPECT_TRUE(identical(m->body, body));
}

TEST(CodecLimits, TheJsonCodecRefusesToWriteAStringThatIsNotUtf8AndQueuesNothing) {
  CodecPair pair(json_type);
  EXPECT_EQ(pair.writer->write({.service_method = "A.B", .seq = 1}, std::string("\xff\xfe")), errc::bad_body);
  EXPECT_EQ(pair.writer->write({.service_method = "A.B", .seq = 2, .error = "\xff"}, nullptr), errc::bad_header);
  ASSERT_FALSE(pair.writer->write({.service_method = "A.B", .seq = 3}, "fine"));
  auto m = pair.read();  // the first message on the wire is the third one written
  ASSERT_TRUE(m) << m.error();
  EXPECT_EQ(m->header.seq, 3u);
}

Error body_error(const Type& type, const std::string& body_frame) {
  CodecPair pair(type);
  std::string header;
  if (type == json_type) {
    header = nlohmann::json(Header{.service_method = "A.B", .seq = 1}).dump();
  } else {
    nlohmann::json::to_msgpack(nlohmann::json(Header{.service_method = "A.B", .seq = 1}), header);
  }
  std::string bytes;
  for (const auto& frame : {header, body_frame}) {
    append_frame_length(bytes, frame.size());
    bytes += frame;
  }
  pair.writer_conn->send(bytes);
  auto m = pair.read();
  return m ? Error{} : m.error();
}

TEST(CodecLimits, BodiesNestedDeeperThanTheLimitAreRefusedNotACrash) {
  EXPECT_EQ(body_error(json_type, std::string(100000, '[') + std::string(100000, ']')), errc::bad_body);
  EXPECT_EQ(body_error(msgpack_type, std::string(100000, '\x91') + '\xc0'), errc::bad_body);
}

TEST(CodecLimits, BothCodecsCountTheLevelsAlikeEvenWhenTheInnermostIsEmpty) {
  EXPECT_FALSE(body_error(json_type, std::string(64, '[') + std::string(64, ']')));
  EXPECT_FALSE(body_error(msgpack_type, std::string(63, '\x91') + '\x90'));
  EXPECT_EQ(body_error(json_type, std::string(65, '[') + std::string(65, ']')), errc::bad_body);
  EXPECT_EQ(body_error(msgpack_type, std::string(64, '\x91') + '\x90'), errc::bad_body);
}

// An ext value is one the fast MessagePack reader leaves to nlohmann, with the rest of the body.
TEST(CodecLimits, DeepNestingAfterAnExtValueIsRefusedNotACrash) {
  const std::string ext_then_deep = "\x92\xd4\x01\x05" + std::string(100000, '\x91') + '\xc0';
  EXPECT_EQ(body_error(msgpack_type, ext_then_deep), errc::bad_body);
}

TEST(CodecLimits, BodiesNestedUpToTheLimitAreAccepted) {
  for (const auto& type : {json_type, msgpack_type}) {
    CodecPair pair(type);
    Body deep = 1;
    for (int i = 0; i < max_nesting; ++i) deep = Body::array({deep});
    ASSERT_FALSE(pair.writer->write({.service_method = "A.B", .seq = 1}, deep));
    auto m = pair.read();
    ASSERT_TRUE(m) << type << ": " << m.error();
    EXPECT_EQ(m->body, deep);
  }
}

TEST(CodecLimits, AJsonHeaderWhoseSeqIsNotAnUnsignedIntegerIsABadHeader) {
  for (const char* seq : {"-1", "1.5", "18446744073709551630"}) {
    CodecPair pair(json_type);
    const std::string header = std::string(R"({"error":"","seq":)") + seq + R"(,"service_method":"A.B"})";
    std::string bytes;
    append_frame_length(bytes, header.size());
    bytes += header;
    append_frame_length(bytes, 4);
    bytes += "null";
    pair.writer_conn->send(bytes);
    auto m = pair.read();
    ASSERT_FALSE(m) << seq;
    EXPECT_EQ(m.error(), errc::bad_header) << seq;
  }
}

TEST(Body, TakeBodyMovesAStringOutAndConvertsOtherTypesAsUsual) {
  Body blob = std::string(1000, 'x');
  std::string text;
  take_body(std::move(blob), text);
  EXPECT_EQ(text, std::string(1000, 'x'));
  EXPECT_TRUE(blob.get_ref<std::string&>().empty());  // moved out, not copied
  int number = 0;
  take_body(Body(42), number);
  EXPECT_EQ(number, 42);
  EXPECT_THROW(take_body(Body("not a number"), number), nlohmann::json::exception);
}

}  // namespace
}  // namespace geerpc::test
