// Conn cuts the Option line and the length-prefixed frames out of whatever the socket delivers.
// The harness knows the bytes, so it checks every line and frame against the input itself:
// a wrong slice, a read past the buffer (ASan) or a missed error is a finding.
#include <memory>

#include "fuzz_util.hpp"
#include "geerpc/protocol.hpp"  // max_option_line

namespace {

using namespace geerpc;

// The error read_frame must return for the frame that starts at `rest`, or none.
std::error_code expected_error(std::string_view rest) {
  if (rest.empty()) return asio::error::eof;
  if (rest.size() < 4) return errc::truncated_frame;
  const auto* p = reinterpret_cast<const unsigned char*>(rest.data());
  const std::size_t size = std::size_t{p[0]} << 24 | std::size_t{p[1]} << 16 | std::size_t{p[2]} << 8 | p[3];
  if (size > fuzz::max_frame_size) return errc::frame_too_large;
  if (rest.size() - 4 < size) return errc::truncated_frame;
  return {};
}

asio::awaitable<void> read_all(std::shared_ptr<Conn> conn, std::string input) {
  std::string line;
  std::string_view rest = input;
  if (auto ec = co_await conn->read_line(line, max_option_line); !ec) {
    // The line is everything before the first newline; the frames start right after it.
    const auto newline = rest.find('\n');
    if (newline == std::string_view::npos || line != rest.substr(0, newline))
      fuzz::fail("read_line returned a wrong line");
    rest.remove_prefix(newline + 1);
  } else if (ec == errc::frame_too_large) {
    // Nothing was consumed: the frames are read from the first byte.
  } else {
    // eof for an empty stream, truncated_frame for a line the end of the stream cut short.
    if (ec != (input.empty() ? std::error_code(asio::error::eof) : errc::truncated_frame)) fuzz::fail("read_line", ec);
    // The stream has ended, and Asio's epoll reactor never completes a read after the one that
    // saw the end (it waits for readiness that never comes), so there is nothing more to read.
    conn->close();
    co_return;
  }
  for (;;) {
    std::string_view frame;
    const auto ec = co_await conn->read_frame(frame);
    const auto expected = expected_error(rest);
    if (ec != expected) fuzz::fail("read_frame: expected '" + expected.message() + "', got", ec);
    if (ec) break;
    if (frame.size() + 4 > rest.size() || frame != rest.substr(4, frame.size()))
      fuzz::fail("read_frame returned a wrong frame");
    rest.remove_prefix(4 + frame.size());
  }
  conn->close();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto [reader, writer] = fuzz::socket_pair();
  std::string input = fuzz::as_string(data, size);
  fuzz::spawn(writer.get_executor(), fuzz::write_and_close(std::move(writer), input));
  auto conn = std::make_shared<Conn>(std::move(reader), fuzz::max_frame_size);
  fuzz::spawn(conn->get_executor(), read_all(conn, std::move(input)));
  fuzz::run();
  return 0;
}
