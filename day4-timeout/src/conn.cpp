#include "geerpc/conn.hpp"

#include <algorithm>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/post.hpp>
#include <cstring>

#include "geerpc/detail/outbox.hpp"

namespace geerpc {
namespace {

// Small enough that 10,000 idle connections stay cheap, big enough to take many small messages
// per read. Larger frames grow the buffer; it shrinks back once they are consumed.
constexpr std::size_t initial_capacity = 4096;

}  // namespace

void append_frame_length(std::string& out, std::size_t size) {
  const auto n = static_cast<std::uint32_t>(size);
  const char bytes[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                         static_cast<char>(n)};
  out.append(bytes, 4);
}

Conn::Conn(Socket socket, std::size_t max_frame_size, std::chrono::milliseconds frame_timeout)
    : socket_(std::move(socket)),
      max_frame_size_(max_frame_size),
      frame_timer_(socket_.get_executor(), frame_timeout),
      outbox_(std::make_unique<Outbox>(*this, socket_)) {}

Conn::~Conn() = default;

// Makes at least `need` bytes readable from begin_, reading from the socket as needed.
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
    // A weak pointer: a read that ends in an error leaves the timer armed, and the timer must not
    // keep a connection that everyone else has let go of alive until it expires.
    if (have > 0)
      frame_timer_.arm([weak = weak_from_this()] {
        if (auto self = weak.lock()) self->close();
      });
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(buffer_.get() + end_, capacity_ - end_),
                                                    asio::bind_cancellation_slot(read_cancel_.slot(), use_nothrow));
    if (frame_timer_.expired()) co_return errc::frame_timeout;  // it closed the socket
    if (ec) {
      frame_timer_.disarm();
      co_return ec == asio::error::eof&& have > 0 ? make_error_code(errc::truncated_frame) : ec;
    }
    end_ += n;
  }
  // Still armed: the timer runs until the whole frame or line is in, whatever the reads in between.
  co_return std::error_code{};
}

asio::awaitable<std::error_code> Conn::read_line(std::string& line, std::size_t max_length) {
  std::size_t scanned = 0;
  for (;;) {
    const char* start = buffer_.get() + begin_;
    const std::size_t unscanned = end_ - begin_ - scanned;
    const auto* newline = unscanned ? static_cast<const char*>(std::memchr(start + scanned, '\n', unscanned)) : nullptr;
    if (newline) {
      // The limit is on the line, wherever the reads happened to cut it.
      if (static_cast<std::size_t>(newline - start) >= max_length) co_return errc::frame_too_large;
      line.assign(start, newline);
      begin_ += static_cast<std::size_t>(newline - start) + 1;
      frame_timer_.disarm();
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
  frame_timer_.disarm();
  co_return std::error_code{};
}

void Conn::send(Message message, Flush flush) {
  outbox_->send(std::move(message), flush);
}

asio::awaitable<void> Conn::wait_writable(std::size_t limit) {
  return outbox_->wait_writable(limit);
}

void Conn::cancel_read() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->read_cancelled_ = true;
    self->read_cancel_.emit(asio::cancellation_type::terminal);
  });
}

void Conn::close_after_flush() {
  outbox_->close_after_flush();
}

void Conn::close() {
  outbox_->close();
}

}  // namespace geerpc
