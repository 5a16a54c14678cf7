#include "geerpc/registry/etcd.hpp"

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_future.hpp>
#include <charconv>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "geerpc/detail/etcd_answers.hpp"
#include "geerpc/log.hpp"
#include "geerpc/registry/heartbeat.hpp"
#include "geerpc/xclient/discovery.hpp"

namespace geerpc {
namespace {

using nlohmann::json;

constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    std::uint32_t n = static_cast<std::uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<std::uint8_t>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) n |= static_cast<std::uint8_t>(bytes[i + 2]);
    out += alphabet[n >> 18 & 63];
    out += alphabet[n >> 12 & 63];
    out += i + 1 < bytes.size() ? alphabet[n >> 6 & 63] : '=';
    out += i + 2 < bytes.size() ? alphabet[n & 63] : '=';
  }
  return out;
}

// What was not what etcd sends, in geerpc's words: the parse functions below throw it, and only
// it (fields are checked before nlohmann is asked for them), so that no library's text reaches
// the error.
struct NotEtcd : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string quoted(std::string_view name) {
  return "'" + std::string(name) + "'";
}

// `object`'s field `name`; `where` names the object in the message.
const json& field(const json& object, std::string_view name, std::string_view where = "the answer") {
  if (!object.is_object()) throw NotEtcd(std::string(where) + " is not an object");
  const auto it = object.find(name);
  if (it == object.end()) throw NotEtcd(std::string(where) + " has no " + quoted(name));
  return *it;
}

const std::string& text_field(const json& object, std::string_view name, std::string_view where = "the answer") {
  const auto& value = field(object, name, where);
  if (!value.is_string()) throw NotEtcd(quoted(name) + " is not a string");
  return value.get_ref<const std::string&>();
}

// The lines of a stream, and an answer's body, are JSON objects.
json parse_object(std::string_view text) {
  auto value = json::parse(text, nullptr, false);
  if (value.is_discarded()) throw NotEtcd("not JSON");
  if (!value.is_object()) throw NotEtcd("not a JSON object");
  return value;
}

std::string unbase64(std::string_view text, std::string_view name) {
  std::string out;
  std::uint32_t n = 0;
  int bits = 0;
  for (const char c : text) {
    if (c == '=') break;
    const auto at = alphabet.find(c);
    if (at == std::string_view::npos) throw NotEtcd(quoted(name) + " is not base64");
    n = n << 6 | static_cast<std::uint32_t>(at);
    if ((bits += 6) >= 8) {
      bits -= 8;
      out += static_cast<char>(n >> bits & 0xff);
    }
  }
  return out;
}

// etcd's int64 fields come as JSON strings ("4111..."), sometimes as numbers.
std::int64_t int64_field(const json& object, std::string_view name, std::string_view where = "the answer") {
  const auto& value = field(object, name, where);
  if (value.is_number_integer()) {
    if (value.is_number_unsigned() && value.get<std::uint64_t>() > std::numeric_limits<std::int64_t>::max())
      throw NotEtcd(quoted(name) + " is out of range");
    return value.get<std::int64_t>();
  }
  if (!value.is_string()) throw NotEtcd(quoted(name) + " is not an integer");
  const auto& text = value.get_ref<const std::string&>();
  std::int64_t number = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc{} || end != text.data() + text.size()) throw NotEtcd(quoted(name) + " is not an integer");
  return number;
}

// A key and its value, as a range and a watch event carry them.
EtcdGateway::KeyValue key_value(const json& kv) {
  return {unbase64(text_field(kv, "key", "a key-value"), "key"),
          kv.contains("value") ? unbase64(text_field(kv, "value", "a key-value"), "value") : std::string()};
}

const json& list_field(const json& object, std::string_view name) {
  const auto& value = field(object, name);
  if (!value.is_array()) throw NotEtcd(quoted(name) + " is not a list");
  return value;
}

