#include "flowapi/rate_limit.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <string>

namespace yfe::flowapi {
namespace {

constexpr int64_t kMaxRetryAfterSeconds = 86400;  // the transport caps it lower (max_pause)

}  // namespace

// A rate or burst that is not a finite positive number (the config check refuses them)
// fails closed, to the slowest rate and a burst of one: NaN used to mean no limit at all.
TokenBucket::TokenBucket(double rate_per_second, double burst, Clock::Steady now)
    : rate_(std::isfinite(rate_per_second) && rate_per_second > 0 ? rate_per_second
                                                                  : kMinRatePerSecond),
      burst_(std::isfinite(burst) && burst > 1 ? burst : 1.0),
      tokens_(burst_),
      last_(now) {}

void TokenBucket::Refill(Clock::Steady now) {
  if (now <= last_) return;
  double elapsed = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
  last_ = now;
}

bool TokenBucket::TryTake(Clock::Steady now) {
  Refill(now);
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

std::chrono::nanoseconds TokenBucket::WaitTime(Clock::Steady now) {
  Refill(now);
  if (tokens_ >= 1.0) return std::chrono::nanoseconds(0);
  double seconds = (1.0 - tokens_) / rate_;
  return std::chrono::nanoseconds(static_cast<int64_t>(std::ceil(seconds * 1e9)));
}

std::chrono::milliseconds BackoffDelay(int attempt, std::chrono::milliseconds base,
                                       std::chrono::milliseconds cap, double random01) {
  double ceiling = static_cast<double>(base.count()) * std::pow(2.0, std::clamp(attempt, 0, 30));
  ceiling = std::min(ceiling, static_cast<double>(cap.count()));
  random01 = std::clamp(random01, 0.0, 1.0);
  return std::chrono::milliseconds(static_cast<int64_t>(ceiling * random01));
}

std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value, Clock::Wall now) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\r')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  int64_t seconds = 0;
  auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec == std::errc() && p == value.data() + value.size()) {
    if (seconds < 0) return std::nullopt;
    return std::chrono::milliseconds(std::min<int64_t>(seconds, kMaxRetryAfterSeconds) * 1000);
  }
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
  std::tm tm{};
  std::string text(value);
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end != '\0') return std::nullopt;
  // In whole seconds of time_t: a date after 2262 does not fit system_clock's nanoseconds
  // (it wrapped to "no pause"). Far dates clamp to the same cap as delay-seconds.
  const int64_t when = static_cast<int64_t>(timegm(&tm));
  const int64_t now_s = static_cast<int64_t>(std::chrono::system_clock::to_time_t(now));
  const int64_t seconds_away = std::clamp<int64_t>(when - now_s, 0, kMaxRetryAfterSeconds);
  auto delta = std::chrono::milliseconds(seconds_away * 1000) -
               std::chrono::duration_cast<std::chrono::milliseconds>(
                   now - std::chrono::system_clock::from_time_t(static_cast<time_t>(now_s)));
  return std::max(delta, std::chrono::milliseconds(0));
}

}  // namespace yfe::flowapi
