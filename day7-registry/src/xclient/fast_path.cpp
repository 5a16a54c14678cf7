// XClient's fast paths: a call or a broadcast with no deadline or stop, to servers whose clients
// are up, from a list that has not changed, goes straight to those clients (Client::go), as a
// plain Client's call does. They spare the common case the full path's coroutines, strand and
// discovery coroutine, and behave as it does; a first reading may skip this file and
// geerpc/xclient/fast_path.hpp, which holds their templates.
#include "geerpc/xclient/fast_path.hpp"

#include <asio/bind_executor.hpp>
#include <mutex>
#include <optional>
#include <vector>

#include "state.hpp"

namespace geerpc {

struct XClient::Leased {
  explicit Leased(Lease l) : lease(std::move(l)) {}
  Lease lease;
  Body body;
};

XClient::FastCall XClient::try_fast_call(const std::shared_ptr<State>& state, const CallContext& ctx) {
  if (has_deadline_or_stop(ctx)) return {};  // they need a timer and a strand: the full path's
  const auto generation = state->discovery->generation();
  auto addr = state->discovery->try_get(state->mode, ctx.key);
  if (!addr) return {};
  std::lock_guard lock(state->mutex);
  // A changed list may have left clients to close, which is the full path's work (drop_departed).
  if (state->closed || generation != state->generation || state->rescan) return {nullptr, std::move(addr)};
  const auto it = state->slots.find(*addr);
  if (it == state->slots.end() || !it->second->client || !it->second->client->is_available())
    return {nullptr, std::move(addr)};  // to be dialed: the full path
  const auto& slot = it->second;
  ++slot->users;
  return {std::make_shared<Leased>(Lease(state, slot, slot->client)), std::nullopt};
}

void XClient::keep_until_done(std::shared_ptr<Leased> leased, Call& call) {
  auto executor = leased->lease.executor();
  call.async_wait(asio::bind_executor(executor, [leased = std::move(leased)](const Error&) {}));
}

Client& XClient::client_of(Leased& leased) {
  return *leased.lease;
}

Body* XClient::body_of(Leased& leased) {
  return &leased.body;
}

struct XClient::LeasedAll {
  explicit LeasedAll(asio::any_io_executor ex) : executor(std::move(ex)) {}
  asio::any_io_executor executor;  // the XClient's
  std::vector<Lease> leases;  // given back by finish_all
  std::vector<std::weak_ptr<Client>> clients;  // to cancel through, once the leases are back too
  std::vector<std::shared_ptr<Call>> calls;
  std::vector<Body> bodies;
  std::mutex mutex;  // guards the four below: the calls complete on their clients' strands
  std::size_t running = 0;
  Error first_error;
  std::optional<std::size_t> replied;  // the first call that succeeded
  bool finished = false;
};

std::shared_ptr<XClient::LeasedAll> XClient::try_fast_broadcast(const std::shared_ptr<State>& state,
                                                                const CallContext& ctx) {
  if (has_deadline_or_stop(ctx)) return nullptr;
  const auto generation = state->discovery->generation();
  auto servers = state->discovery->try_get_all();
  if (!servers || servers->empty()) return nullptr;
  std::vector<std::string> addrs;
  for (const auto& text : *servers) {
    auto entry = parse_server_entry(text);
    if (!entry) return nullptr;  // the full path says what is wrong
    addrs.push_back(std::move(entry->addr));
  }
  auto all = std::make_shared<LeasedAll>(state->executor);
  std::lock_guard lock(state->mutex);
  if (state->closed || generation != state->generation || state->rescan) return nullptr;
  std::vector<std::shared_ptr<Slot>> slots;
  for (const auto& addr : addrs) {
    const auto it = state->slots.find(addr);
    if (it == state->slots.end() || !it->second->client || !it->second->client->is_available()) return nullptr;
    slots.push_back(it->second);
  }
  // Every client is up: all of them are taken, under the one lock.
  for (auto& slot : slots) {
    ++slot->users;
    all->clients.push_back(slot->client);
    all->leases.emplace_back(state, slot, slot->client);
  }
  all->bodies.resize(slots.size());
  all->running = slots.size();
  return all;
}

void XClient::send_all(LeasedAll& all, const std::string& service_method, const Body& args) {
  for (std::size_t i = 0; i < all.leases.size(); ++i)
    all.calls.push_back((*all.leases[i]).go(service_method, args, &all.bodies[i]));
}

const std::vector<std::shared_ptr<Call>>& XClient::calls_of(LeasedAll& all) {
  return all.calls;
}

bool XClient::one_done(LeasedAll& all, std::size_t index, Error error) {
  bool cancel = false, last = false;
  {
    std::lock_guard lock(all.mutex);
    if (error && !all.first_error) {
      all.first_error = std::move(error);
      cancel = true;
    } else if (!error && !all.replied) {
      all.replied = index;
    }
    last = --all.running == 0;
  }
  if (cancel) cancel_all(all);  // the first error cancels the others at once
  return last;
}

Error XClient::finish_all(LeasedAll& all, Body* body) {
  std::vector<Lease> leases;
  Error error;
  {
    std::lock_guard lock(all.mutex);
    all.finished = true;
    leases.swap(all.leases);
    error = all.first_error;
    if (!error) *body = std::move(all.bodies[*all.replied]);
  }
  return error;  // `leases` go back here: a departed server's client may be closed
}

void XClient::cancel_all(LeasedAll& all) {
  {
    std::lock_guard lock(all.mutex);
    if (all.finished) return;
  }
  // A call done already is not found by its client: cancelling it does nothing.
  for (std::size_t i = 0; i < all.calls.size(); ++i)
    if (auto client = all.clients[i].lock())
      client->cancel_call(*all.calls[i], Error(errc::cancelled, "rpc client: call failed: cancelled"));
}

void XClient::keep_all_until_done(const std::shared_ptr<LeasedAll>& all) {
  // Nobody waits for these replies: each call keeps the whole broadcast until it is done.
  auto executor = all->executor;
  for (const auto& call : all->calls) call->async_wait(asio::bind_executor(executor, [all](const Error&) {}));
}

}  // namespace geerpc
