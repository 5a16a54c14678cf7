// Faults and load: peers that die mid-call, many connections at once, many short connections.
#include <dirent.h>

#include <fstream>
#include <thread>

#include "child.hpp"
#include "test_util.hpp"

namespace geerpc::test {
namespace {

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

TEST(Fault, AServerKilledMidCallFailsEveryPendingCallWithinASecond) {
  Child server(FAULT_PEER, {"silent-server"});
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
  Child client(FAULT_PEER, {"client", to_string(ts.endpoint)});
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
