#include "geerpc/detail/arg_check.hpp"

#include <cstdint>
#include <limits>
#include <vector>

namespace geerpc::detail {
namespace {

using Pointer = Body::json_pointer;

// nlohmann's is_number_integer(): signed or unsigned, as opposed to a float.
bool is_whole(const Body& value) {
  return value.is_number_integer();
}

void whole_leaves(const Body& shape, const Pointer& at, std::vector<Pointer>& out) {
  if (is_whole(shape)) {
    out.push_back(at);
  } else if (shape.is_object()) {
    for (const auto& [key, value] : shape.items()) whole_leaves(value, at / key, out);
  } else if (shape.is_array()) {
    for (std::size_t i = 0; i < shape.size(); ++i) whole_leaves(shape[i], at / i, out);
  }
}

bool negative(const Body& value) {
  return value.is_number_integer() && !value.is_number_unsigned() && value.get<std::int64_t>() < 0;
}

// Equal as numbers. (nlohmann's == casts an unsigned to signed, so -1 would equal 2^64-1.)
bool same(const Body& a, const Body& b) {
  if (!is_whole(a) || !is_whole(b)) return a == b;
  if (negative(a) != negative(b)) return false;
  return negative(a) ? a.get<std::int64_t>() == b.get<std::int64_t>()
                     : a.get<std::uint64_t>() == b.get<std::uint64_t>();
}

// Whether `value` comes back unchanged from the field at `at`.
bool survives(const Body& shape, const Pointer& at, const Body& value,
              const std::function<Body(const Body&)>& round_trip) {
  Body probe = shape;
  probe[at] = value;
  try {
    const Body back = round_trip(probe);
    return back.contains(at) && same(back[at], value);
  } catch (const std::exception&) {
    return false;
  }
}

std::string kind(const Body& value) {
  switch (value.type()) {
    case Body::value_t::null: return "null";
    case Body::value_t::boolean: return "a boolean";
    case Body::value_t::number_integer:
    case Body::value_t::number_unsigned: return "a whole number";
    case Body::value_t::number_float: return "a number";
    case Body::value_t::string: return "a string";
    case Body::value_t::array: return "an array";
    case Body::value_t::object: return "an object";
    case Body::value_t::binary: return "binary";
    case Body::value_t::discarded: break;
  }
  return "something else";
}

// What was sent: a number or a boolean as itself, anything else by its kind.
std::string got(const Body& value) {
  return value.is_number() || value.is_boolean() ? value.dump() : kind(value);
}

// The range a shape's whole-number field holds: a negative minimum (signed), a positive maximum
// (unsigned), or 0 (not known).
bool fits(const Body& range, const Body& value) {
  if (range.is_number_unsigned()) {
    const auto max = range.get<std::uint64_t>();
    return max == 0 || (!negative(value) && value.get<std::uint64_t>() <= max);
  }
  const auto min = range.get<std::int64_t>();
  if (min == 0) return true;
  const auto max = static_cast<std::uint64_t>(-(min + 1));
  return negative(value) ? value.get<std::int64_t>() >= min : value.get<std::uint64_t>() <= max;
}

std::string range_text(const Body& range) {
  if (range.is_number_unsigned()) return "0 to " + range.dump();
  const auto min = range.get<std::int64_t>();
  return std::to_string(min) + " to " + std::to_string(-(min + 1));
}

// `numbers_only`: before conversion, only the numbers are checked, and a missing field is not an
// error (the type's from_json may have a default for it).
std::string mismatch_at(const Body& shape, const Body& body, const std::string& path, bool numbers_only) {
  if (shape.is_null()) return {};  // anything may be there: an optional, say
  const std::string field = path.empty() ? "" : "field '" + path + "': ";
  if (is_whole(shape)) {
    if (!is_whole(body)) return field + "expected a whole number, got " + got(body);
    if (!fits(shape, body)) return field + body.dump() + " is out of range (" + range_text(shape) + ")";
    return {};
  }
  if (shape.is_number_float()) return body.is_number() ? "" : field + "expected a number, got " + got(body);
  if (shape.type() != body.type()) return numbers_only ? "" : field + "expected " + kind(shape) + ", got " + got(body);
  if (shape.is_object()) {
    for (const auto& [key, value] : shape.items()) {
      std::string at = path;
      if (!at.empty()) at += '.';
      at += key;
      const auto found = body.find(key);
      if (found == body.end()) {
        if (numbers_only) continue;
        return "field '" + at + "' is missing";
      }
      if (auto what = mismatch_at(value, *found, at, numbers_only); !what.empty()) return what;
    }
  } else if (shape.is_array() && !shape.empty()) {  // a default array is mostly empty
    for (std::size_t i = 0; i < body.size(); ++i) {
      std::string at = path;
      at += '[';
      at += std::to_string(i);
      at += ']';
      if (auto what = mismatch_at(shape[0], body[i], at, numbers_only); !what.empty()) return what;
    }
  }
  return {};
}

}  // namespace

void measure_ranges(Body& shape, const std::function<Body(const Body&)>& round_trip) {
  const Body original = shape;
  std::vector<Pointer> leaves;
  whole_leaves(original, Pointer(), leaves);
  using I = std::int64_t;
  using U = std::uint64_t;
  for (const auto& at : leaves) {
    Body range = I{0};
    if (survives(original, at, I{-1}, round_trip)) {
      for (I min : {std::numeric_limits<I>::min(), I{std::numeric_limits<std::int32_t>::min()},
                    I{std::numeric_limits<std::int16_t>::min()}, I{std::numeric_limits<std::int8_t>::min()}}) {
        if (survives(original, at, min, round_trip) && survives(original, at, -(min + 1), round_trip)) {
          range = min;
          break;
        }
      }
    } else {
      for (U max : {std::numeric_limits<U>::max(), U{std::numeric_limits<std::uint32_t>::max()},
                    U{std::numeric_limits<std::uint16_t>::max()}, U{std::numeric_limits<std::uint8_t>::max()}}) {
        if (survives(original, at, max, round_trip)) {
          range = max;
          break;
        }
      }
    }
    shape[at] = range;
  }
}

std::string check_numbers(const Body& shape, const Body& body) {
  return mismatch_at(shape, body, "", true);
}

std::string describe_mismatch(const Body& shape, const Body& body) {
  auto what = mismatch_at(shape, body, "", false);
  return what.empty() ? "the body does not fit" : what;
}

}  // namespace geerpc::detail
