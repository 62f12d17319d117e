#include "json_render.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "rng.h"

namespace yfe::sim {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void Key(Writer& w, std::string_view k) {
  w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
}

void Str(Writer& w, std::string_view v) {
  w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}

void KeyStr(Writer& w, std::string_view k, std::string_view v) {
  Key(w, k);
  Str(w, v);
}

void KeyInt(Writer& w, std::string_view k, int64_t v) {
  Key(w, k);
  w.Int64(v);
}

void KeyNull(Writer& w, std::string_view k) {
  Key(w, k);
  w.Null();
}

// A time that real responses send as null while it has not happened (jobs not started).
void KeyTimeOrNull(Writer& w, std::string_view k, int64_t v) {
  Key(w, k);
  if (v > 0) {
    w.Int64(v);
  } else {
    w.Null();
  }
}

void KeyBool(Writer& w, std::string_view k, bool v) {
  Key(w, k);
  w.Bool(v);
}

std::string Done(const rapidjson::StringBuffer& buf) {
  return std::string(buf.GetString(), buf.GetSize());
}

std::string JobResult(const JobView& job) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  if (job.status == "SUCCESS") {
    Key(w, "data");
    w.StartObject();
    KeyStr(w, "RELEASE_INFO", "[]");
    KeyStr(w, "ARTIFACTSV2", "[]");
    KeyStr(w, "ARTIFACTS", "[]");
    w.EndObject();
    KeyStr(w, "requestId", RequestIdFromHash(Hash(static_cast<uint64_t>(job.id), 1)));
    KeyBool(w, "successful", true);
  } else if (job.status == "FAIL") {
    Key(w, "data");
    w.StartObject();
    w.EndObject();
    KeyStr(w, "errorMessage", "任务执行失败: \"exit status 1\"");
    KeyStr(w, "requestId", RequestIdFromHash(Hash(static_cast<uint64_t>(job.id), 2)));
    KeyBool(w, "successful", false);
  }
  w.EndObject();
  return Done(buf);
}

void WriteSource(Writer& w, const PipelineInfo& p, const WorldOptions& o) {
  w.StartObject();
  Key(w, "data");
  w.StartObject();
  KeyStr(w, "branch", p.branch);
  KeyInt(w, "cloneDepth", 1);
  KeyInt(w, "credentialId", p.credential_id);
  KeyStr(w, "credentialLabel", "企业公钥");
  KeyStr(w, "credentialType", "region-ssh");
  Key(w, "events");
  w.StartArray();
  Str(w, "PUSH");
  w.EndArray();
  KeyBool(w, "isBranchMode", false);
  KeyBool(w, "isCloneDepth", true);
  KeyBool(w, "isSubmodule", false);
  KeyBool(w, "isTrigger", true);
  KeyStr(w, "label", p.repo_label);
  KeyStr(w, "namespace", o.organization_id);
  KeyStr(w, "repo", p.repo_url);
  KeyInt(w, "serviceConnectionId", p.service_connection_id);
  KeyStr(w, "triggerFilter", ".*");
  KeyStr(w, "webhook", p.webhook);
  w.EndObject();
  KeyStr(w, "name", p.repo_slug);
  KeyStr(w, "sign", p.source_sign);
  KeyStr(w, "type", "codeup");
  w.EndObject();
}

void WriteTags(Writer& w, const PipelineInfo& p) {
  Key(w, "tagList");
  w.StartArray();
  for (const Tag& t : p.tags) {
    w.StartObject();
    KeyInt(w, "id", t.id);
    KeyStr(w, "name", t.name);
    w.EndObject();
  }
  w.EndArray();
}

std::string FlowYaml(const PipelineInfo& p) {
  std::string y = "sources:\n  repo_" + p.source_sign.substr(0, 8) +
                  ":\n    type: codeup\n    name: " + p.repo_slug +
                  "\n    endpoint: " + p.repo_url + "\n    branch: " + p.branch + "\nstages:\n";
  for (size_t s = 0; s < p.stage_names.size(); ++s) {
    y += "  stage_" + std::to_string(s) + ":\n    name: \"" + p.stage_names[s] + "\"\n    jobs:\n";
    for (size_t j = 0; j < p.job_names[s].size(); ++j) {
      y += "      job_" + std::to_string(s) + "_" + std::to_string(j) + ":\n        name: \"" +
           p.job_names[s][j] + "\"\n";
    }
  }
  return y;
}

}  // namespace

std::string RequestIdFromHash(uint64_t h) {
  static constexpr char kDigits[] = "0123456789abcdef";
  const uint64_t a = SplitMix64(h);
  const uint64_t b = SplitMix64(a ^ 0x5bd1e995ULL);
  std::string s;
  s.reserve(36);
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) s.push_back('-');
    const uint64_t word = i < 16 ? a : b;
    s.push_back(kDigits[(word >> (4 * (i % 16))) & 0xf]);
  }
  return s;
}

