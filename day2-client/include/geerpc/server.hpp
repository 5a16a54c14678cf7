// The server: the Option handshake, then a loop that reads requests, handles them concurrently
// and writes the responses back.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/basic_socket_acceptor.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <system_error>

#include "geerpc/codec.hpp"
#include "geerpc/conn.hpp"

namespace geerpc {

inline constexpr int magic_number = 0x3bef5c;

// Sent once, first, as one line of JSON ending in '\n'; everything after it is frames.
struct Option {
  int magic_number = geerpc::magic_number;  // marks a geerpc peer
  Type codec_type = msgpack_type;  // how the rest of the connection is encoded
};

void to_json(nlohmann::json& j, const Option& option);

// The Option as its wire line, '\n' included.
std::string option_line(const Option& option);
// Parses one line (without the '\n') and checks the magic number: errc::bad_option or bad_magic.
Result<Option> parse_option(std::string_view line);

inline constexpr std::size_t max_option_line = 1024;

// Limits that keep one bad client from hurting the others; notes/hardening.md gives the reasons.
struct ServerConfig {
  std::size_t max_frame_size = default_max_frame_size;
  // The rest of a frame that has started must arrive within this (0: no limit).
  std::chrono::milliseconds frame_timeout = default_frame_timeout;
  // Requests of one connection being handled at once; at the cap the server stops reading that
  // connection until some finish.
  std::size_t max_in_flight = 1024;
  // Responses queued for a peer that does not read them; above this the server stops reading.
  std::size_t max_unsent_bytes = std::size_t{32} * 1024 * 1024;
  // How long stop() lets in-flight requests finish before it closes their connections anyway.
  std::chrono::milliseconds stop_timeout{5000};
};

using Acceptor = asio::basic_socket_acceptor<asio::generic::stream_protocol>;

// Go's net.Listen: a listener on (network, address); "127.0.0.1:0" picks a free port.
Result<Acceptor> listen(const asio::any_io_executor& executor, std::string_view network, std::string_view address);

class Server {
 public:
  // Connections, handlers and stop() run on `executor` (typically a thread pool).
  explicit Server(const asio::any_io_executor& executor, ServerConfig config = {});
  ~Server();

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Go's Accept: serves every connection the listener accepts, until stop(). Returns at once.
  void accept(Acceptor listener);

  // Go's ServeConn: the handshake, then requests until the peer leaves or stop(). Returns at once.
  void serve_conn(Socket socket);

  // Stops accepting, lets in-flight requests finish (at most config.stop_timeout), then closes
  // every connection. stop() blocks: call it from a thread that is not running the executor.
  asio::awaitable<void> async_stop();
  void stop();

  // Connections being served now; for monitoring and tests.
  std::size_t connection_count() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace geerpc
