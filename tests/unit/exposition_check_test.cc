#include "support/exposition_check.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <string>

namespace yfe::testing {
namespace {

TEST(CheckExposition, AcceptsValidText) {
  EXPECT_EQ(CheckExposition("# HELP m help\n# TYPE m gauge\nm{a=\"x\\\"\\n\\\\\"} 1\nm 2.5\n"
                            "n +Inf\n"),
            "");
}

TEST(CheckExposition, FindsEachKindOfProblem) {
  EXPECT_NE(CheckExposition("m{a=\"x\"} 1\nm{a=\"x\"} 2\n"), "");  // duplicate series
  EXPECT_NE(CheckExposition("m{a=\"x\\t\"} 1\n"), "");             // bad escape
  EXPECT_NE(CheckExposition("m{a=\"x} 1\n"), "");                  // unterminated
  EXPECT_NE(CheckExposition("1m 1\n"), "");                        // bad name
  EXPECT_NE(CheckExposition("m{a-b=\"x\"} 1\n"), "");              // bad label name
  EXPECT_NE(CheckExposition("m one\n"), "");                       // bad value
  EXPECT_NE(CheckExposition("m{a=\"\xff\"} 1\n"), "");             // not UTF-8
  EXPECT_NE(CheckExposition("m 1"), "");                           // no final newline
  EXPECT_NE(CheckExposition("# TYPE m gauge\n# TYPE m gauge\n"), "");
  EXPECT_NE(CheckExposition("m{a=\"1\",a=\"2\"} 1\n"), "");
}

TEST(ParseExposition, ReadsNamesUnescapedLabelsAndValues) {
  auto samples = ParseExposition("# HELP m h\nm{b=\"x\\\"y\",a=\"1\"} 2.5\nm NaN\nn -Inf\n");
  ASSERT_EQ(samples.size(), 3u);
  EXPECT_EQ(samples[0].name, "m");
  EXPECT_EQ(samples[0].labels, (std::map<std::string, std::string>{{"a", "1"}, {"b", "x\"y"}}));
  EXPECT_EQ(samples[0].value, 2.5);
  EXPECT_TRUE(samples[1].labels.empty());
  EXPECT_TRUE(std::isnan(samples[1].value));
  EXPECT_EQ(samples[2].value, -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(ParseExposition("m{a=\"x\"} 1\nm{a=\"x\"} 2\n").empty()) << "invalid text";
}

TEST(ParseExposition, GetMatchesLabelsExactlyInAnyOrder) {
  const std::string text =
      "s{pipeline_id=\"1\",status=\"FAIL\"} 1\n"
      "s{pipeline_id=\"10\",status=\"FAIL\"} 0\n"
      "s{status=\"SUCCESS\",pipeline_id=\"1\"} 0\n";
  EXPECT_EQ(Get(text, "s", {{"status", "FAIL"}, {"pipeline_id", "1"}}), 1);
  EXPECT_EQ(Get(text, "s", {{"pipeline_id", "10"}}), 0);  // not a prefix match of "1"
  EXPECT_EQ(Get(text, "s", {{"pipeline_id", "1"}, {"status", "SUCCESS"}}), 0);
  EXPECT_TRUE(std::isnan(Get(text, "s", {{"pipeline_id", "2"}})));
  EXPECT_TRUE(std::isnan(Get(text, "s", {{"job", "x"}})));
  EXPECT_TRUE(std::isnan(Get(text, "t")));
  EXPECT_EQ(Get(text, "s"), 1);  // no labels given: the first sample
  EXPECT_EQ(SumOf(text, "s", {{"status", "FAIL"}}), 1);
  EXPECT_EQ(CountOf(text, "s", {{"status", "FAIL"}}), 2u);
}

}  // namespace
}  // namespace yfe::testing
