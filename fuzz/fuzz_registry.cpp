// Day 7: the registry's side of a heartbeat and of a list. A Registry that knows one server gets
// the input as a request on a connection of its own; its answer must be the one predicted from the
// head (fuzz::predict_request_head), written whole: 400 for a head that is not HTTP or a POST
// without a good X-Geerpc-Server, 431, 404 off its path, 405 for other methods, 200 for a POST
// that registers (the entry is listed from then on, as to_string(parse_server_entry) gives it, and
// is an address to dial) or a GET. Then both ways of asking for the list (the header, and
// ?format=json) are read as RegistryDiscovery reads them (detail::read_server_list), and each must
// give exactly the registry's own list: whatever a heartbeat got in comes out intact.
#include <algorithm>
#include <asio/local/stream_protocol.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>
#include <unistd.h>

#include "fuzz_http.hpp"
#include "geerpc/detail/server_list.hpp"
#include "geerpc/registry/registry.hpp"
#include "geerpc/xclient/discovery.hpp"

using namespace geerpc;

namespace {

constexpr std::size_t max_head = 1024;  // small, so that short inputs reach the 431 answer
constexpr std::string_view known = "tcp@127.0.0.1:7001;weight=2";

// A listener of its own for every input (the registry takes it over and closes it when it stops),
// in the abstract namespace: no file to clean up.
Acceptor listener(Endpoint& endpoint) {
  static unsigned count = 0;
  const std::string name = std::string(1, '\0') + "geerpc-fuzz-registry-" + std::to_string(::getpid()) + "-" +
                           std::to_string(count++);
  endpoint = Endpoint(asio::local::stream_protocol::endpoint(name));
  Acceptor a(fuzz::context());
  a.open(endpoint.protocol());
  a.bind(endpoint);
  a.listen();
  return a;
}

// One request on a connection of its own: what the registry answered.
asio::awaitable<std::string> ask(const Endpoint& endpoint, std::string request) {
  Socket socket(asio::make_strand(fuzz::context()));
  if (auto [ec] = co_await socket.async_connect(endpoint, use_nothrow); ec) fuzz::fail("connect", ec);
  std::string received;
  co_await fuzz::send_and_collect(std::move(socket), std::move(request), received);
  co_return received;
}

std::string describe(const std::vector<std::string>& list) {
  std::string text;
  for (const auto& entry : list) text += " '" + entry + "'";
  return text.empty() ? " none" : text;
}

std::vector<std::string> listed(const std::string& received) {
  auto answer = fuzz::whole_http_answer(received);
  if (answer.status != 200) fuzz::fail("a GET of the list was answered " + std::to_string(answer.status));
  auto list = detail::read_server_list(fuzz::as_message(answer));
  if (!list) fuzz::fail("read_server_list refused the registry's own answer", list.error());
  return std::move(*list);
}

void check_answer(std::string_view input, const std::string& received, const std::vector<std::string>& before,
                  const std::vector<std::string>& after) {
  using Outcome = fuzz::RequestHead::Outcome;
  const auto head = fuzz::predict_request_head(input, max_head);
  if (head.outcome == Outcome::cut_off) {
    if (!received.empty()) fuzz::fail("answered a head cut off by the end of the stream: " + received.substr(0, 200));
    if (after != before) fuzz::fail("the list changed without a request");
    return;
  }
  const auto answer = fuzz::whole_http_answer(received);
  const auto want = [&](int status) {
    if (answer.status != status)
      fuzz::fail("answered " + std::to_string(answer.status) + " " + answer.reason + " instead of " +
                 std::to_string(status));
  };
  const auto& request = head.message;
  const bool registers = head.outcome == Outcome::complete && request.path() == default_registry_path &&
                         request.method == "POST" && answer.status == 200;
  if (!registers && after != before) fuzz::fail("the list changed:" + describe(before) + " ->" + describe(after));
  switch (head.outcome) {
    case Outcome::bad: return want(400);
    case Outcome::too_large: return want(431);
    case Outcome::cut_off:
    case Outcome::complete: break;
  }
  if (request.path() != default_registry_path) return want(404);
  if (request.method == "GET") return want(200);
  if (request.method != "POST") return want(405);
  const auto* header = request.header(server_header);
  if (!header) return want(400);
  if (answer.status == 400) return;  // a header it refuses; the list is unchanged (checked above)
  want(200);
  auto entry = parse_server_entry(*header);
  if (!entry) fuzz::fail("registered '" + *header + "', which parse_server_entry refuses");
  const auto text = to_string(*entry);
  if (std::find(after.begin(), after.end(), text) == after.end())
    fuzz::fail("registered '" + *header + "' but lists" + describe(after));
  const auto& addr = entry->addr;
  const auto at = addr.find('@');
  if (at == std::string::npos || at == 0 || at + 1 == addr.size() ||
      addr.find_first_of(",; \t\r\n") != std::string::npos)
    fuzz::fail("registered '" + addr + "', which is not an address to dial");
}

asio::awaitable<void> session(Registry& registry, Endpoint endpoint, std::string input) {
  const std::string heartbeat = "POST " + std::string(default_registry_path) + " HTTP/1.1\r\n" +
                                std::string(server_header) + ": " + std::string(known) + "\r\n\r\n";
  if (fuzz::whole_http_answer(co_await ask(endpoint, heartbeat)).status != 200) fuzz::fail("the heartbeat failed");
  const auto before = registry.alive();
  const auto received = co_await ask(endpoint, input);
  const auto after = registry.alive();
  check_answer(input, received, before, after);

  const auto by_header = listed(co_await ask(endpoint, "GET " + std::string(default_registry_path) + " HTTP/1.1\r\n\r\n"));
  const auto by_json =
      listed(co_await ask(endpoint, "GET " + std::string(default_registry_path) + "?format=json HTTP/1.1\r\n\r\n"));
  if (by_header != after) fuzz::fail("the header lists" + describe(by_header) + ", the registry" + describe(after));
  if (by_json != after) fuzz::fail("the JSON lists" + describe(by_json) + ", the registry" + describe(after));
  co_await registry.async_stop(asio::use_awaitable);  // also ends the answered connections' deadlines
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& ctx = fuzz::context();
  {
    RegistryConfig config;
    config.timeout = std::chrono::milliseconds(0);  // no sweeps: nothing expires during an input
    config.http.max_head = max_head;
    Registry registry(ctx.get_executor(), config);
    Endpoint endpoint;
    registry.serve(listener(endpoint));
    fuzz::spawn(ctx.get_executor(), session(registry, endpoint, fuzz::as_string(data, size)));
    fuzz::run();
  }
  fuzz::run();  // whatever the destructor posted
  return 0;
}
