// Go's debug.go: a page that lists the server's services, their methods and how often each was
// called, as HTML for a browser and as JSON for tools.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace geerpc {

// A read-only snapshot of one service, taken from the server (Server::services()).
struct MethodInfo {
  std::string name;  // "Sum"
  std::string signature;  // "Sum(Args, int*) -> error"
  std::string arg_type, reply_type;  // "Args", "int"
  std::uint64_t calls = 0;
};
struct ServiceInfo {
  std::string name;  // "Foo"
  std::vector<MethodInfo> methods;  // sorted by name
};

// The page: titled "GeeRPC Services", one table per service, every name HTML-escaped.
std::string debug_html(const std::vector<ServiceInfo>& services);

// The same as {"services":[{"name":..., "methods":[{"name", "signature", "arg_type",
// "reply_type", "calls"}]}]}.
std::string debug_json(const std::vector<ServiceInfo>& services);

}  // namespace geerpc