// The end of the range of keys that start with `prefix`: the prefix with its last byte plus one.
std::string range_end(std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xff) prefix.pop_back();
  if (!prefix.empty()) prefix.back() = static_cast<char>(prefix.back() + 1);
  return prefix;
}

// The gateway's paths geerpc uses.
const char* const paths[] = {"/v3/lease/grant", "/v3/lease/keepalive", "/v3/lease/revoke",
                             "/v3/kv/put",      "/v3/kv/range",        "/v3/watch"};

Error not_etcd(const std::string& path, const NotEtcd& what) {
  return Error(errc::etcd_error, "rpc etcd: the answer to " + path + " is not what etcd sends (" + what.what() + ")");
}

}  // namespace

namespace detail {

std::string etcd_base64(std::string_view bytes) {
  return base64(bytes);
}

Result<std::string> etcd_unbase64(std::string_view text) {
  try {
    return unbase64(text, "text");
  } catch (const NotEtcd&) {
    return Error(errc::etcd_error, "rpc etcd: not base64");
  }
}

Result<json> etcd_answer(const std::string& path, const HttpMessage& response) {
  // An error's body says why, when it is etcd's; a proxy's page in its place still gives the status.
  auto answer = json::parse(response.body, nullptr, false);
  const auto message = answer.is_object() && answer.contains("error") && answer.at("error").is_string()
                           ? answer.at("error").get<std::string>()
                           : response.reason;
  if (response.status == 404 && message.find("lease not found") != std::string::npos)
    return Error(errc::lease_lost, "rpc etcd: " + message);
  if (response.status < 200 || response.status > 299)
    return Error(errc::etcd_error,
                 "rpc etcd: " + path + " answered " + std::to_string(response.status) + ": " + message);
  if (answer.is_discarded()) return not_etcd(path, NotEtcd("not JSON"));
  if (!answer.is_object()) return not_etcd(path, NotEtcd("not a JSON object"));
  return answer;
}

Result<std::int64_t> etcd_lease_id(const std::string& path, const json& answer) {
  try {
    // etcd's lease IDs are positive; a put with lease 0 would never expire.
    const auto id = int64_field(answer, "ID");
    if (id <= 0) throw NotEtcd("'ID' " + std::to_string(id) + " is not a lease");
    return id;
  } catch (const NotEtcd& e) {
    return not_etcd(path, e);
  }
}

Result<EtcdGateway::Range> etcd_range(const std::string& path, const json& answer) {
  try {
    EtcdGateway::Range range;
    range.revision = int64_field(field(answer, "header"), "revision", "'header'");
    // A watch goes on from the next revision, which must exist.
    if (range.revision < 0 || range.revision == std::numeric_limits<std::int64_t>::max())
      throw NotEtcd("'revision' " + std::to_string(range.revision) + " is not a store's revision");
    if (answer.contains("kvs"))  // etcd leaves out what is empty
      for (const auto& kv : list_field(answer, "kvs")) range.kvs.push_back(key_value(kv));
    return range;
  } catch (const NotEtcd& e) {
    return not_etcd(path, e);
  }
}

Error etcd_keep_alive_line(const std::string& path, std::string_view line, std::int64_t lease) {
  try {
    const auto answer = parse_object(line);
    const auto& result = field(answer, "result");
    // An expired or unknown lease is answered without a TTL (or with 0).
    return result.contains("TTL") && int64_field(result, "TTL", "'result'") > 0
               ? Error()
               : Error(errc::lease_lost, "rpc etcd: lease " + std::to_string(lease) + " has expired");
  } catch (const NotEtcd& e) {
    return not_etcd(path, e);
  }
}

Result<std::vector<EtcdGateway::Event>> etcd_watch_line(const std::string& path, std::string_view line) {
  try {
    const auto answer = parse_object(line);
    if (answer.contains("error"))
      return Error(errc::etcd_error, "rpc etcd: the watch ended: " + answer.at("error").dump());
    const auto& result = field(answer, "result");
    if (!result.is_object()) throw NotEtcd("'result' is not an object");
    if (const auto canceled = result.find("canceled"); canceled != result.end()) {
      if (!canceled->is_boolean()) throw NotEtcd("'canceled' is not a boolean");
      // Compacted past our revision, say: read it all again.
      if (canceled->get<bool>()) return Error(errc::etcd_error, "rpc etcd: etcd cancelled the watch");
    }
    std::vector<EtcdGateway::Event> events;
    if (!result.contains("events")) return events;  // "created", or a progress note
    for (const auto& event : list_field(result, "events")) {
      const bool deleted = event.contains("type") && text_field(event, "type", "an event") == "DELETE";
      events.push_back({.deleted = deleted, .kv = key_value(field(event, "kv", "an event"))});
    }
    return events;
  } catch (const NotEtcd& e) {
    return not_etcd(path, e);
  }
}

}  // namespace detail

