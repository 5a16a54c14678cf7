// The protobuf codec: the reflection converter both ways, header and body round trips, a service
// with protobuf messages over all three codecs, and what a bad peer gets.
#include "geerpc/protobuf_codec.hpp"

#include <google/protobuf/util/message_differencer.h>

#include "proto/foo.pb.h"
#include "proto/geerpc_header.pb.h"
#include "test_util.hpp"

namespace geerpc::pbtest {
namespace {

using geerpc::test::HandClient;
using geerpc::test::Received;
using geerpc::test::run;
using geerpc::test::socket_pair;
using protobuf::protobuf_type;

struct Foo {
  Error Sum(const SumArgs& args, SumReply* reply) {
    reply->set_sum(args.num1() + args.num2());
    return {};
  }
  Error Echo(const EchoArgs& args, EchoReply* reply) {
    reply->set_text(args.text());
    return {};
  }
  Error Mirror(const Kinds& args, Kinds* reply) {
    *reply = args;
    return {};
  }
};
GEERPC_SERVICE(Foo, Sum, Echo, Mirror)

// A service the .proto does not declare: callable over JSON and MessagePack only.
struct Undeclared {
  Error Sum(const SumArgs& args, SumReply* reply) {
    reply->set_sum(args.num1() + args.num2());
    return {};
  }
};
GEERPC_SERVICE(Undeclared, Sum)

class Environment : public ::testing::Environment {
  void SetUp() override {
    ASSERT_FALSE(protobuf::register_protobuf_codec());
    ASSERT_FALSE(protobuf::add_services(SumArgs::descriptor()->file()));
  }
};
const auto* const environment = ::testing::AddGlobalTestEnvironment(new Environment);

Kinds every_kind() {
  Kinds k;
  k.set_i32(-5);
  k.set_i64(-(1LL << 60));
  k.set_u32(4000000000u);
  k.set_u64(18446744073709551615ull);
  k.set_s32(-7);
  k.set_s64(1LL << 62);
  k.set_f32(9);
  k.set_f64(1ULL << 63);
  k.set_sf32(-9);
  k.set_sf64(-(1LL << 62));
  k.set_flt(1.5f);
  k.set_dbl(-2.25);
  k.set_flag(true);
  k.set_text("héllo 世界");
  k.set_data(std::string("\0\xff\x01 bytes", 9));
  k.set_colour(Kinds::GREEN);
  k.mutable_nested()->set_num1(3);
  k.add_numbers(1);
  k.add_numbers(-2);
  k.add_list()->set_num2(8);
  (*k.mutable_counts())["a"] = 1LL << 40;
  (*k.mutable_names())[-3] = "minus three";
  k.set_maybe(0);
  k.set_number(42);
  return k;
}

// Both ends of a socket pair, each with a protobuf codec: the writer plays the client.
struct CodecPair {
  explicit CodecPair(const Type& type) {
    auto [a, b] = socket_pair(pool.get_executor());
    writer_conn = std::make_shared<Conn>(std::move(a));
    reader_conn = std::make_shared<Conn>(std::move(b));
    writer = (*find_new_codec_func(type))(writer_conn);
    reader = (*find_new_codec_func(type))(reader_conn);
  }
  ~CodecPair() {
    writer_conn->close();
    reader_conn->close();
    pool.join();
  }
  Result<Received> read() { return run(reader_conn->get_executor(), geerpc::test::read_message(*reader)); }
  asio::thread_pool pool{2};
  std::shared_ptr<Conn> writer_conn, reader_conn;
  std::unique_ptr<Codec> writer, reader;
};

bool same(const google::protobuf::Message& a, const google::protobuf::Message& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

TEST(Converter, WritesEveryFieldUnderItsProtoName) {
  const Body body = protobuf::to_body(every_kind());
  EXPECT_EQ(body["i64"], -(1LL << 60));  // a number, not the text protobuf's JSON printer writes
  EXPECT_TRUE(body["u64"].is_number_unsigned());
  EXPECT_EQ(body["u64"], 18446744073709551615ull);
  EXPECT_EQ(body["data"], "AP8BIGJ5dGVz");  // base64
  EXPECT_EQ(body["colour"], "GREEN");
  EXPECT_EQ(body["nested"], (Body{{"num1", 3}, {"num2", 0}}));  // defaults included
  EXPECT_EQ(body["counts"], (Body{{"a", 1LL << 40}}));
  EXPECT_EQ(body["names"], (Body{{"-3", "minus three"}}));
  EXPECT_EQ(body["maybe"], 0);  // set to its default, so present
  EXPECT_EQ(body["number"], 42);
  EXPECT_FALSE(body.contains("word"));  // the oneof member that is not set
}

TEST(Converter, WritesAnEmptyMessageWithEveryDefault) {
  const Body body = protobuf::to_body(Kinds());
  EXPECT_EQ(body["i32"], 0);
  EXPECT_EQ(body["text"], "");
  EXPECT_EQ(body["colour"], "COLOUR_UNSPECIFIED");
  EXPECT_TRUE(body["nested"].is_null());
  EXPECT_TRUE(body["maybe"].is_null());
  EXPECT_EQ(body["numbers"], Body::array());
  EXPECT_FALSE(body.contains("word"));
  EXPECT_FALSE(body.contains("number"));
}

TEST(Converter, RoundTripsEveryKindOfField) {
  Kinds back;
  protobuf::from_body(protobuf::to_body(every_kind()), back);
  EXPECT_TRUE(same(back, every_kind())) << back.DebugString();
  // Through MessagePack's and JSON's bytes too, as a body travels.
  Kinds via_msgpack, via_json;
  protobuf::from_body(Body::from_msgpack(Body::to_msgpack(Body(every_kind()))), via_msgpack);
  Body::parse(Body(every_kind()).dump()).get_to(via_json);
  EXPECT_TRUE(same(via_msgpack, every_kind()));
  EXPECT_TRUE(same(via_json, every_kind()));
}

TEST(Converter, ReadsEnumNumbersAndBinaryBytes) {
  Kinds k;
  protobuf::from_body(Body{{"colour", 1}, {"data", Body::binary({1, 2, 3})}}, k);
  EXPECT_EQ(k.colour(), Kinds::RED);
  EXPECT_EQ(k.data(), "\x01\x02\x03");
}

TEST(Converter, RefusesWhatTheMessageCannotHoldNamingTheField) {
  const std::vector<std::pair<Body, std::string>> cases = {
      {Body{{"nope", 1}}, "field 'nope' is not in geerpc.Kinds"},
      {Body{{"i32", 1.5}}, "field 'i32': expected a whole number, got 1.5"},
      {Body{{"i32", 2147483648LL}}, "field 'i32': 2147483648 is out of range"},
      {Body{{"u32", -1}}, "field 'u32': -1 is out of range"},
      {Body{{"text", 5}}, "field 'text': expected a string, got 5"},
      {Body{{"text", std::string("\xff")}}, "field 'text': the string is not valid UTF-8"},
      {Body{{"data", "*"}}, "field 'data': expected base64 text, got a string"},
      {Body{{"colour", "BLUE"}}, "field 'colour': no value \"BLUE\" in geerpc.Kinds.Colour"},
      {Body{{"nested", {{"num1", "x"}}}}, "field 'nested.num1': expected a whole number, got a string"},
      {Body{{"numbers", {1, true}}}, "field 'numbers[1]': expected a whole number, got true"},
      {Body{{"names", {{"x", "y"}}}}, "field 'names.x': the key \"x\" is not a int32"},
      {Body{1, 2}, "expected an object for geerpc.Kinds, got an array"},
  };
  for (const auto& [body, words] : cases) {
    Kinds k;
    try {
      protobuf::from_body(body, k);
      ADD_FAILURE() << body.dump() << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(e.what(), words) << body.dump();
    }
  }
}

TEST(ProtobufCodec, RoundTripsHeadersAndBodiesBothWays) {
  CodecPair pair(protobuf_type);
  // Requests: client (writer) to server (reader).
  const std::vector<Header> headers = {
      {.service_method = "Foo.Sum", .seq = 0},
      {.service_method = "Foo.Mirror", .seq = 18446744073709551615ull},
      {.service_method = "Foo.Echo", .seq = 1ull << 40},
  };
  const std::vector<Body> bodies = {protobuf::to_body(SumArgs()), protobuf::to_body(every_kind()),
                                    Body{{"text", "héllo"}}};
  for (std::size_t i = 0; i < headers.size(); ++i) ASSERT_FALSE(pair.writer->write(headers[i], bodies[i]));
  for (std::size_t i = 0; i < headers.size(); ++i) {
    auto m = pair.read();
    ASSERT_TRUE(m) << m.error().message();
    EXPECT_EQ(m->header.service_method, headers[i].service_method);
    EXPECT_EQ(m->header.seq, headers[i].seq);
    EXPECT_EQ(m->header.error, "");
    EXPECT_EQ(m->body, bodies[i]);
  }
  // Replies: the same seqs back, read as the methods' output types; an error reply's body is null.
  ASSERT_FALSE(pair.reader->write({.service_method = "Foo.Sum", .seq = 0}, Body{{"sum", 7}}));
  ASSERT_FALSE(
      pair.reader->write({.service_method = "Foo.Mirror", .seq = 18446744073709551615ull, .error = "失败"}, Body()));
  auto reply = run(pair.writer_conn->get_executor(), geerpc::test::read_message(*pair.writer));
  ASSERT_TRUE(reply) << reply.error().message();
  EXPECT_EQ(reply->body, (Body{{"sum", 7}}));
  auto failed = run(pair.writer_conn->get_executor(), geerpc::test::read_message(*pair.writer));
  ASSERT_TRUE(failed) << failed.error().message();
  EXPECT_EQ(failed->header.error, "失败");
  EXPECT_TRUE(failed->body.is_null());
}

TEST(ProtobufCodec, RefusesToWriteWhatTheMessageCannotHoldAndQueuesNothing) {
  CodecPair pair(protobuf_type);
  EXPECT_EQ(pair.writer->write({.service_method = "Foo.Sum", .seq = 1}, Body{{"num3", 1}}), errc::bad_body);
  EXPECT_EQ(pair.writer->write({.service_method = "Foo.Nope", .seq = 2}, Body{{"num1", 1}}), errc::bad_body);
  EXPECT_EQ(pair.writer->write({.service_method = std::string("\xff"), .seq = 3}, Body()), errc::bad_header);
  ASSERT_FALSE(pair.writer->write({.service_method = "Foo.Sum", .seq = 4}, Body{{"num1", 1}}));
  auto m = pair.read();  // the first message that arrives is the one that was written
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->header.seq, 4u);
  EXPECT_EQ(m->body, (Body{{"num1", 1}, {"num2", 0}}));
}

// The bytes of a header frame and a body frame, as a peer could send them by hand.
std::string frames(const pb::Header& header, std::string_view body) {
  std::string out;
  append_frame_length(out, header.ByteSizeLong());
  out += header.SerializeAsString();
  append_frame_length(out, body.size());
  out += body;
  return out;
}
pb::Header sum_header(std::uint64_t seq) {
  pb::Header h;
  h.set_service_method("Foo.Sum");
  h.set_seq(seq);
  return h;
}

struct ProtoServer {
  ProtoServer() : server(pool.get_executor()) {
    EXPECT_FALSE(server.register_service(foo));
    EXPECT_FALSE(server.register_service(undeclared));
    auto listener = listen(pool.get_executor(), "tcp", "127.0.0.1:0");
    endpoint = listener->local_endpoint();
    server.accept(std::move(*listener));
  }
  ~ProtoServer() {
    server.stop();
    pool.join();
  }
  asio::thread_pool pool{2};
  Foo foo;
  Undeclared undeclared;
  Server server;
  Endpoint endpoint;
};

class AllCodecs : public ::testing::TestWithParam<Type> {};
INSTANTIATE_TEST_SUITE_P(Protobuf, AllCodecs, ::testing::Values(protobuf_type, msgpack_type, json_type));

TEST_P(AllCodecs, AServiceWithProtobufMessagesAnswersOverEachCodec) {
  ProtoServer ps;
  auto client = *dial(ps.pool.get_executor(), "tcp", to_string(ps.endpoint), {.codec_type = GetParam()});
  SumArgs args;
  args.set_num1(3);
  args.set_num2(4);
  SumReply reply;
  ASSERT_FALSE(client->call("Foo.Sum", args, &reply));
  EXPECT_EQ(reply.sum(), 7);
  Kinds mirrored;
  ASSERT_FALSE(client->call("Foo.Mirror", every_kind(), &mirrored));
  EXPECT_TRUE(same(mirrored, every_kind())) << mirrored.DebugString();
  EchoReply echoed;
  EchoArgs text;
  text.set_text(std::string(70000, 'x'));
  ASSERT_FALSE(client->call("Foo.Echo", text, &echoed));
  EXPECT_EQ(echoed.text(), text.text());
  EXPECT_FALSE(client->close());
}

// A protobuf body cannot carry a float into an int32; JSON and MessagePack bodies can, and are
// checked by day 3's argument checks, which read the shape the converter gives.
class JsonCodecs : public ::testing::TestWithParam<Type> {};
INSTANTIATE_TEST_SUITE_P(Protobuf, JsonCodecs, ::testing::Values(msgpack_type, json_type));

TEST_P(JsonCodecs, ArgumentsAreCheckedAsForAnyOtherTypeInTheProjectsWords) {
  ProtoServer ps;
  auto client = *dial(ps.pool.get_executor(), "tcp", to_string(ps.endpoint), {.codec_type = GetParam()});
  SumReply reply;
  auto err = client->call("Foo.Sum", Body{{"num1", 1.5}, {"num2", 1}}, &reply);
  EXPECT_EQ(err.message(),
            "rpc server: read argv err: geerpc::SumArgs: field 'num1': expected a whole number, got 1.5");
  err = client->call("Foo.Sum", Body{{"num1", 1}, {"num9", 1}}, &reply);
  EXPECT_EQ(err.message(), "rpc server: read argv err: geerpc::SumArgs: field 'num9' is not in geerpc.SumArgs");
  err = client->call("Foo.Sum", Body{{"num1", 1LL << 40}}, &reply);
  EXPECT_EQ(err.message(),
            "rpc server: read argv err: geerpc::SumArgs: field 'num1': 1099511627776 is out of range "
            "(-2147483648 to 2147483647)");
}

TEST(ProtobufService, AMethodTheProtoDoesNotDeclareCannotBeCalledOverProtobufOnly) {
  ProtoServer ps;
  SumArgs args;
  args.set_num1(1);
  SumReply reply;
  auto pb_client = *dial(ps.pool.get_executor(), "tcp", to_string(ps.endpoint), {.codec_type = protobuf_type});
  auto err = pb_client->call("Undeclared.Sum", args, &reply);
  EXPECT_EQ(err.message(), "rpc client: cannot encode request: cannot decode body");
  auto mp_client = *dial(ps.pool.get_executor(), "tcp", to_string(ps.endpoint), {.codec_type = msgpack_type});
  EXPECT_FALSE(mp_client->call("Undeclared.Sum", args, &reply));
  EXPECT_EQ(reply.sum(), 1);
}

TEST(ProtobufService, AMalformedBodyGetsAnErrorReplyAndTheConnectionGoesOn) {
  ProtoServer ps;
  HandClient client(ps.pool.get_executor(), ps.endpoint, protobuf_type);
  client.send_option({.codec_type = protobuf_type});
  // 0x08 is field 1 as a varint, and the varint never ends; then a field with wire type 7.
  for (std::string_view bad : {std::string_view("\x08\xff", 2), std::string_view("\x0f\x01", 2)}) {
    client.send_raw(frames(sum_header(1), bad));
    auto m = client.read();
    ASSERT_TRUE(m) << m.error().message();
    EXPECT_EQ(m->header.seq, 1u);
    EXPECT_EQ(m->header.error, "rpc server: read body err: cannot decode body");
    EXPECT_TRUE(m->body.is_null());
  }
  client.write(2, Body{{"num1", 20}, {"num2", 22}}, "Foo.Sum");
  auto m = client.read();
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->header.error, "");
  EXPECT_EQ(m->body, (Body{{"sum", 42}}));
}

TEST(ProtobufService, AnEmptyHeaderFrameIsAHeaderWithEveryFieldAtItsDefault) {
  // Unlike a JSON or MessagePack header, 0 bytes are a whole protobuf message: the request is
  // answered as ill-formed, and the connection goes on.
  ProtoServer ps;
  HandClient client(ps.pool.get_executor(), ps.endpoint, protobuf_type);
  client.send_option({.codec_type = protobuf_type});
  client.send_raw(frames(pb::Header(), ""));
  auto m = client.read();
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->header.seq, 0u);
  EXPECT_EQ(m->header.error, "rpc server: service/method request ill-formed: ");
  client.write(1, Body{{"num1", 1}}, "Foo.Sum");
  m = client.read();
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->body, (Body{{"sum", 1}}));
}

