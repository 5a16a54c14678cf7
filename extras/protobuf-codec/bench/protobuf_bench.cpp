// protobuf against MessagePack on the same server in the same run: sequential Echo calls over one
// connection at 16 B, 1 KiB and 64 KiB. "msgpack, messages" calls the same protobuf-typed method
// as the protobuf client (its body goes through the JSON mapping); "msgpack, string" is the
// framework's own fast path, a std::string Echo, for reference.
//   protobuf_bench [seconds per row, default 1]
#include <asio/thread_pool.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "geerpc/client.hpp"
#include "geerpc/protobuf_codec.hpp"
#include "geerpc/server.hpp"
#include "geerpc/service.hpp"
#include "proto/foo.pb.h"

struct Foo {
  geerpc::Error Echo(const geerpc::EchoArgs& args, geerpc::EchoReply* reply) {
    reply->set_text(args.text());
    return {};
  }
};
GEERPC_SERVICE(Foo, Echo)

struct Text {
  geerpc::Error Echo(const std::string& text, std::string* reply) {
    *reply = text;
    return {};
  }
};
GEERPC_SERVICE(Text, Echo)

namespace {

using Clock = std::chrono::steady_clock;

// Microseconds per call, over as many calls as fit in `seconds`.
template <class Call>
double measure(double seconds, Call call) {
  for (int i = 0; i < 100; ++i) call();  // warm up: allocations, caches, the connection
  long calls = 0;
  const auto start = Clock::now();
  const auto until = start + std::chrono::duration<double>(seconds);
  while (Clock::now() < until) {
    for (int i = 0; i < 50; ++i) call();
    calls += 50;
  }
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count() / static_cast<double>(calls);
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 1.0;
  if (geerpc::protobuf::register_protobuf_codec() ||
      geerpc::protobuf::add_services(geerpc::EchoArgs::descriptor()->file()))
    return 1;
  asio::thread_pool pool(2);
  geerpc::Server server(pool.get_executor());
  Foo foo;
  Text text;
  if (server.register_service(foo) || server.register_service(text)) return 1;
  auto listener = geerpc::listen(pool.get_executor(), "tcp", "127.0.0.1:0");
  if (!listener) return 1;
  const auto address = geerpc::to_string(listener->local_endpoint());
  server.accept(std::move(*listener));
  auto pb = geerpc::dial(pool.get_executor(), "tcp", address, {.codec_type = geerpc::protobuf::protobuf_type});
  auto mp = geerpc::dial(pool.get_executor(), "tcp", address, {.codec_type = geerpc::msgpack_type});
  if (!pb || !mp) return 1;

  std::printf("%-8s %14s %20s %18s %10s\n", "body", "protobuf us", "msgpack messages us", "msgpack string us",
              "pb/msgpack");
  for (const std::size_t size : {std::size_t{16}, std::size_t{1024}, std::size_t{65536}}) {
    geerpc::EchoArgs args;
    args.set_text(std::string(size, 'x'));
    geerpc::EchoReply reply;
    const std::string blob(size, 'x');
    std::string blob_reply;
    bool ok = true;
    const double t_pb = measure(seconds, [&] { ok &= !(*pb)->call("Foo.Echo", args, &reply); });
    const double t_mp = measure(seconds, [&] { ok &= !(*mp)->call("Foo.Echo", args, &reply); });
    const double t_str = measure(seconds, [&] { ok &= !(*mp)->call("Text.Echo", blob, &blob_reply); });
    if (!ok || reply.text().size() != size || blob_reply.size() != size) {
      std::fprintf(stderr, "a call failed at %zu bytes\n", size);
      return 1;
    }
    std::printf("%-8zu %14.1f %20.1f %18.1f %10.2f\n", size, t_pb, t_mp, t_str, t_pb / t_mp);
  }
  if ((*pb)->close() || (*mp)->close()) return 1;
  server.stop();
  pool.join();
}
