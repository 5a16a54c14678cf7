#include "geerpc/http.hpp"

#include <http_parser.h>
#include <strings.h>

#include <array>
#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "geerpc/log.hpp"

namespace geerpc {

const std::string* HttpMessage::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (key.size() == name.size() && ::strncasecmp(key.data(), name.data(), name.size()) == 0) return &value;
  return nullptr;
}

std::string_view HttpMessage::path() const {
  return std::string_view(target).substr(0, target.find('?'));
}

std::string_view HttpMessage::query() const {
  const auto mark = target.find('?');
  return mark == std::string::npos ? std::string_view() : std::string_view(target).substr(mark + 1);
}

bool HttpMessage::has_parameter(std::string_view parameter) const {
  for (auto rest = query(); !rest.empty();) {
    const auto amp = rest.find('&');
    if (rest.substr(0, amp) == parameter) return true;
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
  }
  return false;
}

// The parser calls back with pieces of each part (a header value may come in several); they are
// appended here and a header is stored once its value is complete.
struct HttpParser::State {
  http_parser parser{};
  http_parser_settings settings{};
  HttpMessage message;
  std::string field, value;
  bool in_value = false, head_complete = false, message_complete = false, no_body = false;
  std::string error;

  static State& of(http_parser* p) { return *static_cast<State*>(p->data); }
  void store_header() {
    if (in_value) message.headers.emplace_back(std::move(field), std::move(value));
    field.clear();
    value.clear();
    in_value = false;
  }
};

HttpParser::HttpParser(Kind kind) : state_(std::make_unique<State>()) {
  // http-parser's own limit on a head (80 KiB) is one setting for the whole process. The limits
  // that matter are enforced where the bytes are read (read_request_head's max_head,
  // http_round_trip's max_response), so its own is raised out of their way once.
  static const bool raised = (http_parser_set_max_header_size(std::uint32_t{64} << 20), true);
  (void)raised;
  http_parser_init(&state_->parser, kind == Kind::request ? HTTP_REQUEST : HTTP_RESPONSE);
  state_->parser.data = state_.get();
  auto& s = state_->settings;
  http_parser_settings_init(&s);
  s.on_url = [](http_parser* p, const char* at, std::size_t n) {
    State::of(p).message.target.append(at, n);
    return 0;
  };
  s.on_status = [](http_parser* p, const char* at, std::size_t n) {
    State::of(p).message.reason.append(at, n);
    return 0;
  };
  s.on_header_field = [](http_parser* p, const char* at, std::size_t n) {
    auto& state = State::of(p);
    if (state.in_value) state.store_header();
    state.field.append(at, n);
    return 0;
  };
  s.on_header_value = [](http_parser* p, const char* at, std::size_t n) {
    auto& state = State::of(p);
    state.in_value = true;
    state.value.append(at, n);
    return 0;
  };
  s.on_headers_complete = [](http_parser* p) {
    auto& state = State::of(p);
    state.store_header();
    if (p->type == HTTP_REQUEST) {
      state.message.method = http_method_str(static_cast<http_method>(p->method));
    } else if (p->status_code < 100) {
      // http_parser takes a status of one or two digits too; HTTP's have three.
      state.error = "invalid HTTP status code";
      return -1;
    } else {
      state.message.status = static_cast<int>(p->status_code);
    }
    state.head_complete = true;
    return state.no_body ? 1 : 0;  // 1: the parser expects no body
  };
  s.on_body = [](http_parser* p, const char* at, std::size_t n) {
    State::of(p).message.body.append(at, n);
    return 0;
  };
  s.on_message_complete = [](http_parser* p) {
    State::of(p).message_complete = true;
    http_parser_pause(p, 1);  // stop here: what follows is not this message's
    return 0;
  };
}

HttpParser::~HttpParser() = default;

bool HttpParser::feed(std::string_view bytes, std::size_t* consumed) {
  auto& s = *state_;
  if (consumed) *consumed = 0;
  if (!s.error.empty()) return false;
  // Nothing to parse, or nothing more to this message (what follows is not consumed). An empty
  // call to the parser itself would mean the end of the stream: that is finish().
  if (bytes.empty() || s.message_complete) return true;
  const std::size_t n = http_parser_execute(&s.parser, &s.settings, bytes.data(), bytes.size());
  if (consumed) *consumed = n;
  return check();
}

