// Day 7's registry under load: 10,000 simulated servers beating 2,000 times a second in all, for
// 10 s, while clients read the list. Suites named Load* carry the CTest label `load`.
#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_future.hpp>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <thread>

#include "registry_util.hpp"

namespace geerpc::test {
namespace {

std::size_t resident_kib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.starts_with("VmRSS:")) return std::stoul(line.substr(6));
  return 0;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool sanitized = true;
#else
constexpr bool sanitized = false;
#endif

// 10 s, as issue 17 asks. Under a sanitizer the same work costs several times the CPU, so the run
// is 4 s there (GEERPC_LOAD_SECONDS overrides both), at the same rate and in the same shape: the
// number of servers is what the rate covers in half the run, so every server beats twice.
std::chrono::seconds load_duration() {
  if (const char* text = std::getenv("GEERPC_LOAD_SECONDS")) return std::chrono::seconds(std::max(2, std::atoi(text)));
  return sanitized ? 4s : 10s;
}

// The address slot `slot` beats with in round `round`. The first tenth of the slots are servers
// that are replaced every round (the old one stops beating, a new one starts); the others beat
// with the same address every round.
std::string server_address(int slot, int round, int churned) {
  const int network = slot < churned ? round : 100;
  return "tcp@10." + std::to_string(network) + "." + std::to_string(slot / 250) + "." + std::to_string(slot % 250) +
         ":7001";
}

TEST(LoadRegistry, TwoThousandHeartbeatsASecondFromTenThousandServersWhileClientsGetHoldExactlyTheLiveSet) {
  constexpr int rate = 2000;  // heartbeats per second, from all servers together
  const auto duration = load_duration();
  const int beats = rate * static_cast<int>(duration.count());
  const int servers = beats / 2;  // each beats once a period: 10,000 servers, 5 s apart
  const int churned = servers / 10;
  const std::chrono::milliseconds period = duration / 2;
  // The registry's clock is the schedule's: it reads the time at which the latest beat sent was
  // due. So a machine too busy to keep the pace delays the beats without making live servers look
  // dead, and which servers are live is exact: a server is live while its beats come a period
  // apart, give or take the few milliseconds by which concurrent beats overtake one another.
  const std::chrono::milliseconds lease = period + 1s;
  // At most: every server, and the replaced ones until their lease lapses and the sweep drops them.
  const auto bound = static_cast<std::size_t>(servers + churned);

  TestRegistry r(lease, "127.0.0.1:0", true);
  const auto url = *parse_http_url(r.url);

  // The simulated servers: beat b is slot b % servers in round b / servers, due at start + b / rate.
  // 64 lanes send them on threads of their own, each beat on a connection of its own.
  asio::thread_pool senders(2);
  std::atomic<int> next{0}, failed{0};
  std::mutex mutex;
  std::string first_error;
  const auto start = std::chrono::steady_clock::now() + 100ms;
  auto lane = [&]() -> asio::awaitable<void> {
    asio::steady_timer due(co_await asio::this_coro::executor);
    for (int b; (b = next++) < beats;) {
      const std::chrono::steady_clock::duration at = std::chrono::microseconds(std::int64_t{b} * 1'000'000 / rate);
      due.expires_at(start + at);
      co_await due.async_wait(use_nothrow);
      for (auto now = r.offset.load(); now < at && !r.offset.compare_exchange_weak(now, at);) {
      }
      const HttpHeaders headers{{"X-Geerpc-Server", server_address(b % servers, b / servers, churned)}};
      auto response = co_await http_call(url, "POST", headers, "", 5s);
      if (!response && failed++ == 0) {
        std::lock_guard lock(mutex);
        first_error = response.error().message();
      }
    }
  };
  std::vector<std::future<void>> lanes;
  for (int i = 0; i < 64; ++i) lanes.push_back(asio::co_spawn(asio::make_strand(senders), lane(), asio::use_future));

  // The clients: two threads asking for the list in JSON, ten times a second each, until the
  // beats are done. Each answer must be sorted and within the bound; the registry's own count of
  // entries too. Memory is sampled once the first round is in (every server registered, the
  // registry at its working size) and at the end.
  std::atomic<bool> beating{true};
  std::atomic<int> gets{0}, get_failures{0};
  std::atomic<std::size_t> largest{0}, resident_after_first_round{0};
  const auto resident_before = resident_kib();
  {
    std::vector<std::jthread> clients;
    for (int t = 0; t < 2; ++t)
      clients.emplace_back([&] {
        while (beating) {
          auto response = r.request("GET", {}, "?format=json");
          std::vector<std::string> list;
          if (response) list = nlohmann::json::parse(response->body).at("servers").get<std::vector<std::string>>();
          if (!response || !std::is_sorted(list.begin(), list.end())) ++get_failures;
          for (auto size : {list.size(), r.registry.size()})
            for (auto seen = largest.load(); size > seen && !largest.compare_exchange_weak(seen, size);) {
            }
          ++gets;
          if (next.load() > servers && resident_after_first_round == 0) resident_after_first_round = resident_kib();
          std::this_thread::sleep_for(100ms);  // pacing, not synchronisation
        }
      });
    for (auto& done : lanes) {
      if (done.wait_until(start + duration + 30s) != std::future_status::ready) {
        ADD_FAILURE() << "the heartbeats did not finish 30 s after their time";
        std::terminate();  // the lanes reference this frame
      }
    }
    beating = false;
  }
  const auto resident_after = resident_kib();

  EXPECT_EQ(failed, 0) << "heartbeats failed, first: " << first_error;
  EXPECT_EQ(r.registry.counts().heartbeats, static_cast<std::uint64_t>(beats));
  EXPECT_EQ(get_failures, 0);
  EXPECT_GT(gets, 10);
  EXPECT_LE(largest.load(), bound) << "the registry kept more than the live servers and the departing ones";
  // Exactly the live set: every slot's address of the last round; the replaced servers' leases
  // have lapsed (they beat in the first tenth of round 0) and the sweep has dropped them.
  std::vector<std::string> live;
  for (int slot = 0; slot < servers; ++slot) live.push_back(server_address(slot, 1, churned));
  std::sort(live.begin(), live.end());
  EXPECT_TRUE(eventually([&] { return r.registry.size() == live.size(); }))
      << r.registry.size() << " entries kept, " << live.size() << " live";
  EXPECT_TRUE(r.registry.alive() == live);  // not EXPECT_EQ: 10,000 lines apart
  // Bounded memory: the second round repeats the first (same number of entries, same number of
  // requests), so what it adds is what requests leave behind. Each answered request keeps a small
  // timer for the head timeout (10 s, in case its client does not read the answer): about 0.9 KiB
  // a beat here, gone 10 s later. The bound, 16 MiB for the round's 10,000 beats, is 1.6 KiB a
  // beat; the whole run, 10,000 entries and everything in flight included, stays under 64 MiB.
  if constexpr (!sanitized) {  // ASan's quarantine and TSan's shadow memory are counted in RSS
    EXPECT_GT(resident_after_first_round.load(), 0u);
    EXPECT_LT(resident_after, resident_after_first_round + 16 * 1024)
        << "RSS " << resident_before << " KiB before, " << resident_after_first_round << " after round 0, "
        << resident_after << " at the end";
    EXPECT_LT(resident_after, resident_before + 64 * 1024);
  }
}

}  // namespace
}  // namespace geerpc::test
