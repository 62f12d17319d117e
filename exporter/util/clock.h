// Clock: an injectable source of time, so tests can drive time by hand with FakeClock.
// Collector (cache expiry, deadlines), RunHistory and TokenStore take one; the transport's
// rate limit and backoff and App still read SystemClock or std::chrono directly.
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>

namespace yfe {

class Clock {
 public:
  using Steady = std::chrono::steady_clock::time_point;
  using Wall = std::chrono::system_clock::time_point;
  virtual ~Clock() = default;
  virtual Steady Now() const = 0;    // for intervals and deadlines
  virtual Wall WallNow() const = 0;  // for exported timestamps
};

class SystemClock final : public Clock {
 public:
  Steady Now() const override { return std::chrono::steady_clock::now(); }
  Wall WallNow() const override { return std::chrono::system_clock::now(); }
  static const SystemClock& Instance() {
    static const SystemClock clock;
    return clock;
  }
};

// A clock that moves only when told to. Starts at an arbitrary fixed point.
class FakeClock final : public Clock {
 public:
  Steady Now() const override { return Steady(std::chrono::nanoseconds(offset_.load())); }
  Wall WallNow() const override {
    return Wall(std::chrono::seconds(1'700'000'000)) +
           std::chrono::duration_cast<std::chrono::system_clock::duration>(
               std::chrono::nanoseconds(offset_.load()));
  }
  void Advance(std::chrono::nanoseconds d) { offset_ += d.count(); }

 private:
  std::atomic<int64_t> offset_{1'000'000'000'000};
};

}  // namespace yfe
