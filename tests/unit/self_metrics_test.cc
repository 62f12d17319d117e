#include "metrics/self_metrics.h"

#include <gtest/gtest.h>

#include <string>

#include "support/exposition_check.h"
#include "support/test_support.h"

namespace yfe::metrics {
namespace {

using testing::Value;

TEST(SelfMetrics, CountsEachThingUnderItsCatalogName) {
  SelfMetrics m;
  m.ObserveRequest("latest_pipeline_run", "200", 0.03);
  m.ObserveRequest("latest_pipeline_run", "200", 0.2);
  m.ObserveRequest("latest_pipeline_run", "429", 0.01);
  m.CountRateLimited();
  m.CountCache(true, 3);
  m.CountCache(false);
  m.CountDecodeError("pipeline_runs");
  m.CountRunTruncated("jobs");
  m.SetInFlight(2);
  m.SetQueued(5);
  m.SetDiscovered(40);
  m.CountDiscoveryError();
  const std::string text = m.Render();
  EXPECT_EQ(testing::CheckExposition(text), "") << text;
  EXPECT_EQ(Value(text, "yunxiao_flow_api_requests_total",
                  {"endpoint=\"latest_pipeline_run\"", "code=\"200\""}),
            2);
  EXPECT_EQ(Value(text, "yunxiao_flow_api_requests_total", {"code=\"429\""}), 1);
  EXPECT_EQ(Value(text, "yunxiao_flow_api_request_duration_seconds_count",
                  {"endpoint=\"latest_pipeline_run\""}),
            3);
  EXPECT_EQ(Value(text, "yunxiao_flow_api_request_duration_seconds_bucket",
                  {"endpoint=\"latest_pipeline_run\"", "le=\"0.05\""}),
            2);
  EXPECT_EQ(Value(text, "yunxiao_flow_api_rate_limited_total"), 1);
  EXPECT_EQ(Value(text, "yunxiao_flow_cache_requests_total", {"result=\"hit\""}), 3);
  EXPECT_EQ(Value(text, "yunxiao_flow_cache_requests_total", {"result=\"miss\""}), 1);
  EXPECT_EQ(Value(text, "yunxiao_flow_api_decode_errors_total", {"endpoint=\"pipeline_runs\""}), 1);
  EXPECT_EQ(Value(text, "yunxiao_flow_runs_truncated_total", {"limit=\"jobs\""}), 1);
  EXPECT_EQ(Value(text, "yunxiao_flow_api_requests_in_flight"), 2);
  EXPECT_EQ(Value(text, "yunxiao_flow_api_requests_queued"), 5);
  EXPECT_EQ(Value(text, "yunxiao_flow_discovered_pipelines"), 40);
  EXPECT_EQ(Value(text, "yunxiao_flow_discovery_errors_total"), 1);
}

TEST(SelfMetrics, UnlabelledSeriesExistFromTheStart) {
  const std::string text = SelfMetrics().Render();
  EXPECT_EQ(Value(text, "yunxiao_flow_api_rate_limited_total"), 0);
  EXPECT_EQ(Value(text, "yunxiao_flow_cache_requests_total", {"result=\"hit\""}), 0);
  EXPECT_EQ(Value(text, "yunxiao_flow_cache_requests_total", {"result=\"miss\""}), 0);
  EXPECT_EQ(Value(text, "yunxiao_flow_discovery_errors_total"), 0);
  // Labelled by endpoint: no series until the first request.
  EXPECT_TRUE(testing::Samples(text, "yunxiao_flow_api_requests_total").empty()) << text;
}

}  // namespace
}  // namespace yfe::metrics
