#include "util/log.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <vector>

#include "util/escape.h"

namespace yfe::logging {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::atomic<int> g_format{static_cast<int>(Format::kLogfmt)};
std::mutex g_mu;  // guards g_secrets and serializes writes
std::vector<std::string> g_secrets;

const char* LevelName(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

bool NeedsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (unsigned char c : v) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f) return true;
  }
  return false;
}

constexpr EscapeTable kQuotedEscapes = MakeJsonEscapeTable(
    {{'"', "\\\""}, {'\\', "\\\\"}, {'\n', "\\n"}, {'\r', "\\r"}, {'\t', "\\t"}});

void AppendQuoted(std::string& out, std::string_view v) { AppendEscaped(out, v, kQuotedEscapes); }

void AppendLogfmt(std::string& out, std::string_view k, std::string_view v) {
  if (!out.empty()) out += ' ';
  out += k;
  out += '=';
  if (NeedsQuotes(v)) {
    out += '"';
    AppendQuoted(out, v);
    out += '"';
  } else {
    out += v;
  }
}

void AppendJson(std::string& out, std::string_view k, std::string_view v) {
  out += out.size() > 1 ? ",\"" : "\"";
  AppendQuoted(out, k);
  out += "\":\"";
  AppendQuoted(out, v);
  out += '"';
}

std::string Timestamp() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms.count()));
  return buf;
}

constexpr std::string_view kPlaceholder = "<redacted>";
// A cut echo (an error message that truncates the value it quotes) still starts with the
// secret: any run of at least this many of its first characters is replaced.
constexpr size_t kMinPrefix = 8;

// Replaces each occurrence of `secret`, or of a prefix of it at least kMinPrefix long, by
// the placeholder. The search resumes after the inserted placeholder, so a secret that
// is part of the placeholder ("redacted") cannot make it loop.
void RedactOne(std::string& line, std::string_view secret) {
  const std::string_view head = secret.substr(0, std::min(secret.size(), kMinPrefix));
  for (size_t pos = line.find(head); pos != std::string::npos;
       pos = line.find(head, pos + kPlaceholder.size())) {
    size_t n = head.size();
    while (n < secret.size() && pos + n < line.size() && line[pos + n] == secret[n]) ++n;
    line.replace(pos, n, kPlaceholder);
  }
}

void Redact(std::string& line) {
  for (const std::string& s : g_secrets) {
    RedactOne(line, s);
    // The logfmt and JSON forms escape quotes and backslashes: match that form too.
    std::string escaped;
    AppendQuoted(escaped, s);
    if (escaped != s) RedactOne(line, escaped);
  }
}

}  // namespace

Result<Level> ParseLevel(std::string_view text) {
  if (text == "debug") return Level::kDebug;
  if (text == "info") return Level::kInfo;
  if (text == "warn") return Level::kWarn;
  if (text == "error") return Level::kError;
  return yfe::Error("invalid log level \"" + std::string(text) +
                    "\": use debug, info, warn or error");
}

Result<Format> ParseFormat(std::string_view text) {
  if (text == "logfmt") return Format::kLogfmt;
  if (text == "json") return Format::kJson;
  return yfe::Error("invalid log format \"" + std::string(text) + "\": use logfmt or json");
}

void Configure(Level level, Format format) {
  g_level = static_cast<int>(level);
  g_format = static_cast<int>(format);
}

bool Enabled(Level level) { return static_cast<int>(level) >= g_level.load(); }

void RegisterSecret(const std::string& secret) {
  if (secret.size() < 4) return;
  std::lock_guard lock(g_mu);
  for (const auto& s : g_secrets) {
    if (s == secret) return;
  }
  g_secrets.push_back(secret);
}

std::string FormatLine(Format format, Level level, std::string_view ts, std::string_view msg,
                       std::initializer_list<Field> fields) {
  std::string line;
  line.reserve(128);
  if (format == Format::kJson) {
    line += '{';
    AppendJson(line, "ts", ts);
    AppendJson(line, "level", LevelName(level));
    AppendJson(line, "msg", msg);
    for (const auto& [k, v] : fields) AppendJson(line, k, v);
    line += '}';
  } else {
    AppendLogfmt(line, "ts", ts);
    AppendLogfmt(line, "level", LevelName(level));
    AppendLogfmt(line, "msg", msg);
    for (const auto& [k, v] : fields) AppendLogfmt(line, k, v);
  }
  line += '\n';
  return line;
}

std::string Redacted(std::string text) {
  std::lock_guard lock(g_mu);
  Redact(text);
  return text;
}

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  if (!Enabled(level)) return;
  std::string line =
      FormatLine(static_cast<Format>(g_format.load()), level, Timestamp(), msg, fields);
  std::lock_guard lock(g_mu);
  Redact(line);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace yfe::logging
