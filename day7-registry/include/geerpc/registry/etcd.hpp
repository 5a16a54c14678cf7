// etcd as the registry: the real thing beside day 7's toy. etcd 3.4 (Debian's etcd-server), spoken
// to through its JSON gateway on the client port (POST /v3/..., keys and values in base64), on
// the day's own HTTP client. A server puts "<prefix>/<addr>" under a lease and keeps the lease
// alive; a client reads the prefix once and then watches it, so changes arrive as events.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "geerpc/error.hpp"
#include "geerpc/registry/http_client.hpp"
#include "geerpc/server.hpp"

namespace geerpc {

struct EtcdConfig {
  // "http://127.0.0.1:2379"; when one does not answer, the next is tried.
  std::vector<std::string> endpoints;
  std::string prefix = "/geerpc/servers";
  // A registration's lease: the entry goes this long after its server stops renewing it.
  std::chrono::seconds ttl{10};
  // Each request but a watch must be answered within this.
  std::chrono::milliseconds request_timeout{3000};
};

// The few calls of etcd's JSON gateway that geerpc needs. Keys and values are plain text here.
// Any answer that is not what etcd sends is errc::etcd_error, never a crash.
class EtcdGateway {
 public:
  EtcdGateway(const std::vector<std::string>& endpoints, std::chrono::milliseconds timeout);

  struct KeyValue {
    std::string key, value;
  };
  struct Range {
    std::int64_t revision = 0;  // of the store when it was read: a watch goes on from the next
    std::vector<KeyValue> kvs;
  };
  struct Event {
    bool deleted = false;  // a DELETE (an expired lease too); else a PUT
    KeyValue kv;
  };

  asio::awaitable<Result<std::int64_t>> grant(std::chrono::seconds ttl);  // a lease's ID
  // errc::lease_lost when the lease has expired (etcd answers without a TTL).
  asio::awaitable<Error> keep_alive(std::int64_t lease);
  // errc::lease_lost when etcd no longer knows the lease (it answers 404).
  asio::awaitable<Error> put(const std::string& key, const std::string& value, std::int64_t lease);
  asio::awaitable<Error> revoke(std::int64_t lease);
  asio::awaitable<Result<Range>> range(const std::string& prefix);
  // The events under `prefix` from `revision` on, as they come, until `on_events` returns false or
  // the stream breaks (its error). A silent stream is given up after `idle_timeout`.
  asio::awaitable<Error> watch(const std::string& prefix, std::int64_t revision,
                               std::function<bool(std::vector<Event>&)> on_events,
                               std::chrono::milliseconds idle_timeout);

 private:
  asio::awaitable<Result<nlohmann::json>> post(const std::string& path, const nlohmann::json& body);
  const HttpUrl& url(const std::string& path);  // `path` at the endpoint in use
  void next_endpoint();  // it did not answer: the next is tried

  std::vector<std::map<std::string, HttpUrl, std::less<>>> endpoints_;  // each endpoint's URLs, by path
  Error bad_endpoints_;
  const std::chrono::milliseconds timeout_;
  std::atomic<std::size_t> current_{0};
};

// A server's registration in etcd, as long as this handle lives (and its server, when tied to
// one). The lease is kept alive every third of its TTL; a lease that was lost (etcd forgot it,
// or it expired while etcd was unreachable) is replaced by a new one and the key put again.
class EtcdRegistration {
 public:
  EtcdRegistration() = default;
  EtcdRegistration(EtcdRegistration&&) noexcept = default;
  EtcdRegistration& operator=(EtcdRegistration&& other) noexcept;
  ~EtcdRegistration();  // stop(), and waits for the revoke (at most the request timeout)

  // Ends the keep-alives and revokes the lease, so that the entry goes at once. Returns at once;
  // the destructor waits.
  void stop();
  void stop_with(Server& server);  // also when `server` begins to stop
  std::uint64_t leases() const;  // leases granted so far: 1 while none was lost

  struct State;
  explicit EtcdRegistration(std::shared_ptr<State> state) : state_(std::move(state)) {}

 private:
  std::shared_ptr<State> state_;
};

// Grants a lease, puts "<prefix>/<addr>" (value `addr`, day 6's form: ";weight=N" optional) with
// it, and keeps it alive. Returns once the first put is done, with its error if it failed; the
// keep-alives then run on a thread of the registration's own. `addr` must be dialable, as for a
// heartbeat.
[[nodiscard]] Result<EtcdRegistration> etcd_register(EtcdConfig config, std::string addr);
[[nodiscard]] Result<EtcdRegistration> etcd_register(Server& server, EtcdConfig config, std::string addr);

}  // namespace geerpc
