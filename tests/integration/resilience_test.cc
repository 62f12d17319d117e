// Scale and upstream-fault behaviour of the real exporter against the simulator: shared
// fetches, rate limiting, 429, deadlines, stale data, body caps, redirects. Assertions are
// on counts and outcomes, never on how fast something ran.
#include <gtest/gtest.h>

#include <cmath>
#include <future>
#include <regex>

#include "support/harness.h"

namespace yfe::testing {
namespace {

int CountValue(const std::string& text, const std::string& metric, double value) {
  int n = 0;
  for (const auto& l : Samples(text, metric)) n += std::stod(l.substr(l.rfind(' ') + 1)) == value;
  return n;
}

TEST(Resilience, ConcurrentScrapesShareOneFetchPerPipeline) {
  Simulator sim({.pipelines = 8, .frozen = true, .flags = {"--latency=300ms"}});
  Exporter exp(sim.Config({.collect = {{"cache_ttl", "1h"}}}), {.warm = false});
  std::vector<std::future<std::string>> scrapes;
  for (int i = 0; i < 4; ++i) {
    scrapes.push_back(std::async(std::launch::async, [&] { return exp.Scrape(); }));
  }
  for (auto& s : scrapes) {
    EXPECT_EQ(CountValue(s.get(), "yunxiao_flow_fetch_success", 1), 8);
  }
  EXPECT_EQ(sim.ApiRequests("latestPipelineRun"), 8);
  EXPECT_EQ(sim.ApiRequests("getPipeline"), 8);
}

TEST(Resilience, SlowUpstreamCannotHoldTheScrapePastTheDeadline) {
  Simulator sim({.pipelines = 3, .frozen = true, .flags = {"--latency=20s"}});
  Exporter exp(sim.Config({.ids = sim.PipelineIds(), .collect = {{"scrape_deadline", "500ms"}}}),
               {.warm = false});
  std::string text = exp.Scrape();  // would take 20 s if the deadline were not kept
  EXPECT_EQ(CountValue(text, "yunxiao_flow_fetch_success", 0), 3);
  EXPECT_TRUE(Samples(text, "yunxiao_flow_latest_run_status").empty());
  EXPECT_GE(Value(text, "yunxiao_flow_scrape_duration_seconds"), 0.5);
  EXPECT_LT(Value(text, "yunxiao_flow_scrape_duration_seconds"), 20);
}

TEST(Resilience, RateLimitBoundsRequestsWithinADeadline) {
  Simulator sim({.pipelines = 20, .frozen = true});
  auto ids = sim.PipelineIds();
  Exporter exp(sim.Config({.ids = ids,
                           .api = {{"max_requests_per_second", "4"}, {"rate_limit_burst", "1"}},
                           .collect = {{"scrape_deadline", "1s"}}}),
               {.warm = false});
  std::string text = exp.Scrape();
  // Within the scrape's 1 s (plus the moment since start-up) at 4/s with a burst of 1, at
  // most 1 + 5 requests go out: each pipeline needs a name lookup and its run, so most of
  // the 20 pipelines wait in the queue and the scrape answers without them.
  long sent = sim.ApiRequests();
  EXPECT_LE(sent, 7);
  EXPECT_GE(sent, 1);
  EXPECT_GE(CountValue(text, "yunxiao_flow_fetch_success", 0), 17);
  EXPECT_GE(Value(text, "yunxiao_flow_api_requests_queued"), 20);
}

TEST(Resilience, TooManyRequestsPausesTheWholeClient) {
  Simulator sim({.pipelines = 5, .frozen = true});
  auto ids = sim.PipelineIds();
  ASSERT_EQ(
      sim.Control("POST", "/-/sim/faults", R"({"status429":1,"retryAfterSeconds":30})").status,
      200);
  Exporter exp(
      sim.Config(
          {.ids = ids, .api = {{"max_concurrency", "1"}}, .collect = {{"scrape_deadline", "2s"}}}),
      {.warm = false});
  std::string text = exp.Scrape();
  // The first 429 asks for 30 s: nothing else is sent before the deadline.
  EXPECT_EQ(sim.ApiRequests(), 1);
  EXPECT_EQ(Value(text, "yunxiao_flow_api_rate_limited_total"), 1);
  EXPECT_EQ(CountValue(text, "yunxiao_flow_fetch_success", 0), 5);
  EXPECT_TRUE(exp.process().WaitForOutput("pausing all requests"));
}

TEST(Resilience, ServerErrorsAreRetriedWithinBounds) {
  Simulator sim({.pipelines = 2, .frozen = true});
  auto ids = sim.PipelineIds();
  ASSERT_EQ(sim.Control("POST", "/-/sim/faults", R"({"status5xx":1})").status, 200);
  // cache_ttl 0: no failure backoff, the second scrape fetches again at once.
  Exporter exp(sim.Config({.ids = ids,
                           .edition = "region",
                           .api = {{"max_retries", "2"}},
                           .collect = {{"cache_ttl", "0s"}}}),
               {.warm = false});
  std::string text = exp.Scrape();
  // Each of 2 pipelines × (name + run) × (1 + 2 retries).
  EXPECT_EQ(sim.ApiRequests(), 12);
  EXPECT_EQ(Value(text, "yunxiao_flow_up"), 0);
  ASSERT_EQ(sim.Control("POST", "/-/sim/faults", R"({"status5xx":0})").status, 200);
  text = exp.Scrape();
  EXPECT_EQ(CountValue(text, "yunxiao_flow_fetch_success", 1), 2);
  EXPECT_EQ(Value(text, "yunxiao_flow_up"), 1);
}

TEST(Resilience, StaleDataIsServedWhileYoungThenDropped) {
  Simulator sim({.pipelines = 2, .frozen = true});
  auto ids = sim.PipelineIds();
  Exporter exp(sim.Config({.ids = ids, .collect = {{"cache_ttl", "0s"}, {"max_stale", "2s"}}}));
  std::string text = exp.Scrape();
  EXPECT_EQ(CountValue(text, "yunxiao_flow_fetch_success", 1), 2);
  ASSERT_EQ(sim.Control("POST", "/-/sim/faults", R"({"status5xx":1})").status, 200);
  text = exp.Scrape();
  EXPECT_EQ(CountValue(text, "yunxiao_flow_fetch_success", 0), 2);
  EXPECT_EQ(Samples(text, "yunxiao_flow_latest_run_status").size(), 16u);  // still served
  EXPECT_TRUE(
      Eventually([&] { return Samples(exp.Scrape(), "yunxiao_flow_latest_run_status").empty(); },
                 std::chrono::seconds(20), std::chrono::milliseconds(500)));
}

TEST(Resilience, ResponseBodiesAreCapped) {
  Simulator sim({.pipelines = 2, .frozen = true});
  auto ids = sim.PipelineIds();
  Exporter small(sim.Config({.ids = ids, .api = {{"max_response_bytes", "2048"}}}));
  std::string text = small.Scrape();
  EXPECT_EQ(CountValue(text, "yunxiao_flow_fetch_success", 0), 2);
  EXPECT_TRUE(small.process().WaitForOutput("larger than api.max_response_bytes"));

  ASSERT_EQ(sim.Control("POST", "/-/sim/faults", R"({"oversized":1})").status, 200);
  Exporter normal(sim.Config({.ids = ids, .api = {{"max_retries", "0"}}}));
  text = normal.Scrape();
  EXPECT_EQ(CountValue(text, "yunxiao_flow_fetch_success", 0), 2);
  EXPECT_TRUE(normal.process().WaitForOutput("larger than api.max_response_bytes"));
}

TEST(Resilience, MalformedBodiesAreCountedDecodeErrors) {
  Simulator sim({.pipelines = 2, .frozen = true});
  auto ids = sim.PipelineIds();
  ASSERT_EQ(sim.Control("POST", "/-/sim/faults", R"({"malformed":1})").status, 200);
  Exporter exp(sim.Config({.ids = ids}));
  std::string text = exp.Scrape();
  EXPECT_EQ(CountValue(text, "yunxiao_flow_fetch_success", 0), 2);
  EXPECT_GE(
      Value(text, "yunxiao_flow_api_decode_errors_total", {"endpoint=\"latest_pipeline_run\""}), 2);
  EXPECT_TRUE(exp.process().WaitForOutput("cannot decode the latest run"));
  EXPECT_EQ(PromtoolProblems(text), "");
}

TEST(Resilience, RedirectsAreNeverFollowed) {
  Simulator sim({.pipelines = 1, .frozen = true});
  auto ids = sim.PipelineIds();
  ASSERT_EQ(sim.Control("POST", "/-/sim/faults", R"({"redirect":true})").status, 200);
  Exporter exp(sim.Config({.ids = ids}));
  std::string text = exp.Scrape();
  EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success"), 0);
  EXPECT_EQ(Value(text, "yunxiao_flow_up"), 0);
  // The start-up fetch only (the scrape joins it or waits out the failure backoff), none to
  // the redirect's host.
  EXPECT_EQ(Value(text, "yunxiao_flow_api_requests_total",
                  {"endpoint=\"latest_pipeline_run\"", "code=\"302\""}),
            1);
  EXPECT_TRUE(exp.process().WaitForOutput("redirected to http://127.0.0.2:9"));
}

TEST(Resilience, UnreachableApiIsReportedNotFatal) {
  TempDir dir;
  // Port 9 on loopback: nothing listens there, the connection is refused at once.
  Exporter exp(
      "api:\n  endpoint: http://127.0.0.1:9\n  edition: region\n  max_retries: 0\n"
      "pipelines: [\"1\"]\n");
  std::string text = exp.Scrape();
  EXPECT_EQ(Value(text, "yunxiao_flow_up"), 0);
  // Name and run, by the start-up fetch only: the scrape waits out the failure backoff.
  EXPECT_EQ(Sum(text, "yunxiao_flow_api_requests_total", {"code=\"error\""}), 2);
  EXPECT_EQ(PromtoolProblems(text), "");
  EXPECT_EQ(exp.Get("/-/healthy").status, 200);
}

}  // namespace
}  // namespace yfe::testing
