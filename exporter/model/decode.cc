#include "model/decode.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <vector>

namespace yfe::model {
namespace {

using rapidjson::Value;

// Times outside (0, year 2200] are treated as absent: they cannot be real.
constexpr int64_t kMaxTimeMs = 7'258'118'400'000;
constexpr unsigned kParseFlags =
    rapidjson::kParseIterativeFlag;  // no recursion: deep nesting is safe

const Value* Member(const Value& obj, const char* name) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

std::optional<int64_t> AsInt(const Value* v) {
  if (!v) return std::nullopt;
  if (v->IsInt64()) return v->GetInt64();
  if (v->IsUint64()) return std::nullopt;  // larger than int64: not an id or time we can use
  if (v->IsDouble()) {
    double d = v->GetDouble();
    if (!std::isfinite(d) || d < -9.0e15 || d > 9.0e15) return std::nullopt;
    return static_cast<int64_t>(d);
  }
  if (v->IsString()) {
    std::string_view s(v->GetString(), v->GetStringLength());
    int64_t out = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec == std::errc() && ptr == s.data() + s.size() && !s.empty()) return out;
  }
  return std::nullopt;
}

int64_t AsTime(const Value* v) {
  auto t = AsInt(v);
  if (!t || *t <= 0 || *t > kMaxTimeMs) return 0;
  return *t;
}

std::string AsString(const Value* v) {
  if (!v) return {};
  if (v->IsString()) return SanitizeLabel(std::string_view(v->GetString(), v->GetStringLength()));
  if (v->IsInt64()) return std::to_string(v->GetInt64());
  if (v->IsUint64()) return std::to_string(v->GetUint64());
  return {};
}

std::string AsStatus(const Value* v) {
  std::string s = AsString(v);
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return s;
}

// Member `name` of obj when it is an object, else null.
const Value* ObjectMember(const Value& obj, const char* name) {
  const Value* v = Member(obj, name);
  return v && v->IsObject() ? v : nullptr;
}

// The objects of array member `name` (other items skipped), decoded, up to max items.
template <typename T, typename Decode>
void DecodeObjects(const Value& obj, const char* name, size_t max, std::vector<T>& out,
                   Decode decode) {
  const Value* list = Member(obj, name);
  if (!list || !list->IsArray()) return;
  for (const Value& item : list->GetArray()) {
    if (out.size() >= max) break;
    if (item.IsObject()) out.push_back(decode(item));
  }
}

// The status and times of a job, or of a stage (in its stageInfo).
template <typename T>
void DecodeProgress(const Value& v, T& item) {
  item.status = AsStatus(Member(v, "status"));
  item.start_ms = AsTime(Member(v, "startTime"));
  item.end_ms = AsTime(Member(v, "endTime"));
}

Job DecodeJob(const Value& v) {
  Job job;
  job.sign = AsString(Member(v, "jobSign"));
  job.name = AsString(Member(v, "name"));
  DecodeProgress(v, job);
  return job;
}

Stage DecodeStage(const Value& v) {
  Stage stage;
  stage.index = AsString(Member(v, "index"));
  stage.name = AsString(Member(v, "name"));
  if (const Value* info = ObjectMember(v, "stageInfo")) {
    if (stage.name.empty()) stage.name = AsString(Member(*info, "name"));
    DecodeProgress(*info, stage);
    DecodeObjects(*info, "jobs", kMaxJobsPerStage, stage.jobs, DecodeJob);
  }
  return stage;
}

Source DecodeSource(const Value& v) {
  Source src;
  src.name = AsString(Member(v, "name"));
  src.type = AsString(Member(v, "type"));
  if (const Value* data = ObjectMember(v, "data")) {
    const Value* repo = Member(*data, "repo");
    if (repo && repo->IsString()) {
      src.repo = SanitizeLabel(StripRepoCredentials(repo->GetString()));
    }
    src.branch = AsString(Member(*data, "branch"));
  }
  return src;
}

Result<const Value*> ParseInto(rapidjson::Document& doc, std::string_view body) {
  doc.Parse<kParseFlags>(body.data(), body.size());
  if (doc.HasParseError()) {
    return Error(std::string("invalid JSON at offset ") + std::to_string(doc.GetErrorOffset()) +
                 ": " + rapidjson::GetParseError_En(doc.GetParseError()));
  }
  return static_cast<const Value*>(&doc);
}

const char* KindName(const Value& v) {
  if (v.IsArray()) return "an array";
  if (v.IsString()) return "a string";
  if (v.IsNumber()) return "a number";
  if (v.IsBool()) return "a boolean";
  if (v.IsNull()) return "null";
  return "an object";
}

// A list body: a bare array, or tolerated inside an envelope {"data"|key|"result": [...]}.
Result<const Value*> ParseList(rapidjson::Document& doc, std::string_view body, const char* what,
                               const char* key) {
  auto parsed = ParseInto(doc, body);
  if (!parsed.ok()) return Error(parsed.error());
  const Value* list = &doc;
  if (doc.IsObject()) {
    for (const char* k : {"data", key, "result"}) {
      if (const Value* inner = Member(doc, k); inner && inner->IsArray()) list = inner;
    }
  }
  if (!list->IsArray()) {
    return Error(std::string(what) + ": expected a JSON array, got " + KindName(*list));
  }
  return list;
}

}  // namespace