bool HttpParser::check() {
  auto& s = *state_;
  const auto status = HTTP_PARSER_ERRNO(&s.parser);
  if (status == HPE_OK || (status == HPE_PAUSED && s.message_complete)) return true;
  if (s.error.empty()) s.error = http_errno_description(status);  // else a callback said why
  return false;
}

bool HttpParser::finish() {
  auto& s = *state_;
  if (s.message_complete) return true;
  if (!s.error.empty()) return false;
  http_parser_execute(&s.parser, &s.settings, nullptr, 0);  // no bytes: the stream ended
  return check() && s.message_complete;
}

void HttpParser::expect_no_body() {
  state_->no_body = true;
}

bool HttpParser::head_complete() const {
  return state_->head_complete;
}

bool HttpParser::message_complete() const {
  return state_->message_complete;
}

const std::string& HttpParser::error() const {
  return state_->error;
}

HttpMessage& HttpParser::message() {
  return state_->message;
}

namespace {

// Feeds a head to `parser` a line at a time from `conn`, stopping right after its blank line.
// `max_head` bounds the whole head.
asio::awaitable<Error> read_head(Conn& conn, HttpParser& parser, std::size_t max_head) {
  std::string line;
  for (std::size_t used = 0; !parser.head_complete();) {
    if (used >= max_head) co_return errc::http_too_large;
    if (auto ec = co_await conn.read_line(line, max_head - used))
      co_return ec == errc::frame_too_large ? Error(errc::http_too_large) : Error(ec);
    used += line.size() + 1;
    line += '\n';
    if (!parser.feed(line)) co_return Error(errc::bad_http, parser.error());
  }
  co_return Error{};
}

const char* const text_plain = "text/plain; charset=utf-8";

}  // namespace

asio::awaitable<Result<HttpMessage>> read_request_head(std::shared_ptr<Conn> conn, HttpLimits limits) {
  HttpParser parser(HttpParser::Kind::request);
  parser.expect_no_body();
  // A client that sends half a head and goes silent must not hold its connection. The timer and
  // this coroutine share the strand; whichever comes first settles it, so an expiry queued just as
  // the head arrived cannot close a connection that has gone on to RPC.
  enum class Head { pending, read, expired };
  auto head = std::make_shared<Head>(Head::pending);
  asio::steady_timer deadline(conn->get_executor(), limits.head_timeout);
  deadline.async_wait([conn, head](std::error_code ec) {
    if (ec || *head != Head::pending) return;
    *head = Head::expired;
    conn->close();
  });
  auto error = co_await read_head(*conn, parser, limits.max_head);
  if (*head == Head::expired) co_return errc::http_timeout;
  *head = Head::read;
  deadline.cancel();
  if (error) co_return error;
  co_return std::move(parser.message());
}

std::string http_response(int status, std::string_view reason, std::string_view content_type, std::string_view body,
                          const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string response = "HTTP/1.1 " + std::to_string(status) + " ";
  response.append(reason).append("\r\nContent-Type: ").append(content_type);
  response.append("\r\nContent-Length: ").append(std::to_string(body.size()));
  for (const auto& [name, value] : headers) response.append("\r\n").append(name).append(": ").append(value);
  response.append("\r\nConnection: close\r\n\r\n").append(body);
  return response;
}

