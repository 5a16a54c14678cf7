#include "geerpc/protobuf_codec.hpp"

#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/stubs/common.h>
#include <google/protobuf/stubs/logging.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include "proto/geerpc_header.pb.h"

namespace geerpc::protobuf {
namespace {

namespace gp = google::protobuf;
using FD = gp::FieldDescriptor;

// ---- base64, the protobuf JSON mapping's form of a bytes field ----

constexpr std::string_view base64_digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const auto n = static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16 |
                   static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8 |
                   static_cast<unsigned char>(in[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += base64_digits[(n >> shift) & 63];
  }
  if (i < in.size()) {
    std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16;
    if (i + 1 < in.size()) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8;
    out += base64_digits[(n >> 18) & 63];
    out += base64_digits[(n >> 12) & 63];
    out += i + 1 < in.size() ? base64_digits[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// Standard or URL-safe digits, padded or not, as protobuf's own JSON parser accepts them.
bool base64_decode(std::string_view in, std::string& out) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return false;
  out.clear();
  std::uint32_t n = 0;
  int bits = 0;
  for (char c : in) {
    const auto v = base64_digits.find(c == '-' ? '+' : c == '_' ? '/' : c);  // URL-safe digits too
    if (v == std::string_view::npos) return false;
    n = n << 6 | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((n >> bits) & 0xff);
    }
  }
  return true;
}

// ---- message -> JSON ----

Body scalar(const gp::Message& m, const gp::Reflection& r, const FD& f, int index) {
  const bool rep = index >= 0;
  switch (f.cpp_type()) {
    case FD::CPPTYPE_INT32: return rep ? r.GetRepeatedInt32(m, &f, index) : r.GetInt32(m, &f);
    case FD::CPPTYPE_INT64: return rep ? r.GetRepeatedInt64(m, &f, index) : r.GetInt64(m, &f);
    case FD::CPPTYPE_UINT32: return rep ? r.GetRepeatedUInt32(m, &f, index) : r.GetUInt32(m, &f);
    case FD::CPPTYPE_UINT64: return rep ? r.GetRepeatedUInt64(m, &f, index) : r.GetUInt64(m, &f);
    case FD::CPPTYPE_FLOAT: return rep ? r.GetRepeatedFloat(m, &f, index) : r.GetFloat(m, &f);
    case FD::CPPTYPE_DOUBLE: return rep ? r.GetRepeatedDouble(m, &f, index) : r.GetDouble(m, &f);
    case FD::CPPTYPE_BOOL: return rep ? r.GetRepeatedBool(m, &f, index) : r.GetBool(m, &f);
    case FD::CPPTYPE_ENUM: {
      const int number = rep ? r.GetRepeatedEnumValue(m, &f, index) : r.GetEnumValue(m, &f);
      const auto* value = f.enum_type()->FindValueByNumber(number);
      return value ? Body(value->name()) : Body(number);  // a number this side does not know
    }
    case FD::CPPTYPE_STRING: {
      std::string text = rep ? r.GetRepeatedString(m, &f, index) : r.GetString(m, &f);
      return f.type() == FD::TYPE_BYTES ? Body(base64_encode(text)) : Body(std::move(text));
    }
    case FD::CPPTYPE_MESSAGE: return to_body(rep ? r.GetRepeatedMessage(m, &f, index) : r.GetMessage(m, &f));
  }
  return Body();
}

// JSON object keys are text: a map's integer or bool keys are written as their digits or words.
std::string map_key(const Body& key) {
  return key.is_string() ? key.get<std::string>() : key.dump();
}

// ---- JSON -> message ----

[[noreturn]] void refuse(const std::string& path, const std::string& what) {
  throw std::invalid_argument("field '" + path + "': " + what);
}

std::string got(const Body& value) {
  if (value.is_number() || value.is_boolean()) return value.dump();
  if (value.is_null()) return "null";
  if (value.is_string()) return "a string";
  if (value.is_array()) return "an array";
  if (value.is_object()) return "an object";
  return "binary";
}

template <class I>
I whole(const Body& value, const std::string& path) {
  if (!value.is_number_integer()) refuse(path, "expected a whole number, got " + got(value));
  if (value.is_number_unsigned()) {
    const auto v = value.get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(std::numeric_limits<I>::max())) refuse(path, value.dump() + " is out of range");
    return static_cast<I>(v);
  }
  const auto v = value.get<std::int64_t>();
  if constexpr (std::is_unsigned_v<I>) {
    if (v < 0) refuse(path, value.dump() + " is out of range");
  } else {
    if (v < std::numeric_limits<I>::min() || v > std::numeric_limits<I>::max())
      refuse(path, value.dump() + " is out of range");
  }
  return static_cast<I>(v);
}

// The text of a string or bytes field; a map key comes as text whatever its type.
std::string text_of(const Body& value, const FD& f, const std::string& path) {
  if (f.type() == FD::TYPE_BYTES) {
    if (value.is_binary()) return {value.get_binary().begin(), value.get_binary().end()};
    std::string bytes;
    if (!value.is_string() || !base64_decode(value.get_ref<const std::string&>(), bytes))
      refuse(path, "expected base64 text, got " + got(value));
    return bytes;
  }
  if (!value.is_string()) refuse(path, "expected a string, got " + got(value));
  const auto& text = value.get_ref<const std::string&>();
  // protobuf's parser refuses such a string field, so it is refused here before it is sent.
  if (!gp::internal::IsStructurallyValidUTF8(text.data(), static_cast<int>(text.size())))
    refuse(path, "the string is not valid UTF-8");
  return text;
}

int enum_number(const Body& value, const FD& f, const std::string& path) {
  if (value.is_string()) {
    const auto* known = f.enum_type()->FindValueByName(value.get_ref<const std::string&>());
    if (!known) refuse(path, "no value " + value.dump() + " in " + f.enum_type()->full_name());
    return known->number();
  }
  if (value.is_number_integer()) return whole<std::int32_t>(value, path);
  refuse(path, "expected an enum name or number, got " + got(value));
}

double floating(const Body& value, const std::string& path) {
  if (!value.is_number()) refuse(path, "expected a number, got " + got(value));
  return value.get<double>();
}

// A map key arrives as text (a JSON object key); it is read as its field's type.
Body key_value(const std::string& key, const FD& f, const std::string& path) {
  switch (f.cpp_type()) {
    case FD::CPPTYPE_STRING: return key;
    case FD::CPPTYPE_BOOL:
      if (key == "true" || key == "false") return key == "true";
      break;
    default: {
      const Body number = Body::parse(key, nullptr, false);
      if (number.is_number_integer()) return number;
    }
  }
  refuse(path, "the key \"" + key + "\" is not a " + std::string(f.type_name()));
}

void fill(const Body& body, gp::Message& m, const std::string& prefix);

void set_one(const Body& value, gp::Message& m, const FD& f, const std::string& path) {
  const auto& r = *m.GetReflection();
  const bool rep = f.is_repeated();
  switch (f.cpp_type()) {
    case FD::CPPTYPE_INT32: {
      const auto v = whole<std::int32_t>(value, path);
      rep ? r.AddInt32(&m, &f, v) : r.SetInt32(&m, &f, v);
      break;
    }
    case FD::CPPTYPE_INT64: {
      const auto v = whole<std::int64_t>(value, path);
      rep ? r.AddInt64(&m, &f, v) : r.SetInt64(&m, &f, v);
      break;
    }
    case FD::CPPTYPE_UINT32: {
      const auto v = whole<std::uint32_t>(value, path);
      rep ? r.AddUInt32(&m, &f, v) : r.SetUInt32(&m, &f, v);
      break;
    }
    case FD::CPPTYPE_UINT64: {
      const auto v = whole<std::uint64_t>(value, path);
      rep ? r.AddUInt64(&m, &f, v) : r.SetUInt64(&m, &f, v);
      break;
    }
    case FD::CPPTYPE_FLOAT: {
      const auto v = static_cast<float>(floating(value, path));
      rep ? r.AddFloat(&m, &f, v) : r.SetFloat(&m, &f, v);
      break;
    }
    case FD::CPPTYPE_DOUBLE: {
      const auto v = floating(value, path);
      rep ? r.AddDouble(&m, &f, v) : r.SetDouble(&m, &f, v);
      break;
    }
    case FD::CPPTYPE_BOOL: {
      if (!value.is_boolean()) refuse(path, "expected a boolean, got " + got(value));
      rep ? r.AddBool(&m, &f, value.get<bool>()) : r.SetBool(&m, &f, value.get<bool>());
      break;
    }
    case FD::CPPTYPE_ENUM: {
      const int v = enum_number(value, f, path);
      rep ? r.AddEnumValue(&m, &f, v) : r.SetEnumValue(&m, &f, v);
      break;
    }
    case FD::CPPTYPE_STRING: {
      auto v = text_of(value, f, path);
      rep ? r.AddString(&m, &f, std::move(v)) : r.SetString(&m, &f, std::move(v));
      break;
    }
    case FD::CPPTYPE_MESSAGE: {
      if (!value.is_object()) refuse(path, "expected an object, got " + got(value));
      fill(value, rep ? *r.AddMessage(&m, &f) : *r.MutableMessage(&m, &f), path + ".");
      break;
    }
  }
}

void set_field(const Body& value, gp::Message& m, const FD& f, const std::string& path) {
  const auto& r = *m.GetReflection();
  if (f.is_map()) {
    if (!value.is_object()) refuse(path, "expected an object, got " + got(value));
    const auto& key_field = *f.message_type()->map_key();
    const auto& value_field = *f.message_type()->map_value();
    for (const auto& [key, item] : value.items()) {
      auto& entry = *r.AddMessage(&m, &f);
      const std::string at = path + "." + key;
      set_one(key_value(key, key_field, at), entry, key_field, at);
      set_one(item, entry, value_field, at);
    }
  } else if (f.is_repeated()) {
    if (!value.is_array()) refuse(path, "expected an array, got " + got(value));
    for (std::size_t i = 0; i < value.size(); ++i) set_one(value[i], m, f, path + "[" + std::to_string(i) + "]");
  } else if (value.is_null() && f.has_presence()) {
    r.ClearField(&m, &f);  // null is how to_body writes an unset message or optional field
  } else {
    set_one(value, m, f, path);
  }
}

void fill(const Body& body, gp::Message& m, const std::string& prefix) {
  const auto& d = *m.GetDescriptor();
  for (const auto& [key, value] : body.items()) {
    const auto* f = d.FindFieldByName(key);
    if (!f) throw std::invalid_argument("field '" + prefix + key + "' is not in " + d.full_name());
    set_field(value, m, *f, prefix + key);
  }
}

// ---- the services the codec knows ----

struct Services {
  std::mutex mutex;
  std::map<std::string, const gp::ServiceDescriptor*, std::less<>> by_name;
};
Services& services() {
  static Services s;
  return s;
}

// The method "Service.Method" names, or null when no added service declares it.
const gp::MethodDescriptor* find_method(std::string_view service_method) {
  const auto dot = service_method.rfind('.');
  if (dot == std::string_view::npos) return nullptr;
  const auto* service = [&]() -> const gp::ServiceDescriptor* {
    auto& s = services();
    std::lock_guard lock(s.mutex);
    const auto it = s.by_name.find(service_method.substr(0, dot));
    return it == s.by_name.end() ? nullptr : it->second;
  }();
  return service ? service->FindMethodByName(std::string(service_method.substr(dot + 1))) : nullptr;
}

std::unique_ptr<gp::Message> new_message(const gp::Descriptor* type) {
  return std::unique_ptr<gp::Message>(gp::MessageFactory::generated_factory()->GetPrototype(type)->New());
}

// ---- the codec ----

// Which way a frame goes decides its body type, and the seq tells: a seq this codec wrote is a
// request it is waiting on, so a header that carries it is a reply (the client's side); any
// other header is a request (the server's side), and writing its seq later is the reply.
class ProtobufCodec final : public Codec {
 public:
  explicit ProtobufCodec(std::shared_ptr<Conn> conn) : conn_(std::move(conn)) {}

