// geerpc: calls geerpc servers from a shell, in the spirit of grpcurl.
//   geerpc call tcp@127.0.0.1:7001 Foo.Sum '{"num1":1,"num2":2}'
//   geerpc call --registry http://127.0.0.1:9999/_geerpc_/registry --count 10000 --concurrency 16 Foo.Sum '{...}'
//   geerpc broadcast --etcd http://127.0.0.1:2379 Foo.Sum '{"num1":1,"num2":2}'
//   geerpc list http@127.0.0.1:7001
//   geerpc servers --registry http://127.0.0.1:9999/_geerpc_/registry
#include <iostream>

#include "commands.hpp"
#include "options.hpp"

int main(int argc, char** argv) {
  using namespace geerpc::cli;
  const auto parsed = parse_command_line(argc, argv);
  if (!parsed.options) {
    std::cerr << "geerpc: " << parsed.error << '\n';
    return exit_usage;
  }
  if (parsed.options->help) {
    std::cout << usage(parsed.options->command);
    return exit_ok;
  }
  return run(*parsed.options);
}
