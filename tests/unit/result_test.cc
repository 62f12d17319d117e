// util/result.h: Result<T>, Status and the propagation macros.
#include "util/result.h"

#include <gtest/gtest.h>

#include <string>
#include <type_traits>

namespace yfe {
namespace {

Result<int> Half(int n) {
  if (n % 2 != 0) return Error(std::to_string(n) + " is odd");
  return n / 2;
}

Result<int> Quarter(int n) {
  YFE_ASSIGN_OR_RETURN(int half, Half(n));
  YFE_ASSIGN_OR_RETURN(int quarter, Half(half));  // two in one scope: distinct temporaries
  return quarter;
}

Status CheckEven(int n) {
  YFE_RETURN_IF_ERROR(Half(n));
  return Ok();
}

Status CheckBoth(int a, int b) {
  YFE_RETURN_IF_ERROR(CheckEven(a));
  YFE_RETURN_IF_ERROR(CheckEven(b));
  return Ok();
}

TEST(Result, ValueOrError) {
  auto r = Half(8);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 4);
  auto bad = Half(3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), "3 is odd");
  EXPECT_EQ(bad.status().message, "3 is odd");
}

TEST(Result, ValueOr) {
  EXPECT_EQ(Half(8).value_or(-1), 4);
  EXPECT_EQ(Half(3).value_or(-1), -1);
  Result<std::string> s = Error("x");
  EXPECT_EQ(s.value_or("fallback"), "fallback");
}

TEST(Result, AssignOrReturnPropagatesTheFirstError) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(3).error(), "3 is odd");
  EXPECT_EQ(Quarter(6).error(), "3 is odd");  // from the second step
}

TEST(Status, OkOrTheFirstError) {
  EXPECT_TRUE(Ok().ok());
  EXPECT_TRUE(CheckBoth(2, 4).ok());
  EXPECT_EQ(CheckBoth(1, 3).error(), "1 is odd");
  EXPECT_EQ(CheckBoth(2, 3).error(), "3 is odd");
}

// A Status is not a Result<bool>: there is no value to read by mistake.
static_assert(std::is_same_v<Status, Result<std::monostate>>);

}  // namespace
}  // namespace yfe