  asio::awaitable<std::error_code> read_header(Header& header) override {
    std::string_view frame;
    if (auto ec = co_await conn_->read_frame(frame)) co_return ec;
    pb::Header h;
    {
      gp::LogSilencer quiet;  // a peer's bad bytes are reported as bad_header, not logged
      if (frame.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()) ||
          !h.ParseFromArray(frame.data(), static_cast<int>(frame.size())))
        co_return errc::bad_header;
    }
    header.service_method = std::move(*h.mutable_service_method());
    header.seq = h.seq();
    header.error = std::move(*h.mutable_error());
    const bool is_reply = take(written_, header.seq);
    if (!is_reply) add(read_, header.seq);
    const auto* method = find_method(header.service_method);
    body_type_ = method ? (is_reply ? method->output_type() : method->input_type()) : nullptr;
    body_is_error_ = !header.error.empty();
    co_return std::error_code{};
  }

  asio::awaitable<std::error_code> read_body(Body* body) override {
    std::string_view frame;
    if (auto ec = co_await conn_->read_frame(frame)) co_return ec;
    if (!body) co_return std::error_code{};
    if (body_is_error_) {  // a failed call's body is the empty message: null, as in the other codecs
      *body = Body();
      co_return std::error_code{};
    }
    if (!body_type_) co_return errc::bad_body;  // no message type to read it as
    auto message = new_message(body_type_);
    {
      gp::LogSilencer quiet;
      if (frame.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()) ||
          !message->ParseFromArray(frame.data(), static_cast<int>(frame.size())))
        co_return errc::bad_body;
    }
    try {
      *body = to_body(*message);
    } catch (const std::exception&) {  // nesting nlohmann cannot hold
      co_return errc::bad_body;
    }
    co_return std::error_code{};
  }

