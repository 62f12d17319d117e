// Request counters for the control API (per endpoint and HTTP status).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "route.h"

namespace yfe::sim {

class Stats {
 public:
  void Record(Endpoint endpoint, int status);
  // In-flight tracking of API requests (maximum concurrency seen).
  void Enter();
  void Exit();
  void Reset();
  int64_t Total() const;
  int64_t Count(Endpoint endpoint, int status) const;
  int InFlightMax() const { return in_flight_max_.load(); }
  std::string RenderJson() const;

 private:
  mutable std::mutex mu_;
  int64_t total_ = 0;
  std::array<std::map<int, int64_t>, kEndpointCount> counts_;
  std::atomic<int> in_flight_{0};
  std::atomic<int> in_flight_max_{0};
};

// RAII in-flight marker.
class InFlight {
 public:
  explicit InFlight(Stats& s) : stats_(s) { stats_.Enter(); }
  ~InFlight() { stats_.Exit(); }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  Stats& stats_;
};

}  // namespace yfe::sim
