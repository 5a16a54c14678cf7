// Foo.Sum over the protobuf codec next to MessagePack: one server, one service whose argument and
// reply are protobuf messages, two clients that pick a codec each; the results must agree.
#include <asio/thread_pool.hpp>
#include <iostream>

#include "geerpc/client.hpp"
#include "geerpc/protobuf_codec.hpp"
#include "geerpc/server.hpp"
#include "geerpc/service.hpp"
#include "proto/foo.pb.h"

struct Foo {
  geerpc::Error Sum(const geerpc::SumArgs& args, geerpc::SumReply* reply) {
    reply->set_sum(args.num1() + args.num2());
    return {};
  }
};
GEERPC_SERVICE(Foo, Sum)

int main() {
  // Before any server or client runs: the codec joins the map, the .proto names Foo's types.
  if (auto err = geerpc::protobuf::register_protobuf_codec()) {
    std::cerr << err << '\n';
    return 1;
  }
  if (auto err = geerpc::protobuf::add_services(geerpc::SumArgs::descriptor()->file())) {
    std::cerr << err << '\n';
    return 1;
  }

  asio::thread_pool pool(2);
  geerpc::Server server(pool.get_executor());
  Foo foo;
  if (auto err = server.register_service(foo)) {
    std::cerr << err << '\n';
    return 1;
  }
  auto listener = geerpc::listen(pool.get_executor(), "tcp", "127.0.0.1:0");
  if (!listener) {
    std::cerr << listener.error() << '\n';
    return 1;
  }
  const auto address = geerpc::to_string(listener->local_endpoint());
  server.accept(std::move(*listener));

  int failures = 0;
  for (const auto& type : {geerpc::protobuf::protobuf_type, geerpc::msgpack_type}) {
    auto client = geerpc::dial(pool.get_executor(), "tcp", address, {.codec_type = type});
    if (!client) {
      std::cerr << "dial " << type << ": " << client.error() << '\n';
      return 1;
    }
    for (int i = 0; i < 5; ++i) {
      geerpc::SumArgs args;
      args.set_num1(i);
      args.set_num2(i * i);
      geerpc::SumReply reply;
      if (auto err = (*client)->call("Foo.Sum", args, &reply)) {
        std::cerr << type << ": call Foo.Sum error: " << err << '\n';
        ++failures;
        continue;
      }
      std::cout << type << ": " << args.num1() << " + " << args.num2() << " = " << reply.sum() << '\n';
      if (reply.sum() != i + i * i) ++failures;
    }
    if (auto err = (*client)->close()) std::cerr << type << ": close: " << err << '\n';
  }
  server.stop();
  pool.join();
  return failures == 0 ? 0 : 1;
}
