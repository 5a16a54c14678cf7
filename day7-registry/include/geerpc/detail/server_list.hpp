// How RegistryDiscovery reads the registry's answer to a GET, apart from the request, so that tests
// and the fuzzer reach it without a registry.
#pragma once

#include <string>
#include <vector>

#include "geerpc/error.hpp"
#include "geerpc/http.hpp"

namespace geerpc::detail {

// The registry's list: the JSON body {"servers": [...]} when there is a body, else the
// X-Geerpc-Servers header, comma-separated (Go's registry has only the header). errc::bad_http for
// a body that is not that JSON. Never throws.
Result<std::vector<std::string>> read_server_list(const HttpMessage& response);

}  // namespace geerpc::detail
