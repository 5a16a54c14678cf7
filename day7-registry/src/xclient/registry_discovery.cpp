#include "geerpc/xclient/registry_discovery.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/strand.hpp>
#include <asio/use_future.hpp>
#include <nlohmann/json.hpp>

#include "geerpc/detail/server_list.hpp"
#include "geerpc/registry/registry.hpp"

namespace geerpc {
namespace {

using Clock = std::chrono::steady_clock;

// A failed GET is tried again after this (or update_timeout, if shorter), not on every call.
constexpr std::chrono::seconds retry_after{1};

}  // namespace

namespace detail {

Result<std::vector<std::string>> read_server_list(const HttpMessage& response) {
  std::vector<std::string> list;
  if (!response.body.empty()) {
    const Error bad(errc::bad_http, "the registry's list is not {\"servers\": [...]}");
    const auto body = nlohmann::json::parse(response.body, nullptr, false);
    // Checked, not merely iterated: nlohmann iterates a string or an object too, as if a list.
    const auto servers = body.is_object() ? body.find("servers") : body.end();
    if (servers == body.end() || !servers->is_array()) return bad;
    for (const auto& server : *servers) {
      if (!server.is_string() || server.get_ref<const std::string&>().empty()) return bad;
      list.push_back(server.get<std::string>());
    }
    return list;
  }
  if (const auto* header = response.header(servers_header)) {
    std::string_view rest = *header;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      if (auto server = rest.substr(0, comma); !server.empty()) list.emplace_back(server);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
  }
  return list;
}

}  // namespace detail

namespace {

asio::awaitable<Result<std::vector<std::string>>> fetch(HttpUrl url, std::chrono::milliseconds timeout) {
  // The JSON body: a header of 10,000 servers is over 200 KB, more than many proxies pass.
  url.target += url.target.find('?') == std::string::npos ? "?format=json" : "&format=json";
  const std::string method = "GET";  // named: GCC 12 destroys a temporary argument of a co_await'ed call twice
  const HttpHeaders headers;
  const std::string body;
  auto response = co_await http_call(url, method, headers, body, timeout);
  if (!response) co_return response.error();
  co_return detail::read_server_list(*response);
}

}  // namespace

RegistryDiscovery::RegistryDiscovery(const std::string& registry_url, std::chrono::milliseconds update_timeout,
                                     std::chrono::milliseconds request_timeout)
    : url_(parse_http_url(registry_url)), update_timeout_(update_timeout), request_timeout_(request_timeout) {}

RegistryDiscovery::~RegistryDiscovery() {
  io_.join();  // a GET still under way ends within its timeout
}

Error RegistryDiscovery::update(const std::vector<std::string>& servers) {
  if (auto error = MultiServersDiscovery::update(servers)) return error;
  std::lock_guard lock(mutex_);
  last_update_ = Clock::now();
  has_list_ = true;
  return {};
}

asio::awaitable<void> RegistryDiscovery::fetch_and_update() {
  Result<std::vector<std::string>> list = Error(errc::bad_http, "the registry could not be asked");
  try {
    list = co_await fetch(*url_, request_timeout_);
  } catch (const std::exception&) {  // not expected (errors are values); the bookkeeping below must run
  }
  Error error = list ? Error() : list.error();
  if (list) {
    // An unchanged list is not set again: that would restart round robin and the weights.
    auto current = MultiServersDiscovery::get_all();
    if (!current || *current != *list) error = MultiServersDiscovery::update(*list);
  }
  {
    std::lock_guard lock(mutex_);
    fetching_ = false;
    if (error) {
      last_failure_ = Clock::now();
      last_error_ = error;
    } else {
      last_update_ = Clock::now();
      has_list_ = true;
    }
  }
  fetched_.done();
}

asio::awaitable<Error> RegistryDiscovery::async_refresh(bool wait, Deadline deadline) {
  if (!url_) co_return url_.error();
  {
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    const bool fresh = has_list_ && now - last_update_ < update_timeout_;
    const bool failed_lately = last_failure_ != Clock::time_point{} &&
                               now - last_failure_ < std::min<Clock::duration>(update_timeout_, retry_after);
    if (!wait && (fresh || failed_lately)) co_return has_list_ ? Error() : last_error_;
    if (!fetching_) {
      // On its own, on the discovery's thread: no caller's cancellation or deadline cuts it short.
      fetching_ = true;
      fetched_.add();
      asio::co_spawn(asio::make_strand(io_), fetch_and_update(), asio::detached);
    }
    if (!wait && has_list_) co_return Error();  // the list at hand serves until the answer comes
  }
  if (!co_await fetched_.wait_until(std::min(deadline, Clock::now() + request_timeout_ + std::chrono::seconds(1))))
    co_return Error(errc::call_timeout, "rpc registry discovery: no answer from the registry in time");
  std::lock_guard lock(mutex_);
  co_return has_list_ && !wait ? Error() : (last_update_ >= last_failure_ ? Error() : last_error_);
}

Error RegistryDiscovery::refresh() {
  // A strand: async_refresh waits on a WaitGroup.
  return asio::co_spawn(asio::make_strand(io_), async_refresh(true, Clock::time_point::max()), asio::use_future).get();
}

Error RegistryDiscovery::offer(const Error& refreshed, bool have_servers) const {
  if (!refreshed || have_servers) return {};
  return Error(refreshed.code(), "rpc registry discovery: " + refreshed.message());
}

Result<std::string> RegistryDiscovery::get(SelectMode mode, std::string_view key) {
  const auto refreshed =
      asio::co_spawn(asio::make_strand(io_), async_refresh(false, Clock::time_point::max()), asio::use_future).get();
  auto server = MultiServersDiscovery::get(mode, key);
  if (auto error = offer(refreshed, static_cast<bool>(server))) return error;
  return server;
}

Result<std::vector<std::string>> RegistryDiscovery::get_all() {
  const auto refreshed =
      asio::co_spawn(asio::make_strand(io_), async_refresh(false, Clock::time_point::max()), asio::use_future).get();
  auto servers = MultiServersDiscovery::get_all();
  if (auto error = offer(refreshed, servers && !servers->empty())) return error;
  return servers;
}

asio::awaitable<Result<std::string>> RegistryDiscovery::async_get(SelectMode mode, std::string key, Deadline deadline) {
  const auto refreshed = co_await async_refresh(false, deadline);
  auto server = MultiServersDiscovery::get(mode, key);
  if (auto error = offer(refreshed, static_cast<bool>(server))) co_return error;
  co_return server;
}

asio::awaitable<Result<std::vector<std::string>>> RegistryDiscovery::async_get_all(Deadline deadline) {
  const auto refreshed = co_await async_refresh(false, deadline);
  auto servers = MultiServersDiscovery::get_all();
  if (auto error = offer(refreshed, servers && !servers->empty())) co_return error;
  co_return servers;
}

bool RegistryDiscovery::is_fresh() {
  std::lock_guard lock(mutex_);
  return has_list_ && Clock::now() - last_update_ < update_timeout_;
}

std::optional<std::string> RegistryDiscovery::try_get(SelectMode mode, std::string_view key) {
  if (!is_fresh()) return std::nullopt;
  return MultiServersDiscovery::try_get(mode, key);
}

std::optional<std::vector<std::string>> RegistryDiscovery::try_get_all() {
  if (!is_fresh()) return std::nullopt;
  return MultiServersDiscovery::try_get_all();
}

}  // namespace geerpc
