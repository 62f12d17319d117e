#include "flowapi/rate_limit.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace yfe::flowapi {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(TokenBucket, BurstThenSteadyRate) {
  FakeClock clock;
  TokenBucket b(10, 5, clock.Now());
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(b.TryTake(clock.Now()));
  EXPECT_FALSE(b.TryTake(clock.Now()));
  EXPECT_EQ(b.WaitTime(clock.Now()), milliseconds(100));
  clock.Advance(milliseconds(99));
  EXPECT_FALSE(b.TryTake(clock.Now()));
  clock.Advance(milliseconds(1));
  EXPECT_TRUE(b.TryTake(clock.Now()));
  clock.Advance(seconds(60));  // refills to the burst, not beyond
  int taken = 0;
  while (b.TryTake(clock.Now())) ++taken;
  EXPECT_EQ(taken, 5);
}

TEST(TokenBucket, CountOverAnIntervalMatchesTheRate) {
  FakeClock clock;
  TokenBucket b(20, 1, clock.Now());
  int taken = 0;
  for (int i = 0; i < 10000; ++i) {  // 10 s in 1 ms steps
    if (b.TryTake(clock.Now())) ++taken;
    clock.Advance(milliseconds(1));
  }
  EXPECT_NEAR(taken, 200, 1);
}

TEST(Backoff, FullJitterIsBoundedByTheCap) {
  EXPECT_EQ(BackoffDelay(0, milliseconds(200), seconds(5), 0.0), milliseconds(0));
  EXPECT_EQ(BackoffDelay(0, milliseconds(200), seconds(5), 1.0), milliseconds(200));
  EXPECT_EQ(BackoffDelay(3, milliseconds(200), seconds(5), 1.0), milliseconds(1600));
  EXPECT_EQ(BackoffDelay(30, milliseconds(200), seconds(5), 1.0), seconds(5));
  EXPECT_EQ(BackoffDelay(2, milliseconds(200), seconds(5), 0.5), milliseconds(400));
}

TEST(RetryAfter, SecondsAndHttpDates) {
  auto now = std::chrono::system_clock::from_time_t(784111777);  // Sun, 06 Nov 1994 08:49:37
  EXPECT_EQ(*ParseRetryAfter("3", now), seconds(3));
  EXPECT_EQ(*ParseRetryAfter(" 120 ", now), seconds(120));
  EXPECT_EQ(*ParseRetryAfter("Sun, 06 Nov 1994 08:49:47 GMT", now), seconds(10));
  EXPECT_EQ(*ParseRetryAfter("Sun, 06 Nov 1994 08:49:00 GMT", now), seconds(0));
  EXPECT_FALSE(ParseRetryAfter("", now));
  EXPECT_FALSE(ParseRetryAfter("-1", now));
  EXPECT_FALSE(ParseRetryAfter("soon", now));
}

// Audit finding 17: a date after 2262 overflowed system_clock and meant "no pause".
TEST(RetryAfter, DatesBeyond2262ClampToTheCap) {
  auto now = std::chrono::system_clock::from_time_t(1764547200);  // 2025-12-01
  EXPECT_EQ(*ParseRetryAfter("Fri, 31 Dec 9999 23:59:59 GMT", now), seconds(86400));
  EXPECT_EQ(*ParseRetryAfter("Sat, 01 Jan 2300 00:00:00 GMT", now), seconds(86400));
  EXPECT_EQ(*ParseRetryAfter("Tue, 02 Dec 2025 00:00:00 GMT", now), seconds(86400));
  EXPECT_EQ(*ParseRetryAfter("Mon, 01 Dec 2025 00:01:00 GMT", now + milliseconds(500)),
            milliseconds(59500));
}

// A NaN rate (which the config check now refuses) made the bucket unlimited.
TEST(TokenBucket, NonFiniteRatesFailClosed) {
  FakeClock clock;
  for (double rate : {std::nan(""), -1.0, 0.0, std::numeric_limits<double>::infinity()}) {
    TokenBucket b(rate, 5, clock.Now());
    int taken = 0;
    for (int i = 0; i < 1000; ++i) taken += b.TryTake(clock.Now() + seconds(1));
    EXPECT_LE(taken, 6) << rate;
    EXPECT_GT(b.WaitTime(clock.Now() + seconds(1)).count(), 0) << rate;
  }
  TokenBucket nan_burst(10, std::nan(""), clock.Now());
  EXPECT_TRUE(nan_burst.TryTake(clock.Now()));
  EXPECT_FALSE(nan_burst.TryTake(clock.Now()));
}

}  // namespace
}  // namespace yfe::flowapi
