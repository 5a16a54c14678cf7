// What EtcdGateway makes of answers that are not what etcd sends (detail/etcd_answers.hpp): no etcd
// needed, so these run with the ordinary tests.
#include "geerpc/detail/etcd_answers.hpp"

#include "test_util.hpp"

namespace geerpc::test {
namespace {

using nlohmann::json;

HttpMessage answer(int status, std::string reason, std::string body) {
  HttpMessage message;
  message.status = status;
  message.reason = std::move(reason);
  message.body = std::move(body);
  return message;
}

// The message says what was wrong in geerpc's words; nlohmann's own ("[json.exception...") says
// nothing to whoever reads the log.
void expect_not_etcd(const Error& error, const std::string& path, const std::string& why) {
  EXPECT_EQ(error, errc::etcd_error);
  EXPECT_EQ(error.message(), "rpc etcd: the answer to " + path + " is not what etcd sends (" + why + ")");
}

TEST(EtcdAnswers, WhatIsNotEtcdsAnswerIsSaidInGeerpcsWords) {
  const std::string range = "/v3/kv/range";
  expect_not_etcd(detail::etcd_answer(range, answer(200, "OK", "{oops")).error(), range, "not JSON");
  expect_not_etcd(detail::etcd_answer(range, answer(200, "OK", "[1]")).error(), range, "not a JSON object");
  expect_not_etcd(detail::etcd_range(range, json::object()).error(), range, "the answer has no 'header'");
  expect_not_etcd(detail::etcd_range(range, {{"header", {{"revision", true}}}}).error(), range,
                  "'revision' is not an integer");
  expect_not_etcd(detail::etcd_range(range, {{"header", {{"revision", "3"}}}, {"kvs", {{{"key", "*"}}}}}).error(),
                  range, "'key' is not base64");
  expect_not_etcd(detail::etcd_range(range, {{"header", {{"revision", "3"}}}, {"kvs", 5}}).error(), range,
                  "'kvs' is not a list");
  const std::string grant = "/v3/lease/grant";
  expect_not_etcd(detail::etcd_lease_id(grant, {{"TTL", "10"}}).error(), grant, "the answer has no 'ID'");
  const std::string keep_alive = "/v3/lease/keepalive";
  expect_not_etcd(detail::etcd_keep_alive_line(keep_alive, "{\"result\":{\"TTL\":[1]}}", 7), keep_alive,
                  "'TTL' is not an integer");
  const std::string watch = "/v3/watch";
  expect_not_etcd(detail::etcd_watch_line(watch, "{\"result\":{\"canceled\":\"yes\"}}").error(), watch,
                  "'canceled' is not a boolean");
  expect_not_etcd(detail::etcd_watch_line(watch, "{\"result\":{\"events\":[{\"type\":1,\"kv\":{}}]}}").error(), watch,
                  "'type' is not a string");
  expect_not_etcd(detail::etcd_watch_line(watch, "not json").error(), watch, "not JSON");
}

TEST(EtcdAnswers, ALeaseIdThatIsNotPositiveIsRefused) {
  const std::string grant = "/v3/lease/grant";
  expect_not_etcd(detail::etcd_lease_id(grant, {{"ID", "0"}}).error(), grant, "'ID' 0 is not a lease");
  expect_not_etcd(detail::etcd_lease_id(grant, {{"ID", -5}}).error(), grant, "'ID' -5 is not a lease");
}

TEST(EtcdAnswers, ARevisionWithNoNextOneIsRefused) {
  const std::string range = "/v3/kv/range";
  const nlohmann::json last = {{"header", {{"revision", "9223372036854775807"}}}};
  expect_not_etcd(detail::etcd_range(range, last).error(), range,
                  "'revision' 9223372036854775807 is not a store's revision");
  const nlohmann::json negative = {{"header", {{"revision", "-1"}}}};
  expect_not_etcd(detail::etcd_range(range, negative).error(), range, "'revision' -1 is not a store's revision");
}

TEST(EtcdAnswers, AnErrorStatusWithABodyThatIsNotJsonStillGivesTheStatus) {
  auto error = detail::etcd_answer("/v3/kv/put", answer(502, "Bad Gateway", "<html>proxy</html>")).error();
  EXPECT_EQ(error, errc::etcd_error);
  EXPECT_EQ(error.message(), "rpc etcd: /v3/kv/put answered 502: Bad Gateway");
}

TEST(EtcdAnswers, EtcdsOwnAnswersAreRead) {
  EXPECT_EQ(*detail::etcd_lease_id("/v3/lease/grant", {{"ID", "7587869474342256906"}, {"TTL", "10"}}),
            7587869474342256906);
  auto range = detail::etcd_range(
      "/v3/kv/range",
      {{"header", {{"revision", "12"}}},
       {"kvs", {{{"key", detail::etcd_base64("/geerpc/servers/a")}, {"value", detail::etcd_base64("tcp@a:1")}}}}});
  ASSERT_TRUE(range) << range.error();
  EXPECT_EQ(range->revision, 12);
  ASSERT_EQ(range->kvs.size(), 1u);
  EXPECT_EQ(range->kvs[0].key, "/geerpc/servers/a");
  EXPECT_EQ(range->kvs[0].value, "tcp@a:1");
  auto events = detail::etcd_watch_line(
      "/v3/watch",
      json{{"result", {{"events", {{{"type", "DELETE"}, {"kv", {{"key", detail::etcd_base64("k")}}}}}}}}}.dump());
  ASSERT_TRUE(events) << events.error();
  ASSERT_EQ(events->size(), 1u);
  EXPECT_TRUE((*events)[0].deleted);
  EXPECT_EQ((*events)[0].kv.key, "k");
  EXPECT_FALSE(detail::etcd_keep_alive_line("/v3/lease/keepalive", R"({"result":{"ID":"1","TTL":"10"}})", 1));
  EXPECT_EQ(detail::etcd_keep_alive_line("/v3/lease/keepalive", R"({"result":{"ID":"1"}})", 1), errc::lease_lost);
  EXPECT_EQ(detail::etcd_answer("/v3/lease/keepalive",
                                answer(404, "Not Found", R"({"error":"etcdserver: requested lease not found"})"))
                .error(),
            errc::lease_lost);
}

}  // namespace
}  // namespace geerpc::test