namespace {

using detail::etcd_answer;

// A stream's error in etcd's terms: a status it answered is etcd's error.
Error stream_error_of(const Error& error, const HttpUrl& target) {
  if (error == errc::bad_http_status) return Error(errc::etcd_error, "rpc etcd: " + error.message());
  return Error(error.code(), "rpc etcd: " + target.host + ": " + error.message());
}

// A connection that did not happen or broke: worth trying another endpoint.
bool unreachable(const Error& error) {
  return error.code().category() != geerpc_category() || error == errc::http_timeout;
}

}  // namespace

EtcdGateway::EtcdGateway(const std::vector<std::string>& endpoints, std::chrono::milliseconds timeout)
    : timeout_(timeout) {
  for (const auto& text : endpoints) {
    auto url = parse_http_url(text);
    if (!url) {
      bad_endpoints_ = Error(errc::bad_address, "rpc etcd: bad endpoint '" + text + "'");
      return;
    }
    // Every URL this gateway asks, made once: coroutine frames then hold a reference, not a copy.
    auto& urls = endpoints_.emplace_back();
    for (const auto* path : paths) {
      url->target = path;
      urls.emplace(path, *url);
    }
  }
  if (endpoints_.empty()) bad_endpoints_ = Error(errc::bad_address, "rpc etcd: no endpoints");
}

const HttpUrl& EtcdGateway::url(const std::string& path) {
  return endpoints_[current_.load() % endpoints_.size()].at(path);
}

void EtcdGateway::next_endpoint() {
  ++current_;
}

asio::awaitable<Result<json>> EtcdGateway::post(const std::string& path, const json& body) {
  if (bad_endpoints_) co_return bad_endpoints_;
  const std::string method = "POST";  // named arguments: GCC 12 destroys temporary ones twice
  const HttpHeaders headers = {{"Content-Type", "application/json"}};
  const std::string text = body.dump();
  Error last;
  for (std::size_t tried = 0; tried < endpoints_.size(); ++tried) {
    const HttpUrl& target = url(path);
    auto response = co_await http_exchange(target, method, headers, text, timeout_, std::size_t{64} << 20);
    if (response) co_return etcd_answer(path, *response);
    last = Error(response.error().code(), "rpc etcd: " + target.host + ": " + response.error().message());
    next_endpoint();  // down: the next may answer
  }
  co_return last;
}

asio::awaitable<Result<std::int64_t>> EtcdGateway::grant(std::chrono::seconds ttl) {
  const std::string path = "/v3/lease/grant";
  const json body = {{"TTL", ttl.count()}};
  auto answer = co_await post(path, body);
  if (!answer) co_return answer.error();
  co_return detail::etcd_lease_id(path, *answer);
}

