// The segmented gzip body end to end: assembled from per-group segments by the real
// exporter, read by independent decoders (curl, Python's gzip module, a real Prometheus).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>

#include "support/harness.h"
#include "support/prometheus.h"

namespace yfe::testing {
namespace {

// The exposition up to the per-scrape tail (which starts with yunxiao_flow_up and carries
// the scrape's own duration and counters).
std::string PipelinePart(const std::string& text) {
  return text.substr(0, text.find("# HELP yunxiao_flow_up "));
}

size_t SampleLines(const std::string& text, const std::string& needle = "") {
  size_t n = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != '#' &&
        (needle.empty() || line.find(needle) != std::string::npos)) {
      ++n;
    }
  }
  return n;
}

TEST(SharedBody, GzipDecodesWithCurlAndPythonToTheIdentityExposition) {
  Simulator sim({.pipelines = 400, .frozen = true, .flags = {"--stages=5", "--jobs-per-stage=4"}});
  auto ids = sim.PipelineIds();
  ASSERT_EQ(ids.size(), 400u);
  std::mt19937 rng(20261201);
  std::shuffle(ids.begin(), ids.end(), rng);
  ids.resize(150 + rng() % 200);  // a random subset, in a random order
  Exporter exp(sim.Config({.ids = ids}));
  ASSERT_TRUE(exp.started());
  const std::string url = "http://127.0.0.1:" + std::to_string(exp.port()) + "/metrics";

  std::string identity;
  ASSERT_EQ(RunCommand("curl -sf -H 'Accept-Encoding: identity' " + url, &identity), 0);
  ASSERT_GT(SampleLines(identity, "pipeline_id=\""), ids.size() * 20);
  EXPECT_EQ(PipelineIdsIn(identity, "yunxiao_flow_fetch_success").size(), ids.size());
  EXPECT_EQ(PromtoolProblems(identity), "");

  TempDir dir;
  const std::string raw = dir.path() + "/body.gz";
  std::string headers;
  ASSERT_EQ(RunCommand("curl -sf -H 'Accept-Encoding: gzip' -D - -o " + raw + " " + url, &headers),
            0);
  EXPECT_NE(headers.find("Content-Encoding: gzip"), std::string::npos) << headers;
  const std::string gz = ReadFile(raw);
  ASSERT_GT(gz.size(), 18u);
  EXPECT_LT(gz.size() * 8, identity.size());

  // Python's gzip checks the CRC-32 and length in the trailer and that the member ends.
  std::string python;
  ASSERT_EQ(
      RunCommand("/usr/bin/python3 -c \"import gzip,sys; "
                 "sys.stdout.buffer.write(gzip.decompress(open(sys.argv[1],'rb').read()))\" " +
                     raw,
                 &python),
      0);
  std::string via_curl;
  ASSERT_EQ(RunCommand("curl -sf --compressed " + url, &via_curl), 0);
  std::string via_gzip;
  ASSERT_EQ(RunCommand("gzip -dc < " + raw, &via_gzip), 0);

  // The pipelines' part is byte for byte the same in every decoding; only the tail (scrape
  // duration, self metrics) belongs to each scrape.
  const std::string want = PipelinePart(identity);
  ASSERT_GT(want.size(), 100000u);
  EXPECT_TRUE(PipelinePart(python) == want);
  EXPECT_TRUE(PipelinePart(via_curl) == want);
  EXPECT_TRUE(PipelinePart(via_gzip) == want);
  EXPECT_TRUE(python == via_gzip);
  EXPECT_EQ(Value(python, "yunxiao_flow_up"), 1);
  EXPECT_EQ(PromtoolProblems(python), "");
}

// The short version of `scrape_bench --prometheus-seconds` (docs/performance.md).
TEST(SharedBody, RealPrometheusStoresEverySampleAtAThousandPipelines) {
  Simulator sim({.pipelines = 1000,
                 .frozen = true,
                 .flags = {"--stages=5", "--jobs-per-stage=4", "--threads=16"}});
  auto ids = sim.PipelineIds();
  ASSERT_EQ(ids.size(), 1000u);
  std::string config = "api:\n  endpoint: " + sim.Endpoint() +
                       "\n  edition: central\n  organization_id: sim-org\n"
                       "  max_concurrency: 16\n  max_requests_per_second: 100000\n"
                       "  rate_limit_burst: 100\npipelines:\n";
  for (const auto& id : ids) config += "  - id: \"" + id + "\"\n    name: p-" + id + "\n";
  Exporter exp(config);
  ASSERT_TRUE(exp.started());

  PrometheusServer prom(exp.port(), "5s", "4s");
  ASSERT_TRUE(prom.Ready()) << prom.process().Stderr();
  const std::string job = "{job=\"yunxiao-flow-exporter\"}";
  ASSERT_TRUE(Eventually([&] { return prom.Scalar("count_over_time(up" + job + "[5m])") >= 5; },
                         std::chrono::seconds(60), std::chrono::seconds(1)));
  EXPECT_EQ(prom.Scalar("min_over_time(up" + job + "[5m])"), 1);
  // Every scrape ended inside the 4 s timeout (up is 1). Prometheus's own duration includes
  // its inflating and parsing, which depends on the machine's load: recorded, not asserted.
  ::testing::Test::RecordProperty(
      "scrape_duration_max_seconds",
      std::to_string(prom.Scalar("max_over_time(scrape_duration_seconds" + job + "[5m])")));

  const std::string text = exp.Get("/metrics", {{"Accept-Encoding", "identity"}}).body;
  const size_t pipeline_samples = SampleLines(text, "pipeline_id=\"");
  ASSERT_GT(pipeline_samples, 70000u);
  // Every per-pipeline sample arrived and was stored as its own series.
  EXPECT_EQ(prom.Scalar("count({job=\"yunxiao-flow-exporter\",pipeline_id!=\"\"})"),
            static_cast<double>(pipeline_samples));
  EXPECT_EQ(prom.Scalar("count(yunxiao_flow_fetch_success" + job + " == 1)"), 1000);
  // The whole scrape: the self metrics may differ by a few series between two scrapes.
  EXPECT_NEAR(prom.Scalar("scrape_samples_scraped" + job), static_cast<double>(SampleLines(text)),
              20);
  const double body = prom.Scalar("scrape_body_size_bytes" + job);  // uncompressed size
  if (!std::isnan(body)) {
    EXPECT_NEAR(body, static_cast<double>(text.size()), 4096);
  }
}

}  // namespace
}  // namespace yfe::testing
