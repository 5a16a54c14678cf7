// The geerpc command's command line: which command, its flags and its positional arguments, taken
// apart and checked before anything is dialled. No network here.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace geerpc::cli {

// Exit codes, one per kind of failure, so that a script can tell them apart.
enum Exit : int {
  exit_ok = 0,
  exit_failure = 1,  // anything not below (a reply that is not what was asked for)
  exit_usage = 2,  // the command line is wrong: unknown command or flag, bad JSON, bad address
  exit_connection = 3,  // no connection: refused, lost, no server found, registry or etcd unreachable
  exit_timeout = 4,  // connecting or the call took longer than --timeout
  exit_server = 5,  // the server answered with an error (unknown method, bad arguments, the method's own)
};

enum class Command { call, broadcast, list, servers, help };

struct Options {
  Command command = Command::help;
  bool help = false;  // --help: the command's usage, nothing else

  std::vector<std::string> addresses;  // "tcp@127.0.0.1:7001", more than one for XClient
  std::string service_method;  // "Foo.Sum"
  std::string args = "{}";  // the JSON text of the argument; "-" reads standard input

  std::string codec = "application/json";
  std::chrono::milliseconds timeout{10'000};  // connecting, and each call
  std::size_t count = 1, concurrency = 1;  // --count N --concurrency C: a load run

  std::string registry;  // the registry's URL
  std::vector<std::string> etcd;  // etcd endpoints
  std::string etcd_prefix = "/geerpc/servers";
  std::string mode = "random";  // the XClient select mode
  std::string key;  // for consistent_hash

  bool json = false;  // list: the debug page's JSON as it came
  bool compact = false;  // call: the reply on one line
};

// The options, or the one line that says what is wrong with the command line.
struct Parsed {
  std::optional<Options> options;
  std::string error;
};
Parsed parse_command_line(int argc, const char* const* argv);

// "1.5s", "250ms", "2m", "1h": Go's duration syntax, without the smaller units. nullopt if not.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// The usage text of a command (of the whole tool for Command::help).
std::string usage(Command command);

}  // namespace geerpc::cli
