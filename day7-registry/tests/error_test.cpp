#include "geerpc/error.hpp"

#include <gtest/gtest.h>

#include <memory>

namespace geerpc::test {
namespace {

TEST(Error, CarriesItsCodeAndTheWordsOfThisOccurrence) {
  const Error error(errc::frame_too_large, "frame of 20 MiB");
  EXPECT_EQ(error, errc::frame_too_large);
  EXPECT_EQ(error.message(), "frame of 20 MiB");
  EXPECT_EQ(Error(errc::frame_too_large).message(), "frame exceeds the maximum size");
}

TEST(Result, ArrowReachesThroughAPointerItHolds) {
  struct Client {
    int calls = 0;
  };
  Result<std::shared_ptr<Client>> client = std::make_shared<Client>();
  ASSERT_TRUE(client);
  client->calls = 3;  // as `client->call(...)` reads in Go
  EXPECT_EQ((*client)->calls, 3);
}

TEST(Result, HoldsTheErrorThatPreventedTheValue) {
  const Result<int> result = errc::bad_address;
  EXPECT_FALSE(result);
  EXPECT_EQ(result.error(), errc::bad_address);
}

}  // namespace
}  // namespace geerpc::test
