// A server's heartbeat (GeeRPC's registry.Heartbeat): it tells the registry now and then that the
// server is alive, so that the registry keeps listing it.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/strand.hpp>
#include <asio/use_future.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "geerpc/detail/async.hpp"
#include "geerpc/error.hpp"
#include "geerpc/server.hpp"

namespace geerpc {

// errc::bad_address unless a client could dial `addr`: an address that means "every interface"
// (0.0.0.0, [::], an empty host) or port 0 cannot be.
[[nodiscard]] Error check_dialable(const std::string& addr);

struct HeartbeatConfig {
  // Between two beats. Go's default: the registry's default timeout (5 min) minus a minute.
  std::chrono::milliseconds period = std::chrono::minutes(4);
  // Each POST must be answered within this.
  std::chrono::milliseconds request_timeout{5'000};
};

// The beats of one server, as long as this handle lives (and its server, when tied to one).
class Heartbeat {
 public:
  Heartbeat() = default;
  Heartbeat(Heartbeat&&) noexcept = default;
  Heartbeat& operator=(Heartbeat&& other) noexcept;
  ~Heartbeat();  // stops the beats

  // No beat starts after this; one in flight ends within its request timeout.
  void stop();
  // Beats the registry accepted so far.
  std::uint64_t beats() const;
  // Stops the beats also when `server` begins to stop.
  void stop_with(Server& server);

  struct State;
  explicit Heartbeat(std::shared_ptr<State> state) : state_(std::move(state)) {}

 private:
  std::shared_ptr<State> state_;
};

namespace detail {
asio::awaitable<Result<Heartbeat>> start_heartbeat(asio::any_io_executor executor, std::string registry_url,
                                                   std::string addr, HeartbeatConfig config);
}

// Beats once at once and completes with that beat's error, or with a Heartbeat that goes on
// beating every period. After a failed beat it goes on trying, sooner at first and then once a
// period, and it logs once when the registry stops answering and once when it answers again. `addr`
// is what clients will dial: "tcp@127.0.0.1:7001", optionally ";weight=N"; an address of every
// interface (0.0.0.0, [::]) is refused, since clients cannot dial it.
template <class Token>
auto async_heartbeat(const asio::any_io_executor& executor, std::string registry_url, std::string addr,
                     HeartbeatConfig config, Token&& token) {
  return detail::async_run(asio::make_strand(executor),
                           detail::start_heartbeat(executor, std::move(registry_url), std::move(addr), config),
                           std::forward<Token>(token));
}
// The same, blocking: not from a thread that runs `executor`.
[[nodiscard]] Result<Heartbeat> heartbeat(const asio::any_io_executor& executor, std::string registry_url,
                                          std::string addr, HeartbeatConfig config = {});

// The same for `server`: its beats also end when it stops. One line in a server's main:
//   auto beat = geerpc::heartbeat(server, pool.get_executor(), registry_url, "tcp@" + address);
[[nodiscard]] Result<Heartbeat> heartbeat(Server& server, const asio::any_io_executor& executor,
                                          std::string registry_url, std::string addr, HeartbeatConfig config = {});

}  // namespace geerpc
