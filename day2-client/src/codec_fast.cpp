// The fast paths of the codecs; see codec_fast.hpp. A first reading may skip this file.
#include "codec_fast.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <vector>

namespace geerpc::fast {
namespace {

using nlohmann::json;

// Everything here reads bytes a peer chose: every read is bounds-checked and reports failure
// instead of running past the end, and failure only ever means "let nlohmann decide".
class Bytes {
 public:
  explicit Bytes(std::string_view s) : p_(s.data()), end_(s.data() + s.size()) {}

  bool empty() const { return p_ == end_; }
  std::size_t size() const { return static_cast<std::size_t>(end_ - p_); }

  bool skip(std::string_view literal) {
    if (size() < literal.size() || std::memcmp(p_, literal.data(), literal.size()) != 0) return false;
    p_ += literal.size();
    return true;
  }
  bool take(std::uint64_t n, std::string_view& out) {
    if (size() < n) return false;
    out = {p_, static_cast<std::size_t>(n)};
    p_ += n;
    return true;
  }
  bool byte(std::uint8_t& b) {
    if (empty()) return false;
    b = static_cast<std::uint8_t>(*p_++);
    return true;
  }
  // An n-byte big-endian unsigned integer, as MessagePack writes them.
  bool big_endian(std::size_t n, std::uint64_t& v) {
    if (size() < n) return false;
    v = 0;
    for (std::size_t i = 0; i < n; ++i) v = v << 8 | static_cast<std::uint8_t>(p_[i]);
    p_ += n;
    return true;
  }
  // JSON digits; only those nlohmann reads as the same unsigned integer (no leading zeros, no
  // overflow: it would make a float of that).
  bool json_unsigned(std::uint64_t& v) {
    const auto [end, ec] = std::from_chars(p_, end_, v);
    if (ec != std::errc{} || (*p_ == '0' && end - p_ > 1)) return false;
    p_ = end;
    return true;
  }
  // The rest of a JSON string (the opening quote already read) if it is plain, see below.
  bool json_plain_string(std::string_view& out);

