#include "geerpc/codec.hpp"

namespace geerpc {

void to_json(nlohmann::json& j, const Header& header) {
  j = nlohmann::json{{"service_method", header.service_method}, {"seq", header.seq}, {"error", header.error}};
}

void from_json(const nlohmann::json& j, Header& header) {
  j.at("service_method").get_to(header.service_method);
  j.at("seq").get_to(header.seq);
  j.at("error").get_to(header.error);
}

namespace {

// Framing is shared; the two codecs differ only in how one JSON value becomes bytes.
class FramedCodec : public Codec {
 public:
  explicit FramedCodec(std::shared_ptr<Conn> conn) : conn_(std::move(conn)) {}

  asio::awaitable<std::error_code> read_header(Header& header) override {
    std::string_view frame;
    if (auto ec = co_await conn_->read_frame(frame)) co_return ec;
    try {
      decode(frame).get_to(header);
    } catch (const nlohmann::json::exception&) {
      co_return errc::bad_header;
    }
    co_return std::error_code{};
  }

  asio::awaitable<std::error_code> read_body(Body* body) override {
    std::string_view frame;
    if (auto ec = co_await conn_->read_frame(frame)) co_return ec;
    if (!body) co_return std::error_code{};
    try {
      *body = decode(frame);
    } catch (const nlohmann::json::exception&) {
      co_return errc::bad_body;
    }
    co_return std::error_code{};
  }

  void write(const Header& header, const Body& body) override {
    std::string message;
    append_frame(message, nlohmann::json(header));
    append_frame(message, body);
    conn_->send(message);
  }

  void close() override { conn_->close_after_flush(); }
  Conn& conn() override { return *conn_; }

 protected:
  virtual void encode(const nlohmann::json& value, std::string& out) const = 0;
  virtual nlohmann::json decode(std::string_view bytes) const = 0;

 private:
  void append_frame(std::string& out, const nlohmann::json& value) const {
    const std::size_t prefix_at = out.size();
    out.append(4, '\0');
    encode(value, out);
    std::string length;
    Conn::append_length(length, out.size() - prefix_at - 4);
    out.replace(prefix_at, 4, length);
  }

  std::shared_ptr<Conn> conn_;
};

class JsonCodec final : public FramedCodec {
 public:
  using FramedCodec::FramedCodec;

 protected:
  void encode(const nlohmann::json& value, std::string& out) const override { out += value.dump(); }
  nlohmann::json decode(std::string_view bytes) const override { return nlohmann::json::parse(bytes); }
};

// The binary default, in the role gob plays for Go.
class MsgpackCodec final : public FramedCodec {
 public:
  using FramedCodec::FramedCodec;

 protected:
  void encode(const nlohmann::json& value, std::string& out) const override {
    nlohmann::json::to_msgpack(value, out);  // appends
  }
  nlohmann::json decode(std::string_view bytes) const override {
    return nlohmann::json::from_msgpack(bytes.begin(), bytes.end());
  }
};

template <class C>
std::unique_ptr<Codec> make(std::shared_ptr<Conn> conn) {
  return std::make_unique<C>(std::move(conn));
}

}  // namespace

const std::map<Type, NewCodecFunc, std::less<>>& new_codec_func_map() {
  static const std::map<Type, NewCodecFunc, std::less<>> map{
      {json_type, &make<JsonCodec>},
      {msgpack_type, &make<MsgpackCodec>},
  };
  return map;
}

Result<NewCodecFunc> find_new_codec_func(std::string_view type) {
  const auto& map = new_codec_func_map();
  const auto it = map.find(type);
  if (it == map.end()) return errc::unknown_codec;
  return it->second;
}

}  // namespace geerpc
