#include "util/duration.h"

#include <cstdint>
#include <limits>

namespace yfe {
namespace {

struct Unit {
  std::string_view name;
  int64_t nanos;
};

// Longest names first so that "ms" is not read as "m".
constexpr Unit kUnits[] = {
    {"ns", 1},
    {"us", 1'000},
    {"\xC2\xB5s", 1'000},  // µs
    {"ms", 1'000'000},
    {"s", 1'000'000'000},
    {"m", 60LL * 1'000'000'000},
    {"h", 3600LL * 1'000'000'000},
    {"d", 86400LL * 1'000'000'000},
    {"w", 7 * 86400LL * 1'000'000'000},
};

}  // namespace

Result<std::chrono::nanoseconds> ParseDuration(std::string_view text) {
  const std::string original(text);
  auto bad = [&](const std::string& why) {
    return Error("invalid duration \"" + original + "\": " + why +
                 " (use e.g. 500ms, 10s, 5m, 1h30m)");
  };
  if (text.empty()) return bad("empty");
  if (text == "0") return std::chrono::nanoseconds(0);
  long double total = 0;
  while (!text.empty()) {
    size_t i = 0;
    long double number = 0;
    bool digits = false;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      number = number * 10 + (text[i] - '0');
      digits = true;
      ++i;
    }
    if (i < text.size() && text[i] == '.') {
      ++i;
      long double scale = 0.1L;
      while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        number += (text[i] - '0') * scale;
        scale /= 10;
        digits = true;
        ++i;
      }
    }
    if (!digits) return bad("expected a number");
    text.remove_prefix(i);
    const Unit* unit = nullptr;
    for (const Unit& u : kUnits) {
      if (text.starts_with(u.name)) {
        // "m" must not swallow the start of "ms".
        if (!unit || u.name.size() > unit->name.size()) unit = &u;
      }
    }
    if (!unit) return bad("missing or unknown unit");
    text.remove_prefix(unit->name.size());
    total += number * static_cast<long double>(unit->nanos);
    if (total > static_cast<long double>(std::numeric_limits<int64_t>::max())) {
      return bad("too large");
    }
  }
  return std::chrono::nanoseconds(static_cast<int64_t>(total));
}

std::string FormatDuration(std::chrono::nanoseconds d) {
  int64_t ns = d.count();
  if (ns == 0) return "0s";
  std::string out;
  if (ns % 1'000'000'000 != 0) {
    if (ns % 1'000'000 == 0) return std::to_string(ns / 1'000'000) + "ms";
    return std::to_string(ns) + "ns";
  }
  int64_t s = ns / 1'000'000'000;
  if (s >= 3600) {
    out += std::to_string(s / 3600) + "h";
    s %= 3600;
  }
  if (s >= 60) {
    out += std::to_string(s / 60) + "m";
    s %= 60;
  }
  if (s > 0) out += std::to_string(s) + "s";
  return out;
}

}  // namespace yfe
