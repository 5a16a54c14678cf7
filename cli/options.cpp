#include "options.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>

namespace geerpc::cli {
namespace {

std::optional<std::size_t> parse_count(std::string_view text) {
  std::size_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return n;
}

std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> parts;
  for (std::size_t start = 0;;) {
    const auto end = text.find(separator, start);
    parts.emplace_back(text.substr(start, end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

bool known_protocol(std::string_view address) {
  for (std::string_view protocol : {"tcp@", "unix@", "http@"})
    if (address.starts_with(protocol) && address.size() > protocol.size()) return true;
  return false;
}

// The flags that take a value; the rest (--help, --json, --compact) are switches.
bool takes_value(std::string_view flag) {
  for (std::string_view f :
       {"--codec", "--timeout", "--count", "--concurrency", "--registry", "--etcd", "--etcd-prefix", "--mode", "--key"})
    if (flag == f) return true;
  return false;
}

// Applies one flag; the error text when it is not one, or its value is wrong.
std::string apply_flag(Options& o, std::string_view flag, const std::string& value) {
  if (flag == "--help" || flag == "-h")
    o.help = true;
  else if (flag == "--json")
    o.json = true;
  else if (flag == "--compact")
    o.compact = true;
  else if (flag == "--codec") {
    if (value == "json" || value == "application/json")
      o.codec = "application/json";
    else if (value == "msgpack" || value == "application/msgpack")
      o.codec = "application/msgpack";
    else
      return "--codec must be json or msgpack, not '" + value + "'";
  } else if (flag == "--timeout") {
    auto d = parse_duration(value);
    if (!d) return "--timeout wants a duration such as 2s, 500ms or 1m, not '" + value + "'";
    o.timeout = *d;
  } else if (flag == "--count" || flag == "--concurrency") {
    auto n = parse_count(value);
    const std::size_t most = flag == "--count" ? 10'000'000 : 1000;  // --concurrency: one thread each
    if (!n || *n == 0 || *n > most)
      return std::string(flag) + " wants a whole number from 1 to " + std::to_string(most) + ", not '" + value + "'";
    (flag == "--count" ? o.count : o.concurrency) = *n;
  } else if (flag == "--registry")
    o.registry = value;
  else if (flag == "--etcd")
    o.etcd = split(value, ',');
  else if (flag == "--etcd-prefix")
    o.etcd_prefix = value;
  else if (flag == "--mode") {
    std::string mode = value;
    for (auto& c : mode)
      if (c == '-') c = '_';
    if (mode != "random" && mode != "round_robin" && mode != "weighted_round_robin" && mode != "consistent_hash")
      return "--mode must be random, round_robin, weighted_round_robin or consistent_hash, not '" + value + "'";
    o.mode = mode;
  } else if (flag == "--key")
    o.key = value;
  else
    return "unknown flag " + std::string(flag);
  return {};
}

// Puts the positional arguments where the command wants them.
std::string place_positionals(Options& o, const std::vector<std::string>& positionals) {
  const bool discovered = !o.registry.empty() || !o.etcd.empty();
  std::size_t i = 0;
  const auto next = [&]() -> const std::string* { return i < positionals.size() ? &positionals[i++] : nullptr; };
  switch (o.command) {
    case Command::call:
    case Command::broadcast: {
      if (!discovered) {
        const auto* addresses = next();
        if (!addresses) return "which server? give ADDR, or --registry URL or --etcd URL";
        o.addresses = split(*addresses, ',');
        for (const auto& a : o.addresses)
          if (!known_protocol(a)) return "'" + a + "' is not an address: tcp@HOST:PORT, unix@PATH or http@HOST:PORT";
      }
      const auto* method = next();
      if (!method) return "which method? give Service.Method";
      if (method->find('.') == std::string::npos) return "'" + *method + "' is not Service.Method";
      o.service_method = *method;
      if (const auto* args = next()) o.args = *args;
      break;
    }
    case Command::list: {
      const auto* address = next();
      if (!address) return "which server? give http@HOST:PORT";
      o.addresses = {*address};
      break;
    }
    case Command::servers:
      if (!discovered) return "where? give --registry URL or --etcd URL";
      break;
    case Command::help: break;
  }
  if (i < positionals.size()) return "unexpected argument '" + positionals[i] + "'";
  return {};
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  if (text == "0") return std::chrono::milliseconds(0);
  double total_ms = 0;
  if (text.empty()) return std::nullopt;
  while (!text.empty()) {
    std::size_t digits = 0;
    while (digits < text.size() && (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.'))
      ++digits;
    if (digits == 0) return std::nullopt;
    double value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + digits, value);
    if (ec != std::errc() || end != text.data() + digits) return std::nullopt;
    text.remove_prefix(digits);
    double unit = 0;
    for (auto [name, ms] : {std::pair<std::string_view, double>{"ms", 1}, {"s", 1e3}, {"m", 60e3}, {"h", 3600e3}}) {
      if (text.starts_with(name) && (name != "m" || !text.starts_with("ms"))) {
        unit = ms;
        text.remove_prefix(name.size());
        break;
      }
    }
    if (unit == 0) return std::nullopt;
    total_ms += value * unit;
  }
  if (!std::isfinite(total_ms) || total_ms > 1e12) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(total_ms)));
}

Parsed parse_command_line(int argc, const char* const* argv) {
  Options o;
  if (argc < 2) return {std::nullopt, "no command given; try geerpc --help"};
  const std::string_view command = argv[1];
  if (command == "call")
    o.command = Command::call;
  else if (command == "broadcast")
    o.command = Command::broadcast;
  else if (command == "list")
    o.command = Command::list;
  else if (command == "servers")
    o.command = Command::servers;
  else if (command == "help" || command == "--help" || command == "-h") {
    o.help = true;
    return {o, {}};
  } else
    return {std::nullopt, "unknown command '" + std::string(command) + "'; try geerpc --help"};

  std::vector<std::string> positionals;
  bool flags_done = false;
  for (int i = 2; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--" && !flags_done) {
      flags_done = true;
      continue;
    }
    // "-" is standard input and "-5" a JSON argument, not flags.
    if (flags_done || !arg.starts_with("-") || arg == "-" || std::isdigit(static_cast<unsigned char>(arg[1]))) {
      positionals.emplace_back(arg);
      continue;
    }
    std::string_view flag = arg;
    std::string value;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      flag = arg.substr(0, eq);
      value = std::string(arg.substr(eq + 1));
    } else if (takes_value(flag)) {
      if (i + 1 >= argc) return {std::nullopt, std::string(flag) + " wants a value"};
      value = argv[++i];
    }
    if (auto error = apply_flag(o, flag, value); !error.empty()) return {std::nullopt, error};
  }
  if (o.help) return {o, {}};
  if (!o.registry.empty() && !o.etcd.empty()) return {std::nullopt, "give --registry or --etcd, not both"};
  if (auto error = place_positionals(o, positionals); !error.empty()) return {std::nullopt, error};
  if (o.concurrency > o.count) o.concurrency = o.count;
  return {o, {}};
}

std::string usage(Command command) {
  switch (command) {
    case Command::call:
      return R"(usage: geerpc call [flags] ADDR Service.Method [ARGS]
       geerpc call [flags] --registry URL | --etcd URL Service.Method [ARGS]

Calls one method and prints its reply as JSON. ARGS is the argument as JSON ({} when left out);
- reads it from standard input. ADDR is tcp@HOST:PORT, unix@PATH or http@HOST:PORT; several,
separated by commas, are load-balanced as with --registry.

  --codec json|msgpack     the codec of the connection (json)
  --timeout D              for connecting and for each call: 500ms, 2s, 1m (10s; 0 for none)
  --count N                make N calls and print a latency summary instead of the reply
  --concurrency C          with --count: C calls in flight at once (at most 1000), on one
                           connection per server
  --registry URL           find the servers at a geerpc registry (http://HOST:PORT/_geerpc_/registry)
  --etcd URL[,URL]         find the servers in etcd (http://HOST:2379)
  --etcd-prefix P          where in etcd (/geerpc/servers)
  --mode M                 random, round_robin, weighted_round_robin or consistent_hash (random)
  --key K                  the key consistent_hash routes by
  --compact                the reply on one line
)";
    case Command::broadcast:
      return R"(usage: geerpc broadcast [flags] ADDR[,ADDR...] Service.Method [ARGS]
       geerpc broadcast [flags] --registry URL | --etcd URL Service.Method [ARGS]

Calls the method on every server at once and prints one reply; the first error fails the whole.

  --codec json|msgpack     the codec of the connections (json)
  --timeout D              for connecting and for the broadcast (10s; 0 for none)
  --registry URL           find the servers at a geerpc registry
  --etcd URL[,URL]         find the servers in etcd
  --etcd-prefix P          where in etcd (/geerpc/servers)
  --compact                the reply on one line
)";
    case Command::list:
      return R"(usage: geerpc list [flags] http@HOST:PORT

Lists the services of a server that serves HTTP, their methods, signatures and call counts (its
debug page, /debug/geerpc?format=json).

  --json                   the page's JSON as it came
  --timeout D              for the whole request (10s)
)";
    case Command::servers:
      return R"(usage: geerpc servers --registry URL | --etcd URL[,URL] [flags]

Prints the live servers, one per line, as a client would find them.

  --etcd-prefix P          where in etcd (/geerpc/servers)
  --timeout D              for the whole request (10s)
)";
    case Command::help: break;
  }
  return R"(usage: geerpc COMMAND [flags] [arguments]

Calls geerpc servers from a shell.

  call       call a method and print its reply, or time many calls (--count)
  broadcast  call a method on every server
  list       list a server's services and methods
  servers    list the servers a registry or etcd knows

geerpc COMMAND --help says more about each. Exit codes: 0 success, 1 other failure, 2 usage,
3 connection, 4 timeout, 5 the server answered with an error.
)";
}

}  // namespace geerpc::cli
