// Load and faults over HTTP CONNECT (day 5): many connections through http@, and connections
// that send half a CONNECT head and go silent, which must cost only themselves. Suites named
// Load* carry the CTest label `load`.
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/ip/tcp.hpp>
#include <atomic>
#include <cstring>
#include <thread>

#include "test_util.hpp"

namespace geerpc::test {
namespace {

// Each connection costs two descriptors here (both ends live in this process): the soft limit
// may be 1024 where the hard one allows far more. True when `needed` descriptors are allowed.
bool allow_descriptors(rlim_t needed) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  if (limit.rlim_cur < needed && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  }
  return limit.rlim_cur >= needed;
}

TEST(LoadHttp, AThousandHttpConnectionsMakingAHundredCallsEachGetEveryReplyRight) {
  constexpr int connections = 1000, calls_per_connection = 100;
  ASSERT_TRUE(allow_descriptors(2 * connections + 100));
  TestServer ts;
  ts.server.handle_http();
  const auto address = "http@" + to_string(ts.endpoint);
  std::vector<std::shared_ptr<Client>> clients;
  for (int i = 0; i < connections; ++i) {
    auto client = x_dial(ts.pool.get_executor(), address);
    ASSERT_TRUE(client) << "connection " << i << ": " << client.error();
    clients.push_back(*client);
  }
  std::vector<int> replies(connections * calls_per_connection);
  std::vector<std::shared_ptr<Call>> calls;
  for (int i = 0; i < connections * calls_per_connection; ++i)
    calls.push_back(clients[i % connections]->go("Foo.Sum", Args{i, 1}, &replies[i]));
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  int right = 0;
  for (int i = 0; i < connections * calls_per_connection; ++i) {
    ASSERT_TRUE(calls[i]->wait_until(deadline)) << "call " << i << " still pending after 60 s";
    if (!calls[i]->error && replies[i] == i + 1) ++right;
  }
  EXPECT_EQ(right, connections * calls_per_connection);
}

// Counts the log lines that contain `text`.
class LogCounter {
 public:
  explicit LogCounter(std::string text) : text_(std::move(text)) {
    previous_ = set_log_sink([this](std::string_view line) {
      if (line.find(text_) != std::string_view::npos) ++count_;
    });
  }
  ~LogCounter() { set_log_sink(std::move(previous_)); }
  std::size_t count() const { return count_; }

 private:
  const std::string text_;
  std::atomic<std::size_t> count_{0};
  LogSink previous_;
};

// A raw TCP connection to `endpoint` that has sent `bytes`; -1 on failure.
int connect_and_send(const Endpoint& endpoint, std::string_view bytes) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, endpoint.data(), static_cast<socklen_t>(endpoint.size())) != 0 ||
      ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(bytes.size())) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Whether the server has ended this connection (end of stream or reset), without waiting.
bool hung_up(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0;  // the server sends nothing on a half head, so readable means ended
}

TEST(LoadHttp, FiveHundredSilentHalfConnectHeadsHoldUpNoneOfAHundredHttpClientsAndCloseAtTheHeadDeadline) {
  constexpr std::size_t silent = 500;
  constexpr int good = 100, calls_each = 10;
  // Short, so the test is quick; long enough that the good clients finish well within it, even
  // under a sanitizer on a busy machine.
  constexpr auto head_timeout = 3s;
  ASSERT_TRUE(allow_descriptors(2 * (silent + good) + 100));
  LogCounter timed_out("rpc server: HTTP request refused: HTTP exchange timed out");
  TestServer ts({.http = {.head_timeout = head_timeout}});
  ts.server.handle_http();
  std::vector<int> half_open;
  const auto first_sent = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < silent; ++i) {
    const int fd = connect_and_send(ts.endpoint, "CONNECT /_geerpc_ HTTP/1.0\r\nHost: te");
    ASSERT_GE(fd, 0) << "half-open connection " << i << ": " << std::strerror(errno);
    half_open.push_back(fd);
  }
  const auto last_sent = std::chrono::steady_clock::now();
  // The good clients, all at once: dial over http@, then calls_each calls each.
  std::atomic<int> right{0};
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        for (int g = t; g < good; g += 4) {
          auto client = x_dial(ts.pool.get_executor(), "http@" + to_string(ts.endpoint));
          if (!client) {
            ADD_FAILURE() << "good client " << g << ": " << client.error();
            continue;
          }
          for (int i = 0; i < calls_each; ++i) {
            int reply = 0;
            if (auto error = client->call("Foo.Sum", Args{g, i}, &reply))
              ADD_FAILURE() << "good client " << g << ": " << error;
            else if (reply == g + i)
              ++right;
          }
        }
      });
  }
  EXPECT_EQ(right, good * calls_each);
  // The good clients are done and no half-open connection has been closed yet: they did not
  // wait for the head deadline.
  const auto closed_early = std::count_if(half_open.begin(), half_open.end(), hung_up);
  EXPECT_EQ(closed_early, 0) << "half-open connections closed before the good clients were done";
  EXPECT_LT(std::chrono::steady_clock::now() - last_sent, head_timeout);
  // Now the deadline closes every half-open connection, and nothing else does.
  // (The server starts each one's deadline once it reads its first byte, after it was sent.)
  std::vector<int> open = half_open;
  std::optional<std::chrono::steady_clock::time_point> first_closed;
  const auto limit = last_sent + head_timeout + 10s;
  while (!open.empty() && std::chrono::steady_clock::now() < limit) {
    std::vector<pollfd> polled;
    for (int fd : open) polled.push_back({fd, POLLIN | POLLRDHUP, 0});
    if (::poll(polled.data(), polled.size(), 100) > 0 && !first_closed) first_closed = std::chrono::steady_clock::now();
    std::erase_if(open, hung_up);
  }
  EXPECT_TRUE(open.empty()) << open.size() << " half-open connections still open 10 s after their deadline";
  ASSERT_TRUE(first_closed);
  EXPECT_GE(*first_closed - first_sent, head_timeout) << "closed before the head deadline";
  // Each logs its end just after the close that the test saw.
  EXPECT_TRUE(eventually([&] { return timed_out.count() == silent; }))
      << timed_out.count() << " logged the head deadline";
  EXPECT_TRUE(eventually([&] { return ts.server.connection_count() == 0; }));
  for (int fd : half_open) ::close(fd);
}

}  // namespace
}  // namespace geerpc::test
