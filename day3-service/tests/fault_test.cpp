// Faults and load: peers that die mid-call, many connections at once, many short connections.
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "test_util.hpp"

extern char** environ;

namespace geerpc::test {
namespace {

// A child process running fault_peer, whose stdout the test reads line by line.
class Child {
 public:
  explicit Child(std::vector<std::string> args) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    args.insert(args.begin(), FAULT_PEER);
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, FAULT_PEER, &actions, nullptr, argv.data(), environ) != 0) throw std::runtime_error("spawn");
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    out_ = fds[0];
  }
  ~Child() {
    kill_now();
    close(out_);
  }
  // The next line the child printed, or "" when none came within the limit.
  std::string read_line(std::chrono::milliseconds limit = wait_limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      if (auto newline = buffer_.find('\n'); newline != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        return line;
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{out_, POLLIN, 0};
      if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) return "";
      char chunk[4096];
      const auto n = read(out_, chunk, sizeof chunk);
      if (n <= 0) return "";
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  void kill_now() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string buffer_;
};

std::size_t open_descriptors() {
  std::size_t n = 0;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (readdir(dir)) ++n;
    closedir(dir);
  }
  return n;
}

std::size_t resident_kib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.starts_with("VmRSS:")) return std::stoul(line.substr(6));
  return 0;
}

// The server has no event for "a connection has ended" (nor the kernel for "descriptor closed"),
// so this polls, bounded.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit = wait_limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST(Fault, AServerKilledMidCallFailsEveryPendingCallWithinASecond) {
  Child server({"silent-server"});
  const auto listening = server.read_line();
  ASSERT_TRUE(listening.starts_with("LISTENING ")) << listening;
  asio::thread_pool pool(2);
  auto client = *dial(pool.get_executor(), "tcp", listening.substr(10));
  std::vector<Body> replies(3);
  std::vector<std::shared_ptr<Call>> calls;
  for (auto& reply : replies) calls.push_back(client->go("Foo.Sum", Body{{"num1", 1}, {"num2", 2}}, &reply));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(server.read_line().starts_with("GOT ")) << "request " << i;
  const auto killed = std::chrono::steady_clock::now();
  server.kill_now();
  for (auto& call : calls) {
    call->wait();
    EXPECT_EQ(call->error, errc::shutdown);
    EXPECT_NE(call->error.message().find("connection is shut down"), std::string::npos) << call->error;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - killed, 1s);
  EXPECT_FALSE(client->is_available());
}

TEST(Fault, AClientKilledMidCallIsFreedAndTheServerKeepsServing) {
  TestServer ts;
  Child client({"client", to_string(ts.endpoint)});
  ASSERT_EQ(client.read_line(), "CALLING");
  client.kill_now();
  EXPECT_TRUE(eventually([&] { return ts.server.connection_count() == 0; }))
      << ts.server.connection_count() << " connections left";
  auto other = *dial(ts.pool.get_executor(), "tcp", to_string(ts.endpoint));
  Body reply;
  EXPECT_FALSE(other->call("Foo.Sum", Body{{"num1", 1}, {"num2", 2}}, &reply));
}

TEST(Load, AThousandConnectionsMakingAHundredCallsEachGetEveryReplyRight) {
  TestServer ts;
  constexpr int connections = 1000, calls_per_connection = 100;
  std::vector<std::shared_ptr<Client>> clients;
  for (int i = 0; i < connections; ++i) {
    auto client = dial(ts.pool.get_executor(), "tcp", to_string(ts.endpoint));
    ASSERT_TRUE(client) << "connection " << i << ": " << client.error();
    clients.push_back(*client);
  }
  std::vector<int> replies(connections * calls_per_connection);
  std::vector<std::shared_ptr<Call>> calls;
  for (int i = 0; i < connections * calls_per_connection; ++i)
    calls.push_back(clients[i % connections]->go("Foo.Sum", Body{{"num1", i}, {"num2", 1}}, &replies[i]));
  int right = 0;
  for (int i = 0; i < connections * calls_per_connection; ++i) {
    calls[i]->wait();
    if (!calls[i]->error && replies[i] == i + 1) ++right;
  }
  EXPECT_EQ(right, connections * calls_per_connection);
}

TEST(Load, TenThousandDialCloseCyclesLeaveNoDescriptorsOrMemoryBehind) {
  TestServer ts;
  const auto address = to_string(ts.endpoint);
  auto cycle = [&] {
    auto client = dial(ts.pool.get_executor(), "tcp", address);
    ASSERT_TRUE(client) << client.error();
    EXPECT_FALSE(client->close());
  };
  for (int i = 0; i < 100; ++i) cycle();  // warm up allocators and the thread pool
  ASSERT_TRUE(eventually([&] { return ts.server.connection_count() == 0; }));
  const auto descriptors = open_descriptors();
  [[maybe_unused]] const auto memory = resident_kib();
  for (int i = 0; i < 10'000; ++i) cycle();
  ASSERT_TRUE(eventually([&] { return ts.server.connection_count() == 0; }));
  // Sockets are closed by a handler posted as each connection ends, a moment after the count drops:
  // so the baseline may still include a warm-up socket that was closing, hence <= rather than ==.
  EXPECT_TRUE(eventually([&] { return open_descriptors() <= descriptors; }))
      << open_descriptors() << " descriptors open, " << descriptors << " before";
#ifndef __SANITIZE_ADDRESS__  // ASan keeps freed memory in quarantine; its LeakSanitizer checks at exit
  EXPECT_LT(resident_kib(), memory + 16 * 1024) << "grew from " << memory << " KiB";
#endif
}

}  // namespace
}  // namespace geerpc::test
