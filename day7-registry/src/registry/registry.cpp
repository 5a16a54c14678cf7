#include "geerpc/registry/registry.hpp"

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_future.hpp>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "geerpc/detail/executor.hpp"
#include "geerpc/log.hpp"
#include "geerpc/xclient/discovery.hpp"

namespace geerpc {

struct Registry::State {
  State(const asio::any_io_executor& ex, RegistryConfig cfg)
      : executor(ex), strand(asio::make_strand(ex)), config(std::move(cfg)), sweeper(strand) {}

  const asio::any_io_executor executor;
  const asio::strand<asio::any_io_executor> strand;  // accept loops, their closing, and the sweep
  const RegistryConfig config;
  asio::steady_timer sweeper;  // on the strand

  struct Entry {
    std::string text;  // as the heartbeat gave it: "tcp@127.0.0.1:7001;weight=2"
    std::chrono::steady_clock::time_point last;
  };
  std::mutex mutex;  // guards the six below
  std::map<std::string, Entry, std::less<>> servers;  // by address: GET lists them sorted
  Registry::Counts counts;
  std::vector<std::shared_ptr<Acceptor>> listeners;
  std::set<std::shared_ptr<Conn>> conns;
  std::set<std::shared_ptr<asio::steady_timer>> answer_deadlines;  // see start_request
  bool stopping = false;
};

namespace {

using State = Registry::State;
using Clock = std::chrono::steady_clock;

bool expired(const State& state, const State::Entry& entry, Clock::time_point now) {
  return state.config.timeout.count() > 0 && now - entry.last >= state.config.timeout;
}

std::vector<std::string> alive(State& state) {
  const auto now = state.config.clock();
  std::vector<std::string> list;
  std::lock_guard lock(state.mutex);
  for (const auto& [addr, entry] : state.servers)
    if (!expired(state, entry, now)) list.push_back(entry.text);
  return list;
}

const char* const text_plain = "text/plain; charset=utf-8";

// What a POST may register: an address as x_dial takes it ("tcp@host:port", "http@host:port",
// "unix@/path"), of printable ASCII with no separator the list uses (',' ';') and no space.
Result<std::string> checked_entry(std::string_view text) {
  auto entry = parse_server_entry(text);
  if (!entry) return Error(errc::bad_address, "rpc registry: " + entry.error().message());
  const auto& addr = entry->addr;
  const auto at = addr.find('@');
  const bool printable =
      std::all_of(addr.begin(), addr.end(), [](char c) { return c > ' ' && c < 0x7f && c != ',' && c != ';'; });
  if (!printable || at == std::string::npos || at == 0 || at + 1 == addr.size())
    return Error(errc::bad_address, "rpc registry: '" + addr + "' is not an address to dial (protocol@addr)");
  return to_string(*entry);
}

// Go's ServeHTTP of GeeRegistry, for one request.
std::string answer(State& state, const HttpMessage& request) {
  if (request.path() != default_registry_path)
    return http_response(404, "Not Found", text_plain, "404 page not found\n");
  if (request.method == "POST") {
    const auto* header = request.header(server_header);
    if (!header) return http_response(400, "Bad Request", text_plain, "rpc registry: missing header X-Geerpc-Server\n");
    auto entry = checked_entry(*header);
    if (!entry) return http_response(400, "Bad Request", text_plain, entry.error().message() + "\n");
    const auto addr = entry->substr(0, entry->find(';'));
    const auto now = state.config.clock();
    std::lock_guard lock(state.mutex);
    state.servers[addr] = {std::move(*entry), now};
    ++state.counts.heartbeats;
    return http_response(200, "OK", text_plain, "");
  }
  if (request.method == "GET") {
    const auto list = alive(state);
    {
      std::lock_guard lock(state.mutex);
      ++state.counts.lists;
    }
    // The JSON answer leaves the header out: a long list is why a client asks for JSON.
    if (request.has_parameter("format=json"))
      return http_response(200, "OK", "application/json", nlohmann::json{{"servers", list}}.dump() + "\n");
    std::string joined;
    for (const auto& text : list) joined.append(joined.empty() ? "" : ",").append(text);
    return http_response(200, "OK", text_plain, "", {{std::string(servers_header), joined}});
  }
  return http_response(405, "Method Not Allowed", text_plain, "405 method not allowed\n");
}

asio::awaitable<void> serve_request(std::shared_ptr<State> state, std::shared_ptr<Conn> conn) {
  auto request = co_await read_request_head(conn, state->config.http);
  if (request) {
    conn->send(answer(*state, *request));
  } else if (request.error() == errc::bad_http) {
    conn->send(http_response(400, "Bad Request", text_plain, "400 bad request\n"));
  } else if (request.error() == errc::http_too_large) {
    conn->send(http_response(431, "Request Header Fields Too Large", text_plain, "431 request head too large\n"));
  }
}

void start_request(const std::shared_ptr<State>& state, Socket socket) {
  auto conn = std::make_shared<Conn>(std::move(socket));
  {
    std::lock_guard lock(state->mutex);
    if (state->stopping) {
      conn->close();
      return;
    }
    state->conns.insert(conn);
  }
  asio::co_spawn(conn->get_executor(), serve_request(state, conn), [state, conn](const std::exception_ptr&) {
    conn->close_after_flush();  // every answer says Connection: close
    // A client that does not read its answer gets head_timeout to do so, then it is closed. The
    // timer holds the connection weakly: one that has flushed and closed is gone already.
    auto deadline = std::make_shared<asio::steady_timer>(conn->get_executor(), state->config.http.head_timeout);
    std::lock_guard lock(state->mutex);
    state->conns.erase(conn);
    if (state->stopping) return;
    state->answer_deadlines.insert(deadline);
    deadline->async_wait([state, deadline, weak = std::weak_ptr<Conn>(conn)](std::error_code) {
      if (auto open = weak.lock()) open->close();
      std::lock_guard lock(state->mutex);
      state->answer_deadlines.erase(deadline);
    });
  });
}

asio::awaitable<void> accept_loop(std::shared_ptr<State> state, std::shared_ptr<Acceptor> acceptor) {
  for (;;) {
    auto [ec, socket] = co_await acceptor->async_accept(make_conn_strand(state->executor), use_nothrow);
    if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
    if (ec) {
      log("rpc registry: accept error: " + ec.message());
      asio::steady_timer pause(state->strand, std::chrono::milliseconds(50));  // out of descriptors, say
      co_await pause.async_wait(use_nothrow);
      continue;
    }
    start_request(state, std::move(socket));
  }
}

// Expired servers are dropped here, not only left out of a GET's answer as in Go.
asio::awaitable<void> sweep(std::shared_ptr<State> state) {
  const auto every = std::max<Clock::duration>(state->config.timeout / 4, std::chrono::milliseconds(10));
  for (;;) {
    state->sweeper.expires_after(every);
    if (auto [ec] = co_await state->sweeper.async_wait(use_nothrow); ec) co_return;  // stopped
    const auto now = state->config.clock();
    std::lock_guard lock(state->mutex);
    if (state->stopping) co_return;  // a stop that came as this wait ended
    std::erase_if(state->servers, [&](const auto& server) { return expired(*state, server.second, now); });
  }
}

// On the strand.
void close_everything(State& state) {
  std::vector<std::shared_ptr<Acceptor>> listeners;
  std::vector<std::shared_ptr<Conn>> conns;
  std::set<std::shared_ptr<asio::steady_timer>> deadlines;
  {
    std::lock_guard lock(state.mutex);
    state.stopping = true;
    listeners.swap(state.listeners);
    conns.assign(state.conns.begin(), state.conns.end());
    deadlines.swap(state.answer_deadlines);
  }
  for (auto& deadline : deadlines)  // each is its connection's, on that strand
    asio::post(deadline->get_executor(), [deadline] { deadline->cancel(); });
  std::error_code ignored;
  for (auto& listener : listeners) listener->close(ignored);
  state.sweeper.cancel();
  for (auto& conn : conns) conn->close();
}

asio::awaitable<void> stop_on_strand(std::shared_ptr<State> state) {
  close_everything(*state);
  co_return;
}

}  // namespace

Registry::Registry(const asio::any_io_executor& executor, RegistryConfig config)
    : state_(std::make_shared<State>(executor, std::move(config))) {
  if (state_->config.timeout.count() > 0) asio::co_spawn(state_->strand, sweep(state_), asio::detached);
}

Registry::~Registry() {
  asio::post(state_->strand, [state = state_] { close_everything(*state); });
}

void Registry::serve(Acceptor listener) {
  auto shared = std::make_shared<Acceptor>(std::move(listener));
  {
    std::lock_guard lock(state_->mutex);
    if (state_->stopping) return;
    state_->listeners.push_back(shared);
  }
  asio::co_spawn(state_->strand, accept_loop(state_, shared), asio::detached);
}

std::vector<std::string> Registry::alive() {
  return geerpc::alive(*state_);
}

std::size_t Registry::size() {
  std::lock_guard lock(state_->mutex);
  return state_->servers.size();
}

Registry::Counts Registry::counts() {
  std::lock_guard lock(state_->mutex);
  return state_->counts;
}

asio::any_io_executor Registry::executor() const {
  return state_->strand;
}

asio::awaitable<void> Registry::stop_coroutine() {
  return stop_on_strand(state_);
}

void Registry::stop() {
  async_stop(asio::use_future).get();
}

}  // namespace geerpc
