// Writing the Prometheus text exposition format (version 0.0.4) into strings.
// Pure functions; label values must already be valid UTF-8 (model::SanitizeLabel).
//
//   std::string out;
//   AppendHeader(out, def);                       // # HELP / # TYPE
//   std::string prefix = LabelPrefix({{"pipeline_id", "1"}});
//   AppendSample(out, def, prefix, {"FAIL"}, 1);  // def.labels = {"status"}
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "metrics/catalog.h"

namespace yfe::metrics {

using Label = std::pair<std::string_view, std::string_view>;

inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

void AppendEscapedLabelValue(std::string& out, std::string_view value);
void AppendValue(std::string& out, double value);
// help_suffix is appended to the catalog's help text (e.g. how long data is cached).
void AppendHeader(std::string& out, const MetricDef& def, std::string_view help_suffix = "");

// The opening of a label set, `{a="x",b="y"`, shared by many samples.
std::string LabelPrefix(std::initializer_list<Label> labels);
// prefix followed by more labels; prefix may be empty.
std::string ExtendPrefix(std::string_view prefix, std::initializer_list<Label> labels);

// Appends `name{<prefix>,k="v"...} value\n`. prefix may be empty.
void AppendSample(std::string& out, std::string_view name, std::string_view prefix,
                  std::initializer_list<Label> labels, double value);

// ---- Samples of a catalog metric: label names from its MetricDef ----
// The label values are given in the order of def.labels; their count is checked against
// the catalog (a mismatch is a programming error: it aborts, in every build type).

// A label prefix that already holds the first `labels` of a metric's catalog labels (the
// per-pipeline pair, PipelinePrefix, is not among them: a plain string prefix holds 0).
struct Prefix {
  std::string text;
  size_t labels = 0;
};
// base followed by the next values.size() of def's labels.
Prefix ExtendPrefix(const Prefix& base, const MetricDef& def,
                    std::initializer_list<std::string_view> values);
Prefix ExtendPrefix(std::string_view base, const MetricDef& def,
                    std::initializer_list<std::string_view> values);
// Appends `def.name{<prefix>,<the rest of def's labels>="<values>"} value\n`.
void AppendSample(std::string& out, const MetricDef& def, const Prefix& prefix,
                  std::initializer_list<std::string_view> values, double value);
void AppendSample(std::string& out, const MetricDef& def, std::string_view prefix,
                  std::initializer_list<std::string_view> values, double value);

}  // namespace yfe::metrics