std::string RenderRun(const PipelineInfo& p, const RunView& run, const WorldOptions& o) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  KeyInt(w, "pipelineRunId", run.run_id);
  KeyInt(w, "pipelineId", run.pipeline_id);
  KeyStr(w, "status", run.status);
  KeyInt(w, "triggerMode", run.trigger_mode);
  KeyInt(w, "createTime", run.start_time);
  KeyInt(w, "updateTime", run.update_time);
  KeyStr(w, "pipelineType", "default");
  KeyInt(w, "pipelineConfigId", p.config_id);
  KeyStr(w, "creatorAccountId", run.creator_account_id);
  KeyStr(w, "modifierAccountId", p.modifier_account_id);

  Key(w, "groups");
  w.StartArray();
  if (p.group_id > 0) {
    w.StartObject();
    KeyInt(w, "id", p.group_id);
    KeyStr(w, "name", p.group_name);
    w.EndObject();
  }
  w.EndArray();

  Key(w, "stageGroup");
  w.StartArray();
  {
    std::string current_group;
    bool open = false;
    for (const StageView& s : run.stages) {
      const std::string group = s.index.substr(0, s.index.find('-'));
      if (!open || group != current_group) {
        if (open) w.EndArray();
        w.StartArray();
        open = true;
        current_group = group;
      }
      Str(w, s.index);
    }
    if (open) w.EndArray();
  }
  w.EndArray();

  Key(w, "globalParams");
  w.StartArray();
  w.StartObject();
  KeyBool(w, "encrypted", false);
  KeyStr(w, "key", "BUILD_ENV");
  KeyStr(w, "value", p.env_id == 2 ? "production" : p.env_id == 1 ? "staging" : "daily");
  w.EndObject();
  w.StartObject();
  KeyBool(w, "encrypted", true);
  KeyStr(w, "key", "DEPLOY_TOKEN");
  KeyStr(w, "value", p.secret_value);
  w.EndObject();
  w.StartObject();
  KeyBool(w, "encrypted", false);
  KeyStr(w, "key", "RELEASE_VERSION");
  KeyStr(w, "value", "1." + std::to_string(p.ordinal) + "." + std::to_string(run.run_id));
  w.EndObject();
  w.EndArray();

  Key(w, "sources");
  w.StartArray();
  WriteSource(w, p, o);
  w.EndArray();

  Key(w, "stages");
  w.StartArray();
  for (const StageView& s : run.stages) {
    w.StartObject();
    KeyStr(w, "index", s.index);
    KeyStr(w, "name", s.name);
    Key(w, "stageInfo");
    w.StartObject();
    KeyStr(w, "name", s.name);
    KeyStr(w, "status", s.status);
    KeyTimeOrNull(w, "startTime", s.start_time);
    KeyTimeOrNull(w, "endTime", s.start_time > 0 ? s.end_time : 0);
    Key(w, "jobs");
    w.StartArray();
    for (const JobView& j : s.jobs) {
      w.StartObject();
      KeyInt(w, "id", j.id);
      KeyStr(w, "jobSign", j.sign);
      KeyStr(w, "name", j.name);
      KeyStr(w, "status", j.status);
      KeyTimeOrNull(w, "startTime", j.start_time);
      KeyTimeOrNull(w, "endTime", j.start_time > 0 ? j.end_time : 0);
      KeyStr(w, "params", "{}");
      KeyStr(w, "result", JobResult(j));
      Key(w, "actions");
      w.StartArray();
      w.StartObject();
      KeyStr(w, "data", "");
      KeyBool(w, "disable", j.status == "INIT");
      KeyStr(w, "displayType", "LOG");
      KeyStr(w, "name", "构建日志");
      KeyInt(w, "order", 1);
      Key(w, "params");
      w.StartObject();
      KeyStr(w, "key", "");
      w.EndObject();
      KeyStr(w, "title", "Build log");
      KeyStr(w, "type", "GetVMDeployOrder");
      w.EndObject();
      w.EndArray();
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return Done(buf);
}

std::string RenderRunList(const std::vector<RunView>& runs) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartArray();
  for (const RunView& r : runs) {
    w.StartObject();
    KeyInt(w, "pipelineRunId", r.run_id);
    KeyInt(w, "pipelineId", r.pipeline_id);
    KeyStr(w, "status", r.status);
    KeyInt(w, "startTime", r.start_time);
    KeyInt(w, "endTime", r.end_time);
    KeyInt(w, "triggerMode", r.trigger_mode);
    KeyStr(w, "creatorAccountId", r.creator_account_id);
    KeyNull(w, "creator");
    w.EndObject();
  }
  w.EndArray();
  return Done(buf);
}

