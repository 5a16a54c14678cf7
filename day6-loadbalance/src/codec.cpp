#include "geerpc/codec.hpp"

#include <stdexcept>

#include "codec_fast.hpp"

namespace geerpc {

void to_json(nlohmann::json& j, const Header& header) {
  j = nlohmann::json{{"service_method", header.service_method}, {"seq", header.seq}, {"error", header.error}};
}

void from_json(const nlohmann::json& j, Header& header) {
  j.at("service_method").get_to(header.service_method);
  // A float or negative seq would be converted with undefined (or surprising) results.
  if (!j.at("seq").is_number_unsigned()) throw std::invalid_argument("seq is not an unsigned integer");
  j.at("seq").get_to(header.seq);
  j.at("error").get_to(header.error);
}

namespace {

using nlohmann::json;

// The two formats differ only in how one JSON value becomes bytes and back. Each tries a fast
// path of codec_fast.hpp first: the same result for the shapes it knows, nlohmann for the rest.
struct JsonFormat {
  static void encode_header(const Header& header, std::string& out) {
    if (!fast::json_encode_header(header, out)) out += json(header).dump();
  }
  static void encode(const Body& body, std::string& out) {
    if (!fast::json_encode_string(body, out)) out += body.dump();
  }
  static Body decode(std::string_view bytes) {
    Body body;
    if (fast::json_decode_string(bytes, body)) return body;
    return json::parse(bytes, fast::refuse_deep_json);
  }
  static void decode_header(std::string_view bytes, Header& header) {
    if (!fast::json_decode_header(bytes, header)) decode(bytes).get_to(header);
  }
  static bool move_blob(Body& body, Message& message) { return fast::json_move_blob(body, message); }
};

// The binary default, in the role gob plays for Go.
struct MsgpackFormat {
  static void encode_header(const Header& header, std::string& out) {
    if (!fast::msgpack_encode_header(header, out)) json::to_msgpack(json(header), out);
  }
  static void encode(const Body& body, std::string& out) { json::to_msgpack(body, out); }
  static Body decode(std::string_view bytes) {
    Body body;
    if (fast::msgpack_decode(bytes, body)) return body;
    fast::check_msgpack_nesting(bytes);  // from_msgpack recurses without a limit of its own
    return json::from_msgpack(bytes.begin(), bytes.end());
  }
  static void decode_header(std::string_view bytes, Header& header) {
    if (!fast::msgpack_decode_header(bytes, header)) decode(bytes).get_to(header);
  }
  static bool move_blob(Body& body, Message& message) { return fast::msgpack_move_blob(body, message); }
};

// Appends one frame: the 4-byte length, then what `encode` appends.
template <class Encode>
void append_frame(std::string& out, Encode encode) {
  const std::size_t prefix_at = out.size();
  out.append(4, '\0');  // the length, known once the bytes are written
  encode();
  std::string length;  // 4 bytes: no allocation
  append_frame_length(length, out.size() - prefix_at - 4);
  out.replace(prefix_at, 4, length);
}

// Framing is shared by both formats: a message is a header frame and a body frame.
template <class Format>
class FramedCodec final : public Codec {
 public:
  explicit FramedCodec(std::shared_ptr<Conn> conn) : conn_(std::move(conn)) {}

  asio::awaitable<std::error_code> read_header(Header& header) override {
    std::string_view frame;
    if (auto ec = co_await conn_->read_frame(frame)) co_return ec;
    try {
      Format::decode_header(frame, header);
    } catch (const std::exception&) {  // nlohmann's, and ours for a bad seq or too deep nesting
      co_return errc::bad_header;
    }
    co_return std::error_code{};
  }

  asio::awaitable<std::error_code> read_body(Body* body) override {
    std::string_view frame;
    if (auto ec = co_await conn_->read_frame(frame)) co_return ec;
    if (!body) co_return std::error_code{};
    try {
      *body = Format::decode(frame);
    } catch (const std::exception&) {  // nlohmann's, and ours for too deep nesting
      co_return errc::bad_body;
    }
    co_return std::error_code{};
  }

  std::error_code write(const Header& header, Body body, Flush flush) override {
    Message message;
    fast::reserve(message.bytes, header, body);
    try {
      append_frame(message.bytes, [&] { Format::encode_header(header, message.bytes); });
    } catch (const json::exception&) {
      return errc::bad_header;
    }
    if (!Format::move_blob(body, message)) {  // a large string body is sent without a copy
      try {
        append_frame(message.bytes, [&] { Format::encode(body, message.bytes); });
      } catch (const json::exception&) {
        return errc::bad_body;
      }
    }
    conn_->send(std::move(message), flush);
    return {};
  }

  void close() override { conn_->close_after_flush(); }
  Conn& conn() override { return *conn_; }

 private:
  std::shared_ptr<Conn> conn_;
};

template <class Format>
std::unique_ptr<Codec> make(std::shared_ptr<Conn> conn) {
  return std::make_unique<FramedCodec<Format>>(std::move(conn));
}

std::map<Type, NewCodecFunc, std::less<>>& codec_map() {
  static std::map<Type, NewCodecFunc, std::less<>> map{
      {json_type, &make<JsonFormat>},
      {msgpack_type, &make<MsgpackFormat>},
  };
  return map;
}

}  // namespace

const std::map<Type, NewCodecFunc, std::less<>>& new_codec_func_map() {
  return codec_map();
}

Error register_codec(Type type, NewCodecFunc make) {
  if (type.empty() || make == nullptr)
    return {std::make_error_code(std::errc::invalid_argument),
            "register_codec: a codec needs a type and a constructor"};
  if (type == json_type || type == msgpack_type)
    return {std::make_error_code(std::errc::invalid_argument), "register_codec: " + type + " is built in"};
  codec_map()[std::move(type)] = make;
  return {};
}

Result<NewCodecFunc> find_new_codec_func(std::string_view type) {
  const auto& map = new_codec_func_map();
  const auto it = map.find(type);
  if (it == map.end()) return errc::unknown_codec;
  return it->second;
}

}  // namespace geerpc