  std::error_code write(const Header& header, Body body, Flush flush) override {
    const bool is_reply = take(read_, header.seq);
    Message out;
    pb::Header h;
    h.set_service_method(header.service_method);
    h.set_seq(header.seq);
    h.set_error(header.error);
    if (!valid_utf8(header.service_method) || !valid_utf8(header.error))
      return refused(is_reply, header.seq, errc::bad_header);
    append(out.bytes, h);
    if (!header.error.empty() || body.is_null()) {
      append_frame_length(out.bytes, 0);  // the empty message
    } else {
      const auto* method = find_method(header.service_method);
      if (!method) return refused(is_reply, header.seq, errc::bad_body);
      auto message = new_message(is_reply ? method->output_type() : method->input_type());
      try {
        from_body(body, *message);
      } catch (const std::exception&) {
        return refused(is_reply, header.seq, errc::bad_body);
      }
      append(out.bytes, *message);
    }
    if (!is_reply) add(written_, header.seq);
    conn_->send(std::move(out), flush);
    return {};
  }

  void close() override { conn_->close_after_flush(); }
  Conn& conn() override { return *conn_; }

 private:
  using Seqs = std::unordered_map<std::uint64_t, int>;

  static bool valid_utf8(const std::string& text) {
    return gp::internal::IsStructurallyValidUTF8(text.data(), static_cast<int>(text.size()));
  }
  static void append(std::string& out, const gp::MessageLite& message) {
    const std::size_t size = message.ByteSizeLong();
    append_frame_length(out, size);
    const std::size_t at = out.size();
    out.resize(at + size);
    message.SerializeWithCachedSizesToArray(reinterpret_cast<std::uint8_t*>(out.data() + at));
  }
  // A reply that could not be written keeps its seq: the server answers it once more, with an
  // error, and that answer must still be known for a reply.
  std::error_code refused(bool is_reply, std::uint64_t seq, errc code) {
    if (is_reply) add(read_, seq);
    return code;
  }

