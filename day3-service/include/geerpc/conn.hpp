// A connection: the socket, a read buffer that frames are cut from, and an outbox that
// coalesces whole messages into as few writes as possible. It plays the part of Go's
// io.ReadWriteCloser plus the bufio.Writer and the server's `sending` mutex.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/generic/stream_protocol.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

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

// A new strand on `executor`, for one connection. When `executor` is an io_context's or a
// thread_pool's, the strand is built on that concrete type: a strand over the type-erased
// any_io_executor asks it for its blocking property on every handler it runs, and Asio 1.22
// answers that query with a heap allocation (seven per call on the benchmark's client).
asio::any_io_executor make_conn_strand(const asio::any_io_executor& executor);

// Awaiting with this token yields (error_code, result...) instead of throwing.
inline constexpr auto use_nothrow = asio::experimental::as_tuple(asio::use_awaitable);

inline constexpr std::size_t default_max_frame_size = std::size_t{16} * 1024 * 1024;
// Once a frame (or a line) has started to arrive, the rest must arrive within this time: a peer
// that sends half a frame and goes silent would otherwise hold its connection forever.
inline constexpr std::chrono::milliseconds default_frame_timeout{30'000};

class Conn : public std::enable_shared_from_this<Conn> {
 public:
  // The socket's executor must serialise its handlers (a strand): the reader coroutine, the
  // writer and cancellation all run there.
  // A frame_timeout of 0 means no limit.
  explicit Conn(Socket socket, std::size_t max_frame_size = default_max_frame_size,
                std::chrono::milliseconds frame_timeout = default_frame_timeout);

  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  Socket::executor_type get_executor() noexcept { return socket_.get_executor(); }

  // Reads up to and including '\n' and returns the line without it. Bytes past the newline stay
  // in the buffer for read_frame: nothing that follows the line is ever lost.
  asio::awaitable<std::error_code> read_line(std::string& line, std::size_t max_length);

  // Reads one frame: a 4-byte big-endian length, then that many bytes. The view stays valid until
  // the next read. A clean close between frames is asio::error::eof.
  asio::awaitable<std::error_code> read_frame(std::string_view& frame);

  // How a message leaves. `batched`: the writer starts once the current handler returns, so
  // messages queued meanwhile share one write (writev). `now`: written on the calling thread at
  // once if nothing else is queued or being written, else batched. For a message nothing else
  // will follow soon (the only reply outstanding): waiting for company would only add latency.
  // A message over 64 KiB always leaves as if `now`.
  enum class Flush { batched, now };

  // Queues bytes that form whole messages. Thread-safe; messages from different threads never
  // interleave, and messages queued while a write is in flight leave together in the next write.
  void send(std::string_view bytes, Flush flush = Flush::batched);
  // The same, taking the bytes over: a message too large to join a small one's string is queued
  // as it is, without a copy.
  void send(std::string&& bytes, Flush flush = Flush::batched);
  // One message in three pieces: say a frame's first bytes and a large payload that follows
  // them, both taken over and neither copied, then a few bytes that end it (which may be
  // empty). Nothing comes between them on the wire.
  void send(std::string&& head, std::string&& blob, std::string_view tail, Flush flush = Flush::batched);

  // Waits until at most `limit` bytes are queued and not yet written. A reader that waits here
  // before taking more requests keeps a peer that never reads its responses from growing the
  // outbox without bound. Call it on the connection's strand.
  asio::awaitable<void> wait_writable(std::size_t limit);

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
  void arm_frame_timer();
  void disarm_frame_timer();
  // A piece of a message; `owned`, when set, holds the bytes and may be moved from.
  struct Part {
    std::string_view bytes;
    std::string* owned;
  };
  static constexpr std::size_t max_parts = 3;
  void send_parts(std::span<const Part> parts, Flush flush);  // every send() ends here
  std::size_t write_now(std::span<const Part> parts);  // the caller holds mutex_
  // `written`: how much of it write_now has sent. The caller holds mutex_.
  void queue(const Part& part, std::size_t written);
  void wake_writer();  // starts the writer unless it runs; the caller holds mutex_
  void start_write();
  void written();  // the bookkeeping after writing_ has left
  void on_written(std::error_code ec);
  void close_socket();  // on the strand, without mutex_

  Socket socket_;
  const std::size_t max_frame_size_;
  const std::chrono::milliseconds frame_timeout_;

  // Read side, touched only by the reader on the strand.
  std::unique_ptr<char[]> buffer_;
  std::size_t capacity_ = 0, begin_ = 0, end_ = 0;
  bool read_cancelled_ = false;
  asio::cancellation_signal read_cancel_;
  asio::steady_timer frame_timer_;
  std::uint64_t frame_timer_generation_ = 0;  // tells a stale expiry from the current one
  bool frame_timer_armed_ = false, frame_timed_out_ = false;
  asio::steady_timer writable_timer_;  // wakes wait_writable; on the strand like the writer
  bool writable_waiting_ = false;

  // Write side: `pending_` fills while `writing_` is in flight. Small messages share a string;
  // a large one keeps its own, so it is never copied, and one write sends them all (writev).
  std::mutex mutex_;
  std::vector<std::string> pending_, writing_;
  std::vector<asio::const_buffer> write_buffers_;
  std::size_t unsent_ = 0;  // pending_ plus what is being written
  std::size_t pending_bytes_ = 0, writing_bytes_ = 0;
  std::size_t front_written_ = 0;  // of pending_.front(), sent by write_now already
  bool write_active_ = false, close_when_flushed_ = false, closed_ = false;
};

}  // namespace geerpc
