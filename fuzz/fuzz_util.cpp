#include "fuzz_util.hpp"

#include <sys/resource.h>

#include <asio/co_spawn.hpp>
#include <asio/local/connect_pair.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/strand.hpp>
#include <asio/write.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>

#include "geerpc/log.hpp"

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

}  // namespace geerpc::fuzz
