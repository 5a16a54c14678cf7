// Writes the bytes of one request, Foo.Sum {num1: 3, num2: 4} with seq 7, as the protobuf codec
// puts them on the wire (two length-prefixed frames) to stdout, for protoc_decode.py.
#include <asio/local/connect_pair.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/read.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>
#include <iostream>

#include "geerpc/protobuf_codec.hpp"
#include "proto/foo.pb.h"

int main() {
  if (auto err = geerpc::protobuf::add_services(geerpc::SumArgs::descriptor()->file())) {
    std::cerr << err << '\n';
    return 1;
  }
  if (auto err = geerpc::protobuf::register_protobuf_codec()) {
    std::cerr << err << '\n';
    return 1;
  }
  asio::thread_pool pool(1);
  asio::local::stream_protocol::socket a(asio::make_strand(pool)), b(pool);
  asio::local::connect_pair(a, b);
  auto conn = std::make_shared<geerpc::Conn>(geerpc::Socket(std::move(a)));
  auto codec = (*geerpc::find_new_codec_func(geerpc::protobuf::protobuf_type))(conn);
  geerpc::SumArgs args;
  args.set_num1(3);
  args.set_num2(4);
  if (auto ec = codec->write({.service_method = "Foo.Sum", .seq = 7}, args)) {
    std::cerr << "write: " << ec.message() << '\n';
    return 1;
  }
  conn->close_after_flush();
  std::string bytes;
  std::error_code ec;
  asio::read(b, asio::dynamic_buffer(bytes), ec);  // to the end: the codec's side closed
  std::cout.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  pool.join();
  return bytes.empty() ? 1 : 0;
}