std::string RenderPipelineList(const std::vector<PipelinePtr>& pipelines, ListStyle style) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartArray();
  for (const PipelinePtr& p : pipelines) {
    w.StartObject();
    if (style == ListStyle::kToday) {
      KeyInt(w, "pipelineId", p->id);
      KeyStr(w, "pipelineName", p->name);
      KeyStr(w, "createAccountId", p->creator_account_id);
      KeyInt(w, "createTime", p->create_time);
    } else {  // the 2025 capture's keys, order and nulls
      KeyStr(w, "name", p->name);
      KeyNull(w, "owner");
      KeyNull(w, "pipelineConfig");
      KeyInt(w, "id", p->id);
      KeyInt(w, "createTime", p->create_time);
      KeyNull(w, "modifierAccountId");
      KeyStr(w, "creatorAccountId", p->creator_account_id);
      KeyNull(w, "updateTime");
      KeyInt(w, "groupId", p->group_id);
      KeyNull(w, "envName");
      KeyNull(w, "envId");
      KeyNull(w, "tagList");
      KeyNull(w, "pipelineConfigId");
      Key(w, "creator");
      w.StartObject();
      KeyStr(w, "id", p->creator_account_id);
      KeyNull(w, "username");
      w.EndObject();
      KeyNull(w, "modifier");
    }
    w.EndObject();
  }
  w.EndArray();
  return Done(buf);
}

std::string RenderGroupPipelines(const std::vector<PipelinePtr>& pipelines) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartArray();
  for (const PipelinePtr& p : pipelines) {
    w.StartObject();
    KeyInt(w, "gmtCreate", p->create_time);
    KeyInt(w, "pipelineId", p->id);
    KeyStr(w, "pipelineName", p->name);
    w.EndObject();
  }
  w.EndArray();
  return Done(buf);
}

std::string RenderPipeline(const PipelineInfo& p, const WorldOptions& o) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  KeyStr(w, "name", p.name);
  KeyInt(w, "groupId", p.group_id);
  KeyInt(w, "envId", p.env_id);
  KeyStr(w, "envName", p.env_name);
  WriteTags(w, p);
  KeyInt(w, "createTime", p.create_time);
  KeyInt(w, "updateTime", p.update_time);
  KeyStr(w, "creatorAccountId", p.creator_account_id);
  KeyStr(w, "modifierAccountId", p.modifier_account_id);
  Key(w, "pipelineConfig");
  w.StartObject();
  KeyInt(w, "id", p.config_id);
  KeyStr(w, "flow", FlowYaml(p));
  KeyStr(w, "settings", "{\"caches\":[]}");
  Key(w, "sources");
  w.StartArray();
  WriteSource(w, p, o);
  w.EndArray();
  w.EndObject();
  w.EndObject();
  return Done(buf);
}

std::string RenderGroups(const std::vector<PipelineGroup>& groups) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartArray();
  for (const PipelineGroup& g : groups) {
    w.StartObject();
    KeyInt(w, "id", g.id);
    KeyStr(w, "name", g.name);
    KeyInt(w, "createTime", g.create_time);
    w.EndObject();
  }
  w.EndArray();
  return Done(buf);
}

std::string RenderUser(const WorldOptions& o) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  std::string id = RequestIdFromHash(Hash(o.seed, HashString("user")));
  std::erase(id, '-');
  KeyStr(w, "id", id.substr(0, 24));
  KeyStr(w, "name", "模拟用户");
  KeyStr(w, "nickName", "sim");
  KeyStr(w, "username", "sim-user");
  KeyStr(w, "email", "sim-user@example.com");
  KeyStr(w, "lastOrganization", o.organization_id);
  KeyStr(w, "staffId", "");
  KeyInt(w, "createdAt", 1590730400000);
  w.EndObject();
  return Done(buf);
}

std::string RenderError(std::string_view code, std::string_view message,
                        std::string_view request_id) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  KeyStr(w, "errorCode", code);
  KeyStr(w, "errorMessage", message);
  KeyStr(w, "requestId", request_id);
  w.EndObject();
  return Done(buf);
}

namespace {

void WriteTruth(Writer& w, const PipelineTruth& t) {
  w.StartObject();
  KeyInt(w, "id", t.id);
  KeyStr(w, "name", t.name);
  KeyInt(w, "groupId", t.group_id);
  KeyInt(w, "latestRunId", t.latest_run_id);
  KeyStr(w, "status", t.status);
  w.EndObject();
}

}  // namespace

std::string RenderTruth(const std::vector<PipelineTruth>& truth) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartArray();
  for (const PipelineTruth& t : truth) WriteTruth(w, t);
  w.EndArray();
  return Done(buf);
}

std::string RenderTruthItem(const PipelineTruth& truth) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  WriteTruth(w, truth);
  return Done(buf);
}

}  // namespace yfe::sim
