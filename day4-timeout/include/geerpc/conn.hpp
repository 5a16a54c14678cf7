// A connection: the socket, a read buffer that frames are cut from, and an outbox that
// coalesces whole messages into as few writes as possible. It plays the part of Go's
// io.ReadWriteCloser plus the bufio.Writer and the server's `sending` mutex.
#pragma once

#include <asio/cancellation_signal.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/generic/stream_protocol.hpp>
#include <asio/use_awaitable.hpp>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>

#include "geerpc/error.hpp"

namespace geerpc {

// One socket type for every transport (TCP now, Unix sockets later), so nothing above cares.
using Socket = asio::generic::stream_protocol::socket;
using Endpoint = asio::generic::stream_protocol::endpoint;

// Go's (network, address) pair: "tcp" with "host:port", where host is an IP address or
// "localhost" and an empty host means every interface. errc::bad_address otherwise.
Result<Endpoint> resolve(std::string_view network, std::string_view address);

// The "host:port" text of a TCP endpoint.
std::string to_string(const Endpoint& endpoint);

// Awaiting with this token yields (error_code, result...) instead of throwing.
inline constexpr auto use_nothrow = asio::experimental::as_tuple(asio::use_awaitable);

inline constexpr std::size_t default_max_frame_size = 16 * 1024 * 1024;

class Conn : public std::enable_shared_from_this<Conn> {
 public:
  // The socket's executor must serialise its handlers (a strand): the reader coroutine, the
  // writer and cancellation all run there.
  explicit Conn(Socket socket, std::size_t max_frame_size = default_max_frame_size);

  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  Socket::executor_type get_executor() noexcept { return socket_.get_executor(); }

  // Reads up to and including '\n' and returns the line without it. Bytes past the newline stay
  // in the buffer for read_frame: nothing that follows the line is ever lost.
  asio::awaitable<std::error_code> read_line(std::string& line, std::size_t max_length);

  // Reads one frame: a 4-byte big-endian length, then that many bytes. The view stays valid until
  // the next read. A clean close between frames is asio::error::eof.
  asio::awaitable<std::error_code> read_frame(std::string_view& frame);

  // Queues bytes that form whole messages. Thread-safe; messages from different threads never
  // interleave, and messages queued while a write is in flight leave together in the next write.
  void send(std::string_view bytes);

  // Makes the current and every later read fail with operation_aborted; writes go on.
  void cancel_read();

  // Closes the socket as soon as everything queued so far has been written.
  void close_after_flush();

  // Closes the socket now; queued bytes are dropped.
  void close();

  // Appends the 4-byte big-endian length prefix for a frame of `size` bytes.
  static void append_length(std::string& out, std::size_t size);

 private:
  asio::awaitable<std::error_code> fill(std::size_t need);
  void start_write();
  void on_written(std::error_code ec);

  Socket socket_;
  const std::size_t max_frame_size_;

  // Read side, touched only by the reader on the strand.
  std::unique_ptr<char[]> buffer_;
  std::size_t capacity_ = 0, begin_ = 0, end_ = 0;
  bool read_cancelled_ = false;
  asio::cancellation_signal read_cancel_;

  // Write side: `pending_` fills while `writing_` is in flight.
  std::mutex mutex_;
  std::string pending_, writing_;
  bool write_active_ = false, close_when_flushed_ = false, closed_ = false;
};

}  // namespace geerpc
