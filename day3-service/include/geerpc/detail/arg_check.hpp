// Keeps the numbers of a request honest on their way into a method's argument. nlohmann converts
// any number into any arithmetic field: 1.5 would reach an int as 1, true as 1, 2^40 as whatever
// its low bits say, and 1e30 with undefined behaviour. So before decode_argv converts a body it
// compares it with the argument's shape: a default argument as JSON, in which every whole-number
// field holds the range its C++ type can take, measured once per type. When a body still does not
// convert, the same shape says where it went wrong. A first reading may skip this file.
#pragma once

#include <functional>
#include <string>
#include <type_traits>

#include "geerpc/codec.hpp"

namespace geerpc::detail {

// Replaces each whole-number field of `shape` with its range, found by sending values through
// `round_trip` (JSON -> the argument type -> JSON): a signed field gets its minimum, an unsigned
// one its maximum, and one whose range does not show 0 (not checked).
void measure_ranges(Body& shape, const std::function<Body(const Body&)>& round_trip);

// The shape of a T, measured on first use; null (nothing to compare with) for a T without a JSON
// form of its own. Only what a default T shows is checked: the elements of an empty vector, say,
// are not.
template <class T>
const Body& arg_shape() {
  static const Body shape = [] {
    if constexpr (std::is_default_constructible_v<T> && requires(const T& value) { Body(value); }) {
      try {
        Body measured = Body(T{});
        measure_ranges(measured, [](const Body& probe) { return Body(probe.get<T>()); });
        return measured;
      } catch (const std::exception&) {  // a default T that does not convert
      }
    }
    return Body();
  }();
  return shape;
}

// A number in `body` that its field cannot take, in words ("field 'num1': expected a whole number,
// got 1.5"); empty when there is none. Everything else is left to the type's own from_json.
std::string check_numbers(const Body& shape, const Body& body);

// Why a body did not convert, in words: "field 'num2' is missing", "expected an object, got a
// string", or "the body does not fit" when the shape cannot say more.
std::string describe_mismatch(const Body& shape, const Body& body);

}  // namespace geerpc::detail
