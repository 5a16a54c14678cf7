#include "geerpc/registry/heartbeat.hpp"

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/ip/address.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <atomic>

#include "geerpc/log.hpp"
#include "geerpc/registry/http_client.hpp"
#include "geerpc/registry/registry.hpp"
#include "geerpc/xclient/discovery.hpp"

namespace geerpc {

struct Heartbeat::State {
  State(const asio::any_io_executor& ex, HttpUrl u, std::string e, HeartbeatConfig c)
      : strand(asio::make_strand(ex)), url(std::move(u)), entry(std::move(e)), config(c), timer(strand) {}

  const asio::strand<asio::any_io_executor> strand;  // the loop and its timer
  const HttpUrl url;
  const std::string entry;  // what the POST carries: "tcp@127.0.0.1:7001;weight=2"
  const HeartbeatConfig config;
  asio::steady_timer timer;
  std::atomic<bool> stopped{false};
  std::atomic<std::uint64_t> beats{0};
};

namespace {

using State = Heartbeat::State;

asio::awaitable<Error> beat(const State& state) {
  // Named arguments: GCC 12 destroys a temporary argument of a co_await'ed call twice.
  const std::string method = "POST";
  const HttpHeaders headers = {{std::string(server_header), state.entry}};
  const std::string body;
  auto response =
      co_await http_call(state.url, method, headers, body, state.config.request_timeout, std::size_t{1} << 20);
  co_return response ? Error() : response.error();
}

// After a failure the next try comes sooner than a period: a tenth of one at first, twice as long
// each time after, never longer than a period.
asio::awaitable<void> beat_loop(std::shared_ptr<State> state) {
  const auto period = std::max(state->config.period, std::chrono::milliseconds(1));
  auto wait = period;
  bool failing = false;
  for (;;) {
    state->timer.expires_after(wait);
    auto [ec] = co_await state->timer.async_wait(use_nothrow);
    if (ec || state->stopped) co_return;
    const auto error = co_await beat(*state);
    if (state->stopped) co_return;
    if (!error) {
      if (failing) log("rpc registry: heartbeat to " + state->url.text + " works again");
      failing = false;
      wait = period;
      ++state->beats;
      continue;
    }
    if (!failing) log("rpc registry: heartbeat to " + state->url.text + " failed, trying again: " + error.message());
    wait = failing ? std::min(wait * 2, period) : std::max(period / 10, std::chrono::milliseconds(1));
    failing = true;
  }
}

// No beat starts after this.
void end(const std::shared_ptr<State>& state) {
  if (!state || state->stopped.exchange(true)) return;
  asio::post(state->strand, [state] { state->timer.cancel(); });  // the timer is the strand's
}

}  // namespace

Error check_dialable(const std::string& text) {
  auto entry = parse_server_entry(text);
  if (!entry) return entry.error();
  const auto& addr = entry->addr;
  Error refused(errc::bad_address,
                "rpc registry: clients cannot dial '" + addr + "'; register the address they should use");
  const auto at = addr.find('@');
  if (at == std::string::npos) return refused;
  const auto where = addr.substr(at + 1);
  if (addr.compare(0, at, "unix") == 0) return where.empty() ? refused : Error();
  const auto colon = where.rfind(':');
  if (colon == std::string::npos || colon == 0 || where.substr(colon + 1) == "0") return refused;
  auto host = where.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::error_code not_an_ip;  // a name such as localhost: dialable
  const auto ip = asio::ip::make_address(host, not_an_ip);
  return !not_an_ip && ip.is_unspecified() ? refused : Error();
}

Heartbeat& Heartbeat::operator=(Heartbeat&& other) noexcept {
  if (this == &other) return *this;
  stop();
  state_ = std::move(other.state_);
  return *this;
}

Heartbeat::~Heartbeat() {
  stop();
}

void Heartbeat::stop() {
  end(state_);
}

std::uint64_t Heartbeat::beats() const {
  return state_ ? state_->beats.load() : 0;
}

namespace detail {

asio::awaitable<Result<Heartbeat>> start_heartbeat(asio::any_io_executor executor, std::string registry_url,
                                                   std::string addr, HeartbeatConfig config) {
  if (auto error = check_dialable(addr)) co_return error;
  auto url = parse_http_url(registry_url);
  if (!url) co_return url.error();
  auto state = std::make_shared<State>(executor, std::move(*url), std::move(addr), config);
  if (auto error = co_await beat(*state)) co_return error;  // the first beat, before anything is scheduled
  ++state->beats;
  asio::co_spawn(state->strand, beat_loop(state), asio::detached);
  co_return Heartbeat(std::move(state));
}

}  // namespace detail

Result<Heartbeat> heartbeat(const asio::any_io_executor& executor, std::string registry_url, std::string addr,
                            HeartbeatConfig config) {
  return async_heartbeat(executor, std::move(registry_url), std::move(addr), config, asio::use_future).get();
}

void Heartbeat::stop_with(Server& server) {
  server.on_stop([state = std::weak_ptr<State>(state_)] { end(state.lock()); });
}

Result<Heartbeat> heartbeat(Server& server, const asio::any_io_executor& executor, std::string registry_url,
                            std::string addr, HeartbeatConfig config) {
  auto beats = heartbeat(executor, std::move(registry_url), std::move(addr), config);
  if (beats) beats->stop_with(server);
  return beats;
}

}  // namespace geerpc