 private:
  const char* p_;
  const char* end_;
};

// Printable ASCII except '"' and '\\': dump() writes these bytes as they are and parse() reads them
// back as they are. Anything else needs escaping or UTF-8 validation, which stays nlohmann's job.
bool plain(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x20 && u <= 0x7f && c != '"' && c != '\\';
}
bool plain(std::string_view s) {
  // No early exit: as one reduction the compiler checks 16 or more bytes a step, where nlohmann's
  // serializer takes a byte at a time.
  unsigned char odd = 0;
  for (const char c : s) odd |= static_cast<unsigned char>(!plain(c));
  return odd == 0;
}

bool Bytes::json_plain_string(std::string_view& out) {
  const char* const start = p_;
  while (p_ != end_ && plain(*p_)) ++p_;
  if (p_ == end_ || *p_ != '"') return false;
  out = {start, static_cast<std::size_t>(p_++ - start)};
  return true;
}

// MessagePack's str and uint families, each value in the shortest form: what to_msgpack writes.
void append_big_endian(std::string& out, std::uint64_t v, std::size_t n) {
  for (std::size_t i = n; i-- > 0;) out += static_cast<char>(v >> (8 * i));
}
void append_msgpack_string_head(std::string& out, std::size_t size) {
  if (size <= 31) {
    out += static_cast<char>(0xa0 | size);
  } else {
    const std::size_t n = size <= 0xff ? 1 : size <= 0xffff ? 2 : 4;
    out += static_cast<char>(0xd9 + std::countr_zero(n));  // str8, str16, str32
    append_big_endian(out, size, n);
  }
}
void append_msgpack_string(std::string& out, std::string_view s) {
  append_msgpack_string_head(out, s.size());
  out += s;
}
void append_msgpack_unsigned(std::string& out, std::uint64_t v) {
  if (v < 0x80) {
    out += static_cast<char>(v);
  } else {
    const std::size_t n = v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffffffff ? 4 : 8;
    out += static_cast<char>(0xcc + std::countr_zero(n));  // uint8, uint16, uint32, uint64
    append_big_endian(out, v, n);
  }
}

// Any str form: fixstr, str8, str16, str32 (the same set nlohmann accepts for strings and keys).
bool read_msgpack_string(Bytes& in, std::uint8_t tag, std::string_view& out) {
  std::uint64_t n = tag & 0x1f;
  if (tag >= 0xd9 && tag <= 0xdb) {
    if (!in.big_endian(std::size_t{1} << (tag - 0xd9), n)) return false;
  } else if (tag < 0xa0 || tag > 0xbf) {
    return false;
  }
  return in.take(n, out);
}
bool read_msgpack_string(Bytes& in, std::string_view& out) {
  std::uint8_t tag = 0;
  return in.byte(tag) && read_msgpack_string(in, tag, out);
}

// A key as to_msgpack writes it: a fixstr.
bool skip_msgpack_key(Bytes& in, std::string_view key) {
  std::uint8_t tag = 0;
  return in.byte(tag) && tag == (0xa0 | key.size()) && in.skip(key);
}

// A MessagePack value as nlohmann's from_msgpack builds it (same types, same values, the last of
// duplicate keys wins), but with strings and binaries copied in bulk. It declines what it does not
// handle - ext types, malformed or very deeply nested input - and the caller hands those to
// nlohmann, so every result and every error stays nlohmann's.
bool read_msgpack(Bytes& in, json& out, int depth = 0) {
  std::uint8_t tag = 0;
  std::uint64_t n = 0;
  std::string_view bytes;
  const auto set = [&out](auto value) {
    out = json(std::move(value));
    return true;
  };
  if (!in.byte(tag)) return false;
  if (tag <= 0x7f) return set(std::uint64_t{tag});  // positive fixint
  if (tag >= 0xe0) return set(std::int64_t{static_cast<std::int8_t>(tag)});  // negative fixint
  if (tag >= 0xa0 && tag <= 0xbf) return read_msgpack_string(in, tag, bytes) && set(std::string(bytes));

  if (tag <= 0x9f || (tag >= 0xdc && tag <= 0xdf)) {  // fixmap, fixarray, array16/32, map16/32
    const bool is_map = tag <= 0x8f || tag >= 0xde;
    if (tag <= 0x9f) {
      n = tag & 0x0f;
    } else if (!in.big_endian(tag % 2 == 0 ? 2 : 4, n)) {  // array16/map16 are even, *32 odd
      return false;
    }
    if (depth == max_nesting) return false;  // check_msgpack_nesting refuses it
    if (is_map) {
      out = json::object();
      for (std::uint64_t i = 0; i < n; ++i) {
        if (!read_msgpack_string(in, bytes) || !read_msgpack(in, out[std::string(bytes)], depth + 1)) return false;
      }
    } else {
      out = json::array();
      auto& array = out.get_ref<json::array_t&>();
      array.reserve(std::min<std::uint64_t>(n, in.size()));  // n is the peer's claim; each element takes a byte
      for (std::uint64_t i = 0; i < n; ++i) {
        if (!read_msgpack(in, array.emplace_back(), depth + 1)) return false;
      }
    }
    return true;
  }

  switch (tag) {
    case 0xc0: return set(nullptr);
    case 0xc2: return set(false);
    case 0xc3: return set(true);
    case 0xc4:
    case 0xc5:
    case 0xc6:  // bin8, bin16, bin32
      if (!in.big_endian(std::size_t{1} << (tag - 0xc4), n) || !in.take(n, bytes)) return false;
      {
        const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data());  // same type: a memcpy
        return set(json::binary(std::vector<std::uint8_t>(data, data + bytes.size())));
      }
    case 0xca:  // float32, widened as nlohmann does
      return in.big_endian(4, n) && set(static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(n))));
    case 0xcb: return in.big_endian(8, n) && set(std::bit_cast<double>(n));
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:  // uint8 .. uint64
      return in.big_endian(std::size_t{1} << (tag - 0xcc), n) && set(n);
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: {  // int8 .. int64: sign-extend from the top bit read
      const int unused_bits = 64 - 8 * (1 << (tag - 0xd0));
      return in.big_endian(std::size_t{1} << (tag - 0xd0), n) &&
             set(static_cast<std::int64_t>(n << unused_bits) >> unused_bits);
    }
    case 0xd9:
    case 0xda:
    case 0xdb: return read_msgpack_string(in, tag, bytes) && set(std::string(bytes));
    default: return false;  // 0xc1 (never used) and the ext types
  }
}

// Stops at max_nesting without building anything, so only a body within the limit reaches
// from_msgpack (read_msgpack hands it whole bodies it declined part of, deep nesting included).
struct NestingCheck final : json::json_sax_t {
  int depth = 0;
  bool too_deep = false;

  bool enter() {
    too_deep = ++depth > max_nesting;
    return !too_deep;
  }
  bool leave() {
    --depth;
    return true;
  }
  bool start_object(std::size_t) override { return enter(); }
  bool start_array(std::size_t) override { return enter(); }
  bool end_object() override { return leave(); }
  bool end_array() override { return leave(); }
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool key(string_t&) override { return true; }
  bool parse_error(std::size_t, const std::string&, const json::exception&) override {
    return false;  // from_msgpack reports it, in its own words
  }
};

// A string body larger than this is sent from its own buffer, after the frame's first bytes.
constexpr std::size_t separate_blob_size = std::size_t{64} * 1024;

// The blob's frame: length, then `head`, the string's bytes and `tail`.
bool move_blob(Body& body, Message& message, std::string_view head, std::string_view tail) {
  auto& blob = body.get_ref<std::string&>();
  append_frame_length(message.bytes, head.size() + blob.size() + tail.size());
  message.bytes += head;
  message.blob = std::move(blob);
  message.blob_tail = tail;
  return true;
}

bool is_blob(const Body& body) {
  return body.is_string() && body.get_ref<const std::string&>().size() > separate_blob_size;
}

}  // namespace

