// HTTP/1.x next to the RPC protocol, parsed by nodejs http-parser (Debian's libhttp-parser-dev):
// the server answers CONNECT and hands the connection to RPC (Go's Hijack), serves the debug page,
// and the client sends CONNECT and checks the answer. Go's net/http does this for GeeRPC.
#pragma once

#include <asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "geerpc/conn.hpp"
#include "geerpc/debug.hpp"
#include "geerpc/error.hpp"
#include "geerpc/net.hpp"

namespace geerpc {

// Go's defaultRPCPath, spelt as GeeRPC's blog has it (its code has a typo: /_geeprc_).
inline constexpr std::string_view default_rpc_path = "/_geerpc_";
inline constexpr std::string_view default_debug_path = "/debug/geerpc";
// The one answer to CONNECT a client accepts.
inline constexpr int connected_status = 200;
inline constexpr std::string_view connected_reason = "Connected to Gee RPC";

// One HTTP message: a request (method, target) or a response (status, reason).
struct HttpMessage {
  std::string method;  // requests: "GET", "CONNECT"
  std::string target;  // requests: path and query as sent, "/debug/geerpc?format=json"
  int status = 0;  // responses
  std::string reason;  // responses: "Connected to Gee RPC"
  std::vector<std::pair<std::string, std::string>> headers;  // as sent, in order
  std::string body;

  // The first header of that name (names compare without case), or null.
  const std::string* header(std::string_view name) const;
  std::string_view path() const;  // the target up to '?'
  std::string_view query() const;  // after '?', or empty
  // Whether `parameter` ("format=json") is one of the query's '&'-separated parameters.
  bool has_parameter(std::string_view parameter) const;
};

// http_parser behind a small interface: bytes in, one message out.
class HttpParser {
 public:
  enum class Kind { request, response };
  explicit HttpParser(Kind kind);
  ~HttpParser();
  HttpParser(const HttpParser&) = delete;
  HttpParser& operator=(const HttpParser&) = delete;

  // Parses the next bytes of the message; false once they are not HTTP (error() says why). It
  // stops at the end of the message: bytes after it are not consumed, and `consumed` says how
  // many were (0 after the end, or after an error).
  bool feed(std::string_view bytes, std::size_t* consumed = nullptr);
  // The connection ended: a body that runs to the end of the connection is complete now.
  bool finish();
  // Headers that name a body are ignored: the message ends with its head (a CONNECT answer, a
  // request whose body nobody reads).
  void expect_no_body();

  bool head_complete() const;
  bool message_complete() const;
  const std::string& error() const;
  HttpMessage& message();

 private:
  bool check();  // the parser's state after a call: false, and error() set, on a parse error
  struct State;
  std::unique_ptr<State> state_;
};

// Limits on a request that reaches a server; notes/hardening.md gives the reasons.
struct HttpLimits {
  std::size_t max_head = std::size_t{8} * 1024;  // request line and headers; more is a 431
  // The head must be complete this long after the server starts reading it (an idle connection
  // that has sent nothing yet waits, as an RPC connection waits for its Option line).
  std::chrono::milliseconds head_timeout{10'000};
};

// Reads one request head from `conn`, a line at a time, so that the bytes after it stay in the
// connection's buffer for whatever comes next (the RPC protocol, after CONNECT). errc::bad_http
// (answer 400), http_too_large (431), or http_timeout (the connection is closed). Lines are
// parsed as they end: bytes that never end a line are cut off at max_head or at the deadline.
asio::awaitable<Result<HttpMessage>> read_request_head(std::shared_ptr<Conn> conn, HttpLimits limits);

// A whole response: status line, Content-Type and Content-Length, `headers`, Connection: close,
// the body.
std::string http_response(int status, std::string_view reason, std::string_view content_type, std::string_view body,
                          const std::vector<std::pair<std::string, std::string>>& headers = {});

// Go's HandleHTTP, for one connection whose first bytes are not an Option line: reads one
// request and answers it. CONNECT to the RPC path is answered "200 Connected to Gee RPC" and
// returns true: the connection now carries the RPC protocol. GET on the debug path serves the
// page from `services`; any other method on the RPC path is a 405, any other path a 404. False
// when the connection is done.
asio::awaitable<bool> serve_http(std::shared_ptr<Conn> conn, HttpLimits limits,
                                 std::function<std::vector<ServiceInfo>()> services);

// The client's side of CONNECT: sends it for `path` and reads the answer's head, and nothing
// after it. errc::bad_http_status, "unexpected HTTP response: <status> <reason>", for any answer
// but 200 Connected to Gee RPC.
asio::awaitable<Error> http_connect(std::shared_ptr<Conn> conn, std::string path);

// One request on a connection of its own and its whole response (a body delimited by
// Content-Length, chunks, or the end of the connection), all within `timeout` (errc::http_timeout),
// the response at most `max_response` bytes (http_too_large). For tools and tests: the debug
// page, and from day 7 the registry.
asio::awaitable<Result<HttpMessage>> http_round_trip(Endpoint endpoint, std::string request,
                                                     std::chrono::milliseconds timeout, std::size_t max_response);

}  // namespace geerpc
