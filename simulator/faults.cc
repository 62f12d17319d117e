#include "faults.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>

namespace yfe::sim {
namespace {

bool ReadProbability(const rapidjson::Value& v, const char* key, double* out, std::string* error) {
  if (!v.IsNumber() || !std::isfinite(v.GetDouble()) || v.GetDouble() < 0 || v.GetDouble() > 1) {
    *error = std::string(key) + " must be a number in [0, 1]";
    return false;
  }
  *out = v.GetDouble();
  return true;
}

bool ReadMillis(const rapidjson::Value& v, const char* key, std::chrono::microseconds* out,
                std::string* error) {
  if (!v.IsNumber() || !std::isfinite(v.GetDouble()) || v.GetDouble() < 0 ||
      v.GetDouble() > 3600e3) {
    *error = std::string(key) + " must be a number of milliseconds in [0, 3600000]";
    return false;
  }
  *out = std::chrono::microseconds(std::llround(v.GetDouble() * 1000));
  return true;
}

bool ReadBool(const rapidjson::Value& v, const char* key, bool* out, std::string* error) {
  if (!v.IsBool()) {
    *error = std::string(key) + " must be true or false";
    return false;
  }
  *out = v.GetBool();
  return true;
}

}  // namespace

std::string PermissionOfEndpoint(std::string_view e) {
  if (e.find("group") != std::string_view::npos || e.find("Group") != std::string_view::npos) {
    return "group";
  }
  if (e.find("run") != std::string_view::npos || e.find("Run") != std::string_view::npos) {
    return "run";
  }
  if (e.find("ipeline") != std::string_view::npos) return "pipeline";
  return "";
}

bool ParseFaultSettings(std::string_view json, const FaultSettings& base, FaultSettings* out,
                        std::optional<double>* for_seconds, std::string* error) {
  rapidjson::Document doc;
  if (json.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    json = "{}";
  }
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    *error = "body must be a JSON object";
    return false;
  }
  FaultSettings s = base;
  for_seconds->reset();
  // Indexing instead of iterator comparison: RapidJSON 1.1's iterator
  // operators are ambiguous under C++20 rewritten comparisons (clang warns).
  for (rapidjson::SizeType i = 0; i < doc.MemberCount(); ++i) {
    const auto& member = doc.MemberBegin()[i];
    const std::string key(member.name.GetString(), member.name.GetStringLength());
    const rapidjson::Value& v = member.value;
    bool ok = true;
    if (key == "status5xx") {
      ok = ReadProbability(v, "status5xx", &s.status5xx, error);
    } else if (key == "status429") {
      ok = ReadProbability(v, "status429", &s.status429, error);
    } else if (key == "malformed") {
      ok = ReadProbability(v, "malformed", &s.malformed, error);
    } else if (key == "oversized") {
      ok = ReadProbability(v, "oversized", &s.oversized, error);
    } else if (key == "slowBody") {
      ok = ReadProbability(v, "slowBody", &s.slow_body, error);
    } else if (key == "reset") {
      ok = ReadProbability(v, "reset", &s.reset, error);
    } else if (key == "retryAfterSeconds") {
      if (!v.IsInt() || v.GetInt() < 0 || v.GetInt() > 86400) {
        *error = "retryAfterSeconds must be an integer in [0, 86400]";
        ok = false;
      } else {
        s.retry_after_seconds = v.GetInt();
      }
    } else if (key == "latencyMs") {
      ok = ReadMillis(v, "latencyMs", &s.latency, error);
    } else if (key == "latencyJitterMs") {
      ok = ReadMillis(v, "latencyJitterMs", &s.latency_jitter, error);
    } else if (key == "rejectToken") {
      ok = ReadBool(v, "rejectToken", &s.reject_token, error);
    } else if (key == "redirect") {
      ok = ReadBool(v, "redirect", &s.redirect, error);
    } else if (key == "expiredToken") {
      ok = ReadBool(v, "expiredToken", &s.expired_token, error);
    } else if (key == "organizationError") {
      const std::string value = v.IsString() ? v.GetString() : "?";
      if (value != "" && value != "not_member" && value != "invalid_member" &&
          value != "not_found") {
        *error = "organizationError must be \"\", not_member, invalid_member or not_found";
        ok = false;
      } else {
        s.organization_error = value;
      }
    } else if (key == "denyPermissions") {
      s.deny_permissions.clear();
      if (!v.IsArray()) {
        *error = "denyPermissions must be an array of run, pipeline, group";
        ok = false;
      } else {
        for (rapidjson::SizeType j = 0; ok && j < v.Size(); ++j) {
          const std::string p = v[j].IsString() ? v[j].GetString() : "?";
          if (p != "run" && p != "pipeline" && p != "group") {
            *error = "denyPermissions must be an array of run, pipeline, group";
            ok = false;
          } else {
            s.deny_permissions.push_back(p);
          }
        }
      }
    } else if (key == "forSeconds") {
      if (!v.IsNumber() || !std::isfinite(v.GetDouble()) || v.GetDouble() < 0 ||
          v.GetDouble() > 1e7) {
        *error = "forSeconds must be a number in [0, 1e7]";
        ok = false;
      } else if (v.GetDouble() > 0) {
        *for_seconds = v.GetDouble();
      }
    } else {
      *error = "unknown key: " + key;
      ok = false;
    }
    if (!ok) return false;
  }
  *out = s;
  return true;
}

