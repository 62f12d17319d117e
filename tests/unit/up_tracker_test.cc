#include <gtest/gtest.h>

#include "flowapi/transport.h"

namespace yfe::flowapi {
namespace {

using std::chrono::seconds;
using Verdict = UpTracker::Verdict;

TEST(UpTracker, JudgesEachAnswer) {
  struct Case {
    long status;
    Verdict want;
  };
  const Case cases[] = {
      {200, Verdict::kAccepted}, {204, Verdict::kAccepted}, {404, Verdict::kAccepted},
      {0, Verdict::kRefused},    {302, Verdict::kRefused},  {400, Verdict::kRefused},
      {401, Verdict::kRefused},  {403, Verdict::kRefused},  {500, Verdict::kRefused},
      {503, Verdict::kRefused},  {429, Verdict::kNone},     {409, Verdict::kNone},
  };
  for (const auto& c : cases) EXPECT_EQ(UpTracker::Judge(c.status), c.want) << c.status;
}

const Clock::Steady kT0 = Clock::Steady(seconds(1000));

TEST(UpTracker, OneAcceptedRunAnswerAmongFailuresKeepsItUp) {
  UpTracker up;
  // One pipeline's 5xx (and a transport failure) among healthy answers, in any order.
  up.Record(true, 200, kT0);
  up.Record(true, 200, kT0 + seconds(1));
  up.Record(true, 500, kT0 + seconds(2));
  up.Record(true, 0, kT0 + seconds(3));
  EXPECT_TRUE(up.Up(kT0 - seconds(30)));
}

TEST(UpTracker, EveryRunAnswerRefusedGivesZero) {
  UpTracker up;
  up.Record(true, 401, kT0);
  up.Record(true, 401, kT0 + seconds(1));
  EXPECT_FALSE(up.Up(kT0 - seconds(30)));
  up.Record(true, 403, kT0 + seconds(2));
  up.Record(true, 503, kT0 + seconds(3));
  EXPECT_FALSE(up.Up(kT0 - seconds(30)));
}

TEST(UpTracker, AcceptedAnswersCountOnlyInsideTheWindow) {
  UpTracker up;
  up.Record(true, 200, kT0);
  up.Record(true, 401, kT0 + seconds(40));
  EXPECT_TRUE(up.Up(kT0 - seconds(1)));    // the 200 is in the window
  EXPECT_FALSE(up.Up(kT0 + seconds(10)));  // only the 401 is
  // No run answer in the window: the most recent one decides.
  EXPECT_FALSE(up.Up(kT0 + seconds(100)));
  up.Record(true, 200, kT0 + seconds(50));
  EXPECT_TRUE(up.Up(kT0 + seconds(100)));
}

TEST(UpTracker, OtherEndpointsNeverFlipItAndA403NeverCounts) {
  UpTracker up;
  up.Record(true, 200, kT0);
  // GetPipeline / ListPipelines / group endpoints: 403 (missing permission), 401, 5xx.
  up.Record(false, 403, kT0 + seconds(1));
  up.Record(false, 401, kT0 + seconds(2));
  up.Record(false, 500, kT0 + seconds(3));
  EXPECT_TRUE(up.Up(kT0 - seconds(30)));
  EXPECT_TRUE(up.Up(kT0 + seconds(60)));

  // Before any run-endpoint answer, the others decide; their 403 does not count.
  UpTracker fresh;
  EXPECT_FALSE(fresh.Up(kT0));
  fresh.Record(false, 200, kT0);
  fresh.Record(false, 403, kT0 + seconds(1));
  EXPECT_TRUE(fresh.Up(kT0));
  fresh.Record(false, 401, kT0 + seconds(2));
  EXPECT_FALSE(fresh.Up(kT0));
}

TEST(UpTracker, RateLimitingSaysNothing) {
  UpTracker up;
  up.Record(true, 200, kT0);
  up.Record(true, 429, kT0 + seconds(40));
  EXPECT_TRUE(up.Up(kT0 + seconds(10)));  // no verdict in the window: the last one holds
}

}  // namespace
}  // namespace yfe::flowapi
