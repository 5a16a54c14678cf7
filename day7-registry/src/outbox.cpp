// The outbox; see detail/outbox.hpp. A first reading may skip this file.
#include "geerpc/detail/outbox.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <asio/bind_executor.hpp>
#include <asio/defer.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>
#include <limits>
#include <span>
#include <utility>

namespace geerpc {
namespace {

// Queued messages are appended to one string up to this size; larger ones keep their own.
constexpr std::size_t coalesce_limit = std::size_t{64} * 1024;

// async_write's own completion condition offers the socket at most 64 KiB per send, so a 1 MiB
// message took 16 system calls, each waiting for the peer to drain the last. This one offers all
// that is left and lets the kernel take what it can.
std::size_t whole_buffer(const std::error_code& ec, std::size_t) {
  return ec ? 0 : std::numeric_limits<std::size_t>::max();
}

// One non-blocking sendmsg of as many of `buffers` as one call takes: the bytes the socket
// accepted, 0 on EAGAIN or an error (the writer's asynchronous write then waits or reports it).
// An asynchronous write that could complete at once would still send its completion round the
// scheduler; trying first saves that round.
std::size_t send_at_once(int fd, std::span<const asio::const_buffer> buffers) {
  std::array<iovec, 64> iov{};  // buffers past these are left for the asynchronous write
  const std::size_t count = std::min(buffers.size(), iov.size());
  for (std::size_t i = 0; i < count; ++i)
    iov[i] = {const_cast<void*>(buffers[i].data()), buffers[i].size()};  // sendmsg only reads
  msghdr message{};
  message.msg_iov = iov.data();
  message.msg_iovlen = count;
  const auto n = ::sendmsg(fd, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

}  // namespace

Outbox::Outbox(Conn& conn, Socket& socket) : conn_(conn), socket_(socket), writable_timer_(socket.get_executor()) {}

void Outbox::send(Message message, Flush flush) {
  const Part parts[] = {{message.bytes, &message.bytes}, {message.blob, &message.blob}, {message.blob_tail, nullptr}};
  const std::size_t count = message.blob.empty() ? 1 : 3;
  std::lock_guard lock(mutex_);
  if (closed_ || close_when_flushed_) return;
  std::size_t size = 0;
  for (std::size_t i = 0; i < count; ++i) size += parts[i].bytes.size();
  // A large message would not share a string with others anyway; written at once, it is copied
  // into the socket by the thread that made it while other threads go on.
  const bool at_once = flush == Flush::now || size > coalesce_limit;
  std::size_t written = 0;
  if (at_once && !write_active_ && pending_.empty()) {
    written = write_now(parts, count);
    if (written == size) return;
  }
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t sent = std::min(written, parts[i].bytes.size());
    written -= sent;
    if (sent < parts[i].bytes.size()) queue(parts[i], sent);
  }
  wake_writer();
}

std::size_t Outbox::write_now(const Part* parts, std::size_t count) {
  // Under mutex_: the writer is idle (so the bytes cannot overtake queued ones) and close_socket
  // waits for the lock, so the descriptor cannot be closed, and its number reused, under this
  // call. Whatever the socket does not take now goes to the writer.
  std::array<asio::const_buffer, 3> buffers;
  for (std::size_t i = 0; i < count; ++i) buffers[i] = asio::buffer(parts[i].bytes);
  return send_at_once(socket_.native_handle(), std::span(buffers.data(), count));
}

void Outbox::queue(const Part& part, std::size_t written) {
  unsent_ += part.bytes.size() - written;
  pending_bytes_ += part.bytes.size() - written;
  if (written > 0 && part.owned) {
    // The rest of a message write_now began (so the outbox was empty): queued whole, without
    // the copy that cutting off the sent part would take, and the writer skips that part.
    pending_.push_back(std::move(*part.owned));
    front_written_ = written;
    return;
  }
  const auto bytes = part.bytes.substr(written);
  if (!pending_.empty() && pending_.back().size() + bytes.size() <= coalesce_limit)
    pending_.back().append(bytes);
  else if (part.owned)
    pending_.push_back(std::move(*part.owned));
  else
    pending_.emplace_back(bytes);
}

void Outbox::wake_writer() {
  if (write_active_) return;
  write_active_ = true;
  // Deferred, not dispatched: a reader that handles several buffered requests queues all their
  // responses before the first write starts, so they share one write. Deferred, not posted: the
  // write starts on this thread once the current handler returns, without waking another thread.
  asio::defer(socket_.get_executor(), [self = conn_.shared_from_this(), this] { start_write(); });
}

void Outbox::close_socket() {
  {
    std::lock_guard lock(mutex_);  // not while write_now uses the descriptor
    std::error_code ignored;
    socket_.shutdown(Socket::shutdown_both, ignored);
    socket_.close(ignored);
  }
  writable_timer_.cancel();
}

void Outbox::start_write() {
  for (bool first = true;; first = false) {
    std::size_t skip = 0;
    {
      std::unique_lock lock(mutex_);
      if (closed_) return;
      if (pending_.empty()) {
        write_active_ = false;
        if (close_when_flushed_) {
          closed_ = true;
          lock.unlock();
          close_socket();
        }
        return;
      }
      if (!first) {
        // More came while this handler wrote: it goes out after the strand's other work, so a
        // busy sender cannot keep the reader waiting.
        asio::defer(socket_.get_executor(), [self = conn_.shared_from_this(), this] { start_write(); });
        return;
      }
      writing_.swap(pending_);
      writing_bytes_ = std::exchange(pending_bytes_, 0);
      skip = std::exchange(front_written_, 0);
    }
    write_buffers_.clear();
    for (const auto& bytes : writing_) write_buffers_.push_back(asio::buffer(bytes));
    write_buffers_.front() += skip;
    // Tried at once first (on the strand, which close_socket also needs, so without mutex_).
    std::size_t sent = send_at_once(socket_.native_handle(), write_buffers_);
    if (sent < writing_bytes_) {
      auto rest = write_buffers_.begin();
      for (; sent >= rest->size(); ++rest) sent -= rest->size();
      *rest += sent;
      write_buffers_.erase(write_buffers_.begin(), rest);
      asio::async_write(
          socket_, write_buffers_, whole_buffer,
          asio::bind_executor(socket_.get_executor(), [self = conn_.shared_from_this(), this](
                                                          std::error_code ec, std::size_t) { on_written(ec); }));
      return;
    }
    written();
  }
}

void Outbox::written() {
  {
    std::lock_guard lock(mutex_);
    unsent_ -= writing_bytes_;
  }
  writing_.clear();  // frees what was sent: an idle connection keeps no large buffer
  if (writable_waiting_) writable_timer_.cancel();
}

void Outbox::on_written(std::error_code ec) {
  written();
  if (ec) {
    // The peer is gone: closing also wakes the reader, which then ends the connection.
    close();
    return;
  }
  start_write();
}

asio::awaitable<void> Outbox::wait_writable(std::size_t limit) {
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (closed_ || unsent_ <= limit) co_return;
    }
    writable_waiting_ = true;
    writable_timer_.expires_at(std::chrono::steady_clock::time_point::max());
    co_await writable_timer_.async_wait(use_nothrow);  // on_written and close cancel it
    writable_waiting_ = false;
  }
}

void Outbox::close_after_flush() {
  std::lock_guard lock(mutex_);
  if (closed_ || close_when_flushed_) return;
  close_when_flushed_ = true;
  wake_writer();
}

void Outbox::close() {
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    closed_ = true;
    unsent_ -= pending_bytes_;
    pending_bytes_ = 0;
    pending_.clear();
  }
  asio::post(socket_.get_executor(), [self = conn_.shared_from_this(), this] { close_socket(); });
}

}  // namespace geerpc