asio::awaitable<bool> serve_http(std::shared_ptr<Conn> conn, HttpLimits limits,
                                 std::function<std::vector<ServiceInfo>()> services) {
  auto request = co_await read_request_head(conn, limits);
  if (!request) {
    const auto error = request.error();
    if (error == errc::bad_http) conn->send(http_response(400, "Bad Request", text_plain, "400 bad request\n"));
    if (error == errc::http_too_large)
      conn->send(http_response(431, "Request Header Fields Too Large", text_plain, "431 request head too large\n"));
    if (error != asio::error::eof && error != asio::error::operation_aborted)
      log("rpc server: HTTP request refused: " + error.message());
    co_return false;
  }
  const auto path = request->path();
  if (path == default_rpc_path) {
    if (request->method != "CONNECT") {
      conn->send(http_response(405, "Method Not Allowed", text_plain, "405 must CONNECT\n"));
      co_return false;
    }
    // Go's Hijack: from here the connection is the RPC protocol's, read-ahead and all.
    conn->send(std::string("HTTP/1.0 200 Connected to Gee RPC\r\n\r\n"));
    co_return true;
  }
  if (path == default_debug_path) {
    if (request->method != "GET") {
      conn->send(http_response(405, "Method Not Allowed", text_plain, "405 method not allowed\n"));
    } else if (request->has_parameter("format=json")) {
      conn->send(http_response(200, "OK", "application/json", debug_json(services())));
    } else {
      conn->send(http_response(200, "OK", "text/html; charset=utf-8", debug_html(services())));
    }
    co_return false;
  }
  conn->send(http_response(404, "Not Found", text_plain, "404 page not found\n"));
  co_return false;
}

asio::awaitable<Error> http_connect(std::shared_ptr<Conn> conn, std::string path) {
  conn->send("CONNECT " + path + " HTTP/1.0\r\n\r\n");
  HttpParser parser(HttpParser::Kind::response);
  parser.expect_no_body();
  if (auto error = co_await read_head(*conn, parser, HttpLimits().max_head))
    co_return Error(error.code(), "rpc client: CONNECT failed: " + error.message());
  const auto& answer = parser.message();
  if (answer.status != connected_status || answer.reason != connected_reason)
    co_return Error(errc::bad_http_status,
                    "unexpected HTTP response: " + std::to_string(answer.status) + " " + answer.reason);
  co_return Error{};
}

namespace {

// Connects, writes the request and reads the whole response.
asio::awaitable<Result<HttpMessage>> exchange(Socket& socket, const Endpoint& endpoint, const std::string& request,
                                              std::size_t max_response) {
  auto [connect_error] = co_await socket.async_connect(endpoint, use_nothrow);
  if (connect_error) co_return connect_error;
  auto [write_error, written] = co_await asio::async_write(socket, asio::buffer(request), use_nothrow);
  if (write_error) co_return write_error;
  HttpParser parser(HttpParser::Kind::response);
  // On the heap: GCC 12 misreports a coroutine frame this large (-Wmismatched-new-delete).
  auto buffer = std::make_unique<std::array<char, 8192>>();
  for (std::size_t total = 0; !parser.message_complete();) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(*buffer), use_nothrow);
    if (ec == asio::error::eof) {
      if (!parser.finish()) co_return Error(errc::bad_http, "the connection ended inside the response");
      break;
    }
    if (ec) co_return ec;
    if ((total += n) > max_response) co_return errc::http_too_large;
    if (!parser.feed({buffer->data(), n})) co_return Error(errc::bad_http, parser.error());
  }
  co_return std::move(parser.message());
}

asio::awaitable<Result<HttpMessage>> round_trip_on_strand(Endpoint endpoint, std::string request,
                                                          std::chrono::milliseconds timeout, std::size_t max_response) {
  const auto executor = co_await asio::this_coro::executor;
  auto socket = std::make_shared<Socket>(executor);
  // At the deadline the socket is closed, which ends whichever step is waiting.
  auto expired = std::make_shared<bool>(false);
  asio::steady_timer deadline(executor, timeout);
  deadline.async_wait([socket, expired](std::error_code ec) {
    if (ec) return;
    *expired = true;
    std::error_code ignored;
    socket->close(ignored);
  });
  auto result = co_await exchange(*socket, endpoint, request, max_response);
  deadline.cancel();
  std::error_code ignored;
  socket->close(ignored);
  if (*expired) co_return errc::http_timeout;
  co_return result;
}

}  // namespace

asio::awaitable<Result<HttpMessage>> http_round_trip(Endpoint endpoint, std::string request,
                                                     std::chrono::milliseconds timeout, std::size_t max_response) {
  // On a strand of its own: the deadline's close and the reads never run at once.
  auto strand = asio::make_strand(co_await asio::this_coro::executor);
  auto round_trip = round_trip_on_strand(std::move(endpoint), std::move(request), timeout, max_response);
  co_return co_await asio::co_spawn(strand, std::move(round_trip), asio::use_awaitable);
}

}  // namespace geerpc
