#include "geerpc/conn.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/defer.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>
#include <asio/write.hpp>
#include <cstring>
#include <limits>
#include <typeinfo>
#include <utility>

#include "geerpc/error.hpp"

namespace geerpc {
namespace {

// Small enough that 10,000 idle connections stay cheap, big enough to take many small messages
// per read. Larger frames grow the buffer; it shrinks back once they are consumed.
constexpr std::size_t initial_capacity = 4096;

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

Result<Endpoint> resolve(std::string_view network, std::string_view address) {
  if (network != "tcp") return errc::bad_address;
  const auto colon = address.rfind(':');
  if (colon == std::string_view::npos) return errc::bad_address;
  std::string host(address.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  unsigned port = 0;
  const auto port_text = address.substr(colon + 1);
  if (port_text.empty() || port_text.size() > 5) return errc::bad_address;
  for (char c : port_text) {
    if (c < '0' || c > '9') return errc::bad_address;
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  std::error_code ec;
  const auto ip = asio::ip::make_address(host, ec);
  if (ec || port > 65535) return errc::bad_address;
  return Endpoint(asio::ip::tcp::endpoint(ip, static_cast<unsigned short>(port)));
}

std::string to_string(const Endpoint& endpoint) {
  asio::ip::tcp::endpoint tcp;
  if (endpoint.size() > tcp.capacity()) return "?";
  std::memcpy(tcp.data(), endpoint.data(), endpoint.size());
  tcp.resize(endpoint.size());
  const auto ip = tcp.address();
  // Built with append: GCC 12 at -O3 warns falsely (stringop-overflow) about the operator+ chain.
  std::string text = ip.is_v6() ? "[" : "";
  text.append(ip.to_string()).append(ip.is_v6() ? "]:" : ":").append(std::to_string(tcp.port()));
  return text;
}

asio::any_io_executor make_conn_strand(const asio::any_io_executor& executor) {
  // Asio 1.22's target<T>() casts without looking at the type, so the type is checked first.
  if (executor.target_type() == typeid(asio::io_context::executor_type))
    return asio::make_strand(*executor.target<asio::io_context::executor_type>());
  if (executor.target_type() == typeid(asio::thread_pool::executor_type))
    return asio::make_strand(*executor.target<asio::thread_pool::executor_type>());
  return asio::make_strand(executor);
}

Conn::Conn(Socket socket, std::size_t max_frame_size, std::chrono::milliseconds frame_timeout)
    : socket_(std::move(socket)),
      max_frame_size_(max_frame_size),
      frame_timeout_(frame_timeout),
      frame_timer_(socket_.get_executor()),
      writable_timer_(socket_.get_executor()) {}

void Conn::arm_frame_timer() {
  if (frame_timer_armed_ || frame_timeout_.count() <= 0) return;
  frame_timer_armed_ = true;
  frame_timer_.expires_after(frame_timeout_);
  frame_timer_.async_wait([self = shared_from_this(), generation = frame_timer_generation_](std::error_code ec) {
    if (ec || generation != self->frame_timer_generation_) return;
    self->frame_timed_out_ = true;
    self->close();  // the pending read fails, and fill reports errc::frame_timeout
  });
}

void Conn::disarm_frame_timer() {
  if (!frame_timer_armed_) return;
  frame_timer_armed_ = false;
  ++frame_timer_generation_;
  frame_timer_.cancel();
}

void Conn::append_length(std::string& out, std::size_t size) {
  const auto n = static_cast<std::uint32_t>(size);
  const char bytes[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                         static_cast<char>(n)};
  out.append(bytes, 4);
}

asio::awaitable<std::error_code> Conn::fill(std::size_t need) {
  if (begin_ == end_) {
    begin_ = end_ = 0;
    // A big frame grew the buffer; give the memory back once it has been consumed (not earlier:
    // the last frame's view points into it until this next read).
    if (capacity_ > 16 * initial_capacity) {
      buffer_.reset();
      capacity_ = 0;
    }
  }
  while (end_ - begin_ < need) {
    const std::size_t have = end_ - begin_;
    if (capacity_ - begin_ < need) {
      // Not enough room after begin_: move what is buffered to the front, growing if needed.
      const std::size_t capacity = std::max({initial_capacity, need, capacity_ < need ? capacity_ * 2 : capacity_});
      if (capacity != capacity_) {
        auto bigger = std::make_unique_for_overwrite<char[]>(capacity);
        if (have) std::memcpy(bigger.get(), buffer_.get() + begin_, have);
        buffer_ = std::move(bigger);
        capacity_ = capacity;
      } else if (have) {
        std::memmove(buffer_.get(), buffer_.get() + begin_, have);
      }
      begin_ = 0;
      end_ = have;
    }
    if (read_cancelled_) co_return asio::error::operation_aborted;
    // Only a frame that has started is timed: an idle connection may wait for as long as it likes.
    if (have > 0) arm_frame_timer();
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(buffer_.get() + end_, capacity_ - end_),
                                                    asio::bind_cancellation_slot(read_cancel_.slot(), use_nothrow));
    if (frame_timed_out_) co_return errc::frame_timeout;
    if (ec) {
      disarm_frame_timer();
      co_return ec == asio::error::eof&& have > 0 ? make_error_code(errc::truncated_frame) : ec;
    }
    end_ += n;
  }
  disarm_frame_timer();
  co_return std::error_code{};
}

asio::awaitable<std::error_code> Conn::read_line(std::string& line, std::size_t max_length) {
  std::size_t scanned = 0;
  for (;;) {
    const char* start = buffer_.get() + begin_;
    const std::size_t unscanned = end_ - begin_ - scanned;
    const auto* newline = unscanned ? static_cast<const char*>(std::memchr(start + scanned, '\n', unscanned)) : nullptr;
    if (newline) {
      line.assign(start, newline);
      begin_ += static_cast<std::size_t>(newline - start) + 1;
      co_return std::error_code{};
    }
    scanned = end_ - begin_;
    if (scanned >= max_length) co_return errc::frame_too_large;
    if (auto ec = co_await fill(scanned + 1)) co_return ec;
  }
}

asio::awaitable<std::error_code> Conn::read_frame(std::string_view& frame) {
  if (auto ec = co_await fill(4)) co_return ec;
  const auto* p = reinterpret_cast<const unsigned char*>(buffer_.get() + begin_);
  const std::size_t size = std::size_t{p[0]} << 24 | std::size_t{p[1]} << 16 | std::size_t{p[2]} << 8 | p[3];
  if (size > max_frame_size_) co_return errc::frame_too_large;
  if (auto ec = co_await fill(4 + size)) co_return ec == asio::error::eof ? errc::truncated_frame : ec;
  frame = {buffer_.get() + begin_ + 4, size};
  begin_ += 4 + size;
  co_return std::error_code{};
}

void Conn::send(std::string_view bytes, Flush flush) {
  const Part parts[] = {{bytes, nullptr}};
  send_parts(parts, flush);
}

void Conn::send(std::string&& bytes, Flush flush) {
  const Part parts[] = {{bytes, &bytes}};
  send_parts(parts, flush);
}

void Conn::send(std::string&& head, std::string&& blob, std::string_view tail, Flush flush) {
  const Part parts[] = {{head, &head}, {blob, &blob}, {tail, nullptr}};
  send_parts(parts, flush);
}

void Conn::send_parts(std::span<const Part> parts, Flush flush) {
  std::lock_guard lock(mutex_);
  if (closed_ || close_when_flushed_) return;
  std::size_t size = 0;
  for (const auto& part : parts) size += part.bytes.size();
  // A large message would not share a string with others anyway; written at once, it is copied
  // into the socket by the thread that made it while other threads go on (measured: +12% calls/s
  // for 1 MiB messages on 16 connections).
  const bool at_once = flush == Flush::now || size > coalesce_limit;
  std::size_t written = 0;
  if (at_once && !write_active_ && pending_.empty()) {
    written = write_now(parts);
    if (written == size) return;
  }
  for (const auto& part : parts) {
    const std::size_t sent = std::min(written, part.bytes.size());
    written -= sent;
    if (sent < part.bytes.size()) queue(part, sent);
  }
  wake_writer();
}

std::size_t Conn::write_now(std::span<const Part> parts) {
  // Under mutex_: the writer is idle (so the bytes cannot overtake queued ones) and close_socket
  // waits for the lock, so the descriptor cannot be closed, and its number reused, under this
  // call. Whatever the socket does not take now goes to the writer.
  std::array<asio::const_buffer, max_parts> buffers;
  for (std::size_t i = 0; i < parts.size(); ++i) buffers[i] = asio::buffer(parts[i].bytes);
  return send_at_once(socket_.native_handle(), std::span(buffers.data(), parts.size()));
}

void Conn::queue(const Part& part, std::size_t written) {
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

void Conn::wake_writer() {
  if (write_active_) return;
  write_active_ = true;
  // Deferred, not dispatched: a reader that handles several buffered requests queues all their
  // responses before the first write starts, so they share one write. Deferred, not posted: the
  // write starts on this thread once the current handler returns, without waking another thread.
  asio::defer(socket_.get_executor(), [self = shared_from_this()] { self->start_write(); });
}

void Conn::close_socket() {
  {
    std::lock_guard lock(mutex_);  // not while write_now uses the descriptor
    std::error_code ignored;
    socket_.shutdown(Socket::shutdown_both, ignored);
    socket_.close(ignored);
  }
  disarm_frame_timer();
  writable_timer_.cancel();
}

void Conn::start_write() {
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
        asio::defer(socket_.get_executor(), [self = shared_from_this()] { self->start_write(); });
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
    // The socket nearly always takes it all, and then the write costs one system call instead of
    // an asynchronous operation whose completion takes another round through the scheduler.
    std::size_t sent = send_at_once(socket_.native_handle(), write_buffers_);
    if (sent < writing_bytes_) {
      auto rest = write_buffers_.begin();
      for (; sent >= rest->size(); ++rest) sent -= rest->size();
      *rest += sent;
      write_buffers_.erase(write_buffers_.begin(), rest);
      asio::async_write(
          socket_, write_buffers_, whole_buffer,
          asio::bind_executor(socket_.get_executor(),
                              [self = shared_from_this()](std::error_code ec, std::size_t) { self->on_written(ec); }));
      return;
    }
    written();
  }
}

void Conn::written() {
  {
    std::lock_guard lock(mutex_);
    unsent_ -= writing_bytes_;
  }
  writing_.clear();  // frees what was sent: an idle connection keeps no large buffer
  if (writable_waiting_) writable_timer_.cancel();
}

void Conn::on_written(std::error_code ec) {
  written();
  if (ec) {
    // The peer is gone: closing also wakes the reader, which then ends the connection.
    close();
    return;
  }
  start_write();
}

asio::awaitable<void> Conn::wait_writable(std::size_t limit) {
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

void Conn::cancel_read() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->read_cancelled_ = true;
    self->read_cancel_.emit(asio::cancellation_type::terminal);
  });
}

void Conn::close_after_flush() {
  std::lock_guard lock(mutex_);
  if (closed_ || close_when_flushed_) return;
  close_when_flushed_ = true;
  wake_writer();
}

void Conn::close() {
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    closed_ = true;
    unsent_ -= pending_bytes_;
    pending_bytes_ = 0;
    pending_.clear();
  }
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->close_socket(); });
}

}  // namespace geerpc
