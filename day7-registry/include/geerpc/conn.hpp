// A connection: the socket, a read buffer that frames are cut from, and an outbox that writes
// whole messages. It plays the part of Go's io.ReadWriteCloser with its bufio reader and writer.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include "geerpc/detail/frame_timer.hpp"
#include "geerpc/error.hpp"
#include "geerpc/net.hpp"

namespace geerpc {

// Awaiting with this token yields (error_code, result...) instead of throwing.
inline constexpr auto use_nothrow = asio::experimental::as_tuple(asio::use_awaitable);

inline constexpr std::size_t default_max_frame_size = std::size_t{16} * 1024 * 1024;
// Once a frame (or a line) has started to arrive, the rest must arrive within this time: a peer
// that sends half a frame and goes silent would otherwise hold its connection forever.
inline constexpr std::chrono::milliseconds default_frame_timeout{30'000};

// A frame is a 4-byte big-endian length, then that many bytes. This appends the length.
void append_frame_length(std::string& out, std::size_t size);

// The bytes of one or more whole messages, to be written in one piece. A large payload may ride
// along without being copied: `blob` (taken over) and `blob_tail` follow `bytes` on the wire.
struct Message {
  Message() = default;
  Message(std::string bytes) : bytes(std::move(bytes)) {}  // NOLINT: a string is a message
  std::string bytes;
  std::string blob;
  std::string_view blob_tail;  // static text, such as a closing quote
};

// How a message leaves: `batched` waits for the current handler to return, so that messages
// queued meanwhile share one write; `now` is written at once if nothing else is queued, for a
// message nothing else will follow soon. detail/outbox.hpp has the details.
enum class Flush { batched, now };

class Outbox;

class Conn : public std::enable_shared_from_this<Conn> {
 public:
  // The socket's executor must serialise its handlers (a strand): the reader coroutine, the
  // writer and cancellation all run there. A frame_timeout of 0 means no limit.
  explicit Conn(Socket socket, std::size_t max_frame_size = default_max_frame_size,
                std::chrono::milliseconds frame_timeout = default_frame_timeout);
  ~Conn();

  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  Socket::executor_type get_executor() noexcept { return socket_.get_executor(); }

  // Reads up to and including '\n' and returns the line without it: errc::frame_too_large when it
  // is max_length bytes or longer. Bytes past the newline stay in the buffer for read_frame:
  // nothing that follows the line is ever lost.
  asio::awaitable<std::error_code> read_line(std::string& line, std::size_t max_length);

  // The next byte, left in the buffer for the next read: how a server tells an Option line from an
  // HTTP request arriving on the same listener (day 5).
  asio::awaitable<std::error_code> peek(char& byte);

  // Reads one frame. The view stays valid until the next read. A clean close between frames is
  // asio::error::eof.
  asio::awaitable<std::error_code> read_frame(std::string_view& frame);

  // Queues a message. Thread-safe: messages from different threads never interleave.
  void send(Message message, Flush flush = Flush::batched);

  // Waits until at most `limit` bytes are queued and not yet written: a reader that waits here
  // before taking more requests keeps a peer that never reads its responses from growing the
  // outbox without bound. Call it on the connection's strand.
  asio::awaitable<void> wait_writable(std::size_t limit);

  // Makes the current and every later read fail with operation_aborted; writes go on.
  void cancel_read();

  // Closes the socket as soon as everything queued so far has been written.
  void close_after_flush();

  // Closes the socket now; queued bytes are dropped.
  void close();

 private:
  asio::awaitable<std::error_code> fill(std::size_t need);

  Socket socket_;
  const std::size_t max_frame_size_;

  // Touched only by the reader, on the strand.
  std::unique_ptr<char[]> buffer_;
  std::size_t capacity_ = 0, begin_ = 0, end_ = 0;
  bool read_cancelled_ = false;
  asio::cancellation_signal read_cancel_;
  FrameTimer frame_timer_;

  std::unique_ptr<Outbox> outbox_;
};

}  // namespace geerpc