Result<PipelineRun> DecodePipelineRun(std::string_view body) {
  rapidjson::Document doc;
  auto parsed = ParseInto(doc, body);
  if (!parsed.ok()) return Error(parsed.error());
  const Value& root = doc;
  if (!root.IsObject()) {
    return Error(std::string("pipeline run: expected a JSON object, got ") + KindName(root));
  }
  PipelineRun run;
  run.status = AsStatus(Member(root, "status"));
  run.run_id = AsInt(Member(root, "pipelineRunId"));
  if (run.status.empty()) {
    return Error("pipeline run: no \"status\" field (is this a run object?)");
  }
  run.trigger_mode = AsInt(Member(root, "triggerMode"));
  run.create_ms = AsTime(Member(root, "createTime"));
  run.update_ms = AsTime(Member(root, "updateTime"));
  run.pipeline_type = AsString(Member(root, "pipelineType"));
  DecodeObjects(root, "sources", kMaxSources, run.sources, DecodeSource);
  DecodeObjects(root, "stages", kMaxStages, run.stages, DecodeStage);
  return run;
}

bool IsNoRunAnswer(bool ok, long status, std::string_view body) {
  if (!ok) return status == 404;
  while (!body.empty() && std::isspace(static_cast<unsigned char>(body.front()))) {
    body.remove_prefix(1);
  }
  while (!body.empty() && std::isspace(static_cast<unsigned char>(body.back()))) {
    body.remove_suffix(1);
  }
  if (body.empty() || body == "null") return true;
  if (body.size() > 32 || body.front() != '{') return false;
  rapidjson::Document doc;
  doc.Parse<kParseFlags>(body.data(), body.size());
  return !doc.HasParseError() && doc.IsObject() && doc.MemberCount() == 0;
}

namespace {

// The items of a list body (see ParseList) that are objects, each kept when `decode`
// makes something of it.
template <typename T, typename Decode>
Result<std::vector<T>> DecodeListItems(std::string_view body, const char* what, const char* key,
                                       Decode decode) {
  rapidjson::Document doc;
  auto listed = ParseList(doc, body, what, key);
  if (!listed.ok()) return Error(listed.error());
  std::vector<T> out;
  for (const Value& item : (*listed)->GetArray()) {
    if (!item.IsObject()) continue;
    if (std::optional<T> v = decode(item)) out.push_back(std::move(*v));
  }
  return out;
}

// Today's {pipelineId, pipelineName} or the 2025 {id, name, groupId}; none without an id.
std::optional<Pipeline> PipelineItem(const Value& item) {
  Pipeline p;
  p.id = AsString(Member(item, "id"));
  if (p.id.empty()) p.id = AsString(Member(item, "pipelineId"));
  p.name = AsString(Member(item, "name"));
  if (p.name.empty()) p.name = AsString(Member(item, "pipelineName"));
  p.group_id = AsInt(Member(item, "groupId"));
  if (p.id.empty()) return std::nullopt;
  return p;
}

std::optional<RunSummary> RunItem(const Value& item) {
  auto id = AsInt(Member(item, "pipelineRunId"));
  if (!id) return std::nullopt;
  RunSummary r;
  r.id = *id;
  r.trigger_mode = AsInt(Member(item, "triggerMode"));
  DecodeProgress(item, r);
  return r;
}

}  // namespace

Result<std::vector<Pipeline>> DecodePipelineList(std::string_view body) {
  return DecodeListItems<Pipeline>(body, "pipeline list", "pipelines", PipelineItem);
}

Result<std::vector<RunSummary>> DecodeRunList(std::string_view body) {
  return DecodeListItems<RunSummary>(body, "run list", "runs", RunItem);
}

Result<Pipeline> DecodePipeline(std::string_view body, std::string_view id) {
  rapidjson::Document doc;
  auto parsed = ParseInto(doc, body);
  if (!parsed.ok()) return Error(parsed.error());
  if (!doc.IsObject()) {
    return Error(std::string("pipeline: expected a JSON object, got ") + KindName(doc));
  }
  Pipeline p;
  p.id = std::string(id);
  p.name = AsString(Member(doc, "name"));
  if (p.name.empty()) p.name = AsString(Member(doc, "pipelineName"));
  p.group_id = AsInt(Member(doc, "groupId"));
  if (p.name.empty()) return Error("pipeline: no \"name\" field");
  return p;
}

ApiError DecodeApiError(std::string_view body) {
  ApiError err;
  rapidjson::Document doc;
  doc.Parse<kParseFlags>(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) return err;
  err.code = SanitizeLabel(AsString(Member(doc, "errorCode")), 64);
  // Gateways and API versions put the text in errorMessage, message or errorDescription.
  for (const char* key : {"errorMessage", "message", "errorDescription"}) {
    err.message = SanitizeLabel(AsString(Member(doc, key)), 200);
    if (!err.message.empty()) break;
  }
  err.request_id = SanitizeLabel(AsString(Member(doc, "requestId")), 64);
  return err;
}

std::string SanitizeLabel(std::string_view s, size_t max_bytes) {
  std::string out;
  out.reserve(std::min(s.size(), max_bytes));
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      len = 1;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    }
    bool valid = len > 0 && i + len <= s.size();
    for (size_t k = 1; valid && k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) valid = false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Reject overlong forms, surrogates and values past U+10FFFF.
    if (valid &&
        ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
         (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))) {
      valid = false;
    }
    std::string_view piece = valid ? s.substr(i, len) : std::string_view("\xEF\xBF\xBD");
    if (!valid) len = 1;
    if (out.size() + piece.size() > max_bytes) break;
    out.append(piece);
    i += len;
  }
  return out;
}

}  // namespace yfe::model
