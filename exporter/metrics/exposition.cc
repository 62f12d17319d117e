#include "metrics/exposition.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "util/escape.h"

namespace yfe::metrics {

namespace {

constexpr EscapeTable kLabelValueEscapes =
    MakeEscapeTable({{'\\', "\\\\"}, {'"', "\\\""}, {'\n', "\\n"}});
constexpr EscapeTable kHelpEscapes = MakeEscapeTable({{'\\', "\\\\"}, {'\n', "\\n"}});

}  // namespace

void AppendEscapedLabelValue(std::string& out, std::string_view value) {
  AppendEscaped(out, value, kLabelValueEscapes);
}

void AppendValue(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, value);
    out.append(buf, ec == std::errc() ? ptr : buf);
  }
}

namespace {

void AppendHelpEscaped(std::string& out, std::string_view help) {
  AppendEscaped(out, help, kHelpEscapes);
}

std::string_view TypeName(Type t) {
  // Indexed by Type.
  static constexpr std::string_view kNames[] = {"gauge", "counter", "histogram"};
  const auto i = static_cast<size_t>(t);
  return i < std::size(kNames) ? kNames[i] : "untyped";
}

void AppendLabel(std::string& out, const Label& l) {
  out += l.first;
  out += "=\"";
  AppendEscapedLabelValue(out, l.second);
  out += '"';
}

// def's labels [first, first + values.size()) must exist, and with `complete` be all.
void CheckLabels(const MetricDef& def, size_t first, size_t values, bool complete) {
  const size_t want = def.LabelCount();
  if (first + values == want || (!complete && first + values < want)) return;
  std::fprintf(stderr, "metric %.*s: %zu label values for %zu catalog labels\n",
               static_cast<int>(def.name.size()), def.name.data(), first + values, want);
  std::abort();
}

void AppendCatalogLabels(std::string& out, const MetricDef& def, size_t first,
                         std::initializer_list<std::string_view> values, bool open) {
  size_t i = first;
  for (std::string_view v : values) {
    out += open ? ',' : '{';
    open = true;
    AppendLabel(out, {def.labels[i++], v});
  }
}

void AppendCatalogSample(std::string& out, const MetricDef& def, std::string_view prefix,
                         size_t prefix_labels, std::initializer_list<std::string_view> values,
                         double value) {
  CheckLabels(def, prefix_labels, values.size(), /*complete=*/true);
  out += def.name;
  out += prefix;
  AppendCatalogLabels(out, def, prefix_labels, values, !prefix.empty());
  if (!prefix.empty() || values.size() > 0) out += '}';
  out += ' ';
  AppendValue(out, value);
  out += '\n';
}

}  // namespace

void AppendHeader(std::string& out, const MetricDef& def, std::string_view help_suffix) {
  out += "# HELP ";
  out += def.name;
  out += ' ';
  AppendHelpEscaped(out, def.help);
  AppendHelpEscaped(out, help_suffix);
  out += "\n# TYPE ";
  out += def.name;
  out += ' ';
  out += TypeName(def.type);
  out += '\n';
}

Prefix ExtendPrefix(const Prefix& base, const MetricDef& def,
                    std::initializer_list<std::string_view> values) {
  CheckLabels(def, base.labels, values.size(), /*complete=*/false);
  Prefix p{base.text, base.labels + values.size()};
  AppendCatalogLabels(p.text, def, base.labels, values, !base.text.empty());
  return p;
}

Prefix ExtendPrefix(std::string_view base, const MetricDef& def,
                    std::initializer_list<std::string_view> values) {
  return ExtendPrefix(Prefix{std::string(base), 0}, def, values);
}

void AppendSample(std::string& out, const MetricDef& def, const Prefix& prefix,
                  std::initializer_list<std::string_view> values, double value) {
  AppendCatalogSample(out, def, prefix.text, prefix.labels, values, value);
}

void AppendSample(std::string& out, const MetricDef& def, std::string_view prefix,
                  std::initializer_list<std::string_view> values, double value) {
  AppendCatalogSample(out, def, prefix, 0, values, value);
}

std::string LabelPrefix(std::initializer_list<Label> labels) { return ExtendPrefix("", labels); }

std::string ExtendPrefix(std::string_view prefix, std::initializer_list<Label> labels) {
  std::string out(prefix);
  for (const Label& l : labels) {
    out += out.empty() ? "{" : ",";
    AppendLabel(out, l);
  }
  return out;
}

void AppendSample(std::string& out, std::string_view name, std::string_view prefix,
                  std::initializer_list<Label> labels, double value) {
  out += name;
  bool open = !prefix.empty();
  out += prefix;
  for (const Label& l : labels) {
    out += open ? ',' : '{';
    open = true;
    AppendLabel(out, l);
  }
  if (open) out += '}';
  out += ' ';
  AppendValue(out, value);
  out += '\n';
}

}  // namespace yfe::metrics
