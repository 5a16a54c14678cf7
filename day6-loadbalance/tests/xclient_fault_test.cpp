// XClient (day 6) while one of its servers, the day's demo in a process of its own, is killed and
// restarted over and over: no call hangs, and the only failures are calls that were in flight to
// the server as it died. Suites named Load* carry the CTest label `load`.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include "child.hpp"
#include "geerpc/xclient/xclient.hpp"
#include "test_util.hpp"

namespace geerpc::test {
namespace {

// The day's demo serving Foo on `address` (`--serve`), once it listens; null when it could not
// start (another process took the port in the instant it was free, say).
std::unique_ptr<Child> start_server(const std::string& address, std::string* listening) {
  auto child = std::make_unique<Child>(DAY_DEMO, std::vector<std::string>{"--serve", address});
  const std::string prefix = "rpc server on tcp@";  // "rpc server on tcp@127.0.0.1:7001 and http@..."
  const auto line = child->read_line();
  if (!line.starts_with(prefix)) return nullptr;
  *listening = line.substr(prefix.size(), line.find(' ', prefix.size()) - prefix.size());
  return child;
}

// How many times the server at `address` has run Foo.Sum, from its debug page; 0 when it does not
// answer.
std::uint64_t sum_calls_at(const asio::any_io_executor& executor, const std::string& address) {
  auto page = run(executor, http_round_trip(*resolve("tcp", address), "GET /debug/geerpc?format=json HTTP/1.0\r\n\r\n",
                                            2s, 1 << 20));
  if (!page || page->status != 200) return 0;
  const auto json = nlohmann::json::parse(page->body);
  for (const auto& service : json.at("services"))
    for (const auto& method : service.at("methods"))
      if (service.at("name") == "Foo" && method.at("name") == "Sum") return method.at("calls").get<std::uint64_t>();
  return 0;
}

TEST(LoadXClient, OneOfThreeServersKilledAndRestartedInALoopFailsOnlyCallsInFlightToIt) {
  constexpr int callers = 4, kills = 20;
  constexpr auto call_timeout = 5s;
  // What a call may end with: a reply, or errc::shutdown ("connection is shut down"), which is
  // what a call gets that was sent to the killed server (and may have run there, so it is not
  // sent again). A call that could not reach it (refused, or its client found down before the
  // send) fails over and must succeed. A call_timeout would mean a hang; anything else, a bug.
  const std::vector<std::error_code> allowed = {errc::shutdown};

  std::vector<std::unique_ptr<Child>> servers(3);
  std::vector<std::string> addresses(3);
  for (int i = 0; i < 3; ++i) {
    servers[i] = start_server("127.0.0.1:0", &addresses[i]);
    ASSERT_TRUE(servers[i]) << "server " << i << " did not start";
  }
  auto discovery = std::make_shared<MultiServersDiscovery>(
      std::vector<std::string>{"tcp@" + addresses[0], "tcp@" + addresses[1], "tcp@" + addresses[2]});
  asio::thread_pool pool(2);
  XClient xc(pool.get_executor(), discovery, SelectMode::round_robin);

  std::atomic<bool> done{false};
  std::atomic<int> succeeded{0}, failed{0}, wrong{0};
  std::mutex mutex;
  std::vector<std::string> disallowed;  // errors outside `allowed`, and calls that hung
  std::vector<std::jthread> threads;
  struct StopCallers {  // before the threads are joined, however the test ends
    std::atomic<bool>& done;
    ~StopCallers() { done = true; }
  } stop_callers{done};
  for (int t = 0; t < callers; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; !done; ++i) {
        int reply = 0;
        auto future =
            xc.async_call(Context::with_timeout(call_timeout), "Foo.Sum", Args{t, i}, &reply, asio::use_future);
        // Every call ends by its deadline; one that has not, well after it, hangs.
        if (future.wait_for(call_timeout + 5s) != std::future_status::ready) {
          ADD_FAILURE() << "a call hung past its deadline";
          std::terminate();  // the call still references `reply`
        }
        const auto error = future.get();
        if (!error) {
          ++succeeded;
          if (reply != t + i) ++wrong;
        } else if (std::find(allowed.begin(), allowed.end(), error.code()) != allowed.end()) {
          ++failed;
        } else {
          std::lock_guard lock(mutex);
          disallowed.push_back(error.message());
        }
      }
    });

  // Kill server 0 once the XClient's calls reach it, then start it again on the same port.
  const auto reached = [&] { return sum_calls_at(pool.get_executor(), addresses[0]) > 0; };
  for (int k = 0; k < kills; ++k) {
    ASSERT_TRUE(eventually(reached)) << "round " << k << ": no call reached server 0 (" << succeeded << " calls done, "
                                     << failed << " failed, " << disallowed.size() << " otherwise)";
    servers[0]->kill_now();
    servers[0].reset();
    std::string listening;
    for (int attempt = 0; attempt < 20 && !servers[0]; ++attempt) servers[0] = start_server(addresses[0], &listening);
    ASSERT_TRUE(servers[0]) << "round " << k << ": server 0 did not start again on " << addresses[0];
  }
  ASSERT_TRUE(eventually(reached)) << "no call reached server 0 after its last restart";
  done = true;
  threads.clear();  // joins the callers

  EXPECT_TRUE(disallowed.empty()) << disallowed.size() << " calls ended otherwise, first: " << disallowed.front();
  EXPECT_EQ(wrong, 0);
  // Each kill fails at most the one call each caller had in flight to that server.
  EXPECT_LE(failed, kills * callers);
  EXPECT_GT(succeeded, 0);
}

}  // namespace
}  // namespace geerpc::test