asio::awaitable<Error> EtcdGateway::keep_alive(std::int64_t lease) {
  // The gateway answers a keep-alive as a stream: its first line is the one that matters.
  if (bad_endpoints_) co_return bad_endpoints_;
  const std::string path = "/v3/lease/keepalive";
  const std::string method = "POST";
  const HttpHeaders headers = {{"Content-Type", "application/json"}};
  const std::string body = json{{"ID", std::to_string(lease)}}.dump();
  Error last;
  for (std::size_t tried = 0; tried < endpoints_.size(); ++tried) {
    const HttpUrl& target = url(path);
    Error answer = Error(errc::etcd_error, "rpc etcd: " + path + " ended without an answer");
    // Named, not converted in the call: GCC 12 destroys a temporary argument of a co_await'ed call twice.
    const std::function<bool(std::string_view)> read = [&](std::string_view line) {
      answer = detail::etcd_keep_alive_line(path, line, lease);
      return false;  // one line is the answer
    };
    auto stream_error = co_await http_stream(target, method, headers, body, timeout_, read);
    if (stream_error && unreachable(stream_error)) {
      last = Error(stream_error.code(), "rpc etcd: " + target.host + ": " + stream_error.message());
      next_endpoint();
      continue;
    }
    co_return stream_error ? stream_error_of(stream_error, target) : answer;
  }
  co_return last;
}

asio::awaitable<Error> EtcdGateway::put(const std::string& key, const std::string& value, std::int64_t lease) {
  const std::string path = "/v3/kv/put";
  const json body = {{"key", base64(key)}, {"value", base64(value)}, {"lease", std::to_string(lease)}};
  auto answer = co_await post(path, body);
  co_return answer ? Error() : answer.error();
}

asio::awaitable<Error> EtcdGateway::revoke(std::int64_t lease) {
  const std::string path = "/v3/lease/revoke";
  const json body = {{"ID", std::to_string(lease)}};
  auto answer = co_await post(path, body);
  co_return answer || answer.error() == errc::lease_lost ? Error() : answer.error();  // gone is gone
}

asio::awaitable<Result<EtcdGateway::Range>> EtcdGateway::range(const std::string& prefix) {
  const std::string path = "/v3/kv/range";
  const json body = {{"key", base64(prefix)}, {"range_end", base64(range_end(prefix))}};
  auto answer = co_await post(path, body);
  if (!answer) co_return answer.error();
  co_return detail::etcd_range(path, *answer);
}

asio::awaitable<Error> EtcdGateway::watch(const std::string& prefix, std::int64_t revision,
                                          std::function<bool(std::vector<Event>&)> on_events,
                                          std::chrono::milliseconds idle_timeout) {
  if (bad_endpoints_) co_return bad_endpoints_;
  const std::string path = "/v3/watch";
  const std::string method = "POST";
  const HttpHeaders headers = {{"Content-Type", "application/json"}};
  const std::string body = json{{"create_request",
                                 {{"key", base64(prefix)},
                                  {"range_end", base64(range_end(prefix))},
                                  {"start_revision", std::to_string(revision)}}}}
                               .dump();
  const HttpUrl& target = url(path);
  Error ended;
  const std::function<bool(std::string_view)> read = [&](std::string_view line) {  // named: see keep_alive
    auto events = detail::etcd_watch_line(path, line);
    if (!events) {
      ended = events.error();
      return false;
    }
    return events->empty() || on_events(*events);
  };
  auto stream_error = co_await http_stream(target, method, headers, body, idle_timeout, read);
  if (stream_error && unreachable(stream_error)) next_endpoint();  // the next reconnect tries another
  if (stream_error) co_return stream_error_of(stream_error, target);
  co_return ended ? ended : Error(errc::etcd_error, "rpc etcd: the watch stream ended");
}

// ---------------------------------------------------------------- registration

struct EtcdRegistration::State {
  State(EtcdConfig c, std::string k, std::string v)
      : config(std::move(c)),
        key(std::move(k)),
        value(std::move(v)),
        gateway(config.endpoints, config.request_timeout),
        strand(asio::make_strand(io)),
        timer(strand) {}

