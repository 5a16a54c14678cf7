#include "geerpc/xclient/xclient.hpp"

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <map>
#include <mutex>
#include <stop_token>
#include <vector>

#include "geerpc/detail/executor.hpp"
#include "geerpc/sync.hpp"

namespace geerpc {

// One server's client, and the dial in flight for it. All but `dial` under State::mutex.
struct Slot {
  std::shared_ptr<Client> client;
  bool dialing = false;
  Error dial_error;  // the last dial's, for the calls that waited for it
  WaitGroup dial;  // 1 while a dial is in flight
  int users = 0;  // calls using `client` now
  bool retired = false;  // its server left the list: closed when the last user is done
};

struct XClient::State {
  State(const asio::any_io_executor& ex, std::shared_ptr<Discovery> d, SelectMode m, Option o, XClientConfig c)
      : executor(ex), discovery(std::move(d)), mode(m), option(std::move(o)), config(c) {}

  const asio::any_io_executor executor;
  const std::shared_ptr<Discovery> discovery;
  const SelectMode mode;
  const Option option;
  const XClientConfig config;

  std::mutex mutex;  // guards the three below; never held across I/O (Go's XClient dials under it)
  std::map<std::string, std::shared_ptr<Slot>, std::less<>> slots;
  std::uint64_t generation = 0;  // the discovery list `slots` was last checked against
  bool closed = false;
};

namespace {

using State = XClient::State;

Error closed_error() {
  return {errc::shutdown, "rpc xclient: closed"};
}

// A client taken from its slot for one call. Giving it back closes it when its server has left
// the list meanwhile and this was its last call.
class Lease {
 public:
  Lease(std::shared_ptr<State> state, std::shared_ptr<Slot> slot)
      : state_(std::move(state)), slot_(std::move(slot)), client_(slot_->client) {}
  Lease(Lease&& other) noexcept = default;
  Lease& operator=(Lease&&) = delete;
  ~Lease() {
    if (!slot_) return;
    std::shared_ptr<Client> done;
    {
      std::lock_guard lock(state_->mutex);
      if (--slot_->users == 0 && slot_->retired) done = std::move(slot_->client);
    }
    if (done) (void)done->close();
  }
  Client* operator->() const { return client_.get(); }
  Client& operator*() const { return *client_; }

