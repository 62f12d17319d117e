#include "metrics/exposition.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

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

}  // namespace
}  // namespace yfe::metrics
