// Makes writes fast: messages queued from any thread leave together in as few system calls as
// possible, large ones without a copy. A first reading may skip this file: to the rest of the
// framework, Conn::send queues a message and it leaves, whole and in order.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/steady_timer.hpp>
#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

#include "geerpc/conn.hpp"

namespace geerpc {

// The write side of a Conn, which owns it. Messages queued while a write is in flight leave
// together in the next one (writev): Go's bufio.Writer plus the server's `sending` mutex.
//
// `batched` messages wait for the writer, which is deferred: it starts once the current handler
// returns, so a reader that handles several buffered requests queues all their responses first.
// A `now` message, and any message over 64 KiB, is written at once on the calling thread when
// nothing is queued or being written; what the socket does not take goes to the writer.
class Outbox {
 public:
  // `conn` is kept alive by the writer's asynchronous work; `socket` is its socket.
  Outbox(Conn& conn, Socket& socket);

  void send(Message message, Flush flush);
  asio::awaitable<void> wait_writable(std::size_t limit);  // on the strand
  void close_after_flush();
  void close();

 private:
  // A piece of a message; `owned`, when set, holds the bytes and may be moved from.
  struct Part {
    std::string_view bytes;
    std::string* owned;
  };
  std::size_t write_now(const Part* parts, std::size_t count);  // the caller holds mutex_
  // `written`: how much of it write_now has sent. The caller holds mutex_.
  void queue(const Part& part, std::size_t written);
  void wake_writer();  // starts the writer unless it runs; the caller holds mutex_
  void start_write();
  void written();  // the bookkeeping after writing_ has left
  void on_written(std::error_code ec);
  void close_socket();  // on the strand, without mutex_

  Conn& conn_;
  Socket& socket_;
  asio::steady_timer writable_timer_;  // wakes wait_writable; on the strand like the writer
  bool writable_waiting_ = false;

  // `pending_` fills while `writing_` is in flight. Small messages share a string; a large one
  // keeps its own, so it is never copied, and one write sends them all.
  std::mutex mutex_;
  std::vector<std::string> pending_, writing_;
  std::vector<asio::const_buffer> write_buffers_;
  std::size_t unsent_ = 0;  // pending_ plus what is being written
  std::size_t pending_bytes_ = 0, writing_bytes_ = 0;
  std::size_t front_written_ = 0;  // of pending_.front(), sent by write_now already
  bool write_active_ = false, close_when_flushed_ = false, closed_ = false;
};

}  // namespace geerpc
