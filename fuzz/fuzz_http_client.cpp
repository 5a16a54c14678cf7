// Day 7: the HTTP client the registry's callers use, against a peer that answers any request with
// the input and closes. The input goes to both ways of reading a response: http_exchange (a whole
// response: a heartbeat, a discovery's GET, etcd's answers) and http_stream (a stream of lines:
// etcd's watch and keep-alive). Each must end with a value or one of its documented errors, never
// an exception, a crash, or a wait for the deadline (the peer has closed). And they must agree:
// a 2xx response that http_exchange reads whole is, for http_stream, the same body cut into the
// same lines; any other status is bad_http_status. What http_exchange returns is then read as the
// registry's list, as RegistryDiscovery reads it.
#include <asio/local/stream_protocol.hpp>
#include <asio/strand.hpp>
#include <asio/write.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <unistd.h>
#include <vector>

#include "fuzz_util.hpp"
#include "geerpc/detail/server_list.hpp"
#include "geerpc/registry/http_client.hpp"

using namespace geerpc;

namespace {

// Small, so that short inputs reach both limits.
constexpr std::size_t max_response = 2048;
constexpr std::size_t max_line = 256;
// Never reached when the client works: the peer closes once it has written the input.
constexpr std::chrono::milliseconds deadline{4000};

// The fake server: a Unix socket in the abstract namespace (no file to clean up), one per process.
Acceptor& acceptor() {
  static Acceptor listener = [] {
    const std::string name = std::string(1, '\0') + "geerpc-fuzz-http-client-" + std::to_string(::getpid());
    const Endpoint endpoint{asio::local::stream_protocol::endpoint(name)};
    Acceptor a(fuzz::context());
    a.open(endpoint.protocol());
    a.bind(endpoint);
    a.listen();
    return a;
  }();
  return listener;
}

HttpUrl url() {
  HttpUrl u;
  u.endpoint = acceptor().local_endpoint();
  u.host = "fuzz";
  u.target = "/_geerpc_/registry";
  u.text = "http://fuzz/_geerpc_/registry";
  return u;
}

// Takes one connection and answers it with `response`, whatever was asked, then reads whatever the
// client still sends until it closes (a client that gives up early closes first: that is fine).
asio::awaitable<void> answer(std::string response) {
  auto [ec, socket] = co_await acceptor().async_accept(asio::make_strand(fuzz::context()), use_nothrow);
  if (ec) fuzz::fail("accept", ec);
  co_await asio::async_write(socket, asio::buffer(response), use_nothrow);
  std::error_code ignored;
  socket.shutdown(Socket::shutdown_send, ignored);
  char buffer[1024];
  for (;;) {
    auto [read_error, n] = co_await socket.async_read_some(asio::buffer(buffer), use_nothrow);
    if (read_error) break;
  }
}

bool one_of(const Error& error, std::initializer_list<errc> codes) {
  for (const auto code : codes)
    if (error == code) return true;
  return false;
}

// The complete lines of `body`, as http_stream hands them out.
std::vector<std::string> lines_of(std::string_view body) {
  std::vector<std::string> lines;
  for (auto newline = body.find('\n'); newline != std::string_view::npos; newline = body.find('\n')) {
    lines.emplace_back(body.substr(0, newline));
    body.remove_prefix(newline + 1);
  }
  return lines;
}

bool has_long_line(std::string_view body) {
  for (;;) {
    const auto newline = body.find('\n');
    if (std::min(newline, body.size()) > max_line) return true;
    if (newline == std::string_view::npos) return false;
    body.remove_prefix(newline + 1);
  }
}

// Free coroutines, not lambdas: a lambda's captures die with the temporary before the body runs.
asio::awaitable<void> exchange(const HttpUrl& target, std::optional<Result<HttpMessage>>& exchanged) {
  const std::string method = "GET", body;
  const HttpHeaders headers;
  exchanged = co_await http_exchange(target, method, headers, body, deadline, max_response);
}

asio::awaitable<void> stream(const HttpUrl& target, std::optional<Error>& streamed, std::vector<std::string>& lines) {
  const std::string method = "POST", body;
  const HttpHeaders headers;
  const std::function<bool(std::string_view)> on_line = [&lines](std::string_view line) {
    if (line.size() > max_line) fuzz::fail("http_stream handed out a line over max_line");
    lines.emplace_back(line);
    return true;
  };
  streamed = co_await http_stream(target, method, headers, body, deadline, on_line, max_line);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init();
  (void)acceptor();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input = fuzz::as_string(data, size);
  const HttpUrl target = url();
  auto executor = fuzz::context().get_executor();

  std::optional<Result<HttpMessage>> exchanged;
  fuzz::spawn(executor, answer(input));
  fuzz::spawn(executor, exchange(target, exchanged));
  fuzz::run();
  if (!exchanged) fuzz::fail("http_exchange did not finish");

  std::optional<Error> stream_result;
  std::vector<std::string> lines;
  fuzz::spawn(executor, answer(input));
  fuzz::spawn(executor, stream(target, stream_result, lines));
  fuzz::run();
  if (!stream_result) fuzz::fail("http_stream did not finish");
  const Error& streamed = *stream_result;

  const auto& response = *exchanged;
  if (!response) {
    if (!one_of(response.error(), {errc::bad_http, errc::http_too_large}))
      fuzz::fail("http_exchange", response.error());
    if (response.error().message().empty()) fuzz::fail("http_exchange failed without a message");
  } else if (response->status < 100 || response->status > 999) {
    fuzz::fail("http_exchange returned status " + std::to_string(response->status));
  }
  if (streamed && !one_of(streamed, {errc::bad_http, errc::http_too_large, errc::bad_http_status}))
    fuzz::fail("http_stream", streamed);

  if (response) {
    const bool success = response->status >= 200 && response->status <= 299;
    if (!success && streamed != errc::bad_http_status)
      fuzz::fail("http_stream took status " + std::to_string(response->status) + " for success");
    if (!success && streamed.message() != target.text + " answered " + std::to_string(response->status) + " " +
                                              response->reason)
      fuzz::fail("http_stream's status error: " + streamed.message());
    if (success && !has_long_line(response->body)) {
      if (streamed) fuzz::fail("http_stream failed on a response http_exchange read", streamed);
      if (lines != lines_of(response->body)) fuzz::fail("http_stream cut the body into other lines");
    }
    // What RegistryDiscovery makes of it.
    auto list = detail::read_server_list(*response);
    if (!list && list.error() != errc::bad_http) fuzz::fail("read_server_list", list.error());
    if (list && !response->body.empty()) {
      // The body is the whole list, as the registry writes it: an object with an array of strings.
      const auto body = nlohmann::json::parse(response->body, nullptr, false);
      const auto servers = body.is_object() ? body.find("servers") : body.end();
      if (servers == body.end() || !servers->is_array() || servers->size() != list->size())
        fuzz::fail("read_server_list took " + response->body.substr(0, 200) + " for a list");
    }
    if (list)
      for (const auto& server : *list)
        if (server.empty()) fuzz::fail("read_server_list listed an empty server");
  }
  return 0;
}
