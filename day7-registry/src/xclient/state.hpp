// XClient's state: its clients by server, and the lease a call takes one with. Shared by
// xclient.cpp and fast_path.cpp, and by nothing else.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "geerpc/sync.hpp"
#include "geerpc/xclient/xclient.hpp"

namespace geerpc {

// One server's client, and the dial in flight for it. All but `dial` under State::mutex.
struct Slot {
  std::shared_ptr<Client> client;
  bool dialing = false;
  Error dial_error;  // the last dial's, for the calls that waited for it
  WaitGroup dial;  // 1 while a dial is in flight
  int users = 0;  // calls using `client` now
  int waiters = 0;  // calls waiting for the dial in flight
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

  std::mutex mutex;  // guards the four below; never held across I/O (Go's XClient dials under it)
  std::map<std::string, std::shared_ptr<Slot>, std::less<>> slots;
  std::uint64_t generation = 0;  // the discovery list `slots` was last checked against
  bool rescan = false;  // a slot was added for a server that may have left meanwhile
  bool closed = false;
};

// A client taken from its slot for one call. Giving it back closes it when its server has left
// the list meanwhile and this was its last call.
class Lease {
 public:
  // Under State::mutex, with slot->users already counting this lease.
  Lease(std::shared_ptr<XClient::State> state, std::shared_ptr<Slot> slot, std::shared_ptr<Client> client)
      : state_(std::move(state)), slot_(std::move(slot)), client_(std::move(client)) {}
  Lease(Lease&& other) noexcept = default;
  Lease& operator=(Lease&&) = delete;
  ~Lease() {
    if (!slot_) return;
    std::shared_ptr<Client> done;
    {
      std::lock_guard lock(state_->mutex);
      // Not while calls still wait for the slot's dial: the client it brought is theirs too.
      if (--slot_->users == 0 && slot_->waiters == 0 && slot_->retired) done = std::move(slot_->client);
    }
    if (done) (void)done->close();
  }
  Client& operator*() const { return *client_; }
  const asio::any_io_executor& executor() const { return state_->executor; }  // the XClient's

 private:
  std::shared_ptr<XClient::State> state_;
  std::shared_ptr<Slot> slot_;
  std::shared_ptr<Client> client_;
};

// Whether a call needs a timer or a stop callback: without either it waits for the client alone.
inline bool has_deadline_or_stop(const CallContext& ctx) {
  return ctx.deadline != std::chrono::steady_clock::time_point::max() || ctx.stop.stop_possible();
}

}  // namespace geerpc
