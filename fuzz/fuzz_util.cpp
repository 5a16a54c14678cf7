#include "fuzz_util.hpp"

#include <sys/resource.h>

#include <asio/co_spawn.hpp>
#include <asio/local/connect_pair.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/strand.hpp>
#include <asio/write.hpp>
#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

#include "geerpc/log.hpp"
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

namespace geerpc::fuzz {

void init() {
  set_log_sink({});
  std::signal(SIGPIPE, SIG_IGN);  // a peer that closes early must cost an error code, not the process
  // Recursion that grows with the input (a parser or serializer that recurses per nesting level)
  // overflows the usual 8 MiB stack only with inputs far past libFuzzer's 4 KiB default length; on
  // 1 MiB it shows at about 850 levels under ASan. Code without such recursion needs far less.
  constexpr rlim_t stack_limit = 1024 * 1024;
  rlimit stack{};
  if (getrlimit(RLIMIT_STACK, &stack) == 0 && stack.rlim_cur > stack_limit) {
    stack.rlim_cur = stack_limit;
    setrlimit(RLIMIT_STACK, &stack);
  }
}

asio::io_context& context() {
  static asio::io_context ctx(1);
  return ctx;
}

void run() {
  context().run();
  context().restart();
}

void fail(std::string_view what) {
  std::fprintf(stderr, "fuzz check failed: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

void spawn(const asio::any_io_executor& executor, asio::awaitable<void> coroutine) {
  asio::co_spawn(executor, std::move(coroutine), [](std::exception_ptr error) {
    if (error) std::rethrow_exception(error);
  });
}

std::pair<Socket, Socket> socket_pair() {
  asio::local::stream_protocol::socket a(asio::make_strand(context())), b(asio::make_strand(context()));
  asio::local::connect_pair(a, b);
  return {Socket(std::move(a)), Socket(std::move(b))};
}

asio::awaitable<void> write_and_close(Socket socket, std::string bytes) {
  co_await asio::async_write(socket, asio::buffer(bytes), use_nothrow);
  std::error_code ignored;
  socket.shutdown(Socket::shutdown_send, ignored);
  socket.close(ignored);
}

namespace {

// What nlohmann/json itself makes of `bytes` in the codec's format, or nullopt if it refuses them.
std::optional<nlohmann::json> reference(const Type& type, std::string_view bytes) {
  try {
    if (type == json_type) return nlohmann::json::parse(bytes);
    return nlohmann::json::from_msgpack(bytes.begin(), bytes.end());
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

// Equal values of equal types: MessagePack keeps integer, unsigned and float apart, and NaN too.
bool same(const nlohmann::json& a, const nlohmann::json& b) {
  return nlohmann::json::to_msgpack(a) == nlohmann::json::to_msgpack(b);
}

// Reads the one frame, then checks the result against nlohmann/json for the two codecs built on
// it: the codecs may take faster paths and may refuse more (limits), but what they accept must
// decode to exactly what nlohmann decodes. (Computed only after an accept: nlohmann's own
// recursion is what a codec may have refused.)
asio::awaitable<void> read_one_frame(std::unique_ptr<Codec> codec, bool header, std::string frame, Type type) {
  const bool differential = type == json_type || type == msgpack_type;
  if (header) {
    Header h;
    if (auto ec = co_await codec->read_header(h); ec && ec != errc::bad_header) {
      fail("read_header", ec);
    } else if (!ec && differential) {
      Header expected;
      auto value = reference(type, frame);
      try {
        if (value) value->get_to(expected);
      } catch (const nlohmann::json::exception&) {
        value.reset();
      }
      if (!value) fail("read_header accepted a header that nlohmann/json and from_json refuse");
      if (h.service_method != expected.service_method || h.seq != expected.seq || h.error != expected.error)
        fail("read_header decoded the header differently from nlohmann/json");
    }
  } else {
    Body body;
    if (auto ec = co_await codec->read_body(&body); ec && ec != errc::bad_body) {
      fail("read_body", ec);
    } else if (!ec && differential) {
      auto value = reference(type, frame);
      if (!value) fail("read_body accepted a body that nlohmann/json refuses");
      if (!same(body, *value))
        fail("read_body decoded " + value->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + " as " +
             body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
  }
  std::string_view rest;
  if (auto end = co_await codec->conn().read_frame(rest); end != asio::error::eof)
    fail("the stream is out of step after one frame", end);
  codec->conn().close();
}

}  // namespace

void decode_one_frame(const Type& type, bool header, const std::uint8_t* data, std::size_t size) {
  if (size > default_max_frame_size) return;  // no length prefix could announce it
  auto [reader, writer] = socket_pair();
  std::string frame;
  append_frame_length(frame, size);
  frame.append(reinterpret_cast<const char*>(data), size);
  spawn(writer.get_executor(), write_and_close(std::move(writer), std::move(frame)));
  auto conn = std::make_shared<Conn>(std::move(reader));
  spawn(conn->get_executor(), read_one_frame((*find_new_codec_func(type))(conn), header, as_string(data, size), type));
  run();
}

void register_services([[maybe_unused]] Server& server) {
#if __has_include("geerpc/service.hpp")
  static fuzz_service::Foo foo;
  if (auto error = server.register_service(foo)) fail("register_service", error);
#endif
}

namespace {

struct Call {
  std::uint64_t seq;
  std::string service_method;
  auto operator<=>(const Call&) const = default;
};

// The peer's end of a clean finish: the server closed its socket (eof), or closed it with some of
// the input still unread, which a Unix socket reports as a reset.
bool ended(const std::error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset;
}

// Reads what the server sent back as responses in the codec `type`: whole messages, then the end.
asio::awaitable<void> read_responses(Socket socket, Type type, std::vector<Call>& answered) {
  auto conn = std::make_shared<Conn>(std::move(socket));
  auto codec = (*find_new_codec_func(type))(conn);
  for (;;) {
    Header header;
    if (auto ec = co_await codec->read_header(header)) {
      if (ec != asio::error::eof) fail("response header", ec);
      break;
    }
    Body body;
    if (auto ec = co_await codec->read_body(&body)) fail("response body", ec);
    answered.push_back({header.seq, header.service_method});
  }
  conn->close();
}

// The requests the server must answer, found by reading the frames after the Option line with the
// same Conn and codec (over a socket pair of their own): every request whose header decodes and
// whose body frame arrives whole. A body that does not decode is answered too, with an error.
asio::awaitable<void> expect(Socket socket, Type type, std::vector<Call>& requests) {
  auto conn = std::make_shared<Conn>(std::move(socket), max_frame_size);
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

asio::awaitable<void> send_and_collect(Socket socket, std::string input, std::string& received) {
  co_await asio::async_write(socket, asio::buffer(input), use_nothrow);
  std::error_code ignored;
  socket.shutdown(Socket::shutdown_send, ignored);
  char buffer[4096];
  for (;;) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(buffer), use_nothrow);
    received.append(buffer, n);
    if (ec) {
      if (!ended(ec)) fail("reading the responses", ec);
      co_return;
    }
  }
}

const std::string* HttpAnswer::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (std::equal(key.begin(), key.end(), name.begin(), name.end(),
                   [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) ==
                                               std::tolower(static_cast<unsigned char>(b)); }))
      return &value;
  return nullptr;
}

HttpAnswer whole_http_answer(std::string_view bytes) {
  const std::string shown(bytes.substr(0, 200));
  const auto bad = [&](std::string_view why) { fail("malformed HTTP answer (" + std::string(why) + "): " + shown); };
  HttpAnswer answer;
  const auto line_end = [&](std::string_view rest) {
    const auto end = rest.find("\r\n");
    if (end == std::string_view::npos) bad("a line without CRLF");
    if (rest.substr(0, end).find_first_of("\r\n") != std::string_view::npos) bad("a stray CR or LF");
    return end;
  };
  std::string_view rest = bytes;
  if (!rest.starts_with("HTTP/1.1 ") && !rest.starts_with("HTTP/1.0 ")) bad("status line");
  rest.remove_prefix(9);
  auto end = line_end(rest);
  if (end < 4 || rest[3] != ' ' || !std::all_of(rest.begin(), rest.begin() + 3, [](char c) { return c >= '0' && c <= '9'; }))
    bad("status code");
  answer.status = std::stoi(std::string(rest.substr(0, 3)));
  answer.reason = rest.substr(4, end - 4);
  if (answer.reason.empty()) bad("no reason phrase");
  rest.remove_prefix(end + 2);
  while (!rest.starts_with("\r\n")) {
    end = line_end(rest);
    const auto line = rest.substr(0, end);
    const auto colon = line.find(": ");
    if (colon == 0 || colon == std::string_view::npos) bad("header line");
    answer.headers.emplace_back(line.substr(0, colon), line.substr(colon + 2));
    rest.remove_prefix(end + 2);
  }
  rest.remove_prefix(2);
  const auto* length = answer.header("Content-Length");
  if (!length || *length != std::to_string(rest.size())) bad("Content-Length is not the body's length");
  if (const auto* connection = answer.header("Connection"); !connection || *connection != "close")
    bad("no Connection: close");
  answer.body = rest;
  return answer;
}

void check_rpc_exchange(std::string_view input, std::string_view received) {
  const auto newline = input.find('\n');
  std::optional<Type> type;
  if (newline != std::string_view::npos) {
    auto option = parse_option(input.substr(0, newline));
    if (option && find_new_codec_func(option->codec_type)) type = option->codec_type;
  }
  if (!type) {
    if (!received.empty()) fail("answered a refused Option");
    return;
  }
  // read_line may take a longer line when it arrives in one read: then what the server does
  // depends on how the kernel splits the input, and only the shape of its answers is checked.
  const bool line_fits = newline < max_option_line;

  std::vector<Call> requests, answered;
  if (line_fits) {
    auto [reader, writer] = socket_pair();
    spawn(writer.get_executor(), write_and_close(std::move(writer), std::string(input.substr(newline + 1))));
    spawn(reader.get_executor(), expect(std::move(reader), *type, requests));
    run();
  }
  std::string_view responses = received;
  if (responses.starts_with('{')) {
    // From day 4 on the server answers the handshake with an Option line of its own.
    const auto end = responses.find('\n');
    auto answer = parse_option(responses.substr(0, end));
    if (end == std::string_view::npos || !answer || answer->codec_type != *type)
      fail("bad Option line in the answer: " + std::string(responses.substr(0, end)));
    responses.remove_prefix(end + 1);
  }
  auto [reader, writer] = socket_pair();
  spawn(writer.get_executor(), write_and_close(std::move(writer), std::string(responses)));
  spawn(reader.get_executor(), read_responses(std::move(reader), *type, answered));
  run();

  if (line_fits) {
    // Handlers run concurrently, so responses may come in any order.
    std::sort(requests.begin(), requests.end());
    std::sort(answered.begin(), answered.end());
    if (requests != answered) fail("requests read:" + describe(requests) + "; responses:" + describe(answered));
  }
}

}  // namespace geerpc::fuzz
