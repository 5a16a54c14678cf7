#include "geerpc/xclient/registry_discovery.hpp"

#include <asio/co_spawn.hpp>
#include <asio/strand.hpp>
#include <asio/use_future.hpp>
#include <nlohmann/json.hpp>

#include "geerpc/registry/registry.hpp"

namespace geerpc {
namespace {

using Clock = std::chrono::steady_clock;

// A failed GET is tried again after this (or update_timeout, if shorter), not on every call.
constexpr std::chrono::seconds retry_after{1};

// The registry's list: the JSON body when there is one, else the header (Go's registry has only
// the header).
Result<std::vector<std::string>> read_list(const HttpMessage& response) {
  std::vector<std::string> list;
  if (!response.body.empty()) {
    try {
      const auto body = nlohmann::json::parse(response.body);  // not a temporary: the loop reads into it
      for (const auto& server : body.at("servers")) list.push_back(server.get<std::string>());
      return list;
    } catch (const nlohmann::json::exception&) {
      return Error(errc::bad_http, "the registry's list is not {\"servers\": [...]}");
    }
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

asio::awaitable<Result<std::vector<std::string>>> fetch(HttpUrl url, std::chrono::milliseconds timeout) {
  // The JSON body: a header of 10,000 servers is over 200 KB, more than many proxies pass.
  url.target += url.target.find('?') == std::string::npos ? "?format=json" : "&format=json";
  const std::string method = "GET";  // named: GCC 12 destroys a temporary argument of a co_await'ed call twice
  const HttpHeaders headers;
  auto response = co_await http_call(url, method, headers, timeout);
  if (!response) co_return response.error();
  co_return read_list(*response);
}

}  // namespace

RegistryDiscovery::RegistryDiscovery(std::string registry_url, std::chrono::milliseconds update_timeout,
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

asio::awaitable<Error> RegistryDiscovery::async_refresh() {
  if (!url_) co_return url_.error();
  bool waiter = false;
  {
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    if (has_list_ && now - last_update_ < update_timeout_) co_return Error();
    if (last_failure_ != Clock::time_point{} &&
        now - last_failure_ < std::min<Clock::duration>(update_timeout_, retry_after))
      co_return has_list_ ? Error() : last_error_;  // the last GET failed a moment ago
    if (fetching_) {
      if (has_list_) co_return Error();  // the list at hand will do while another refresh runs
      waiter = true;
    } else {
      fetching_ = true;
      fetched_.add();
    }
  }
  if (waiter) {
    // Nothing to offer yet: wait for the GET under way (which ends within its own timeout).
    co_await fetched_.wait_until(Clock::now() + request_timeout_ + std::chrono::seconds(1));
    std::lock_guard lock(mutex_);
    co_return has_list_ ? Error() : last_error_;
  }
  auto list = co_await fetch(*url_, request_timeout_);
  const Error error = list ? MultiServersDiscovery::update(*list) : list.error();
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
  co_return error;
}

Error RegistryDiscovery::refresh() {
  // A strand: async_refresh may wait on a WaitGroup.
  return asio::co_spawn(asio::make_strand(io_), async_refresh(), asio::use_future).get();
}

Error RegistryDiscovery::offer(const Error& refreshed, bool have_servers) const {
  if (!refreshed || have_servers) return {};
  return Error(refreshed.code(), "rpc registry discovery: " + refreshed.message());
}

Result<std::string> RegistryDiscovery::get(SelectMode mode, std::string_view key) {
  const auto refreshed = refresh();
  auto server = MultiServersDiscovery::get(mode, key);
  if (auto error = offer(refreshed, static_cast<bool>(server))) return error;
  return server;
}

Result<std::vector<std::string>> RegistryDiscovery::get_all() {
  const auto refreshed = refresh();
  auto servers = MultiServersDiscovery::get_all();
  if (auto error = offer(refreshed, servers && !servers->empty())) return error;
  return servers;
}

asio::awaitable<Result<std::string>> RegistryDiscovery::async_get(SelectMode mode, std::string key) {
  const auto refreshed = co_await async_refresh();
  auto server = MultiServersDiscovery::get(mode, key);
  if (auto error = offer(refreshed, static_cast<bool>(server))) co_return error;
  co_return server;
}

asio::awaitable<Result<std::vector<std::string>>> RegistryDiscovery::async_get_all() {
  const auto refreshed = co_await async_refresh();
  auto servers = MultiServersDiscovery::get_all();
  if (auto error = offer(refreshed, servers && !servers->empty())) co_return error;
  co_return servers;
}

}  // namespace geerpc
