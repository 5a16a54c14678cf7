// Day 5 on: a Server with handle_http() serves one connection whose bytes are the input (an HTTP
// request, or an Option line, then whatever follows), the peer half-closes, and the server must
// let go of the connection on its own. The answer is predicted from the input the way
// read_request_head reads a head (fuzz::predict_request_head), and must be that answer,
// written whole: 400 for a head that is not HTTP, 431 for one too large, nothing for one cut off
// by the end of the stream, 405/404 for the wrong method or path, the debug page for GET on its
// path. After "200 Connected to Gee RPC" the connection is the RPC protocol's, read-ahead and all:
// the bytes after the head must be served exactly as fuzz_request serves a connection.
#include <nlohmann/json.hpp>

#include "fuzz_http.hpp"
#include "geerpc/server.hpp"

using namespace geerpc;

namespace {

// Small, so that short inputs reach the 431 answer; a head's lines count against it one by one.
constexpr std::size_t max_head = 1024;

enum class Answer { rpc, none, bad_request, too_large, connected, wrong_method, debug_html, debug_json, not_found };

struct Prediction {
  Answer answer = Answer::none;
  std::size_t head_end = 0;  // where the RPC protocol starts, after CONNECT
};

Prediction predict(std::string_view input) {
  if (input.empty()) return {Answer::none};
  if (input.front() == '{') return {Answer::rpc};
  using Outcome = fuzz::RequestHead::Outcome;
  const auto head = fuzz::predict_request_head(input, max_head);
  switch (head.outcome) {
    case Outcome::cut_off: return {Answer::none};
    case Outcome::bad: return {Answer::bad_request};
    case Outcome::too_large: return {Answer::too_large};
    case Outcome::complete: break;
  }
  const auto& request = head.message;
  if (request.path() == default_rpc_path)
    return {request.method == "CONNECT" ? Answer::connected : Answer::wrong_method, head.end};
  if (request.path() == default_debug_path) {
    if (request.method != "GET") return {Answer::wrong_method};
    return {request.has_parameter("format=json") ? Answer::debug_json : Answer::debug_html};
  }
  return {Answer::not_found};
}

void check_answer(Answer expected, const fuzz::HttpAnswer& answer) {
  const auto want = [&](int status) {
    if (answer.status != status)
      fuzz::fail("answered " + std::to_string(answer.status) + " " + answer.reason + " instead of " +
                 std::to_string(status));
  };
  switch (expected) {
    case Answer::bad_request: want(400); break;
    case Answer::too_large: want(431); break;
    case Answer::wrong_method: want(405); break;
    case Answer::not_found: want(404); break;
    case Answer::debug_html:
      want(200);
      if (answer.body.find("<title>GeeRPC Services</title>") == std::string::npos) fuzz::fail("not the debug page");
      break;
    case Answer::debug_json: {
      want(200);
      const auto page = nlohmann::json::parse(answer.body, nullptr, false);
      if (!page.is_object() || !page.contains("services")) fuzz::fail("not the debug page's JSON: " + answer.body);
      break;
    }
    default: fuzz::fail("an answer where none was due");
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input = fuzz::as_string(data, size);
  std::string received;
  auto& ctx = fuzz::context();
  {
    ServerConfig config;
    config.max_frame_size = fuzz::max_frame_size;
    config.http.max_head = max_head;
    Server server(ctx.get_executor(), config);
    fuzz::register_services(server);
    server.handle_http();
    auto [client, served] = fuzz::socket_pair();
    server.serve_conn(std::move(served));
    fuzz::spawn(client.get_executor(), fuzz::send_and_collect(std::move(client), input, received));
    // Returns once the connection is over on both ends: a server that never lets go is a timeout
    // (the head's own deadline is far beyond libFuzzer's -timeout).
    fuzz::run();
    fuzz::spawn(ctx.get_executor(), server.async_stop(asio::use_awaitable));
    fuzz::run();
  }
  fuzz::run();  // whatever the destructor posted

  const auto prediction = predict(input);
  switch (prediction.answer) {
    case Answer::rpc: fuzz::check_rpc_exchange(input, received); break;
    case Answer::none:
      if (!received.empty()) fuzz::fail("answered a head cut off by the end of the stream: " + received.substr(0, 200));
      break;
    case Answer::connected: {
      constexpr std::string_view connected = "HTTP/1.0 200 Connected to Gee RPC\r\n\r\n";
      if (!received.starts_with(connected)) fuzz::fail("CONNECT was answered " + received.substr(0, 200));
      fuzz::check_rpc_exchange(std::string_view(input).substr(prediction.head_end),
                               std::string_view(received).substr(connected.size()));
      break;
    }
    default: check_answer(prediction.answer, fuzz::whole_http_answer(received));
  }
  return 0;
}
