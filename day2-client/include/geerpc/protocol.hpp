// The handshake that opens every connection: the client sends an Option line naming the codec,
// and the server builds that codec. Everything after the line is frames.
#pragma once

#include <asio/awaitable.hpp>
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
};

void to_json(nlohmann::json& j, const Option& option);

// The Option as its wire line, '\n' included.
std::string option_line(const Option& option);
// Parses one line (without the '\n') and checks the magic number: errc::bad_option or bad_magic.
[[nodiscard]] Result<Option> parse_option(std::string_view line);

inline constexpr std::size_t max_option_line = 1024;

// What the server learns from the handshake: the client's Option and a codec for the connection.
struct Handshake {
  Option option;
  std::unique_ptr<Codec> codec;
};

// The server's side: reads and checks the client's Option line and builds the codec it names.
// Run on the connection's strand.
asio::awaitable<Result<Handshake>> server_handshake(std::shared_ptr<Conn> conn);

// The client's side: sends the Option and builds the codec. Requests may follow at once, in the
// same write even: the server reads the line and keeps what comes after it. Run on the strand.
asio::awaitable<Result<std::unique_ptr<Codec>>> client_handshake(std::shared_ptr<Conn> conn, Option option);

}  // namespace geerpc
