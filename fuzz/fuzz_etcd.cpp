// Day 7: what etcd's JSON gateway sends, as EtcdGateway reads it (detail/etcd_answers.hpp): the
// input's first byte picks the status of an answer whose body is the rest, and the rest is also
// one line of a keep-alive's and of a watch's stream. Each reading gives a value or errc::etcd_error
// (lease_lost where etcd says so), said in geerpc's words, never an exception. What it accepts
// must be usable as the callers use it: a lease ID names a lease (etcd's are positive; 0 would
// put the key with no lease at all), a range's revision has a next one to watch from.
#include <string_view>

#include "fuzz_util.hpp"
#include "geerpc/detail/etcd_answers.hpp"

using namespace geerpc;

namespace {

// An error of EtcdGateway's: etcd_error, or lease_lost when `lease_lost_allowed`, and its message
// in geerpc's words (a library's exception text says nothing to whoever reads the log).
void check_error(const Error& error, bool lease_lost_allowed, std::string_view what) {
  if (error != errc::etcd_error && !(lease_lost_allowed && error == errc::lease_lost))
    fuzz::fail(std::string(what), error);
  const auto message = error.message();
  if (!message.starts_with("rpc etcd: ")) fuzz::fail(std::string(what) + " says " + message);
  // nlohmann's exceptions all start their text so. Only the reasons geerpc gives are checked: the
  // other messages quote the peer's own error text, which may say anything.
  if (message.find(" is not what etcd sends (") != std::string::npos &&
      message.find("[json.exception") != std::string::npos)
    fuzz::fail(std::string(what) + " speaks nlohmann's words: " + message);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  constexpr int statuses[] = {200, 404, 400, 500, 204, 301};
  const std::string rest = fuzz::as_string(data + 1, size - 1);
  const std::string grant = "/v3/lease/grant", range_path = "/v3/kv/range", keep_alive = "/v3/lease/keepalive",
                    watch = "/v3/watch";

  HttpMessage response;
  response.status = statuses[data[0] % std::size(statuses)];
  response.reason = "Reason";
  response.body = rest;
  auto answer = detail::etcd_answer(range_path, response);
  if (!answer) {
    check_error(answer.error(), response.status == 404, "etcd_answer");
  } else {
    if (response.status < 200 || response.status > 299) fuzz::fail("etcd_answer took an error status for an answer");
    if (!answer->is_object()) fuzz::fail("etcd_answer took something else than an object");
    if (auto lease = detail::etcd_lease_id(grant, *answer); !lease)
      check_error(lease.error(), false, "etcd_lease_id");
    else if (*lease <= 0)
      fuzz::fail("etcd_lease_id accepted lease " + std::to_string(*lease));
    if (auto range = detail::etcd_range(range_path, *answer); !range) {
      check_error(range.error(), false, "etcd_range");
    } else {
      [[maybe_unused]] volatile std::int64_t watch_from = range->revision + 1;  // as EtcdDiscovery goes on
    }
  }

  if (auto error = detail::etcd_keep_alive_line(keep_alive, rest, 7)) check_error(error, true, "etcd_keep_alive_line");
  if (auto events = detail::etcd_watch_line(watch, rest); !events) check_error(events.error(), false, "etcd_watch_line");

  if (auto back = detail::etcd_unbase64(detail::etcd_base64(rest)); !back || *back != rest)
    fuzz::fail("base64 does not round-trip");
  if (auto bytes = detail::etcd_unbase64(rest); !bytes) check_error(bytes.error(), false, "etcd_unbase64");
  return 0;
}
