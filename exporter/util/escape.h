// Escaping by table: each escaping (Prometheus label values and help text, HTML, JSON log
// strings) is the list of characters it replaces, declared once as data.
//
//   constexpr EscapeTable kHtml = MakeEscapeTable({{'<', "&lt;"}, {'&', "&amp;"}});
//   AppendEscaped(out, text, kHtml);
#pragma once

#include <array>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace yfe {

// By byte: the replacement, or empty to copy the byte as it is.
using EscapeTable = std::array<std::string_view, 256>;

constexpr EscapeTable MakeEscapeTable(
    std::initializer_list<std::pair<char, std::string_view>> replacements) {
  EscapeTable t{};
  for (const auto& [c, with] : replacements) t[static_cast<unsigned char>(c)] = with;
  return t;
}

// The control characters below 0x20 as JSON \u00XX escapes, with these replacements over
// them.
constexpr EscapeTable MakeJsonEscapeTable(
    std::initializer_list<std::pair<char, std::string_view>> replacements) {
  constexpr std::string_view kControl[32] = {
      "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006", "\\u0007",
      "\\u0008", "\\u0009", "\\u000a", "\\u000b", "\\u000c", "\\u000d", "\\u000e", "\\u000f",
      "\\u0010", "\\u0011", "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017",
      "\\u0018", "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f"};
  EscapeTable t{};
  for (size_t c = 0; c < 32; ++c) t[c] = kControl[c];
  for (const auto& [c, with] : replacements) t[static_cast<unsigned char>(c)] = with;
  return t;
}

inline void AppendEscaped(std::string& out, std::string_view s, const EscapeTable& table) {
  for (char c : s) {
    std::string_view with = table[static_cast<unsigned char>(c)];
    if (with.empty()) {
      out += c;
    } else {
      out += with;
    }
  }
}

}  // namespace yfe
