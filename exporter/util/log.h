// Structured logging in logfmt (default) or JSON lines, to stderr. Thread-safe.
//
//   logging::Info("fetch failed", {{"pipeline_id", id}, {"err", message}});
//
// Every registered secret (the API token) is replaced by "<redacted>" in every line
// before it is written: a safety net behind the rule that secrets are never logged.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "util/result.h"

namespace yfe::logging {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class Format { kLogfmt, kJson };

using Field = std::pair<std::string_view, std::string_view>;

Result<Level> ParseLevel(std::string_view text);
Result<Format> ParseFormat(std::string_view text);

void Configure(Level level, Format format);
bool Enabled(Level level);
// Adds a string that must never appear in output. Empty and very short strings are ignored.
// Output also loses any run of the secret's first 8 or more characters (a truncated echo)
// and the secret's escaped form (quotes and backslashes as logfmt and JSON write them).
void RegisterSecret(const std::string& secret);
void Write(Level level, std::string_view msg, std::initializer_list<Field> fields = {});
// The text with every registered secret replaced, for output that bypasses the logger
// (--config.check, HTTP error bodies).
std::string Redacted(std::string text);

inline void Debug(std::string_view msg, std::initializer_list<Field> f = {}) {
  if (Enabled(Level::kDebug)) Write(Level::kDebug, msg, f);
}
inline void Info(std::string_view msg, std::initializer_list<Field> f = {}) {
  Write(Level::kInfo, msg, f);
}
inline void Warn(std::string_view msg, std::initializer_list<Field> f = {}) {
  Write(Level::kWarn, msg, f);
}
inline void Error(std::string_view msg, std::initializer_list<Field> f = {}) {
  Write(Level::kError, msg, f);
}

// Formats one line without writing it (for tests).
std::string FormatLine(Format format, Level level, std::string_view ts, std::string_view msg,
                       std::initializer_list<Field> fields);

}  // namespace yfe::logging
