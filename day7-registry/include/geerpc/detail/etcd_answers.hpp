// How EtcdGateway reads what etcd's JSON gateway sends: plain functions of the bytes, apart from
// the requests, so that tests and the fuzzer reach them without an etcd. None of them throws:
// anything that is not what etcd sends is errc::etcd_error, said in geerpc's words.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "geerpc/error.hpp"
#include "geerpc/http.hpp"
#include "geerpc/registry/etcd.hpp"

namespace geerpc::detail {

// Keys and values travel in base64. A byte outside the alphabet (before any '=') is an error.
std::string etcd_base64(std::string_view bytes);
Result<std::string> etcd_unbase64(std::string_view text);

// The answer to a POST on `path`: its JSON object, or the error etcd says (lease_lost for a lease
// it does not know, etcd_error for any other status).
Result<nlohmann::json> etcd_answer(const std::string& path, const HttpMessage& response);
// A grant's lease ID.
Result<std::int64_t> etcd_lease_id(const std::string& path, const nlohmann::json& answer);
// A range: the store's revision, and the keys and values.
Result<EtcdGateway::Range> etcd_range(const std::string& path, const nlohmann::json& answer);
// The first line of a keep-alive's stream: no error while the lease lives, lease_lost once not.
Error etcd_keep_alive_line(const std::string& path, std::string_view line, std::int64_t lease);
// One line of a watch's stream: its events (none for "created" and progress notes), or the error
// that ends the watch.
Result<std::vector<EtcdGateway::Event>> etcd_watch_line(const std::string& path, std::string_view line);

}  // namespace geerpc::detail
