// WaitGroup (sync.hpp): Go's sync.WaitGroup for coroutines.
#include "geerpc/sync.hpp"

#include <asio/post.hpp>

#include "test_util.hpp"

namespace geerpc::test {
namespace {

// A group reused at once (the next dial of a server, the next GET of a registry) must not turn a
// waiter that was woken at zero into one that timed out: XClient reported such calls as cancelled.
TEST(WaitGroup, AWaiterWokenAtZeroSeesZeroEvenIfAddRaisesTheCountBeforeItRuns) {
  asio::thread_pool pool(1);
  const asio::any_io_executor strand = asio::make_strand(pool.get_executor());
  WaitGroup group;
  group.add();
  auto waited =
      asio::co_spawn(strand, group.wait_until(std::chrono::steady_clock::now() + wait_limit), asio::use_future);
  // After the waiter has started waiting (it was queued on the strand first), and in one handler,
  // so the waiter's wake-up runs only after both.
  std::promise<void> reused;
  asio::post(strand, [&] {
    group.done();
    group.add();
    reused.set_value();
  });
  ASSERT_EQ(reused.get_future().wait_for(wait_limit), std::future_status::ready);
  ASSERT_EQ(waited.wait_for(wait_limit), std::future_status::ready);
  EXPECT_TRUE(waited.get()) << "the waiter was woken at zero and reported a timeout";
  group.done();
}

}  // namespace
}  // namespace geerpc::test
