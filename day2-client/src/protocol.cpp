#include "geerpc/protocol.hpp"

namespace geerpc {

void to_json(nlohmann::json& j, const Option& option) {
  j = nlohmann::json{{"magic_number", option.magic_number}, {"codec_type", option.codec_type}};
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
  co_return Handshake{*option, (*new_codec)(conn)};
}

asio::awaitable<Result<std::unique_ptr<Codec>>> client_handshake(std::shared_ptr<Conn> conn, Option option) {
  auto new_codec = find_new_codec_func(option.codec_type);
  if (!new_codec) co_return new_codec.error();
  conn->send(option_line(option));
  co_return (*new_codec)(conn);
}

}  // namespace geerpc