bool json_encode_header(const Header& header, std::string& out) {
  if (!plain(header.error) || !plain(header.service_method)) return false;
  char seq[std::numeric_limits<std::uint64_t>::digits10 + 1];
  const auto seq_end = std::to_chars(seq, std::end(seq), header.seq).ptr;
  out.append(R"({"error":")").append(header.error);
  out.append(R"(","seq":)").append(seq, seq_end);
  out.append(R"(,"service_method":")").append(header.service_method).append(R"("})");
  return true;
}

bool json_decode_header(std::string_view bytes, Header& header) {
  Bytes in(bytes);
  std::string_view error, method;
  std::uint64_t seq = 0;
  if (!(in.skip(R"({"error":")") && in.json_plain_string(error) && in.skip(R"(,"seq":)") && in.json_unsigned(seq) &&
        in.skip(R"(,"service_method":")") && in.json_plain_string(method) && in.skip("}") && in.empty()))
    return false;
  header.error = error;
  header.seq = seq;
  header.service_method = method;
  return true;
}

bool json_encode_string(const Body& body, std::string& out) {
  if (!body.is_string()) return false;
  const auto& s = body.get_ref<const std::string&>();
  if (!plain(s)) return false;
  out.reserve(out.size() + s.size() + 2);
  out.append(1, '"').append(s).append(1, '"');
  return true;
}

bool json_decode_string(std::string_view bytes, Body& body) {
  if (bytes.size() < 2 || bytes.front() != '"' || bytes.back() != '"') return false;
  const auto inside = bytes.substr(1, bytes.size() - 2);
  if (!plain(inside)) return false;
  body = std::string(inside);
  return true;
}

bool msgpack_encode_header(const Header& header, std::string& out) {
  // to_msgpack writes no length at all for a string past 4 GiB; not a layout worth copying.
  constexpr std::size_t max_string = std::numeric_limits<std::uint32_t>::max();
  if (header.error.size() > max_string || header.service_method.size() > max_string) return false;
  out += '\x83';  // a fixmap of three entries, keys sorted
  append_msgpack_string(out, "error");
  append_msgpack_string(out, header.error);
  append_msgpack_string(out, "seq");
  append_msgpack_unsigned(out, header.seq);
  append_msgpack_string(out, "service_method");
  append_msgpack_string(out, header.service_method);
  return true;
}

// That layout with any str form for the values and any unsigned form for seq; false for anything
// else (other key order or forms, extra keys, signed seq...), which may still be valid.
bool msgpack_decode_header(std::string_view bytes, Header& header) {
  Bytes in(bytes);
  std::string_view error, method;
  std::uint64_t seq = 0;
  std::uint8_t tag = 0;
  if (!(in.skip("\x83") && skip_msgpack_key(in, "error") && read_msgpack_string(in, error) &&
        skip_msgpack_key(in, "seq") && in.byte(tag)))
    return false;
  if (tag <= 0x7f) {
    seq = tag;
  } else if (tag < 0xcc || tag > 0xcf || !in.big_endian(std::size_t{1} << (tag - 0xcc), seq)) {
    return false;
  }
  if (!(skip_msgpack_key(in, "service_method") && read_msgpack_string(in, method) && in.empty())) return false;
  header.error = error;
  header.seq = seq;
  header.service_method = method;
  return true;
}

bool msgpack_decode(std::string_view bytes, Body& body) {
  Bytes in(bytes);
  Body value;
  if (!read_msgpack(in, value) || !in.empty()) return false;
  body = std::move(value);
  return true;
}

bool json_move_blob(Body& body, Message& message) {
  // Only a string of plain bytes is framed as it is, between two quotes; any other needs escaping.
  return is_blob(body) && plain(body.get_ref<const std::string&>()) && move_blob(body, message, "\"", "\"");
}

bool msgpack_move_blob(Body& body, Message& message) {
  // A string past 4 GiB has no str form (see msgpack_encode_header).
  if (!is_blob(body) || body.get_ref<const std::string&>().size() > std::numeric_limits<std::uint32_t>::max())
    return false;
  std::string head;
  append_msgpack_string_head(head, body.get_ref<const std::string&>().size());
  return move_blob(body, message, head, "");
}

void reserve(std::string& out, const Header& header, const Body& body) {
  const std::size_t string_size = body.is_string() ? body.get_ref<const std::string&>().size() : 0;
  out.reserve(128 + header.service_method.size() + header.error.size() +
              (string_size > separate_blob_size ? 0 : string_size + 16));
}

bool refuse_deep_json(int depth, json::parse_event_t event, json&) {
  // `depth` counts the arrays and objects around the event: the 65th one starts at depth 64.
  const bool starts = event == json::parse_event_t::array_start || event == json::parse_event_t::object_start;
  if (starts && depth >= max_nesting) throw std::invalid_argument("nesting too deep");
  return true;
}

void check_msgpack_nesting(std::string_view bytes) {
  NestingCheck check;
  json::sax_parse(bytes.begin(), bytes.end(), &check, json::input_format_t::msgpack);
  if (check.too_deep) throw std::invalid_argument("nesting too deep");
}

}  // namespace geerpc::fast
