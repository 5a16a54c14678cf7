#include "geerpc/registry/http_client.hpp"

#include <http_parser.h>

namespace geerpc {

Result<HttpUrl> parse_http_url(std::string_view url) {
  const Error bad(errc::bad_address, "rpc registry: bad URL '" + std::string(url) + "'");
  http_parser_url parts{};
  http_parser_url_init(&parts);
  if (http_parser_parse_url(url.data(), url.size(), 0, &parts) != 0) return bad;
  const auto field = [&](http_parser_url_fields f) {
    return parts.field_set & (1 << f) ? url.substr(parts.field_data[f].off, parts.field_data[f].len)
                                      : std::string_view();
  };
  if (field(UF_SCHEMA) != "http" || field(UF_HOST).empty() || !field(UF_USERINFO).empty()) return bad;
  const auto port = field(UF_PORT).empty() ? std::string("80") : std::string(field(UF_PORT));
  HttpUrl parsed;
  parsed.host = std::string(field(UF_HOST)) + ":" + port;
  auto endpoint = resolve("tcp", parsed.host);
  if (!endpoint) return bad;
  parsed.endpoint = *endpoint;
  parsed.target = field(UF_PATH).empty() ? "/" : std::string(field(UF_PATH));
  if (!field(UF_QUERY).empty()) parsed.target += "?" + std::string(field(UF_QUERY));
  parsed.text = std::string(url);
  return parsed;
}

asio::awaitable<Result<HttpMessage>> http_call(HttpUrl url, std::string method, HttpHeaders headers,
                                               std::chrono::milliseconds timeout, std::size_t max_response) {
  std::string request = method + " " + url.target + " HTTP/1.1\r\nHost: " + url.host + "\r\n";
  for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
  request += "Content-Length: 0\r\nConnection: close\r\n\r\n";
  auto response = co_await http_round_trip(url.endpoint, std::move(request), timeout, max_response);
  if (!response) co_return response.error();
  if (response->status < 200 || response->status > 299)
    co_return Error(errc::bad_http_status,
                    url.text + " answered " + std::to_string(response->status) + " " + response->reason);
  co_return std::move(response);
}

}  // namespace geerpc
