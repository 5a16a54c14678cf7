// The HTTP client the registry's callers use: a heartbeat's POST, a discovery's GET. Day 5's
// parser and http_round_trip underneath: one connection per request, closed when it is done, a
// deadline on every request, and any status but 2xx is an error. (Go's heartbeat leaks one
// connection per beat, never reading or closing the response, and counts a 500 as success.)
#pragma once

#include <asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
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

// One request, its whole response within `timeout`. errc::bad_http_status ("<url> answered
// <status> <reason>") unless the status is 2xx; the errors of http_round_trip otherwise.
asio::awaitable<Result<HttpMessage>> http_call(HttpUrl url, std::string method, HttpHeaders headers,
                                               std::chrono::milliseconds timeout,
                                               std::size_t max_response = std::size_t{64} << 20);

}  // namespace geerpc
