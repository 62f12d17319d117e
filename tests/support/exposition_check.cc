#include "support/exposition_check.h"

#include <cmath>
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

// Parses one sample line into *out; returns the problem ("" if none). `series` is the
// name with the label set as written, for finding duplicates.
std::string ParseSample(std::string_view line, Sample* out, std::string* series_out) {
  size_t n = ReadName(line, 0, true);
  if (n == 0) return "bad metric name";
  size_t i = n;
  out->name = std::string(line.substr(0, n));
  std::string series = out->name;
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      size_t ln = ReadName(line, i, false);
      if (ln == 0) return "bad label name";
      std::string label(line.substr(i, ln));
      if (out->labels.contains(label)) return "duplicate label " + label;
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
      out->labels[label] = value;
      ++i;
      if (i < line.size() && line[i] == ',') ++i;
    }
    if (i >= line.size()) return "unterminated label set";
    series += std::string(line.substr(n, i + 1 - n));
    ++i;
  }
  if (i >= line.size() || line[i] != ' ') return "expected a space before the value";
  std::string value(line.substr(i + 1));
  if (value == "NaN" || value == "+Inf" || value == "-Inf") {
    out->value = value == "NaN" ? std::nan("") : std::strtod(value.c_str(), nullptr);
  } else {
    char* end = nullptr;
    out->value = std::strtod(value.c_str(), &end);
    if (value.empty() || *end != '\0') return "bad value '" + value + "'";
  }
  *series_out = series;
  return "";
}

// Walks the text line by line: returns the first problem, and the samples if there is none.
std::string Parse(std::string_view text, std::vector<Sample>* samples) {
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
    Sample sample;
    std::string series;
    std::string problem = ParseSample(line, &sample, &series);
    if (problem.empty() && !seen.insert(series).second) problem = "duplicate series " + series;
    if (!problem.empty()) return problem + " in: " + std::string(line.substr(0, 200));
    if (samples) samples->push_back(std::move(sample));
  }
  return "";
}

}  // namespace

std::string CheckExposition(std::string_view text) { return Parse(text, nullptr); }

std::vector<Sample> ParseExposition(std::string_view text) {
  std::vector<Sample> samples;
  if (!Parse(text, &samples).empty()) samples.clear();
  return samples;
}

namespace {

// The samples of `name` that carry every given label with exactly that value.
std::vector<Sample> Matching(std::string_view text, std::string_view name,
                             const std::map<std::string, std::string>& labels) {
  std::vector<Sample> out;
  for (Sample& s : ParseExposition(text)) {
    if (s.name != name) continue;
    bool all = true;
    for (const auto& [k, v] : labels) {
      auto it = s.labels.find(k);
      all &= it != s.labels.end() && it->second == v;
    }
    if (all) out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

double Get(std::string_view text, std::string_view name,
           const std::map<std::string, std::string>& labels) {
  auto found = Matching(text, name, labels);
  return found.empty() ? std::nan("") : found.front().value;
}

double SumOf(std::string_view text, std::string_view name,
             const std::map<std::string, std::string>& labels) {
  double sum = 0;
  for (const Sample& s : Matching(text, name, labels)) sum += s.value;
  return sum;
}

size_t CountOf(std::string_view text, std::string_view name,
               const std::map<std::string, std::string>& labels) {
  return Matching(text, name, labels).size();
}

}  // namespace yfe::testing