  void add(Seqs& seqs, std::uint64_t seq) {
    std::lock_guard lock(mutex_);
    ++seqs[seq];
  }
  bool take(Seqs& seqs, std::uint64_t seq) {
    std::lock_guard lock(mutex_);
    const auto it = seqs.find(seq);
    if (it == seqs.end()) return false;
    if (--it->second == 0) seqs.erase(it);
    return true;
  }

  std::shared_ptr<Conn> conn_;
  // Touched only by the reader.
  const gp::Descriptor* body_type_ = nullptr;
  bool body_is_error_ = false;
  // Written by write() on any thread, read by the reader.
  std::mutex mutex_;
  Seqs written_, read_;
};

std::unique_ptr<Codec> make(std::shared_ptr<Conn> conn) {
  return std::make_unique<ProtobufCodec>(std::move(conn));
}

}  // namespace

Body to_body(const gp::Message& message) {
  const auto& d = *message.GetDescriptor();
  const auto& r = *message.GetReflection();
  Body out = Body::object();
  for (int i = 0; i < d.field_count(); ++i) {
    const auto& f = *d.field(i);
    Body& slot = out[f.name()];
    if (f.is_map()) {
      slot = Body::object();
      const auto& key_field = *f.message_type()->map_key();
      const auto& value_field = *f.message_type()->map_value();
      for (int k = 0; k < r.FieldSize(message, &f); ++k) {
        const auto& entry = r.GetRepeatedMessage(message, &f, k);
        const auto& er = *entry.GetReflection();
        slot[map_key(scalar(entry, er, key_field, -1))] = scalar(entry, er, value_field, -1);
      }
    } else if (f.is_repeated()) {
      slot = Body::array();
      for (int k = 0; k < r.FieldSize(message, &f); ++k) slot.push_back(scalar(message, r, f, k));
    } else if (f.has_presence() && !r.HasField(message, &f)) {
      if (f.real_containing_oneof()) out.erase(f.name());  // only the member that is set shows
      // else: null, already there
    } else {
      slot = scalar(message, r, f, -1);
    }
  }
  return out;
}

void from_body(const Body& body, gp::Message& message) {
  message.Clear();
  if (body.is_null()) return;
  if (!body.is_object())
    throw std::invalid_argument("expected an object for " + message.GetDescriptor()->full_name() + ", got " +
                                got(body));
  fill(body, message, "");
}

Error register_protobuf_codec() {
  return register_codec(protobuf_type, &make);
}

Error add_services(const gp::FileDescriptor* file) {
  if (!file) return {std::make_error_code(std::errc::invalid_argument), "add_services: no file"};
  auto& s = services();
  std::lock_guard lock(s.mutex);
  for (int i = 0; i < file->service_count(); ++i) {
    const auto* service = file->service(i);
    const auto [it, added] = s.by_name.emplace(service->name(), service);
    if (!added && it->second != service)
      return {errc::duplicate_service, "protobuf codec: service " + service->name() + " is declared twice"};
  }
  return {};
}

}  // namespace geerpc::protobuf
