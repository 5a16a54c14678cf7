// The protobuf codec's header and body decoders, fed the fuzzer's bytes through a real connection
// as a server reads them. The first byte picks the frame: even, the input is a header frame; odd,
// a valid Foo.Mirror header comes first and the input is the body frame, read as a geerpc.Kinds
// (every kind of field). Either decoding ends in a value or bad_header / bad_body and consumes the
// frame whole; a body that decodes converts back into the same message type and to the same JSON.
// Built with clang when asked: -DGEERPC_PROTOBUF_FUZZ=ON (reuses fuzz/fuzz_util.cpp).
#include "fuzz_util.hpp"
#include "geerpc/protobuf_codec.hpp"
#include "proto/foo.pb.h"
#include "proto/geerpc_header.pb.h"

using namespace geerpc;

namespace {

asio::awaitable<void> read(std::unique_ptr<Codec> codec, bool header_only) {
  Header h;
  if (auto ec = co_await codec->read_header(h)) {
    if (ec != errc::bad_header) fuzz::fail("read_header", ec);
    if (!header_only) fuzz::fail("read_header refused the valid Foo.Mirror header");
  } else if (!header_only) {
    Body body;
    if (auto ec = co_await codec->read_body(&body); ec && ec != errc::bad_body) {
      fuzz::fail("read_body", ec);
    } else if (!ec) {
      Kinds again;
      try {
        protobuf::from_body(body, again);
      } catch (const std::exception& e) {
        fuzz::fail(std::string("a decoded body does not convert back: ") + e.what());
      }
      const auto replace = nlohmann::json::error_handler_t::replace;
      if (protobuf::to_body(again).dump(-1, ' ', false, replace) != body.dump(-1, ' ', false, replace))
        fuzz::fail("a decoded body changed on its way back: " + body.dump(-1, ' ', false, replace));
    }
  }
  std::string_view rest;
  if (auto ec = co_await codec->conn().read_frame(rest); ec != asio::error::eof)
    fuzz::fail("the frame was not consumed whole");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init();
  if (protobuf::register_protobuf_codec() || protobuf::add_services(Kinds::descriptor()->file()))
    fuzz::fail("cannot register the protobuf codec");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0 || size > fuzz::max_frame_size) return 0;
  const bool header_only = data[0] % 2 == 0;
  std::string bytes;
  if (!header_only) {
    pb::Header h;
    h.set_service_method("Foo.Mirror");
    h.set_seq(1);
    append_frame_length(bytes, h.ByteSizeLong());
    bytes += h.SerializeAsString();
  }
  append_frame_length(bytes, size - 1);
  bytes.append(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto [reader, writer] = fuzz::socket_pair();
  fuzz::spawn(writer.get_executor(), fuzz::write_and_close(std::move(writer), std::move(bytes)));
  auto conn = std::make_shared<Conn>(std::move(reader));
  fuzz::spawn(conn->get_executor(), read((*find_new_codec_func(protobuf::protobuf_type))(conn), header_only));
  fuzz::run();
  return 0;
}
