// Errors as std::error_code in a "geerpc" category: callers compare codes, logs print the words.
#pragma once

#include <concepts>
#include <ostream>
#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace geerpc {

enum class errc {
  // Values are part of no wire format; new ones are appended as the days add features.
  bad_option = 1,  // the Option line is not the JSON object we expect
  bad_magic,  // the Option's magic number is wrong: not a geerpc peer
  unknown_codec,  // the Option names a codec type nobody registered
  frame_too_large,  // a frame's length prefix exceeds the configured maximum
  bad_header,  // a header frame could not be decoded
  bad_body,  // a body frame could not be decoded
  bad_address,  // a (network, address) pair we cannot listen on or dial
  truncated_frame,  // the peer closed the connection in the middle of a frame
  frame_timeout,  // a frame that had started did not arrive in full within the frame timeout
  shutdown,  // the client is closed or its connection failed (Go's ErrShutdown)
  server_error,  // the server answered the call with an error message
  ill_formed_method,  // the service_method is not "Service.Method"
  unknown_service,  // no service of that name is registered
  unknown_method,  // the service has no method of that name
  duplicate_service,  // a service of that name is already registered
  method_error,  // the method returned an error of its own
  method_exception,  // the method threw
  connect_timeout,  // connecting plus the Option exchange took longer than connect_timeout
  bad_handshake,  // the server's answer to the Option was missing or did not match
  call_timeout,  // the caller's deadline passed before the reply arrived
  cancelled,  // the caller cancelled the call
  bad_http,  // bytes that are not the HTTP/1.x message expected
  http_too_large,  // an HTTP head (or a whole response) over its size limit
  http_timeout,  // an HTTP head or exchange did not finish within its time limit
  bad_http_status,  // the HTTP answer was not the one expected (CONNECT: 200 Connected to Gee RPC)
  no_servers,  // discovery has no server to offer
  etcd_error,  // etcd answered with an error, or with something that is not what etcd sends
  lease_lost,  // the etcd lease a registration holds has expired or been revoked
};

}  // namespace geerpc

// Declared before anything converts an errc to std::error_code.
template <>
struct std::is_error_code_enum<geerpc::errc> : std::true_type {};

namespace geerpc {

const std::error_category& geerpc_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), geerpc_category()};
}

// An error code with the words of this occurrence: the server's message, the cause of a shutdown,
// the limit that was exceeded. What a call returns, as Go's `error` does.
class [[nodiscard]] Error {
 public:
  Error() = default;
  Error(std::error_code code, std::string detail = {}) : code_(code), detail_(std::move(detail)) {}
  Error(errc code, std::string detail = {}) : Error(make_error_code(code), std::move(detail)) {}
  // What a service method returns to fail a call: the caller receives `message` as the error.
  explicit Error(std::string message) : Error(errc::method_error, std::move(message)) {}
  explicit Error(const char* message) : Error(std::string(message)) {}

  const std::error_code& code() const noexcept { return code_; }
  // The detail when there is one, else the code's own message.
  std::string message() const { return detail_.empty() ? code_.message() : detail_; }
  explicit operator bool() const noexcept { return static_cast<bool>(code_); }
  friend bool operator==(const Error& e, errc code) noexcept { return e.code_ == make_error_code(code); }
  friend bool operator==(const Error& e, const std::error_code& code) noexcept { return e.code_ == code; }
  friend std::ostream& operator<<(std::ostream& out, const Error& e) { return out << e.message(); }

 private:
  std::error_code code_;
  std::string detail_;
};

// A value or the error that prevented it (std::expected arrives only in C++23).
template <class T>
class [[nodiscard]] Result {
 public:
  Result() requires std::default_initializable<T>
  = default;
  Result(T value) : state_(std::move(value)) {}
  Result(Error error) : state_(std::move(error)) {}
  Result(std::error_code error) : state_(Error(error)) {}
  Result(errc error) : state_(Error(error)) {}

  bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }
  T& value() { return std::get<0>(state_); }
  const T& value() const { return std::get<0>(state_); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  // A Result holding a pointer (a dialled client) reaches through it, so it reads as in Go:
  // `auto client = dial(...); if (!client) ...; client->call(...)`.
  auto operator->() {
    if constexpr (requires(T & p) { p.operator->(); })
      return value().operator->();
    else
      return &value();
  }
  auto operator->() const {
    if constexpr (requires(const T& p) { p.operator->(); })
      return value().operator->();
    else
      return &value();
  }
  Error error() const { return has_value() ? Error() : std::get<1>(state_); }

 private:
  std::variant<T, Error> state_;
};

}  // namespace geerpc
