#include <cstdint>
#include <latch>
#include <limits>
#include <map>
#include <semaphore>
#include <stdexcept>
#include <thread>

#include "geerpc/sync.hpp"
#include "test_util.hpp"

namespace geerpc::test {
namespace {

TEST(Service, NewServiceFromFooHasSumWithItsArgumentAndReplyTypes) {
  Foo foo;
  auto svc = new_service(foo);
  EXPECT_EQ(svc->name, "Foo");
  ASSERT_TRUE(svc->method.contains("Sum"));
  const MethodType& sum = *svc->method.at("Sum");
  EXPECT_EQ(sum.arg_type, "geerpc::test::Args");
  EXPECT_EQ(sum.reply_type, "int");
  EXPECT_EQ(sum.signature(), "Sum(geerpc::test::Args, int*) -> error");
  EXPECT_FALSE(sum.is_coroutine);
  EXPECT_EQ(svc->method.at("Echo")->arg_type, "std::string");
}

TEST(Service, AJsonValueArgumentIsNamedNlohmannJsonAsItIsWritten) {
  EXPECT_EQ(type_name<Body>(), "nlohmann::json");
  EXPECT_EQ((type_name<std::map<std::string, Body>>()), "std::map<std::string, nlohmann::json>");
}

// Foo.Sum's argument decoded from `body`: the error's words, empty when it decodes.
std::string sum_argument_error(Body body) {
  Foo foo;
  auto svc = new_service(foo);
  const MethodType& sum = *svc->method.at("Sum");
  auto argv = sum.new_argv();
  auto error = sum.decode_argv(std::move(body), argv.get());
  return error ? error.message() : "";
}

TEST(ArgCheck, AFractionForAWholeNumberFieldIsRefusedNotTruncated) {
  EXPECT_EQ(sum_argument_error(Body{{"num1", 1.5}, {"num2", 1}}),
            "geerpc::test::Args: field 'num1': expected a whole number, got 1.5");
}

TEST(ArgCheck, ABooleanForANumberIsRefused) {
  EXPECT_EQ(sum_argument_error(Body{{"num1", 1}, {"num2", true}}),
            "geerpc::test::Args: field 'num2': expected a whole number, got true");
}

TEST(ArgCheck, AWholeNumberBeyondItsFieldsRangeIsRefused) {
  EXPECT_EQ(sum_argument_error(Body{{"num1", std::int64_t{1} << 40}, {"num2", 1}}),
            "geerpc::test::Args: field 'num1': 1099511627776 is out of range (-2147483648 to 2147483647)");
  EXPECT_EQ(sum_argument_error(Body{{"num1", 1e30}, {"num2", 1}}),
            "geerpc::test::Args: field 'num1': expected a whole number, got 1e+30");
  EXPECT_EQ(sum_argument_error(Body{{"num1", -2147483648}, {"num2", 2147483647}}), "");
}

struct Widths {
  std::int8_t a = 0;
  std::uint16_t b = 0;
  std::uint64_t c = 0;
  std::int64_t d = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Widths, a, b, c, d)

TEST(ArgCheck, EachWholeNumberFieldGetsTheRangeOfItsOwnType) {
  EXPECT_EQ(detail::arg_shape<Widths>(), (Body{{"a", -128},
                                               {"b", 65535u},
                                               {"c", std::numeric_limits<std::uint64_t>::max()},
                                               {"d", std::numeric_limits<std::int64_t>::min()}}));
  EXPECT_EQ(detail::check_numbers(detail::arg_shape<Widths>(), Body{{"b", -1}}),
            "field 'b': -1 is out of range (0 to 65535)");
}

struct WithDefault {
  int x = 0, y = 7;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(WithDefault, x, y)

TEST(ArgCheck, AMissingFieldIsLeftToTheTypeWhichMayHaveADefaultForIt) {
  EXPECT_EQ(detail::check_numbers(detail::arg_shape<WithDefault>(), Body{{"x", 1}}), "");
}

TEST(Service, CallingSumThroughTheMethodTableGivesTheSumAndCountsTheCall) {
  Foo foo;
  auto svc = new_service(foo);
  const MethodType& sum = *svc->method.at("Sum");
  auto argv = sum.new_argv();
  ASSERT_FALSE(sum.decode_argv(Body{{"num1", 1}, {"num2", 3}}, argv.get()));
  auto replyv = sum.new_replyv();
  asio::thread_pool pool(1);
  auto error = run(pool.get_executor(), svc->call(sum, argv, replyv));
  pool.join();
  EXPECT_FALSE(error) << error.message();
  EXPECT_EQ(*static_cast<int*>(replyv.get()), 4);
  EXPECT_EQ(sum.num_calls(), 1u);
  EXPECT_EQ(sum.encode_replyv(replyv.get()), Body(4));
}

struct Lists {
  Error Names(int, std::vector<std::string>* reply) { return reply->empty() ? Error() : Error("not empty"); }
  Error Counts(int, std::map<std::string, int>* reply) { return reply->empty() ? Error() : Error("not empty"); }
};
GEERPC_SERVICE(Lists, Names, Counts)

TEST(Service, NewReplyvStartsMapsAndVectorsEmpty) {
  Lists lists;
  auto svc = new_service(lists);
  // An empty container encodes as [] or {}, never as null: the caller can decode it as is.
  const auto& names = *svc->method.at("Names");
  EXPECT_EQ(names.encode_replyv(names.new_replyv().get()), Body::array());
  const auto& counts = *svc->method.at("Counts");
  EXPECT_EQ(counts.encode_replyv(counts.new_replyv().get()), Body::object());
}

TEST(Service, ArgumentsOfTheWrongShapeAreReportedByDecodeArgv) {
  Foo foo;
  auto svc = new_service(foo);
  const MethodType& sum = *svc->method.at("Sum");
  auto argv = sum.new_argv();
  EXPECT_EQ(sum.decode_argv("not an object", argv.get()), errc::bad_body);
}

TEST(ServerRegistry, RegisteringTheSameNameTwiceIsAnError) {
  asio::thread_pool pool(1);
  Server server(pool.get_executor());
  Foo foo;
  EXPECT_FALSE(server.register_service(foo));
  EXPECT_EQ(server.register_service(foo), errc::duplicate_service);
}

TEST(ServerRegistry, FindServiceTellsIllFormedUnknownServiceAndUnknownMethodApart) {
  asio::thread_pool pool(1);
  Server server(pool.get_executor());
  Foo foo;
  ASSERT_FALSE(server.register_service(foo));
  EXPECT_EQ(server.find_service("NoDot").error, errc::ill_formed_method);
  EXPECT_EQ(server.find_service("Bar.Sum").error, errc::unknown_service);
  EXPECT_EQ(server.find_service("Foo.Product").error, errc::unknown_method);
  auto found = server.find_service("Foo.Sum");
  ASSERT_FALSE(found.error);
  EXPECT_EQ(found.mtype->name, "Sum");
}

TEST(ServerRegistry, TheDefaultServerTakesServicesLikeGosDefaultServer) {
  Foo foo;
  EXPECT_FALSE(register_service(foo));
  EXPECT_FALSE(default_server().find_service("Foo.Sum").error);
}

// A reply type whose to_json throws, as a user's may.
struct Unencodable {};
void to_json(Body&, const Unencodable&) {
  throw std::runtime_error("no JSON for this");
}
void from_json(const Body&, Unencodable&) {}

// Methods that fail in each way a method can, and one that waits.
struct Calc {
  Error Divide(Args args, int* reply) {
    if (args.num2 == 0) return Error("divide by zero");
    *reply = args.num1 / args.num2;
    return {};
  }
  Error Throw(Args, int*) { throw std::runtime_error("boom"); }
  Error Unsendable(Args, Unencodable* reply) {
    *reply = {};
    return {};
  }
  // A coroutine method: waits for the test to open the gate, holding no thread meanwhile.
  asio::awaitable<Error> Slow(Args args, int* reply) {
    co_await gate.wait_until(std::chrono::steady_clock::now() + wait_limit);
    *reply = args.num1 + args.num2;
    co_return Error{};
  }
  // A plain method that blocks its thread until the test releases it.
  Error Block(Args args, int* reply) {
    blocked.release();
    release.wait();
    *reply = args.num1 + args.num2;
    return {};
  }
  WaitGroup gate;
  std::latch release{1};
  std::counting_semaphore<1000> blocked{0};  // one release per Block that has started
};
GEERPC_SERVICE(Calc, Divide, Throw, Unsendable, Slow, Block)

struct EndToEnd : ::testing::TestWithParam<Type> {
  EndToEnd() {
    calc.gate.add();
    EXPECT_FALSE(ts.server.register_service(calc));
  }
  ~EndToEnd() override {
    calc.gate.done();
    calc.release.count_down();
  }
  std::shared_ptr<Client> dial_client() {
    return *dial(ts.pool.get_executor(), "tcp", to_string(ts.endpoint), {.codec_type = GetParam()});
  }
  Calc calc;
  TestServer ts;
  std::shared_ptr<Client> client = dial_client();
};
INSTANTIATE_TEST_SUITE_P(Service, EndToEnd, ::testing::Values(json_type, msgpack_type));

void expect_sum_works(Client& client) {
  int reply = 0;
  auto error = client.call("Foo.Sum", Args{20, 22}, &reply);
  EXPECT_FALSE(error) << error.message();
  EXPECT_EQ(reply, 42);
}

TEST_P(EndToEnd, FooSumReturnsTheSum) {
  expect_sum_works(*client);
}

TEST_P(EndToEnd, UnknownServiceUnknownMethodAndNoDotGiveDistinctErrorsAndTheNextCallSucceeds) {
  int reply = 0;
  auto unknown_service = client->call("Bar.Sum", Args{1, 2}, &reply);
  EXPECT_EQ(unknown_service, errc::server_error);
  EXPECT_EQ(unknown_service.message(), "rpc server: can't find service Bar");
  EXPECT_EQ(client->call("Foo.Product", Args{1, 2}, &reply).message(), "rpc server: can't find method Product");
  EXPECT_EQ(client->call("NoDot", Args{1, 2}, &reply).message(),
            "rpc server: service/method request ill-formed: NoDot");
  expect_sum_works(*client);
}

TEST_P(EndToEnd, ArgumentsOfTheWrongShapeGetAnErrorAndTheNextCallSucceeds) {
  int reply = 0;
  auto error = client->call("Foo.Sum", std::string("not Args"), &reply);
  EXPECT_EQ(error, errc::server_error);
  EXPECT_EQ(error.message(), "rpc server: read argv err: geerpc::test::Args: expected an object, got a string");
  expect_sum_works(*client);
}

TEST_P(EndToEnd, AWrongArgumentSaysWhichFieldAndWhatWasExpectedInTheProjectsWords) {
  int reply = 0;
  EXPECT_EQ(client->call("Foo.Sum", Body{{"num1", "one"}, {"num2", 2}}, &reply).message(),
            "rpc server: read argv err: geerpc::test::Args: field 'num1': expected a whole number, got a string");
  EXPECT_EQ(client->call("Foo.Sum", Body{{"num1", 1}}, &reply).message(),
            "rpc server: read argv err: geerpc::test::Args: field 'num2' is missing");
  expect_sum_works(*client);
}

TEST_P(EndToEnd, AMethodsOwnErrorArrivesAsItsMessage) {
  int reply = 0;
  EXPECT_EQ(client->call("Calc.Divide", Args{1, 0}, &reply).message(), "divide by zero");
  expect_sum_works(*client);
}

TEST_P(EndToEnd, AnExceptionThrownByAMethodArrivesAsAnErrorAndTheServerLivesOn) {
  int reply = 0;
  EXPECT_EQ(client->call("Calc.Throw", Args{}, &reply).message(), "rpc server: Calc.Throw threw: boom");
  expect_sum_works(*client);
  expect_sum_works(*dial_client());
}

TEST_P(EndToEnd, AReplyThatCannotBeEncodedIsAnsweredWithAnError) {
  Unencodable reply;
  auto error = client->call("Calc.Unsendable", Args{}, &reply);
  EXPECT_EQ(error, errc::server_error);
  EXPECT_EQ(error.message(), "rpc server: cannot encode reply: no JSON for this");
  expect_sum_works(*client);
}

TEST_P(EndToEnd, ASlowCoroutineMethodInFlightDoesNotDelayAFastOneOnTheSameConnection) {
  int slow_reply = 0;
  auto slow = client->go("Calc.Slow", Args{1, 1}, &slow_reply);
  expect_sum_works(*client);  // answered while Slow waits
  EXPECT_FALSE(slow->is_done());  // Slow waits for the gate, which only the test opens
  calc.gate.done();
  slow->wait();
  EXPECT_FALSE(slow->error) << slow->error.message();
  EXPECT_EQ(slow_reply, 2);
}

TEST_P(EndToEnd, APlainMethodThatBlocksDoesNotStallOtherConnections) {
  int blocked_reply = 0;
  auto blocked = client->go("Calc.Block", Args{2, 2}, &blocked_reply);
  expect_sum_works(*dial_client());  // another connection is served while Block holds its thread
  expect_sum_works(*client);  // and so is the same connection
  EXPECT_FALSE(blocked->is_done());
  calc.release.count_down();
  blocked->wait();
  EXPECT_EQ(blocked_reply, 4);
}

TEST(ServerConfig, WithHandlerThreadsPlainMethodsRunOnThatPoolAndStillAnswer) {
  TestServer ts({.handler_threads = 2});
  expect_sum_works(**dial(ts.pool.get_executor(), "tcp", to_string(ts.endpoint)));
}

TEST(ServerLimits, AtTheInFlightCapTheServerStopsReadingThatConnectionOnly) {
  Calc calc;
  TestServer ts({.max_in_flight = 2, .handler_threads = 4});  // the Blocks hold pool threads, not I/O threads
  ASSERT_FALSE(ts.server.register_service(calc));
  auto busy = *dial(ts.pool.get_executor(), "tcp", to_string(ts.endpoint));
  int replies[2] = {};
  auto first = busy->go("Calc.Block", Args{1, 1}, &replies[0]);
  auto second = busy->go("Calc.Block", Args{2, 2}, &replies[1]);
  calc.blocked.acquire();
  calc.blocked.acquire();  // both requests are being handled: the connection is at its cap
  int sum = 0;
  auto queued = busy->go("Foo.Sum", Args{3, 4}, &sum);
  // Absence can only be shown by waiting: the third request is not read while two are in flight.
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(queued->is_done());
  expect_sum_works(**dial(ts.pool.get_executor(), "tcp", to_string(ts.endpoint)));  // others are served
  calc.release.count_down();
  queued->wait();
  EXPECT_FALSE(queued->error) << queued->error;
  EXPECT_EQ(sum, 7);
  first->wait();
  second->wait();
  EXPECT_EQ(replies[1], 4);
}

}  // namespace
}  // namespace geerpc::test
