// Pacing of Flow API requests: a token bucket, retry backoff with jitter, and Retry-After.
// Pure or single-threaded: the transport's loop thread owns the bucket.
//
//   TokenBucket bucket(20 /*per second*/, 20 /*burst*/, clock.Now());
//   if (bucket.TryTake(clock.Now())) Send();
//   else wait(bucket.WaitTime(clock.Now()));
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include "util/clock.h"

namespace yfe::flowapi {

// Not thread-safe.
class TokenBucket {
 public:
  static constexpr double kMinRatePerSecond = 0.01;  // the config's minimum
  TokenBucket(double rate_per_second, double burst, Clock::Steady now);
  bool TryTake(Clock::Steady now);
  // Time until one token is available (zero if one is).
  std::chrono::nanoseconds WaitTime(Clock::Steady now);

 private:
  void Refill(Clock::Steady now);
  double rate_;
  double burst_;
  double tokens_;
  Clock::Steady last_;
};

// Full-jitter exponential backoff: uniform in [0, min(cap, base * 2^attempt)], where
// random01 is in [0, 1). attempt counts from 0.
std::chrono::milliseconds BackoffDelay(int attempt, std::chrono::milliseconds base,
                                       std::chrono::milliseconds cap, double random01);

// Retry-After: delay-seconds or an HTTP-date. nullopt when absent or unreadable.
std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value, Clock::Wall now);

}  // namespace yfe::flowapi
