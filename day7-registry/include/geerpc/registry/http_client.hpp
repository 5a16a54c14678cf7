// The HTTP client the registry's callers use: a heartbeat's POST, a discovery's GET, etcd's JSON
// gateway. Day 5's parser and http_round_trip underneath: one connection per request, closed when
// it is done, a deadline on every request, and any status but 2xx is an error. (Go's heartbeat
// leaks one connection per beat, never reading or closing the response, and counts a 500 as
// success.)
#pragma once

#include <asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "geerpc/error.hpp"
#include "geerpc/http.hpp"
#include "geerpc/net.hpp"

namespace geerpc {

// An http:// URL taken apart for a request: where to connect, the Host header, path and query.
// The host is an IP address or localhost, as everywhere in geerpc.
struct HttpUrl {
  Endpoint endpoint;
  std::string host;  // "127.0.0.1:9999", for the Host header
  std::string target;  // "/_geerpc_/registry"
  std::string text;  // the URL as given, for error messages
};
// errc::bad_address, "rpc registry: bad URL '<url>'", for anything else.
[[nodiscard]] Result<HttpUrl> parse_http_url(std::string_view url);

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// One request (with `body`, if any) and its whole response within `timeout`, whatever the status;
// the errors of http_round_trip. The arguments are read when it is called.
asio::awaitable<Result<HttpMessage>> http_exchange(const HttpUrl& url, std::string_view method,
                                                   const HttpHeaders& headers, std::string_view body,
                                                   std::chrono::milliseconds timeout,
                                                   std::size_t max_response = std::size_t{64} << 20);

// The same, and a status outside 2xx is errc::bad_http_status ("<url> answered <status> <reason>").
// Co_await it at once: it reads `url` until it is done. (By reference: GCC 12 misreports coroutine
// frames as large as copies of these would make.)
asio::awaitable<Result<HttpMessage>> http_call(const HttpUrl& url, std::string_view method, const HttpHeaders& headers,
                                               std::string_view body, std::chrono::milliseconds timeout,
                                               std::size_t max_response = std::size_t{64} << 20);

// One request whose 2xx response is a stream of lines (etcd's watch and keep-alive): `on_line`
// gets each line as it arrives, without its '\n'. The exchange ends when on_line returns false,
// when the server ends the response, when the caller's cancellation comes, or when nothing arrives
// for `idle_timeout` (errc::http_timeout); connecting and the response head must take less than
// `idle_timeout` too. A line over `max_line` is errc::http_too_large.
asio::awaitable<Error> http_stream(HttpUrl url, std::string_view method, const HttpHeaders& headers,
                                   std::string_view body, std::chrono::milliseconds idle_timeout,
                                   std::function<bool(std::string_view line)> on_line,
                                   std::size_t max_line = std::size_t{16} << 20);

}  // namespace geerpc
