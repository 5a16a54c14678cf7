// The whole server path: a Server serves one connection whose bytes are the input (Option line,
// then frames), the peer half-closes, and the server must finish with the connection on its own.
// What comes back is checked against net/rpc's contract (fuzz::check_rpc_exchange).
#include "fuzz_util.hpp"
#include "geerpc/server.hpp"

using namespace geerpc;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input = fuzz::as_string(data, size);
  std::string received;
  auto& ctx = fuzz::context();
  {
    Server server(ctx.get_executor(), {.max_frame_size = fuzz::max_frame_size});
    fuzz::register_services(server);
    auto [client, served] = fuzz::socket_pair();
    server.serve_conn(std::move(served));
    fuzz::spawn(client.get_executor(), fuzz::send_and_collect(std::move(client), input, received));
    // Returns once the connection is over on both ends: a server that never lets go is a timeout.
    fuzz::run();
    // Nothing is in flight any more, so stopping must not wait for stop_timeout.
    fuzz::spawn(ctx.get_executor(), server.async_stop(asio::use_awaitable));
    fuzz::run();
  }
  fuzz::run();  // whatever the destructor posted
  fuzz::check_rpc_exchange(input, received);
  return 0;
}