  asio::thread_pool io{1};  // the keep-alives run here
  const EtcdConfig config;
  const std::string key, value;  // "<prefix>/<addr>", and the entry clients read
  EtcdGateway gateway;
  const asio::strand<asio::any_io_executor> strand;
  asio::steady_timer timer;  // on the strand
  std::int64_t lease = 0;  // on the strand
  std::atomic<bool> stopped{false};
  std::atomic<std::uint64_t> leases{0};
};

namespace {

using Registration = EtcdRegistration::State;

// A new lease, and the key put again under it.
asio::awaitable<Error> renew(Registration& state) {
  auto lease = co_await state.gateway.grant(state.config.ttl);
  if (!lease) co_return lease.error();
  if (auto error = co_await state.gateway.put(state.key, state.value, *lease)) co_return error;
  state.lease = *lease;
  ++state.leases;
  co_return Error();
}

// Keep-alives every third of the TTL; a lost lease is replaced. After a failure the next try comes
// sooner, a tenth of a period at first, twice as long each time after, never longer than a period.
asio::awaitable<void> keep_alive(std::shared_ptr<Registration> state) {
  const auto period = std::max<std::chrono::milliseconds>(
      std::chrono::duration_cast<std::chrono::milliseconds>(state->config.ttl) / 3, std::chrono::milliseconds(100));
  auto wait = period;
  bool failing = false;
  while (!state->stopped) {
    state->timer.expires_after(wait);
    co_await state->timer.async_wait(use_nothrow);
    if (state->stopped) break;
    auto error = co_await state->gateway.keep_alive(state->lease);
    if (error == errc::lease_lost) error = co_await renew(*state);
    if (!error) {
      if (failing) log("rpc etcd: the registration of " + state->value + " works again");
      failing = false;
      wait = period;
      continue;
    }
    if (!failing) log("rpc etcd: keeping " + state->value + " registered failed, trying again: " + error.message());
    wait = failing ? std::min(wait * 2, period) : std::max(period / 10, std::chrono::milliseconds(10));
    failing = true;
  }
  (void)co_await state->gateway.revoke(state->lease);  // on a clean stop the entry goes at once
}

void end(const std::shared_ptr<Registration>& state) {
  if (!state || state->stopped.exchange(true)) return;
  asio::post(state->strand, [state] { state->timer.cancel(); });
}

}  // namespace

EtcdRegistration& EtcdRegistration::operator=(EtcdRegistration&& other) noexcept {
  if (this == &other) return *this;
  this->~EtcdRegistration();
  state_ = std::move(other.state_);
  return *this;
}

EtcdRegistration::~EtcdRegistration() {
  if (!state_) return;
  end(state_);
  state_->io.join();  // the revoke, within the request timeout
  state_.reset();
}

void EtcdRegistration::stop() {
  end(state_);
}

void EtcdRegistration::stop_with(Server& server) {
  server.on_stop([state = std::weak_ptr<Registration>(state_)] { end(state.lock()); });
}

std::uint64_t EtcdRegistration::leases() const {
  return state_ ? state_->leases.load() : 0;
}

Result<EtcdRegistration> etcd_register(EtcdConfig config, std::string addr) {
  if (auto error = check_dialable(addr)) return error;
  auto entry = parse_server_entry(addr);
  const auto key = config.prefix + "/" + entry->addr;
  auto state = std::make_shared<Registration>(std::move(config), key, std::move(addr));
  if (auto error = asio::co_spawn(state->strand, renew(*state), asio::use_future).get()) {
    state->io.join();
    return error;
  }
  asio::co_spawn(state->strand, keep_alive(state), asio::detached);
  return EtcdRegistration(std::move(state));
}

Result<EtcdRegistration> etcd_register(Server& server, EtcdConfig config, std::string addr) {
  auto registration = etcd_register(std::move(config), std::move(addr));
  if (registration) registration->stop_with(server);
  return registration;
}

}  // namespace geerpc
