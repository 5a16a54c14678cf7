// The whole server path: a Server serves one connection whose bytes are the input (Option line,
// then frames), the peer half-closes, and the server must finish with the connection on its own.
// What comes back is checked against net/rpc's contract: nothing when the Option is refused, else
// whole, decodable messages only, and exactly one response for every request the server read
// whole, whatever became of it (a handler that throws must not swallow its reply, closing the
// connection must not drop replies already sent).
#include <algorithm>
#include <asio/write.hpp>
#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

#include "fuzz_util.hpp"
#include "geerpc/server.hpp"

#if __has_include("geerpc/service.hpp")
// From day 3 on, requests reach services. One with a typed argument, as the demos register it,
// puts argument decoding and the call path in reach of the fuzzer (the seeds call Foo.Sum).
#include "geerpc/service.hpp"

namespace fuzz_service {

struct Args {
  int num1 = 0, num2 = 0;
};
// Checked by hand, unlike NLOHMANN_DEFINE_TYPE's get_to: that converts any number to int, and an
// out-of-range float makes the conversion undefined. Argument types meet the peer's numbers; see
// notes/hardening.md.
int checked_int(const nlohmann::json& value) {
  if (!value.is_number_integer()) throw std::invalid_argument("not an integer");
  return value.get<int>();
}
void from_json(const nlohmann::json& j, Args& args) {
  args.num1 = checked_int(j.at("num1"));
  args.num2 = checked_int(j.at("num2"));
}
void to_json(nlohmann::json& j, const Args& args) { j = {{"num1", args.num1}, {"num2", args.num2}}; }

struct Foo {
  geerpc::Error Sum(Args args, long long* reply) {
    *reply = static_cast<long long>(args.num1) + args.num2;  // cannot overflow
    return {};
  }
};
GEERPC_SERVICE(Foo, Sum)

}  // namespace fuzz_service
#endif

namespace {

using namespace geerpc;

struct Call {
  std::uint64_t seq;
  std::string service_method;
  auto operator<=>(const Call&) const = default;
};

// The peer's end of a clean finish: the server closed its socket (eof), or closed it with some of
// the input still unread, which a Unix socket reports as a reset.
bool ended(const auto& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset;
}

// The client: sends the input, half-closes, and keeps every byte the server sends back.
asio::awaitable<void> peer(Socket socket, std::string input, std::string& received) {
  co_await asio::async_write(socket, asio::buffer(input), use_nothrow);
  std::error_code ignored;
  socket.shutdown(Socket::shutdown_send, ignored);
  char buffer[4096];
  for (;;) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(buffer), use_nothrow);
    received.append(buffer, n);
    if (ec) {
      if (!ended(ec)) fuzz::fail("reading the responses", ec);
      co_return;
    }
  }
}

// Reads what the server sent back as responses in the codec `type`: whole messages, then the end.
asio::awaitable<void> read_responses(Socket socket, Type type, std::vector<Call>& answered) {
  auto conn = std::make_shared<Conn>(std::move(socket));
  auto codec = (*find_new_codec_func(type))(conn);
  for (;;) {
    Header header;
    if (auto ec = co_await codec->read_header(header)) {
      if (ec != asio::error::eof) fuzz::fail("response header", ec);
      break;
    }
    Body body;
    if (auto ec = co_await codec->read_body(&body)) fuzz::fail("response body", ec);
    answered.push_back({header.seq, header.service_method});
  }
  conn->close();
}

// The requests the server must answer, found by reading the frames after the Option line with the
// same Conn and codec (over a socket pair of their own): every request whose header decodes and
// whose body frame arrives whole. A body that does not decode is answered too, with an error.
asio::awaitable<void> expect(Socket socket, Type type, std::vector<Call>& requests) {
  auto conn = std::make_shared<Conn>(std::move(socket), fuzz::max_frame_size);
  auto codec = (*find_new_codec_func(type))(conn);
  for (;;) {
    Header header;
    if (co_await codec->read_header(header)) break;
    Body body;
    if (auto ec = co_await codec->read_body(&body); ec && ec != errc::bad_body) break;
    requests.push_back({header.seq, header.service_method});
  }
  conn->close();
}

std::string describe(const std::vector<Call>& calls) {
  std::string text;
  for (const auto& call : calls) text += " " + call.service_method + "#" + std::to_string(call.seq);
  return text.empty() ? " none" : text;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input = fuzz::as_string(data, size);
  const auto newline = input.find('\n');
  std::optional<Type> type;
  if (newline != std::string::npos) {
    auto option = parse_option(std::string_view(input).substr(0, newline));
    if (option && find_new_codec_func(option->codec_type)) type = option->codec_type;
  }
  // read_line may take a longer line when it arrives in one read: then what the server does
  // depends on how the kernel splits the input, and only the shape of its answers is checked.
  const bool line_fits = newline == std::string::npos || newline < max_option_line;

  std::vector<Call> requests, answered;
  std::string received;
  auto& ctx = fuzz::context();
  {
    Server server(ctx.get_executor(), {.max_frame_size = fuzz::max_frame_size});
#if __has_include("geerpc/service.hpp")
    static fuzz_service::Foo foo;
    if (auto error = server.register_service(foo)) fuzz::fail("register_service", error);
#endif
    auto [client, served] = fuzz::socket_pair();
    server.serve_conn(std::move(served));
    fuzz::spawn(client.get_executor(), peer(std::move(client), input, received));
    if (type && line_fits) {
      auto [reader, writer] = fuzz::socket_pair();
      fuzz::spawn(writer.get_executor(), fuzz::write_and_close(std::move(writer), input.substr(newline + 1)));
      fuzz::spawn(reader.get_executor(), expect(std::move(reader), *type, requests));
    }
    // Returns once the connection is over on both ends: a server that never lets go is a timeout.
    fuzz::run();
    // Nothing is in flight any more, so stopping must not wait for stop_timeout.
    fuzz::spawn(ctx.get_executor(), server.async_stop(asio::use_awaitable));
    fuzz::run();
  }
  fuzz::run();  // whatever the destructor posted

  if (!type) {
    if (!received.empty()) fuzz::fail("answered a refused Option");
    return 0;
  }
  std::string_view responses = received;
  if (responses.starts_with('{')) {
    // From day 4 on the server answers the handshake with an Option line of its own.
    const auto end = responses.find('\n');
    auto answer = parse_option(responses.substr(0, end));
    if (end == std::string_view::npos || !answer || answer->codec_type != *type)
      fuzz::fail("bad Option line in the answer: " + std::string(responses.substr(0, end)));
    responses.remove_prefix(end + 1);
  }
  auto [reader, writer] = fuzz::socket_pair();
  fuzz::spawn(writer.get_executor(), fuzz::write_and_close(std::move(writer), std::string(responses)));
  fuzz::spawn(reader.get_executor(), read_responses(std::move(reader), *type, answered));
  fuzz::run();

  if (line_fits) {
    // Handlers run concurrently, so responses may come in any order.
    std::sort(requests.begin(), requests.end());
    std::sort(answered.begin(), answered.end());
    if (requests != answered) fuzz::fail("requests read:" + describe(requests) + "; responses:" + describe(answered));
  }
  return 0;
}
