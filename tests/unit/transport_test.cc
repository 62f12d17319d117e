// flowapi::Decide: what one finished attempt means, row by row (the transport's loop only
// carries the decision out).
#include "flowapi/transport.h"

#include <gtest/gtest.h>

#include <string>

namespace yfe::flowapi {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using F = Attempt::Failure;

struct Row {
  const char* name;
  // The attempt.
  long status;
  F failure = F::kNone;
  std::string retry_after = "";
  std::string location = "";
  int number = 1;
  milliseconds deadline_in = seconds(30);
  // The pause state before, and the jitter drawn.
  milliseconds paused_for = milliseconds(0);
  int consecutive_429 = 0;
  double jitter = 0.5;
  // Expected.
  long want_status = -1;  // -1: the attempt's
  bool want_retry = false;
  milliseconds want_retry_in = milliseconds(0);
  std::string want_error = "";  // a prefix; empty: no error (the body goes to the caller)
  bool want_rate_limited = false;
  milliseconds want_pause = milliseconds(0);
  milliseconds want_paused_for = milliseconds(0);  // after the decision
  int want_consecutive_429 = 0;
};

const std::string kRedirect = "redirected to ";

const Row kRows[] = {
    {.name = "200 ok, a 429 streak ends", .status = 200, .consecutive_429 = 3},
    {.name = "204 ok", .status = 204},
    {.name = "302 with Location: not followed",
     .status = 302,
     .location = "https://elsewhere.example",
     .want_error = kRedirect + "https://elsewhere.example: not followed, the token is only sent "
                               "to api.endpoint"},
    {.name = "301 without Location", .status = 301, .want_error = kRedirect + "(no Location)"},
    {.name = "401 answered as is", .status = 401},
    {.name = "403 answered as is", .status = 403},
    {.name = "404 answered as is", .status = 404},
    {.name = "429 Retry-After seconds",
     .status = 429,
     .retry_after = "7",
     .want_retry = true,
     .want_retry_in = seconds(7),
     .want_rate_limited = true,
     .want_pause = seconds(7),
     .want_paused_for = seconds(7),
     .want_consecutive_429 = 1},
    {.name = "429 without Retry-After: backoff from 1 s, jitter in [0.5, 1)",
     .status = 429,
     .jitter = 0.5,
     .want_retry = true,
     .want_retry_in = milliseconds(750),
     .want_rate_limited = true,
     .want_pause = milliseconds(750),
     .want_paused_for = milliseconds(750),
     .want_consecutive_429 = 1},
    {.name = "429 without Retry-After, fourth in a row",
     .status = 429,
     .consecutive_429 = 3,
     .jitter = 0,
     .want_retry = true,
     .want_retry_in = seconds(4),
     .want_rate_limited = true,
     .want_pause = seconds(4),
     .want_paused_for = seconds(4),
     .want_consecutive_429 = 4},
    {.name = "429 huge Retry-After: capped, past the deadline so no retry",
     .status = 429,
     .retry_after = "86400",
     .want_rate_limited = true,
     .want_pause = seconds(60),
     .want_paused_for = seconds(60),
     .want_consecutive_429 = 1},
    {.name = "429 Retry-After date in the past: no pause",
     .status = 429,
     .retry_after = "Sun, 06 Nov 1994 08:49:37 GMT",
     .want_retry = true,
     .want_rate_limited = true,
     .want_consecutive_429 = 1},
    {.name = "429 inside a longer pause: the longer one stays",
     .status = 429,
     .retry_after = "1",
     .paused_for = seconds(20),
     .want_retry = true,
     .want_retry_in = seconds(20),
     .want_rate_limited = true,
     .want_pause = seconds(1),
     .want_paused_for = seconds(20),
     .want_consecutive_429 = 1},
    {.name = "429 after the last retry: paused, answered",
     .status = 429,
     .retry_after = "2",
     .number = 3,
     .want_rate_limited = true,
     .want_pause = seconds(2),
     .want_paused_for = seconds(2),
     .want_consecutive_429 = 1},
    {.name = "500 retried with full-jitter backoff",
     .status = 500,
     .want_retry = true,
     .want_retry_in = milliseconds(100)},
    {.name = "503 second attempt: the backoff doubles",
     .status = 503,
     .number = 2,
     .want_retry = true,
     .want_retry_in = milliseconds(200)},
    {.name = "502 after the last retry: given up", .status = 502, .number = 3},
    {.name = "500 with no time left before the deadline",
     .status = 500,
     .deadline_in = milliseconds(50)},
    {.name = "connection refused: retried, a 429 streak stays",
     .status = 0,
     .failure = F::kTransient,
     .consecutive_429 = 2,
     .want_retry = true,
     .want_retry_in = milliseconds(100),
     .want_error = "Couldn't connect",
     .want_consecutive_429 = 2},
    {.name = "timeout after the last retry",
     .status = 0,
     .failure = F::kTransient,
     .number = 3,
     .want_error = "Couldn't connect"},
    {.name = "TLS failure: never retried",
     .status = 0,
     .failure = F::kFatal,
     .want_error = "Couldn't connect"},
    {.name = "a status with a failed transfer reports no status",
     .status = 200,
     .failure = F::kFatal,
     .want_status = 0,
     .want_error = "Couldn't connect"},
    {.name = "body over the cap",
     .status = 200,
     .failure = F::kBodyTooLarge,
     .want_error = "response body larger than api.max_response_bytes (1024 bytes)"},
    {.name = "body over the cap on a 503: retried",
     .status = 503,
     .failure = F::kBodyTooLarge,
     .want_retry = true,
     .want_retry_in = milliseconds(100),
     .want_error = "response body larger"},
};

TEST(TransportDecide, EveryRow) {
  FakeClock clock;
  RetryPolicy policy;
  policy.max_retries = 2;
  policy.retry_base = milliseconds(200);
  policy.retry_cap = seconds(5);
  policy.max_pause = seconds(60);
  policy.max_response_bytes = 1024;
  const Clock::Steady now = clock.Now();
  for (const Row& row : kRows) {
    SCOPED_TRACE(row.name);
    Attempt a;
    a.status = row.status;
    a.failure = row.failure;
    if (row.failure == F::kTransient || row.failure == F::kFatal) {
      a.failure_text = "Couldn't connect to server";
    }
    a.retry_after = row.retry_after;
    a.location = row.location;
    a.number = row.number;
    a.deadline = now + row.deadline_in;
    PauseState pause{now + row.paused_for, row.consecutive_429};

    const Decision d = Decide(a, policy, pause, now, clock.WallNow(), row.jitter);

    const long want_status = row.want_status >= 0 ? row.want_status
                             : row.failure == F::kTransient || row.failure == F::kFatal
                                 ? 0
                                 : row.status;
    EXPECT_EQ(d.status, want_status);
    EXPECT_EQ(d.code, want_status > 0 ? std::to_string(want_status) : "error");
    EXPECT_EQ(d.retry, row.want_retry);
    if (row.want_retry) {
      EXPECT_EQ(d.retry_at - now, row.want_retry_in);
    }
    if (row.want_error.empty()) {
      EXPECT_EQ(d.error, "");
    } else {
      EXPECT_EQ(d.error.substr(0, row.want_error.size()), row.want_error) << d.error;
    }
    EXPECT_EQ(d.rate_limited, row.want_rate_limited);
    EXPECT_EQ(d.pause, row.want_pause);
    EXPECT_EQ(pause.paused_until - now, row.want_paused_for);
    EXPECT_EQ(pause.consecutive_429, row.want_consecutive_429);
  }
}

// The 429 pause carries from one decision to the next: a 200 in between ends the streak.
TEST(TransportDecide, PauseStateCarriesAcrossDecisions) {
  FakeClock clock;
  RetryPolicy policy;
  PauseState pause;
  Attempt limited;
  limited.status = 429;
  limited.deadline = clock.Now() + seconds(600);
  auto decide = [&](const Attempt& a) {
    return Decide(a, policy, pause, clock.Now(), clock.WallNow(), 0);
  };
  EXPECT_EQ(decide(limited).pause, milliseconds(500));  // 1 s ceiling, jitter 0.5
  EXPECT_EQ(decide(limited).pause, milliseconds(1000));
  EXPECT_EQ(decide(limited).pause, milliseconds(2000));
  EXPECT_EQ(pause.consecutive_429, 3);
  Attempt ok;
  ok.status = 200;
  decide(ok);
  EXPECT_EQ(pause.consecutive_429, 0);
  EXPECT_EQ(decide(limited).pause, milliseconds(500));
  // Time from the clock passed in: the pause is measured from that now.
  clock.Advance(seconds(10));
  EXPECT_EQ(decide(limited).retry_at, clock.Now() + milliseconds(1000));
}

}  // namespace
}  // namespace yfe::flowapi
