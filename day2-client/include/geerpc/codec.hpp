// The codec: how a header and a body become bytes on a connection, and back (GeeRPC's codec
// package).
#pragma once

#include <asio/awaitable.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include "geerpc/conn.hpp"
#include "geerpc/error.hpp"

namespace geerpc {

struct Header {
  std::string service_method;  // "Service.Method"
  std::uint64_t seq = 0;  // chosen by the client, echoed by the server
  std::string error;  // empty unless the server failed the call
};

void to_json(nlohmann::json& j, const Header& header);
void from_json(const nlohmann::json& j, Header& header);

// Bodies travel as a JSON value: any type with to_json/from_json fits, and both codecs serialise
// the same value, so one pair of functions per user type serves JSON and MessagePack alike.
using Body = nlohmann::json;

// Converts a body into a T, moving out of the body where that saves a copy: a string body (a blob)
// into a std::string. Any other T goes through its from_json, which copies.
template <class T>
void take_body(Body&& body, T& value) {
  if constexpr (std::is_same_v<T, std::string>) {
    if (body.is_string()) {
      value = std::move(body.get_ref<std::string&>());
      return;
    }
  }
  body.get_to(value);
}

// Bodies nested deeper than this are refused (errc::bad_body): see notes/hardening.md.
inline constexpr int max_nesting = 64;

// Go's Codec interface. Reads happen on one coroutine at a time; write may be called from any
// thread.
class Codec {
 public:
  virtual ~Codec() = default;
  virtual asio::awaitable<std::error_code> read_header(Header& header) = 0;
  // A null body reads the frame and drops it, so the stream stays in step.
  virtual asio::awaitable<std::error_code> read_body(Body* body) = 0;
  // Queues one message, header frame then body frame, on the connection. errc::bad_header or
  // bad_body when it cannot be encoded (JSON refuses strings that are not UTF-8): nothing is
  // queued then. `flush` passes Conn::send's hint on; only the server sets it, for the one reply
  // a connection is waiting for, so everyone else can leave it out.
  [[nodiscard]] virtual std::error_code write(const Header& header, Body body, Flush flush = Flush::batched) = 0;
  virtual void close() = 0;
  virtual Conn& conn() = 0;
};

using Type = std::string;
inline const Type json_type = "application/json";
inline const Type msgpack_type = "application/msgpack";

// A constructor, not a codec: every connection gets a codec of its own from it.
using NewCodecFunc = std::unique_ptr<Codec> (*)(std::shared_ptr<Conn> conn);

// Go's NewCodecFuncMap.
const std::map<Type, NewCodecFunc, std::less<>>& new_codec_func_map();

// Adds a codec from outside the framework, as a Go program adds one to the public
// NewCodecFuncMap in its init: call it before any server or client runs, since the map is read
// without a lock. json and msgpack cannot be replaced, nor an empty type registered
// (std::errc::invalid_argument); registering a type again replaces its constructor.
[[nodiscard]] Error register_codec(Type type, NewCodecFunc make);

// The constructor for `type`, or errc::unknown_codec.
[[nodiscard]] Result<NewCodecFunc> find_new_codec_func(std::string_view type);

}  // namespace geerpc
