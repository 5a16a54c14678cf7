#include "geerpc/xclient/xclient.hpp"

#include <algorithm>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <map>
#include <mutex>
#include <optional>
#include <stop_token>
#include <vector>

#include "geerpc/detail/executor.hpp"
#include "geerpc/sync.hpp"
#include "state.hpp"

namespace geerpc {

namespace {

using State = XClient::State;
using Clock = std::chrono::steady_clock;

Error closed_error() {
  return {errc::shutdown, "rpc xclient: closed"};
}

// Clients of servers that left the discovery list are closed once their calls are done (Go's stay
// open forever).
asio::awaitable<void> drop_departed(State& state, Clock::time_point deadline) {
  const auto generation = state.discovery->generation();
  {
    std::lock_guard lock(state.mutex);
    if (generation <= state.generation && !state.rescan) co_return;
  }
  auto servers = co_await state.discovery->async_get_all(deadline);
  if (!servers) co_return;
  std::vector<std::string> listed;
  for (const auto& text : *servers)
    if (auto entry = parse_server_entry(text)) listed.push_back(std::move(entry->addr));
  std::vector<std::shared_ptr<Client>> departed;
  {
    std::lock_guard lock(state.mutex);
    if (generation < state.generation) co_return;  // a newer list was applied meanwhile
    state.generation = generation;
    state.rescan = false;
    for (auto it = state.slots.begin(); it != state.slots.end();) {
      auto& slot = *it->second;
      if (std::find(listed.begin(), listed.end(), it->first) != listed.end()) {
        ++it;
        continue;
      }
      slot.retired = true;  // no new call finds it now; a dial in flight closes what it gets
      if (slot.users == 0 && slot.waiters == 0 && slot.client) departed.push_back(std::move(slot.client));
      it = state.slots.erase(it);
    }
  }
  for (auto& client : departed) (void)client->close();  // a client closed twice just says so
}

// One dial for a slot, run on its own: no caller's deadline or cancellation cuts it short, since
// other calls may be waiting for it too. It ends within the connect timeout.
asio::awaitable<void> dial_slot(std::shared_ptr<State> state, std::shared_ptr<Slot> slot, std::string addr) {
  co_await asio::this_coro::throw_if_cancelled(false);
  auto dialed = co_await async_x_dial(state->executor, addr, state->option, asio::use_awaitable);
  std::shared_ptr<Client> unwanted;
  {
    std::lock_guard lock(state->mutex);
    slot->dialing = false;
    slot->dial_error = dialed ? Error() : dialed.error();
    // A server that left the list while it was dialed still serves the calls that waited for it
    // (the last one closes the client), as a call in flight finishes on a server that leaves.
    if (dialed && (state->closed || (slot->retired && slot->waiters == 0)))
      unwanted = *dialed;
    else if (dialed)
      slot->client = *dialed;
    // The server may have left the list between a call's pick and this slot's creation.
    if (state->discovery->generation() != state->generation) state->rescan = true;
  }
  slot->dial.done();
  if (unwanted) (void)unwanted->close();
}

// The cached client for `addr`, dialed when there is none or it went down. Concurrent calls to a
// server share one dial; none holds the lock while it dials, and each waits for it only until
// its own deadline.
asio::awaitable<Result<Lease>> get_client(std::shared_ptr<State> state, std::string addr, Clock::time_point deadline) {
  std::shared_ptr<Slot> slot;
  std::shared_ptr<Client> stale;
  {
    std::lock_guard lock(state->mutex);
    if (state->closed) co_return closed_error();
    auto& entry = state->slots[addr];
    if (!entry) entry = std::make_shared<Slot>();
    slot = entry;
    if (slot->client && slot->client->is_available()) {
      ++slot->users;
      co_return Lease(state, slot, slot->client);
    }
    stale = std::move(slot->client);  // down: replaced below
    if (!slot->dialing) {
      slot->dialing = true;
      slot->dial.add();
      asio::co_spawn(make_conn_strand(state->executor), dial_slot(state, slot, addr), asio::detached);
    }
    ++slot->waiters;
  }
  if (stale) (void)stale->close();
  const bool dialed = co_await slot->dial.wait_until(deadline);
  std::shared_ptr<Client> unwanted;
  std::optional<Lease> lease;
  Error error(errc::shutdown, "rpc xclient: the server's client went down as it was dialed");
  {
    std::lock_guard lock(state->mutex);
    --slot->waiters;
    if (!dialed) {
      error = Clock::now() < deadline ? Error(errc::cancelled, "rpc client: call failed: cancelled")
                                      : Error(errc::call_timeout, "rpc client: call failed: deadline exceeded");
      // The last waiter to give up on a departed server's dial takes the client it may bring.
      if (slot->retired && slot->waiters == 0 && slot->users == 0) unwanted = std::move(slot->client);
    } else if (slot->client && slot->client->is_available()) {
      ++slot->users;
      lease.emplace(state, slot, slot->client);
    } else if (slot->dial_error) {
      error = slot->dial_error;
    }
  }
  if (unwanted) (void)unwanted->close();
  if (lease) co_return std::move(*lease);
  co_return error;
}

// One call on `client` that ends at the context's deadline or stop, and with this coroutine's own
// cancellation (Client::async_call takes care of that).
asio::awaitable<Error> call_within(const CallContext& ctx, Client& client, const std::string& service_method,
                                   const Body& args, Body* reply) {
  if (!has_deadline_or_stop(ctx))
    co_return co_await client.async_call(service_method, args, reply, asio::use_awaitable);
  using namespace asio::experimental::awaitable_operators;
  const auto executor = co_await asio::this_coro::executor;
  asio::steady_timer deadline(executor, ctx.deadline);
  // A stop request comes from any thread: it wakes this coroutine through a timer on its strand.
  auto stopped = std::make_shared<asio::steady_timer>(executor, Clock::time_point::max());
  std::stop_callback on_stop(ctx.stop,
                             [stopped] { asio::post(stopped->get_executor(), [stopped] { stopped->cancel(); }); });
  auto result = co_await (client.async_call(service_method, args, reply, asio::use_awaitable) ||
                          deadline.async_wait(use_nothrow) || stopped->async_wait(use_nothrow));
  if (result.index() == 0) co_return std::get<0>(std::move(result));
  if (result.index() == 1) co_return Error(errc::call_timeout, "rpc client: call failed: deadline exceeded");
  co_return Error(errc::cancelled, "rpc client: call failed: cancelled");
}

// Whether the call should end before its next step: the caller's deadline, stop or cancellation.
asio::awaitable<Error> ended(const CallContext& ctx) {
  // One statement per co_await: GCC 12 mis-compiles some co_await inside larger expressions.
  const auto cancellation = co_await asio::this_coro::cancellation_state;
  if (cancellation.cancelled() != asio::cancellation_type::none || ctx.stop.stop_requested())
    co_return Error(errc::cancelled, "rpc client: call failed: cancelled");
  if (Clock::now() >= ctx.deadline) co_return Error(errc::call_timeout, "rpc client: call failed: deadline exceeded");
  co_return Error();
}

// The next server to try: the mode's choice, or, when it was tried already in this call, the first
// listed server that was not.
asio::awaitable<Result<std::string>> next_server(State& state, const CallContext& ctx,
                                                 const std::vector<std::string>& tried) {
  auto addr = co_await state.discovery->async_get(state.mode, ctx.key, ctx.deadline);
  if (!addr || std::find(tried.begin(), tried.end(), *addr) == tried.end()) co_return addr;
  auto all = co_await state.discovery->async_get_all(ctx.deadline);
  if (!all) co_return all.error();
  for (const auto& text : *all) {
    auto entry = parse_server_entry(text);
    if (entry && std::find(tried.begin(), tried.end(), entry->addr) == tried.end()) co_return std::move(entry->addr);
  }
  co_return Error(errc::no_servers, "rpc discovery: no available servers");
}

// One server, one attempt. `sent` says whether the request may have left.
asio::awaitable<Error> call_server(std::shared_ptr<State> state, const CallContext& ctx, std::string addr,
                                   const std::string& service_method, const Body& args, Body* reply, bool* sent) {
  // Each run of a broadcast is spawned on its own: like async_run's, it reports cancellation as
  // an error, errc::cancelled, not as an exception.
  co_await asio::this_coro::throw_if_cancelled(false);
  auto client = co_await get_client(state, addr, ctx.deadline);
  if (!client) co_return client.error();
  if (auto error = co_await ended(ctx)) co_return error;  // not sent yet: cancelled while dialing
  *sent = true;
  co_return co_await call_within(ctx, **client, service_method, args, reply);
}

bool is_closed(State& state) {
  std::lock_guard lock(state.mutex);
  return state.closed;
}

}  // namespace

XClient::XClient(const asio::any_io_executor& executor, std::shared_ptr<Discovery> discovery, SelectMode mode,
                 Option option, XClientConfig config)
    : state_(std::make_shared<State>(executor, std::move(discovery), mode, std::move(option), config)) {}

XClient::~XClient() {
  (void)close();  // a second close only says the client was closed already
}

asio::any_io_executor XClient::call_executor() {
  return make_conn_strand(state_->executor);  // a call's timers and its broadcast's runs share it
}

asio::awaitable<Error> XClient::call_body(std::shared_ptr<State> state, CallContext ctx, std::string service_method,
                                          Body args, Body* reply, std::optional<std::string> picked) {
  if (is_closed(*state)) co_return closed_error();
  co_await drop_departed(*state, ctx.deadline);
  std::vector<std::string> tried;
  Error last = Error(errc::no_servers, "rpc discovery: no available servers");
  for (std::size_t attempt = 0; attempt < std::max<std::size_t>(1, state->config.max_tries); ++attempt) {
    if (auto error = co_await ended(ctx)) co_return error;
    Result<std::string> addr = std::string();
    if (picked) {
      addr = std::move(*picked);
      picked.reset();
    } else {
      addr = co_await next_server(*state, ctx, tried);
    }
    if (!addr) co_return tried.empty() ? addr.error() : last;
    tried.push_back(*addr);
    bool sent = false;
    last = co_await call_server(state, ctx, *addr, service_method, args, reply, &sent);
    if (!last || sent || is_closed(*state) || last == errc::call_timeout || last == errc::cancelled) co_return last;
    // Not sent (the dial failed, or the client was down): the next server may take it.
  }
  co_return last;
}

asio::awaitable<Error> XClient::broadcast_body(std::shared_ptr<State> state, CallContext ctx,
                                               std::string service_method, Body args, Body* reply) {
  if (is_closed(*state)) co_return closed_error();
  co_await drop_departed(*state, ctx.deadline);
  auto servers = co_await state->discovery->async_get_all(ctx.deadline);
  if (!servers) co_return servers.error();
  std::vector<std::string> addrs;
  for (const auto& text : *servers) {
    auto entry = parse_server_entry(text);
    if (!entry) co_return entry.error();
    addrs.push_back(std::move(entry->addr));
  }
  if (addrs.empty()) co_return Error(errc::no_servers, "rpc discovery: no available servers");
  // Every run goes on this coroutine's strand, so the state below needs no lock.
  struct Run {
    asio::cancellation_signal cancel;
    Body reply;
    bool done = false;
  };
  std::vector<std::unique_ptr<Run>> runs;
  Error first_error;
  bool replied = false;
  WaitGroup running;
  const auto cancel_the_rest = [&runs] {
    for (auto& run : runs)
      if (!run->done) run->cancel.emit(asio::cancellation_type::terminal);
  };
  const auto strand = co_await asio::this_coro::executor;
  for (auto& addr : addrs) {
    auto& run = *runs.emplace_back(std::make_unique<Run>());
    running.add();
    auto sent = std::make_shared<bool>(false);
    asio::co_spawn(
        strand, call_server(state, ctx, std::move(addr), service_method, args, &run.reply, sent.get()),
        asio::bind_cancellation_slot(run.cancel.slot(), [&, sent](const std::exception_ptr& thrown, Error error) {
          run.done = true;
          if (thrown) error = Error(errc::cancelled, "rpc client: call failed: cancelled");
          if (error && !first_error) {
            first_error = std::move(error);
            cancel_the_rest();  // the first error cancels the others at once
          } else if (!error && !replied) {
            *reply = std::move(run.reply);
            replied = true;
          }
          running.done();
        }));
  }
  // Every run ends before this returns: they use this frame. A cancelled broadcast cancels them.
  if (!co_await running.wait_until(Clock::time_point::max())) {
    cancel_the_rest();
    co_await asio::this_coro::reset_cancellation_state();
    while (!co_await running.wait_until(Clock::time_point::max())) {
    }
    if (!first_error) first_error = Error(errc::cancelled, "rpc client: call failed: cancelled");
  }
  co_return first_error;
}

Error XClient::close() {
  std::map<std::string, std::shared_ptr<Slot>, std::less<>> slots;
  {
    std::lock_guard lock(state_->mutex);
    if (state_->closed) return closed_error();
    state_->closed = true;
    slots.swap(state_->slots);
  }
  for (auto& [addr, slot] : slots)
    if (slot->client) (void)slot->client->close();
  return {};
}

std::size_t XClient::open_clients() {
  std::lock_guard lock(state_->mutex);
  return static_cast<std::size_t>(std::count_if(state_->slots.begin(), state_->slots.end(),
                                                [](const auto& slot) { return slot.second->client != nullptr; }));
}

}  // namespace geerpc
