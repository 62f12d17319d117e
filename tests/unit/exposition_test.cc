#include "metrics/exposition.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "metrics/catalog.h"
#include "metrics/translate.h"
#include "support/exposition_check.h"

namespace yfe::metrics {
namespace {

TEST(Exposition, ValuesAndEscaping) {
  std::string out;
  AppendSample(out, "m", LabelPrefix({{"a", "x\"y\\z\nw"}}), {{"b", "中文"}}, 1.5);
  EXPECT_EQ(out, "m{a=\"x\\\"y\\\\z\\nw\",b=\"中文\"} 1.5\n");
  out.clear();
  AppendSample(out, "m", "", {}, 1729178040);
  EXPECT_EQ(out, "m 1729178040\n");
  out.clear();
  AppendValue(out, 0.1);
  EXPECT_EQ(out, "0.1");
}

TEST(Exposition, SpecialValuesAreSpelledAsPrometheusReadsThem) {
  std::string out;
  AppendValue(out, std::nan(""));
  out += ' ';
  AppendValue(out, std::numeric_limits<double>::infinity());
  out += ' ';
  AppendValue(out, -std::numeric_limits<double>::infinity());
  out += ' ';
  AppendValue(out, -0.25);
  out += ' ';
  AppendValue(out, 1e300);
  EXPECT_EQ(out, "NaN +Inf -Inf -0.25 1e+300");
}

TEST(Exposition, HeaderEscapesHelpButNotQuotes) {
  const MetricDef def{"yunxiao_flow_x", Type::kCounter, "a \\ and a\nnewline \"kept\"", {}};
  std::string out;
  AppendHeader(out, def, " (cached 30s)");
  EXPECT_EQ(out,
            "# HELP yunxiao_flow_x a \\\\ and a\\nnewline \"kept\" (cached 30s)\n"
            "# TYPE yunxiao_flow_x counter\n");
  out.clear();
  AppendHeader(out, {"h", Type::kHistogram, "help", {}});
  AppendHeader(out, {"g", Type::kGauge, "help", {}});
  EXPECT_NE(out.find("# TYPE h histogram\n"), std::string::npos) << out;
  EXPECT_NE(out.find("# TYPE g gauge\n"), std::string::npos) << out;
}

TEST(Exposition, PrefixesExtendInOrderAndTheResultParses) {
  const std::string prefix = LabelPrefix({{"pipeline_id", "1"}});
  EXPECT_EQ(prefix, "{pipeline_id=\"1\"");
  EXPECT_EQ(ExtendPrefix(prefix, {{"stage", "b\"d"}}), "{pipeline_id=\"1\",stage=\"b\\\"d\"");
  EXPECT_EQ(ExtendPrefix("", {}), "");
  std::string out;
  AppendHeader(out, {"yunxiao_flow_x", Type::kGauge, "help", {}});
  AppendSample(out, "yunxiao_flow_x", ExtendPrefix(prefix, {{"a", "\\"}}), {{"b", "\n"}}, 2);
  AppendSample(out, "yunxiao_flow_x", "", {{"pipeline_id", "2"}}, 3);
  EXPECT_EQ(out.substr(out.find("yunxiao_flow_x{")),
            "yunxiao_flow_x{pipeline_id=\"1\",a=\"\\\\\",b=\"\\n\"} 2\n"
            "yunxiao_flow_x{pipeline_id=\"2\"} 3\n");
  EXPECT_EQ(testing::CheckExposition(out), "");
}

TEST(CatalogSamples, LabelNamesComeFromTheCatalog) {
  std::string out;
  AppendSample(out, kBuildInfo, "", {"1.2.3", "abc"}, 1);
  EXPECT_EQ(out, "yunxiao_flow_exporter_build_info{version=\"1.2.3\",revision=\"abc\"} 1\n");
  out.clear();
  AppendSample(out, kUp, "", {}, 1);
  EXPECT_EQ(out, "yunxiao_flow_up 1\n");
  out.clear();
  // After the per-pipeline pair, the metric's own labels, escaped.
  const std::string pipeline = PipelinePrefix({"7", "web"});
  AppendSample(out, kRunsTotal, pipeline, {"FAIL", "MANUAL\"x"}, 2);
  EXPECT_EQ(out,
            "yunxiao_flow_pipeline_runs_total{pipeline_id=\"7\",pipeline_name=\"web\","
            "status=\"FAIL\",trigger_mode=\"MANUAL\\\"x\"} 2\n");
}

TEST(CatalogSamples, APrefixHoldsTheFirstLabels) {
  const MetricDef& stage_status = kPipelineMetrics[kStageStatus];
  const MetricDef& stage_start = kPipelineMetrics[kStageStart];
  const Prefix stage = ExtendPrefix(PipelinePrefix({"7", "web"}), stage_start, {"0", "build"});
  EXPECT_EQ(stage.labels, 2u);
  std::string out;
  AppendSample(out, stage_start, stage, {}, 5);
  AppendSample(out, stage_status, stage, {"SUCCESS"}, 1);
  EXPECT_EQ(out,
            "yunxiao_flow_latest_run_stage_start_timestamp_seconds{pipeline_id=\"7\","
            "pipeline_name=\"web\",stage_index=\"0\",stage_name=\"build\"} 5\n"
            "yunxiao_flow_latest_run_stage_status{pipeline_id=\"7\",pipeline_name=\"web\","
            "stage_index=\"0\",stage_name=\"build\",status=\"SUCCESS\"} 1\n");
  // Without the per-pipeline pair.
  EXPECT_EQ(ExtendPrefix("", kApiRequests, {"x"}).text, "{endpoint=\"x\"");
}

// A sample whose values do not match the catalog's labels is a programming error: it must
// not reach a scrape as a series with missing or shifted labels.
TEST(CatalogSamplesDeathTest, ACountOtherThanTheCatalogsAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  std::string out;
  EXPECT_DEATH(AppendSample(out, kBuildInfo, "", {"1.2.3"}, 1), "2 catalog labels");
  EXPECT_DEATH(AppendSample(out, kUp, "", {"extra"}, 1), "0 catalog labels");
  EXPECT_DEATH(AppendSample(out, kRunsTotal, "", {"FAIL", "MANUAL", "more"}, 1), "3 label values");
  const Prefix stage = ExtendPrefix("", kPipelineMetrics[kStageStart], {"0", "build"});
  EXPECT_DEATH(AppendSample(out, kPipelineMetrics[kStageStatus], stage, {}, 1),
               "2 label values for 3");
  EXPECT_DEATH(ExtendPrefix("", kDecodeErrors, {"a", "b"}), "1 catalog labels");
}

}  // namespace
}  // namespace yfe::metrics
