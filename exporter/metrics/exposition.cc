#include "metrics/exposition.h"

#include <charconv>
#include <cmath>

namespace yfe::metrics {

void AppendEscapedLabelValue(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
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
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

const char* TypeName(Type t) {
  switch (t) {
    case Type::kCounter:
      return "counter";
    case Type::kHistogram:
      return "histogram";
    case Type::kGauge:
      return "gauge";
  }
  return "untyped";
}

void AppendLabel(std::string& out, const Label& l) {
  out += l.first;
  out += "=\"";
  AppendEscapedLabelValue(out, l.second);
  out += '"';
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
