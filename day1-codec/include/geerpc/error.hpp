// Errors as std::error_code in a "geerpc" category: callers compare codes, logs print the words.
#pragma once

#include <concepts>
#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace geerpc {

enum class errc {
  // Values are part of no wire format; new ones are appended as the days add features.
  bad_option = 1,   // the Option line is not the JSON object we expect
  bad_magic,        // the Option's magic number is wrong: not a geerpc peer
  unknown_codec,    // the Option names a codec type nobody registered
  frame_too_large,  // a frame's length prefix exceeds the configured maximum
  bad_header,       // a header frame could not be decoded
  bad_body,         // a body frame could not be decoded
  bad_address,      // a (network, address) pair we cannot listen on or dial
  truncated_frame,  // the peer closed the connection in the middle of a frame
};

const std::error_category& geerpc_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), geerpc_category()};
}

// A value or the error that prevented it (std::expected arrives only in C++23).
template <class T>
class Result {
 public:
  Result() requires std::default_initializable<T>
  = default;
  Result(T value) : state_(std::move(value)) {}
  Result(std::error_code error) : state_(error) {}
  Result(errc error) : state_(make_error_code(error)) {}

  bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }
  T& value() { return std::get<0>(state_); }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }
  std::error_code error() const { return has_value() ? std::error_code{} : std::get<1>(state_); }

 private:
  std::variant<T, std::error_code> state_;
};

}  // namespace geerpc

template <>
struct std::is_error_code_enum<geerpc::errc> : std::true_type {};
