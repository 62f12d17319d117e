// A strict checker of the Prometheus text format (0.0.4), for the fuzzer and tests:
// metric and label names, escapes, UTF-8, values, HELP/TYPE placement, duplicate series.
// Returns "" when the text is valid, else the first problem.
//
//   EXPECT_EQ(CheckExposition(text), "");
//   EXPECT_EQ(Get(text, "yunxiao_flow_latest_run_status",
//                 {{"pipeline_id", "1"}, {"status", "FAIL"}}), 1);
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace yfe::testing {

std::string CheckExposition(std::string_view text);

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;  // unescaped values
  double value = 0;
};

// Every sample of the text in order (comments skipped); none if CheckExposition fails.
std::vector<Sample> ParseExposition(std::string_view text);

// The value of the first sample of `name` whose labels include each given pair exactly,
// in any order and alongside other labels; NaN if none (or if the text is not valid).
double Get(std::string_view text, std::string_view name,
           const std::map<std::string, std::string>& labels = {});
// The sum over every such sample (0 if none).
double SumOf(std::string_view text, std::string_view name,
             const std::map<std::string, std::string>& labels = {});
// How many samples of `name` have those labels.
size_t CountOf(std::string_view text, std::string_view name,
               const std::map<std::string, std::string>& labels = {});

}  // namespace yfe::testing
