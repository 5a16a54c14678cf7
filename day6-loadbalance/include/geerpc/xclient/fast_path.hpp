// XClient's fast paths, their templates (the rest is src/xclient/fast_path.cpp): a call or a
// broadcast with no deadline or stop, to servers whose clients are up, goes straight to those
// clients. A first reading may skip this file: the full path (xclient.hpp and xclient.cpp) does
// the same work, and these only spare the common case its coroutines.
#pragma once

#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include "geerpc/xclient/xclient.hpp"

namespace geerpc {

// Holds the lease of a call that was sent, until it is waited for. Dropped without being waited
// for (an awaitable never co_awaited), it leaves the lease to a waiter of its own: the reply is
// still written into the lease's body when it comes.
class XClient::Sent {
 public:
  Sent(std::shared_ptr<Leased> leased, std::shared_ptr<Call> call)
      : leased_(std::move(leased)), call_(std::move(call)) {}
  Sent(Sent&&) noexcept = default;
  Sent& operator=(Sent&&) = delete;
  ~Sent() {
    if (leased_) keep_until_done(std::move(leased_), *call_);
  }
  std::shared_ptr<Leased> take() { return std::move(leased_); }
  const std::shared_ptr<Call>& call() const { return call_; }

 private:
  std::shared_ptr<Leased> leased_;
  std::shared_ptr<Call> call_;
};

template <class Args, class Reply, class Token>
auto XClient::leased_call(std::shared_ptr<Leased> leased, std::string service_method, const Args& args, Reply* reply,
                          Token&& token) {
  // Sent now, as Client::async_call sends; the token only decides how the caller waits.
  auto call = client_of(*leased).go(std::move(service_method), args, body_of(*leased));
  return asio::async_initiate<Token, void(Error)>(
      [sent = Sent(std::move(leased), std::move(call)), reply](auto handler) mutable {
        const auto call = sent.call();
        auto leased = sent.take();
        auto slot = asio::get_associated_cancellation_slot(handler);
        if (slot.is_connected())
          slot.assign([call, weak = client_of(*leased).weak_from_this()](asio::cancellation_type) {
            if (auto client = weak.lock())
              client->cancel_call(*call, Error(errc::cancelled, "rpc client: call failed: cancelled"));
          });
        auto executor = asio::get_associated_executor(handler);
        call->async_wait(asio::bind_cancellation_slot(
            slot, asio::bind_executor(
                      executor, [leased = std::move(leased), reply, handler = std::move(handler)](Error error) mutable {
                        if (!error) error = decode(std::move(*body_of(*leased)), reply);
                        leased.reset();  // the client goes back before the caller goes on
                        std::move(handler)(std::move(error));
                      })));
      },
      token);
}

// As Sent, for a broadcast.
class XClient::SentAll {
 public:
  explicit SentAll(std::shared_ptr<LeasedAll> all) : all_(std::move(all)) {}
  SentAll(SentAll&&) noexcept = default;
  SentAll& operator=(SentAll&&) = delete;
  ~SentAll() {
    if (all_) keep_all_until_done(all_);
  }
  std::shared_ptr<LeasedAll> take() { return std::move(all_); }

 private:
  std::shared_ptr<LeasedAll> all_;
};

template <class Reply, class Token>
auto XClient::leased_broadcast(std::shared_ptr<LeasedAll> all, Reply* reply, Token&& token) {
  return asio::async_initiate<Token, void(Error)>(
      [sent = SentAll(std::move(all)), reply](auto handler) mutable {
        auto all = sent.take();
        auto slot = asio::get_associated_cancellation_slot(handler);
        if (slot.is_connected())
          slot.assign([weak = std::weak_ptr<LeasedAll>(all)](asio::cancellation_type) {
            if (auto all = weak.lock()) cancel_all(*all);
          });
        auto executor = asio::get_associated_executor(handler);
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        const auto& calls = calls_of(*all);
        for (std::size_t i = 0; i < calls.size(); ++i)
          calls[i]->async_wait(asio::bind_executor(executor, [all, i, reply, shared](Error error) mutable {
            if (!one_done(*all, i, std::move(error))) return;
            Body body;
            error = finish_all(*all, &body);  // the clients go back before the caller goes on
            if (!error) error = decode(std::move(body), reply);
            auto done = std::move(shared);
            auto slot = asio::get_associated_cancellation_slot(*done);
            if (slot.is_connected()) slot.clear();
            std::move (*done)(std::move(error));
          }));
      },
      token);
}

}  // namespace geerpc