std::string RenderFaultSettings(const FaultSettings& s, std::optional<double> revert_in_seconds) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("status5xx");
  w.Double(s.status5xx);
  w.Key("status429");
  w.Double(s.status429);
  w.Key("retryAfterSeconds");
  w.Int(s.retry_after_seconds);
  w.Key("malformed");
  w.Double(s.malformed);
  w.Key("oversized");
  w.Double(s.oversized);
  w.Key("slowBody");
  w.Double(s.slow_body);
  w.Key("reset");
  w.Double(s.reset);
  w.Key("latencyMs");
  w.Double(static_cast<double>(s.latency.count()) / 1000.0);
  w.Key("latencyJitterMs");
  w.Double(static_cast<double>(s.latency_jitter.count()) / 1000.0);
  w.Key("rejectToken");
  w.Bool(s.reject_token);
  w.Key("redirect");
  w.Bool(s.redirect);
  w.Key("expiredToken");
  w.Bool(s.expired_token);
  w.Key("organizationError");
  w.String(s.organization_error.c_str());
  w.Key("denyPermissions");
  w.StartArray();
  for (const auto& p : s.deny_permissions) w.String(p.c_str());
  w.EndArray();
  w.Key("revertInSeconds");
  if (revert_in_seconds) {
    w.Double(*revert_in_seconds);
  } else {
    w.Null();
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

void FaultController::ExpireLocked() {
  if (revert_at_ && std::chrono::steady_clock::now() >= *revert_at_) {
    current_ = startup_;
    revert_at_.reset();
  }
}

FaultSettings FaultController::Current() {
  std::lock_guard lock(mu_);
  ExpireLocked();
  return current_;
}

void FaultController::Replace(const FaultSettings& settings, std::optional<double> for_seconds) {
  std::lock_guard lock(mu_);
  current_ = settings;
  revert_at_.reset();
  if (for_seconds) {
    revert_at_ = std::chrono::steady_clock::now() +
                 std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                     std::chrono::duration<double>(*for_seconds));
  }
}

std::string FaultController::RenderJson() {
  std::lock_guard lock(mu_);
  ExpireLocked();
  std::optional<double> remaining;
  if (revert_at_) {
    remaining =
        std::chrono::duration<double>(*revert_at_ - std::chrono::steady_clock::now()).count();
  }
  return RenderFaultSettings(current_, remaining);
}

}  // namespace yfe::sim
