#include "metrics/self_metrics.h"

#include <prometheus/text_serializer.h>

#include "metrics/catalog.h"

namespace yfe::metrics {
namespace {

template <typename Builder>
auto& Register(Builder b, const MetricDef& def, prometheus::Registry& r) {
  return b.Name(std::string(def.name)).Help(std::string(def.help)).Register(r);
}

const prometheus::Histogram::BucketBoundaries kLatencyBuckets = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                                 1,    2.5,   5,    10,  30};

}  // namespace

SelfMetrics::SelfMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(Register(prometheus::BuildCounter(), kApiRequests, *registry_)),
      durations_(Register(prometheus::BuildHistogram(), kApiRequestDuration, *registry_)),
      decode_errors_(Register(prometheus::BuildCounter(), kDecodeErrors, *registry_)),
      cache_(Register(prometheus::BuildCounter(), kCacheRequests, *registry_)),
      truncated_(Register(prometheus::BuildCounter(), kRunsTruncated, *registry_)),
      rate_limited_(Register(prometheus::BuildCounter(), kApiRateLimited, *registry_).Add({})),
      cache_hit_(cache_.Add({{"result", "hit"}})),
      cache_miss_(cache_.Add({{"result", "miss"}})),
      in_flight_(Register(prometheus::BuildGauge(), kApiInFlight, *registry_).Add({})),
      queued_(Register(prometheus::BuildGauge(), kApiQueued, *registry_).Add({})),
      discovered_(Register(prometheus::BuildGauge(), kDiscovered, *registry_).Add({})),
      discovery_errors_(
          Register(prometheus::BuildCounter(), kDiscoveryErrors, *registry_).Add({})) {}

void SelfMetrics::ObserveRequest(std::string_view endpoint, std::string_view code, double seconds) {
  requests_.Add({{"endpoint", std::string(endpoint)}, {"code", std::string(code)}}).Increment();
  durations_.Add({{"endpoint", std::string(endpoint)}}, kLatencyBuckets).Observe(seconds);
}

void SelfMetrics::CountDecodeError(std::string_view endpoint) {
  decode_errors_.Add({{"endpoint", std::string(endpoint)}}).Increment();
}

void SelfMetrics::CountRunTruncated(std::string_view limit) {
  truncated_.Add({{"limit", std::string(limit)}}).Increment();
}

std::string SelfMetrics::Render() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace yfe::metrics
