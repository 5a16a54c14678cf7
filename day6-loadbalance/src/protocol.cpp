#include "geerpc/protocol.hpp"

#include <cstdint>
#include <cstdlib>

namespace geerpc {
namespace {

// Longer than any real deadline (about 31 years), and short enough that adding it to a clock's
// now cannot overflow.
constexpr std::int64_t max_timeout_ms = 1'000'000'000'000;

}  // namespace

void to_json(nlohmann::json& j, const Option& option) {
  j = nlohmann::json{{"magic_number", option.magic_number},
                     {"codec_type", option.codec_type},
                     {"connect_timeout_ms", option.connect_timeout.count()},
                     {"handle_timeout_ms", option.handle_timeout.count()}};
}

std::string format_duration(std::chrono::milliseconds duration) {
  const auto ms = duration.count();
  if (ms < 1000 && ms > -1000) return std::to_string(ms) + "ms";
  std::string seconds = std::to_string(ms / 1000);
  if (ms % 1000) {
    std::string fraction = std::to_string(1000 + std::abs(ms % 1000)).substr(1);
    while (fraction.back() == '0') fraction.pop_back();
    seconds += "." + fraction;
  }
  return seconds + "s";
}

std::string option_line(const Option& option) {
  return nlohmann::json(option).dump() + '\n';
}

Result<Option> parse_option(std::string_view line) {
  Option option;
  try {
    const auto j = nlohmann::json::parse(line);
    // Not get_to: it converts any number, and converting a float outside int's range is undefined.
    const auto& magic = j.at("magic_number");
    if (!magic.is_number_integer()) return errc::bad_option;
    option.magic_number = magic == magic_number ? magic_number : 0;
    j.at("codec_type").get_to(option.codec_type);
    for (auto [key, field] : {std::pair{"connect_timeout_ms", &option.connect_timeout},
                              std::pair{"handle_timeout_ms", &option.handle_timeout}}) {
      if (!j.contains(key)) continue;
      if (!j.at(key).is_number_integer()) return errc::bad_option;  // a float would convert with UB
      const auto ms = j.at(key).get<std::int64_t>();
      if (ms < 0 || ms > max_timeout_ms) return errc::bad_option;
      *field = std::chrono::milliseconds(ms);
    }
  } catch (const nlohmann::json::exception&) {
    return errc::bad_option;
  }
  if (option.magic_number != magic_number) return errc::bad_magic;
  return option;
}

asio::awaitable<Result<Handshake>> server_handshake(std::shared_ptr<Conn> conn) {
  std::string line;
  if (auto ec = co_await conn->read_line(line, max_option_line)) co_return ec;
  auto option = parse_option(line);
  if (!option) co_return option.error();
  auto new_codec = find_new_codec_func(option->codec_type);
  if (!new_codec) co_return Error(errc::unknown_codec, "invalid codec type " + option->codec_type);
  conn->send(option_line(*option));  // the answer: this server speaks geerpc and that codec
  co_return Handshake{*option, (*new_codec)(conn)};
}

asio::awaitable<Result<std::unique_ptr<Codec>>> client_handshake(std::shared_ptr<Conn> conn, Option option) {
  auto new_codec = find_new_codec_func(option.codec_type);
  if (!new_codec) co_return new_codec.error();
  conn->send(option_line(option));
  // The answer tells us the server speaks geerpc and our codec, and a server that accepts but
  // never answers is caught by the connect timeout.
  std::string line;
  if (auto ec = co_await conn->read_line(line, max_option_line))
    co_return Error(errc::bad_handshake, "rpc client: handshake failed: " + ec.message());
  auto accepted = parse_option(line);
  if (!accepted || accepted->codec_type != option.codec_type)
    co_return Error(errc::bad_handshake, "rpc client: handshake failed: the server answered " + line);
  co_return (*new_codec)(conn);
}

}  // namespace geerpc
