// The handshake that opens every connection: the client sends an Option line naming the codec,
// the server builds that codec and answers with the Option it accepted. Everything after the two
// lines is frames.
#pragma once

#include <asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "geerpc/codec.hpp"
#include "geerpc/conn.hpp"
#include "geerpc/error.hpp"

namespace geerpc {

inline constexpr int magic_number = 0x3bef5c;

// Sent once, first, as one line of JSON ending in '\n'.
struct Option {
  int magic_number = geerpc::magic_number;  // marks a geerpc peer
  Type codec_type = msgpack_type;  // how the rest of the connection is encoded
  // The client's limit for connecting plus the Option exchange; 0 means no limit.
  std::chrono::milliseconds connect_timeout{10'000};
  // The server's limit for handling one request of this connection; 0 means no limit.
  std::chrono::milliseconds handle_timeout{0};
};

// Go's way of printing a duration: "100ms", "10s", "1.5s".
std::string format_duration(std::chrono::milliseconds duration);

void to_json(nlohmann::json& j, const Option& option);

// The Option as its wire line, '\n' included.
std::string option_line(const Option& option);
// Parses one line (without the '\n') and checks the magic number: errc::bad_option or bad_magic.
// The timeouts may be left out (the Option of days 1-3 has none).
[[nodiscard]] Result<Option> parse_option(std::string_view line);

inline constexpr std::size_t max_option_line = 1024;

// What the server learns from the handshake: the client's Option and a codec for the connection.
struct Handshake {
  Option option;
  std::unique_ptr<Codec> codec;
};

// The server's side: reads and checks the client's Option line, builds the codec it names, and
// answers with the Option accepted. Run on the connection's strand.
asio::awaitable<Result<Handshake>> server_handshake(std::shared_ptr<Conn> conn);

// The client's side: sends the Option, waits for the server's answer (errc::bad_handshake if it
// is not the same codec) and builds the codec. Run on the connection's strand.
asio::awaitable<Result<std::unique_ptr<Codec>>> client_handshake(std::shared_ptr<Conn> conn, Option option);

}  // namespace geerpc
