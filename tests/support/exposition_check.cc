#include "support/exposition_check.h"

#include <cstdlib>
#include <set>

#include "model/decode.h"

namespace yfe::testing {
namespace {

bool NameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool NameChar(char c) { return NameStart(c) || (c >= '0' && c <= '9'); }

// Reads a name at s[i]; returns its length (0 if none).
size_t ReadName(std::string_view s, size_t i, bool allow_colon) {
  size_t j = i;
  while (j < s.size() && NameChar(s[j]) && (allow_colon || s[j] != ':')) {
    if (j == i && !NameStart(s[j])) return 0;
    ++j;
  }
  return j - i;
}

std::string CheckSample(std::string_view line, std::set<std::string>& seen) {
  size_t n = ReadName(line, 0, true);
  if (n == 0) return "bad metric name";
  size_t i = n;
  std::string series(line.substr(0, n));
  if (i < line.size() && line[i] == '{') {
    ++i;
    std::set<std::string> labels;
    while (i < line.size() && line[i] != '}') {
      size_t ln = ReadName(line, i, false);
      if (ln == 0) return "bad label name";
      std::string label(line.substr(i, ln));
      if (!labels.insert(label).second) return "duplicate label " + label;
      i += ln;
      if (i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') return "expected =\"";
      i += 2;
      std::string value;
      while (i < line.size() && line[i] != '"') {
        if (line[i] == '\\') {
          if (i + 1 >= line.size()) return "dangling escape";
          char e = line[i + 1];
          if (e != '\\' && e != '"' && e != 'n') return "bad escape";
          value += e;
          i += 2;
        } else {
          value += line[i++];
        }
      }
      if (i >= line.size()) return "unterminated label value";
      if (model::SanitizeLabel(value, value.size() + 1) != value) return "label value not UTF-8";
      ++i;
      if (i < line.size() && line[i] == ',') ++i;
    }
    if (i >= line.size()) return "unterminated label set";
    series += std::string(line.substr(n, i + 1 - n));
    ++i;
  }
  if (i >= line.size() || line[i] != ' ') return "expected a space before the value";
  std::string value(line.substr(i + 1));
  if (value != "NaN" && value != "+Inf" && value != "-Inf") {
    char* end = nullptr;
    std::strtod(value.c_str(), &end);
    if (value.empty() || *end != '\0') return "bad value '" + value + "'";
  }
  if (!seen.insert(series).second) return "duplicate series " + series;
  return "";
}

}  // namespace

std::string CheckExposition(std::string_view text) {
  std::set<std::string> seen, typed;
  size_t start = 0;
  if (!text.empty() && text.back() != '\n') return "text does not end with a newline";
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (line.empty()) return "empty line";
    if (line[0] == '#') {
      if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
        size_t n = ReadName(line, 7, true);
        if (n == 0) return "bad name in " + std::string(line.substr(0, 40));
        if (line.starts_with("# TYPE ") && !typed.insert(std::string(line.substr(7, n))).second) {
          return "TYPE twice for " + std::string(line.substr(7, n));
        }
      }
      continue;
    }
    std::string problem = CheckSample(line, seen);
    if (!problem.empty()) return problem + " in: " + std::string(line.substr(0, 200));
  }
  return "";
}

}  // namespace yfe::testing
