// What the HTTP targets share (day 5 on, where geerpc/http.hpp exists).
#pragma once

#include <string_view>

#include "fuzz_util.hpp"
#include "geerpc/http.hpp"

namespace geerpc::fuzz {

// What read_request_head makes of a connection whose bytes are `input`, then the end of the
// stream, worked out the way it reads: a line at a time, each line and the whole head within
// `max_head`, each line given to the parser as it ends. The servers' answers are checked against
// this.
struct RequestHead {
  enum class Outcome { cut_off, bad, too_large, complete } outcome = Outcome::cut_off;
  HttpMessage message;  // when complete
  std::size_t end = 0;  // when complete: where the bytes after the head begin
};

inline RequestHead predict_request_head(std::string_view input, std::size_t max_head) {
  using Outcome = RequestHead::Outcome;
  RequestHead head;
  HttpParser parser(HttpParser::Kind::request);
  parser.expect_no_body();
  std::size_t pos = 0;
  for (std::size_t used = 0; !parser.head_complete();) {
    if (used >= max_head) return {Outcome::too_large};
    const auto limit = max_head - used;
    const auto newline = input.find('\n', pos);
    if (newline == std::string_view::npos) return {input.size() - pos >= limit ? Outcome::too_large : Outcome::cut_off};
    if (newline - pos >= limit) return {Outcome::too_large};
    const auto line = input.substr(pos, newline + 1 - pos);
    used += line.size();
    pos = newline + 1;
    if (!parser.feed(line)) return {Outcome::bad};
  }
  return {Outcome::complete, std::move(parser.message()), pos};
}

// A response as the HTTP client would have returned it, from one taken apart by hand.
inline HttpMessage as_message(const HttpAnswer& answer) {
  HttpMessage message;
  message.status = answer.status;
  message.reason = answer.reason;
  message.headers = answer.headers;
  message.body = answer.body;
  return message;
}

}  // namespace geerpc::fuzz
