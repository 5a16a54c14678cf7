// Plumbing shared by the fuzz targets: one io_context for the whole process, socket pairs on
// strands of it, and coroutines that feed the fuzzer's bytes into one end. Compiled once
// (fuzz_util.cpp) instead of in every target.
//
// Every input runs the context until it has no work left, so nothing of one input outlives it and
// a connection that never finishes is a hang (libFuzzer's -timeout reports it), not a silent leak.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "geerpc/codec.hpp"
#include "geerpc/conn.hpp"

namespace geerpc {
class Server;
}

namespace geerpc::fuzz {

// Small, so that the fuzzer reaches the "frame too large" path with 3-byte length prefixes too.
inline constexpr std::size_t max_frame_size = 64 * 1024;

// Call once from LLVMFuzzerInitialize: silences the log (the server logs each request and each bad
// peer, which at thousands of inputs a second would drown libFuzzer's output), ignores SIGPIPE and
// lowers the stack limit to 1 MiB (see fuzz_util.cpp).
void init();

// Reused by every input (creating a reactor per input would dominate the run time); one thread,
// so each input is deterministic apart from how the kernel splits reads.
asio::io_context& context();

// Runs every handler the input queued, then readies the context for the next input.
void run();

// A property of the code under test does not hold: abort, so libFuzzer saves the input.
[[noreturn]] void fail(std::string_view what);

// The same, with the error that broke it (a std::error_code, or anything else with message()).
template <class E>
[[noreturn]] void fail(std::string_view what, const E& error) {
  fail(std::string(what) + ": " + error.message());
}

// Like asio::detached, except that an exception escaping the coroutine is rethrown from run():
// the framework reports errors as codes, so an exception is a finding, not something to swallow.
void spawn(const asio::any_io_executor& executor, asio::awaitable<void> coroutine);

// Two connected sockets, each on its own strand, as Conn requires: a connection without a network.
std::pair<Socket, Socket> socket_pair();

// Writes `bytes`, then closes: the reader sees exactly the input, then a clean end of stream. A
// reader that gives up early closes its end, which fails this write instead of blocking it.
asio::awaitable<void> write_and_close(Socket socket, std::string bytes);

// What the header and body targets share: the input as one whole frame, read by the codec for
// `type`. Any frame either decodes or fails with bad_header / bad_body; either way it is consumed
// whole, so the next read must find the clean end of the stream (the server relies on this to
// answer a bad body and carry on). What decodes must decode exactly as nlohmann/json decodes it.
void decode_one_frame(const Type& type, bool header, const std::uint8_t* data, std::size_t size);

// Registers what the RPC seeds call: from day 3 on, Foo.Sum with a typed argument, so that
// argument decoding and the call path are in reach of the fuzzer.
void register_services(Server& server);

// The client's end of a served connection: writes `input`, half-closes, and keeps every byte the
// server sends back until the server lets go of the connection.
asio::awaitable<void> send_and_collect(Socket socket, std::string input, std::string& received);

// What a served RPC connection owes its peer, after it ended: `input` is what the peer sent (the
// Option line, then frames), `received` what came back. net/rpc's contract: nothing when the
// Option is refused, else whole, decodable responses only, and exactly one for every request the
// server read whole, whatever became of it (a handler that throws must not swallow its reply,
// closing the connection must not drop replies already sent). Runs the context.
void check_rpc_exchange(std::string_view input, std::string_view received);

// One HTTP response as geerpc's servers write it, taken apart by hand (not by the parser under
// test): "HTTP/1.x NNN reason", headers, a blank line, then exactly Content-Length bytes of body
// and nothing after it (every such answer says Connection: close). Anything else fails.
struct HttpAnswer {
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  const std::string* header(std::string_view name) const;  // names compare without case
};
HttpAnswer whole_http_answer(std::string_view bytes);

inline std::string as_string(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace geerpc::fuzz