 private:
  std::shared_ptr<State> state_;
  std::shared_ptr<Slot> slot_;
  std::shared_ptr<Client> client_;
};

// Clients of servers that left the discovery list are closed once their calls are done (Go's stay
// open forever).
void drop_departed(State& state) {
  const auto generation = state.discovery->generation();
  {
    std::lock_guard lock(state.mutex);
    if (generation == state.generation) return;
  }
  auto servers = state.discovery->get_all();
  if (!servers) return;
  std::vector<std::string> listed;
  for (const auto& text : *servers)
    if (auto entry = parse_server_entry(text)) listed.push_back(std::move(entry->addr));
  std::vector<std::shared_ptr<Client>> departed;
  {
    std::lock_guard lock(state.mutex);
    state.generation = generation;
    for (auto it = state.slots.begin(); it != state.slots.end();) {
      if (std::find(listed.begin(), listed.end(), it->first) != listed.end() || it->second->dialing) {
        ++it;
        continue;
      }
      it->second->retired = true;  // no new call finds it now
      if (it->second->users == 0 && it->second->client) departed.push_back(std::move(it->second->client));
      it = state.slots.erase(it);
    }
  }
  for (auto& client : departed) (void)client->close();  // a client closed twice just says so
}

// The cached client for `addr`, dialed when there is none or it went down. Concurrent calls to a
// new server share one dial; none holds the lock while it dials.
asio::awaitable<Result<Lease>> get_client(std::shared_ptr<State> state, std::string addr,
                                          std::chrono::steady_clock::time_point deadline) {
  std::shared_ptr<Slot> slot;
  std::shared_ptr<Client> stale;
  bool dialer = false;
  {
    std::lock_guard lock(state->mutex);
    if (state->closed) co_return closed_error();
    auto& entry = state->slots[addr];
    if (!entry) entry = std::make_shared<Slot>();
    slot = entry;
    if (slot->client && slot->client->is_available()) {
      ++slot->users;
      co_return Lease(state, slot);
    }
    stale = std::move(slot->client);  // down: replaced below
    if (!slot->dialing) {
      slot->dialing = dialer = true;
      slot->dial.add();
    }
  }
  if (stale) (void)stale->close();
  if (!dialer) {
    // Another call is dialing this server; its outcome is this call's too.
    if (!co_await slot->dial.wait_until(deadline))
      co_return Error(errc::call_timeout, "rpc client: call failed: deadline exceeded");
    std::lock_guard lock(state->mutex);
    if (!slot->client) co_return slot->dial_error ? slot->dial_error : closed_error();
    ++slot->users;
    co_return Lease(state, slot);
  }
  auto dialed = co_await async_x_dial(state->executor, addr, state->option, asio::use_awaitable);
  bool closed = false;
  {
    std::lock_guard lock(state->mutex);
    slot->dialing = false;
    slot->dial_error = dialed ? Error() : dialed.error();
    closed = state->closed;
    if (dialed && !closed) {
      slot->client = *dialed;
      ++slot->users;  // for this call
    }
  }
  slot->dial.done();
  if (!dialed) co_return dialed.error();
  if (closed) {
    (void)(*dialed)->close();
    co_return closed_error();
  }
  co_return Lease(state, slot);
}

// One call on `client` that ends at the context's deadline or stop, and with this coroutine's own
// cancellation (Client::async_call takes care of that).
asio::awaitable<Error> call_within(const CallContext& ctx, Client& client, const std::string& service_method,
                                   const Body& args, Body* reply) {
  if (ctx.deadline == std::chrono::steady_clock::time_point::max() && !ctx.stop.stop_possible())
    co_return co_await client.async_call(service_method, args, reply, asio::use_awaitable);
  using namespace asio::experimental::awaitable_operators;
  const auto executor = co_await asio::this_coro::executor;
  asio::steady_timer deadline(executor, ctx.deadline);
  // A stop request comes from any thread: it wakes this coroutine through a timer on its strand.
  auto stopped = std::make_shared<asio::steady_timer>(executor, std::chrono::steady_clock::time_point::max());
  std::stop_callback on_stop(ctx.stop,
                             [stopped] { asio::post(stopped->get_executor(), [stopped] { stopped->cancel(); }); });
  auto result = co_await (client.async_call(service_method, args, reply, asio::use_awaitable) ||
                          deadline.async_wait(use_nothrow) || stopped->async_wait(use_nothrow));
  if (result.index() == 0) co_return std::get<0>(std::move(result));
  if (result.index() == 1) co_return Error(errc::call_timeout, "rpc client: call failed: deadline exceeded");
  co_return Error(errc::cancelled, "rpc client: call failed: cancelled");
}

// The next server to try: the mode's choice, or, when it was tried already in this call, the first
// listed server that was not.
Result<std::string> next_server(State& state, const CallContext& ctx, const std::vector<std::string>& tried) {
  auto addr = state.discovery->get(state.mode, ctx.key);
  if (!addr || std::find(tried.begin(), tried.end(), *addr) == tried.end()) return addr;
  auto all = state.discovery->get_all();
  if (!all) return all.error();
  for (const auto& text : *all) {
    auto entry = parse_server_entry(text);
    if (entry && std::find(tried.begin(), tried.end(), entry->addr) == tried.end()) return std::move(entry->addr);
  }
  return Error(errc::no_servers, "rpc discovery: no available servers");
}

// One server, one attempt. `sent` says whether the request may have left.
asio::awaitable<Error> call_server(std::shared_ptr<State> state, const CallContext& ctx, std::string addr,
                                   const std::string& service_method, const Body& args, Body* reply, bool* sent) {
  // Each run of a broadcast is spawned on its own: like async_run's, it reports cancellation as
  // an error, errc::cancelled, not as an exception.
  co_await asio::this_coro::throw_if_cancelled(false);
  auto client = co_await get_client(state, addr, ctx.deadline);
  if (!client) co_return client.error();
  *sent = true;
  co_return co_await call_within(ctx, **client, service_method, args, reply);
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
                                          Body args, Body* reply) {
  drop_departed(*state);
  std::vector<std::string> tried;
  Error last = Error(errc::no_servers, "rpc discovery: no available servers");
  for (std::size_t attempt = 0; attempt < std::max<std::size_t>(1, state->config.max_tries); ++attempt) {
    auto addr = next_server(*state, ctx, tried);
    if (!addr) co_return tried.empty() ? addr.error() : last;
    tried.push_back(*addr);
    bool sent = false;
    last = co_await call_server(state, ctx, *addr, service_method, args, reply, &sent);
    if (!last || sent || last == errc::shutdown || last == errc::call_timeout) co_return last;
    // Not sent (the dial failed, or the client was down): the next server may take it.
  }
  co_return last;
}

asio::awaitable<Error> XClient::broadcast_body(std::shared_ptr<State> state, CallContext ctx,
                                               std::string service_method, Body args, Body* reply) {
  drop_departed(*state);
  auto servers = state->discovery->get_all();
  if (!servers) co_return servers.error();
  if (servers->empty()) co_return Error(errc::no_servers, "rpc discovery: no available servers");
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
  const auto strand = co_await asio::this_coro::executor;
  for (const auto& text : *servers) {
    auto entry = parse_server_entry(text);
    if (!entry) co_return entry.error();  // update() checked it: not reached
    auto& run = *runs.emplace_back(std::make_unique<Run>());
    running.add();
    auto sent = std::make_shared<bool>(false);
    asio::co_spawn(
        strand, call_server(state, ctx, entry->addr, service_method, args, &run.reply, sent.get()),
        asio::bind_cancellation_slot(run.cancel.slot(), [&, sent](const std::exception_ptr& thrown, Error error) {
          run.done = true;
          if (thrown) error = Error(errc::cancelled, "rpc client: call failed: cancelled");
          if (error && !first_error) {
            first_error = std::move(error);
            for (auto& other : runs)  // the first error cancels the others at once
              if (!other->done) other->cancel.emit(asio::cancellation_type::terminal);
          } else if (!error && !replied) {
            *reply = std::move(run.reply);
            replied = true;
          }
          running.done();
        }));
  }
  co_await running.wait_until(std::chrono::steady_clock::time_point::max());
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