TEST(ProtobufService, AStringThatIsNotUtf8IsABadBodyAndProtobufLogsNothing) {
  ProtoServer ps;
  HandClient client(ps.pool.get_executor(), ps.endpoint, protobuf_type);
  client.send_option({.codec_type = protobuf_type});
  pb::Header echo;
  echo.set_service_method("Foo.Echo");
  echo.set_seq(3);
  ::testing::internal::CaptureStderr();
  client.send_raw(frames(echo, std::string_view("\x0a\x01\xff", 3)));
  auto m = client.read();
  const std::string stderr_text = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->header.error, "rpc server: read body err: cannot decode body");
  EXPECT_EQ(stderr_text.find("libprotobuf"), std::string::npos) << stderr_text;
}

TEST(ProtobufService, AnOversizeFrameEndsTheConnection) {
  ProtoServer ps;
  HandClient client(ps.pool.get_executor(), ps.endpoint, protobuf_type);
  client.send_option({.codec_type = protobuf_type});
  std::string prefix;
  append_frame_length(prefix, default_max_frame_size + 1);
  client.send_raw(prefix);
  EXPECT_FALSE(client.read());
}

TEST(ProtobufService, AGarbageHeaderEndsTheConnectionAfterEarlierReplies) {
  ProtoServer ps;
  HandClient client(ps.pool.get_executor(), ps.endpoint, protobuf_type);
  client.send_option({.codec_type = protobuf_type});
  client.write(1, Body{{"num1", 1}, {"num2", 2}}, "Foo.Sum");
  std::string garbage;
  append_frame_length(garbage, 3);
  garbage += "\xff\xff\xff";  // a field number 0 cannot be: not a protobuf message
  client.send_raw(garbage);
  auto m = client.read();
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->body, (Body{{"sum", 3}}));
  EXPECT_FALSE(client.read());
}

TEST(ProtobufService, AFieldOfAnotherWireTypeIsSetAsideAsProtobufDoes) {
  // num1 sent as a length-delimited field: protobuf keeps it as an unknown field, and the call
  // goes through with num1 0, as it would in any protobuf server.
  ProtoServer ps;
  HandClient client(ps.pool.get_executor(), ps.endpoint, protobuf_type);
  client.send_option({.codec_type = protobuf_type});
  client.send_raw(frames(sum_header(5), std::string_view("\x0a\x01x", 3)));
  auto m = client.read();
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->header.seq, 5u);
  EXPECT_EQ(m->header.error, "");
}

}  // namespace
}  // namespace geerpc::pbtest
