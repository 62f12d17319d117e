// The exporter's own metrics about its work (API requests, cache, rate limiting), kept in
// a prometheus-cpp registry. Thread-safe: prometheus-cpp metrics are atomic and Family::Add
// locks. Names and help come from the catalog.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <string_view>

namespace yfe::metrics {

class SelfMetrics {
 public:
  SelfMetrics();

  // Counts one finished request: code is the HTTP status or "error".
  void ObserveRequest(std::string_view endpoint, std::string_view code, double seconds);
  void CountRateLimited() { rate_limited_.Increment(); }
  void CountCache(bool hit, double n = 1) { (hit ? cache_hit_ : cache_miss_).Increment(n); }
  void CountDecodeError(std::string_view endpoint);
  // A run rendered with series cut off by the cap `limit` (metrics::kCutNames).
  void CountRunTruncated(std::string_view limit);
  void SetInFlight(double n) { in_flight_.Set(n); }
  void SetQueued(double n) { queued_.Set(n); }
  void SetDiscovered(double n) { discovered_.Set(n); }
  void CountDiscoveryError() { discovery_errors_.Increment(); }

  // The registry's text exposition.
  std::string Render() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& durations_;
  prometheus::Family<prometheus::Counter>& decode_errors_;
  prometheus::Family<prometheus::Counter>& cache_;
  prometheus::Family<prometheus::Counter>& truncated_;
  prometheus::Counter& rate_limited_;
  prometheus::Counter& cache_hit_;
  prometheus::Counter& cache_miss_;
  prometheus::Gauge& in_flight_;
  prometheus::Gauge& queued_;
  prometheus::Gauge& discovered_;
  prometheus::Counter& discovery_errors_;
};

}  // namespace yfe::metrics
