#include "geerpc/registry/http_client.hpp"

#include <http_parser.h>

#include <array>
#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <memory>

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

namespace {

std::string request_text(const HttpUrl& url, std::string_view method, const HttpHeaders& headers,
                         std::string_view body) {
  std::string request(method);
  request.append(" ").append(url.target).append(" HTTP/1.1\r\nHost: ").append(url.host).append("\r\n");
  for (const auto& [name, value] : headers) request.append(name).append(": ").append(value).append("\r\n");
  request.append("Content-Length: ").append(std::to_string(body.size())).append("\r\nConnection: close\r\n\r\n");
  return request.append(body);
}

Error status_error(const HttpUrl& url, const HttpMessage& response) {
  return Error(errc::bad_http_status,
               url.text + " answered " + std::to_string(response.status) + " " + response.reason);
}

// http_stream's work, on a strand of its own: the idle timer and the socket share it.
asio::awaitable<Error> stream_on_strand(HttpUrl url, std::string request, std::chrono::milliseconds idle_timeout,
                                        std::function<bool(std::string_view)> on_line, std::size_t max_line) {
  const auto executor = co_await asio::this_coro::executor;
  auto socket = std::make_shared<Socket>(executor);
  // The deadline moves forward with every byte that arrives; when it passes, the socket is closed,
  // which ends whichever step is waiting.
  auto expired = std::make_shared<bool>(false);
  auto idle = std::make_shared<asio::steady_timer>(executor);
  std::function<void()> rearm = [&] {
    idle->expires_after(idle_timeout);
    idle->async_wait([socket, expired](std::error_code ec) {
      if (ec) return;
      *expired = true;
      std::error_code ignored;
      socket->close(ignored);
    });
  };
  rearm();
  Error result;
  HttpParser parser(HttpParser::Kind::response);
  auto buffer = std::make_unique<std::array<char, 8192>>();  // on the heap: see http.cpp's exchange
  std::size_t taken = 0;  // of the body, handed out as lines already
  if (auto [ec] = co_await socket->async_connect(url.endpoint, use_nothrow); ec) {
    result = ec;
  } else if (auto [write_error, n] = co_await asio::async_write(*socket, asio::buffer(request), use_nothrow);
             write_error) {
    result = write_error;
  } else {
    for (bool more = true; more;) {
      auto [read_error, got] = co_await socket->async_read_some(asio::buffer(*buffer), use_nothrow);
      if (read_error) {
        if (read_error != asio::error::eof) result = read_error;
        break;
      }
      rearm();
      if (!parser.feed({buffer->data(), got})) {
        result = Error(errc::bad_http, parser.error());
        break;
      }
      if (!parser.head_complete()) continue;
      auto& response = parser.message();
      if (response.status < 200 || response.status > 299) {
        result = status_error(url, response);
        break;
      }
      auto& body = response.body;
      for (auto newline = body.find('\n', taken); more && newline != std::string::npos;
           newline = body.find('\n', taken)) {
        // A line is measured whole too: whether it arrived in one read or several must not matter.
        if (newline - taken > max_line) {
          result = errc::http_too_large;
          break;
        }
        more = on_line(std::string_view(body).substr(taken, newline - taken));
        taken = newline + 1;
      }
      if (!result && body.size() - taken > max_line) result = errc::http_too_large;
      if (result) break;
      body.erase(0, taken);  // what was handed out
      taken = 0;
      if (parser.message_complete()) break;
    }
  }
  idle->cancel();
  std::error_code ignored;
  socket->close(ignored);
  if (*expired) co_return errc::http_timeout;
  co_return result;
}

}  // namespace

asio::awaitable<Result<HttpMessage>> http_exchange(const HttpUrl& url, std::string_view method,
                                                   const HttpHeaders& headers, std::string_view body,
                                                   std::chrono::milliseconds timeout, std::size_t max_response) {
  // Not a coroutine: the request is built now, and the arguments are not needed after this.
  return http_round_trip(url.endpoint, request_text(url, method, headers, body), timeout, max_response);
}

asio::awaitable<Result<HttpMessage>> http_call(const HttpUrl& url, std::string_view method, const HttpHeaders& headers,
                                               std::string_view body, std::chrono::milliseconds timeout,
                                               std::size_t max_response) {
  auto response = co_await http_exchange(url, method, headers, body, timeout, max_response);
  if (response && (response->status < 200 || response->status > 299)) co_return status_error(url, *response);
  co_return std::move(response);
}

asio::awaitable<Error> http_stream(HttpUrl url, std::string_view method, const HttpHeaders& headers,
                                   std::string_view body, std::chrono::milliseconds idle_timeout,
                                   std::function<bool(std::string_view line)> on_line, std::size_t max_line) {
  auto strand = asio::make_strand(co_await asio::this_coro::executor);
  auto stream =
      stream_on_strand(url, request_text(url, method, headers, body), idle_timeout, std::move(on_line), max_line);
  co_return co_await asio::co_spawn(strand, std::move(stream), asio::use_awaitable);
}

}  // namespace geerpc
