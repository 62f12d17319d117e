#include "app/api_check.h"

#include <curl/curl.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <future>
#include <sstream>

#include "app/app.h"
#include "collector/collector.h"
#include "collector/discovery.h"
#include "flowapi/transport.h"
#include "metrics/self_metrics.h"
#include "model/decode.h"
#include "util/log.h"

namespace yfe::app {

using flowapi::ApiResult;
using flowapi::ErrorKind;

namespace {

constexpr std::string_view kCentralHost = "openapi-rdc.aliyuncs.com";
// Where the console grants each permission (personal access token settings).
constexpr std::string_view kRunGrant = "流水线 › 流水线运行实例 › 只读";
constexpr std::string_view kPipelineGrant = "流水线 › 流水线 › 只读";
constexpr std::string_view kGroupGrant = "流水线分组 › 只读";

CheckLine Ok(std::string text) { return {Mark::kOk, true, std::move(text), ""}; }
CheckLine Skipped(std::string text) { return {Mark::kSkipped, false, std::move(text), ""}; }
CheckLine Fail(std::string text, std::string fix, bool required = true) {
  if (!required) text += " (not needed by this configuration)";
  return {Mark::kFail, required, std::move(text), std::move(fix)};
}

// The error without its hint: the report gives its own fix.
std::string Plain(const ApiResult& r) {
  const std::string tail = " - " + r.hint;
  if (!r.hint.empty() && r.error.size() > tail.size() &&
      r.error.compare(r.error.size() - tail.size(), tail.size(), tail) == 0) {
    return r.error.substr(0, r.error.size() - tail.size());
  }
  return r.error;
}

bool TokenTrouble(ErrorKind k) {
  return k == ErrorKind::kTokenRejected || k == ErrorKind::kTokenExpired ||
         k == ErrorKind::kRedirect;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Number(double v) {
  char buf[32];
  if (v > 0 && v < 0.1) return "<0.1";
  std::snprintf(buf, sizeof buf, v >= 10 || v == std::floor(v) ? "%.0f" : "%.1f", v);
  return buf;
}

bool IsCentralHost(const std::string& endpoint) {
  return endpoint.find(std::string("://") + std::string(kCentralHost)) != std::string::npos;
}

std::string TransportFix(const std::string& error) {
  const std::string e = Lower(error);
  if (e.find("ssl") != std::string::npos || e.find("certificate") != std::string::npos ||
      e.find("tls") != std::string::npos) {
    return "the TLS handshake failed: if the server uses a private CA, set api.tls_ca_file to "
           "its PEM file; else check that api.endpoint is the OpenAPI host";
  }
  if (e.find("resolve") != std::string::npos) {
    return "the host name in api.endpoint does not resolve: check api.endpoint (central "
           "edition: https://openapi-rdc.aliyuncs.com) and DNS";
  }
  if (e.find("timed out") != std::string::npos || e.find("timeout") != std::string::npos ||
      e.find("deadline") != std::string::npos) {
    return "no answer within api.timeout: check the network path to api.endpoint (firewall, "
           "proxy: HTTPS_PROXY)";
  }
  return "nothing answers at api.endpoint: check its scheme, host and port, and the network "
         "path (firewall, proxy: HTTPS_PROXY)";
}

std::string PathForm(const config::ApiConfig& api) {
  if (api.path_prefix) return "path prefix " + *api.path_prefix + " (api.path_prefix)";
  if (api.edition == config::Edition::kCentral) {
    return "central edition, paths " + api.PipelinesPrefix() + "/pipelines/…";
  }
  return "region edition, paths " + api.PipelinesPrefix() + "/pipelines/…";
}

std::string EditionFix(const config::ApiConfig& api) {
  std::string fix;
  if (IsCentralHost(api.endpoint) && api.edition == config::Edition::kRegion) {
    fix = "api.endpoint is the central edition's host but api.edition is region: ";
  } else if (!IsCentralHost(api.endpoint) && api.edition == config::Edition::kCentral) {
    fix = "api.endpoint is not openapi-rdc.aliyuncs.com but api.edition is central: ";
  }
  return fix +
         "https://openapi-rdc.aliyuncs.com is the central edition (api.edition: central, with "
         "api.organization_id); a region edition's own host takes api.edition: region (paths "
         "/oapi/v1/flow/pipelines/…); api.path_prefix replaces everything before /pipelines" +
         (api.edition == config::Edition::kCentral
              ? std::string("; with the central edition a 404 can also mean that "
                            "api.organization_id does not exist")
              : std::string());
}

// The user's display name from GET /oapi/v1/platform/user, if the body has one.
std::string UserName(const std::string& body) {
  rapidjson::Document d;
  d.Parse(body.data(), body.size());
  if (d.HasParseError() || !d.IsObject()) return "";
  for (const char* key : {"name", "username", "nickName"}) {
    if (d.HasMember(key) && d[key].IsString() && d[key].GetStringLength() > 0) {
      return model::SanitizeLabel(std::string_view(d[key].GetString(), d[key].GetStringLength()),
                                  80);
    }
  }
  return "";
}

std::string Trimmed(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// ✔/✘ for one permission, judged from one request to an endpoint that needs it. A 404
// (say, a pipeline without runs) means the permission let the request through.
CheckLine PermissionLine(const Probe& probe, std::string_view permission, std::string_view grant,
                         std::string_view endpoint, bool required, std::string_view needed_for) {
  const std::string name = "permission " + std::string(permission);
  if (!probe.sent) return Skipped(name + ": not checked (no request to send)");
  const ApiResult& r = probe.result;
  if (r.ok || r.kind == ErrorKind::kNotFound) {
    return Ok(name + " (" + std::string(endpoint) + " answered)");
  }
  if (r.kind == ErrorKind::kPermission) {
    return Fail(name + " missing: " + std::string(endpoint) + " answered " + Plain(r),
                "grant the token " + std::string(grant) + " (Yunxiao: personal access token " +
                    "settings); the exporter needs it for " + std::string(needed_for),
                required);
  }
  return Fail(name + " not verified: " + std::string(endpoint) + " answered " + Plain(r),
              "retry later; if it persists, the API is unwell", required);
}

std::string DiscoveryFilters(const config::DiscoveryConfig& d) {
  std::string out;
  auto add = [&out](const std::string& s) { out += (out.empty() ? "" : ", ") + s; };
  if (!d.include.empty()) add("include \"" + d.include + "\"");
  if (!d.exclude.empty()) add("exclude \"" + d.exclude + "\"");
  if (!d.group_ids.empty()) {
    std::string ids;
    for (int64_t g : d.group_ids) ids += (ids.empty() ? "" : ",") + std::to_string(g);
    add("group_ids [" + ids + "]");
  }
  return out.empty() ? "no filters" : out;
}

void WatchedLines(const ApiProbes& p, std::vector<CheckLine>& lines) {
  for (const PipelineProbe& w : p.watched) {
    const std::string label = "pipeline " + w.id + (w.name.empty() ? "" : " (" + w.name + ")");
    const ApiResult& r = w.latest.result;
    if (!w.latest.sent) {
      lines.push_back(Skipped(label + ": not checked"));
    } else if (r.ok) {
      const std::string body = Trimmed(r.body);
      if (body.empty() || body == "null" || body == "{}") {
        lines.push_back(Ok(label + ": no run yet"));
        continue;
      }
      auto run = model::DecodePipelineRun(r.body);
      if (!run.ok()) {
        lines.push_back(Fail(label + ": the latest run cannot be decoded: " + run.error(),
                             "the API answered a shape the exporter does not know: please "
                             "report it (with the response's field names, no secrets)"));
      } else {
        lines.push_back(Ok(label + ": latest run" +
                           (run->run_id ? " #" + std::to_string(*run->run_id) : "") + " " +
                           (run->status.empty() ? "(no status)" : run->status)));
      }
    } else if (r.kind == ErrorKind::kNotFound) {
      const ApiResult& d = w.definition.result;
      if (w.definition.sent && d.ok) {
        lines.push_back(Ok(label + ": no run yet (the pipeline exists)"));
      } else if (w.definition.sent && d.kind == ErrorKind::kNotFound) {
        lines.push_back(Fail(label + " not found in this organization",
                             "check pipelines[].id: the number in the pipeline's URL "
                             "(…/pipelines/<id>/…), and api.organization_id"));
      } else {
        lines.push_back(Fail(label + ": the latest run answered " + Plain(r),
                             "check pipelines[].id: the number in the pipeline's URL"));
      }
    } else if (r.kind == ErrorKind::kPermission) {
      // Said once, by the permission line.
      lines.push_back(Skipped(label + ": not readable without " +
                              std::string(flowapi::kRunInstancePermission)));
    } else {
      lines.push_back(Fail(label + ": " + Plain(r), "retry later; if it persists, see the error"));
    }
  }
  if (p.targets > p.watched.size()) {
    lines.push_back(Skipped("latest runs of the other " +
                            std::to_string(p.targets - p.watched.size()) +
                            " pipelines: not checked here"));
  }
}

}  // namespace

Budget RequestBudget(const config::Config& cfg, size_t targets, size_t unnamed,
                     double discovery_requests) {
  auto seconds = [](std::chrono::nanoseconds d) {
    return std::max(1.0, std::chrono::duration<double>(d).count());
  };
  Budget b;
  const auto n = static_cast<double>(targets);
  // Each pipeline at most once per cache_ttl, when Prometheus scrapes at least that often.
  b.latest_runs = n * 60 / seconds(cfg.collect.cache_ttl);
  b.names = static_cast<double>(unnamed) * 60 / (6 * 3600);  // GetPipeline every 6 h
  if (cfg.collect.history) b.history = n * 60 / seconds(cfg.collect.history_interval);
  if (cfg.discovery.enabled) {
    b.discovery = discovery_requests * 60 / seconds(cfg.discovery.refresh_interval);
  }
  b.total = b.latest_runs + b.names + b.history + b.discovery;
  b.allowed = cfg.api.max_requests_per_second * 60;
  b.cold_scrape_seconds =
      cfg.api.max_requests_per_second > 0 ? n / cfg.api.max_requests_per_second : 0;
  return b;
}

namespace {

// 1. Endpoint reachable, TLS. False: nothing after it can be judged.
bool ReachableStep(const config::ApiConfig& api, const ApiProbes& p,
                   std::vector<CheckLine>& lines) {
  const ApiResult& user = p.user.result;
  if (!p.user.sent || user.kind == ErrorKind::kTransport) {
    lines.push_back(Fail("API not reachable at " + api.endpoint + ": " + Plain(user),
                         TransportFix(user.error)));
    lines.push_back(Skipped("the other checks need an answer from the API"));
    return false;
  }
  const bool https = api.endpoint.starts_with("https://");
  lines.push_back(Ok("API reachable at " + api.endpoint +
                     (https ? " (TLS verified)" : " (plain HTTP: no TLS)")));
  return true;
}

// 3. Token (judged before the path form, which cannot be judged without it).
CheckLine TokenLine(const ApiProbes& p) {
  const ApiResult& user = p.user.result;
  const std::string origin = "token from " + p.token_origin;
  CheckLine token_line;
  const ApiResult* token_evidence = &user;
  if (user.kind == ErrorKind::kNotFound && p.list.sent) token_evidence = &p.list.result;
  const ApiResult& t = *token_evidence;
  if (t.kind == ErrorKind::kTokenExpired) {
    token_line = Fail("token expired (" + origin + "): " + Plain(t),
                      "create a new personal access token in Yunxiao (personal settings › "
                      "personal access tokens / 个人访问令牌) with the permissions below, and put "
                      "it in " +
                          p.token_origin);
  } else if (t.kind == ErrorKind::kTokenRejected) {
    token_line = Fail("token rejected (" + origin + "): " + Plain(t),
                      "check the token in " + p.token_origin +
                          ": a personal access token of a member of the organization, copied "
                          "whole (no quotes, no spaces)");
  } else if (t.kind == ErrorKind::kRedirect) {
    token_line = Fail(
        "token not accepted: the API redirected the request (" + origin + "): " + Plain(t),
        "gateways answer a rejected token with a redirect: check the token in " + p.token_origin +
            "; and that api.endpoint is the OpenAPI host, not "
            "the web console");
  } else if (t.kind == ErrorKind::kServer || t.kind == ErrorKind::kRateLimited ||
             t.kind == ErrorKind::kTransport || t.kind == ErrorKind::kOther) {
    token_line = Fail("token not verified (" + origin + "): " + Plain(t),
                      "retry later; if it persists, the API is unwell");
  } else {
    std::string name = t.ok && token_evidence == &user ? UserName(user.body) : "";
    token_line = Ok("token accepted (" + origin + ")" + (name.empty() ? "" : ", user " + name) +
                    (token_evidence == &user ? "" : " (judged from ListPipelines)"));
  }
  return token_line;
}

// 2. Edition and path form, then the token's line. False: the token is not accepted.
// path_refused: the API does not serve the configured path form.
bool PathAndTokenStep(const config::ApiConfig& api, const ApiProbes& p, bool& path_refused,
                      std::vector<CheckLine>& lines) {
  const CheckLine token_line = TokenLine(p);
  const bool token_ok = token_line.mark == Mark::kOk;
  const ApiResult& list = p.list.result;
  path_refused =
      p.list.sent && (list.kind == ErrorKind::kNotFound ||
                      (list.status == 400 && list.code.find("Unsupported") != std::string::npos &&
                       list.kind != ErrorKind::kTokenRejected));
  if (!token_ok || !p.list.sent) {
    lines.push_back(Skipped(PathForm(api) + ": not verified"));
  } else if (path_refused) {
    lines.push_back(Fail(PathForm(api) + ": the API does not serve this path: " + Plain(list),
                         EditionFix(api)));
  } else {
    lines.push_back(Ok(PathForm(api)));
  }
  lines.push_back(token_line);
  if (!token_ok) lines.push_back(Skipped("the other checks need an accepted token"));
  return token_ok;
}

// 4. Organization membership. False: nothing after it can be judged.
bool OrganizationStep(const config::ApiConfig& api, const ApiProbes& p, bool path_refused,
                      std::vector<CheckLine>& lines) {
  const Probe* org_refusal = nullptr;
  for (const Probe* probe : {&p.list, &p.groups, &p.run}) {
    if (probe->sent && probe->result.kind == ErrorKind::kOrganization) {
      org_refusal = probe;
      break;
    }
  }
  const bool central = api.edition == config::Edition::kCentral && !api.path_prefix;
  if (org_refusal) {
    lines.push_back(
        Fail("the token's user is not a member of organization " +
                 (api.organization_id.empty() ? std::string("(none set)") : api.organization_id) +
                 ": " + Plain(org_refusal->result),
             "check api.organization_id: the id in your Yunxiao URLs "
             "(https://devops.aliyun.com/organization/<id>/…); the token's user must "
             "be a member of that organization"));
    lines.push_back(Skipped("the other checks need the organization"));
    return false;
  }
  if (path_refused) {
    lines.push_back(Skipped("the other checks need a path form that the API serves"));
    return false;
  }
  if (central) {
    lines.push_back(Ok("organization " + api.organization_id + ": the token's user is a member"));
  } else {
    lines.push_back(Skipped("organization: not part of the paths (named by the host)"));
  }
  return true;
}

// 5. Permissions, one request each.
void PermissionLines(const config::Config& cfg, const ApiProbes& p, std::vector<CheckLine>& lines) {
  bool unnamed_configured = false;
  for (const auto& pc : cfg.pipelines) unnamed_configured |= pc.name.empty();
  const bool need_pipeline = cfg.discovery.enabled || unnamed_configured;
  const bool need_group = cfg.discovery.enabled && !cfg.discovery.group_ids.empty();
  lines.push_back(PermissionLine(p.run, flowapi::kRunInstancePermission, kRunGrant,
                                 "GetLatestPipelineRun", true, "every latest run"));
  lines.push_back(PermissionLine(p.list, flowapi::kPipelinePermission, kPipelineGrant,
                                 "ListPipelines", need_pipeline,
                                 "discovery and pipeline names not set in the config"));
  lines.push_back(PermissionLine(p.groups, flowapi::kGroupPermission, kGroupGrant,
                                 "ListPipelineGroups", need_group, "discovery.group_ids"));
}

// 6. Pipelines visible, and the list's shape.
void VisibleLine(const config::Config& cfg, const ApiProbes& p, std::vector<CheckLine>& lines) {
  const ApiResult& list = p.list.result;
  if (p.list.sent && list.ok) {
    rapidjson::Document d;
    d.Parse(list.body.data(), list.body.size());
    auto items = model::DecodePipelineList(list.body);
    if (d.HasParseError() || !d.IsArray() || !items.ok()) {
      lines.push_back(Fail("ListPipelines answered something that is not a list of pipelines" +
                               (items.ok() ? std::string() : ": " + items.error()),
                           "please report it (with the response's field names, no secrets)",
                           cfg.discovery.enabled));
    } else if (d.Empty()) {
      lines.push_back(Fail("no pipeline visible to the token's user in this organization",
                           "check api.organization_id, and that the token's user may see the "
                           "pipelines (a member of them or of their groups)",
                           cfg.discovery.enabled));
    } else {
      const auto& item = d[0];
      std::string shape = "unknown item shape";
      if (item.IsObject() && item.HasMember("pipelineId")) {
        shape = "items {pipelineId, pipelineName, …}: today's shape";
      } else if (item.IsObject() && item.HasMember("id")) {
        shape = "items {id, name, groupId, …}: the 2025 shape";
      }
      lines.push_back(Ok("pipelines visible (ListPipelines " + shape + ")"));
    }
  } else {
    lines.push_back(Skipped("pipelines visible: not checked (ListPipelines failed)"));
  }
}

// 8. Discovery.
void DiscoveryLine(const config::Config& cfg, const ApiProbes& p, std::vector<CheckLine>& lines) {
  const bool need_group = cfg.discovery.enabled && !cfg.discovery.group_ids.empty();
  if (cfg.discovery.enabled) {
    const std::string filters = DiscoveryFilters(cfg.discovery);
    if (!p.discovery_ran) {
      lines.push_back(Skipped("discovery (" + filters + "): not checked"));
    } else if (!p.discovered) {
      lines.push_back(Fail(
          "discovery failed: " + p.discovery_error,
          "see the permission lines above: discovery needs " +
              std::string(flowapi::kPipelinePermission) +
              (need_group ? " and " + std::string(flowapi::kGroupPermission) : std::string())));
    } else if (*p.discovered == 0) {
      lines.push_back(Fail("discovery finds no pipeline (" + filters + ")",
                           "loosen discovery.include, discovery.exclude or discovery.group_ids: "
                           "they match none of the organization's pipelines"));
    } else {
      lines.push_back(Ok("discovery finds " + std::to_string(*p.discovered) + " pipeline" +
                         (*p.discovered == 1 ? "" : "s") + " (" + filters + "; " +
                         Number(p.discovery_requests) +
                         (p.discovery_requests == 1 ? " request" : " requests") + " per refresh)"));
    }
  }
}

// 9. Request budget.
void BudgetLine(const config::Config& cfg, const ApiProbes& p, std::vector<CheckLine>& lines) {
  const config::ApiConfig& api = cfg.api;
  const Budget b = RequestBudget(cfg, p.targets, p.unnamed_targets, p.discovery_requests);
  std::string text = "request budget: about " + Number(b.total) + " requests/min for " +
                     std::to_string(p.targets) + " pipelines (latest runs " +
                     Number(b.latest_runs) + ", names " + Number(b.names) + ", history " +
                     Number(b.history) + ", discovery " + Number(b.discovery) + ") of " +
                     Number(b.allowed) + " allowed by api.max_requests_per_second " +
                     Number(api.max_requests_per_second);
  const double deadline = std::chrono::duration<double>(cfg.collect.scrape_deadline).count();
  if (b.cold_scrape_seconds > deadline) {
    text += "; a scrape that finds every pipeline expired needs " + Number(b.cold_scrape_seconds) +
            " s at this rate, more than collect.scrape_deadline " + Number(deadline) +
            " s (the first scrapes after a start serve partial data)";
  }
  if (b.total > b.allowed) {
    lines.push_back(Fail(text,
                         "raise collect.cache_ttl, raise api.max_requests_per_second if the API "
                         "allows it, or split the pipelines across replicas with --shard.index "
                         "and --shard.total (docs/scaling.md)"));
  } else {
    lines.push_back(Ok(text));
  }
}

}  // namespace

// A straight sequence of checks, in the order a user fixes them; each stops the report
// when nothing after it can be judged.
std::vector<CheckLine> Evaluate(const config::Config& cfg, const ApiProbes& p) {
  std::vector<CheckLine> lines;
  bool path_refused = false;
  if (!ReachableStep(cfg.api, p, lines) || !PathAndTokenStep(cfg.api, p, path_refused, lines) ||
      !OrganizationStep(cfg.api, p, path_refused, lines)) {
    return lines;
  }
  PermissionLines(cfg, p, lines);
  VisibleLine(cfg, p, lines);
  // 7. The latest run of up to kMaxWatched pipelines.
  if (p.targets == 0 && !(cfg.discovery.enabled && !p.discovered)) {
    lines.push_back(Fail("no pipeline to watch",
                         "list pipelines under pipelines: (the number in a pipeline's URL), or "
                         "configure discovery"));
  }
  WatchedLines(p, lines);

  DiscoveryLine(cfg, p, lines);
  BudgetLine(cfg, p, lines);
  return lines;
}

bool Passed(const std::vector<CheckLine>& lines) {
  return std::none_of(lines.begin(), lines.end(),
                      [](const CheckLine& l) { return l.mark == Mark::kFail && l.required; });
}

std::string FormatReport(const std::vector<CheckLine>& lines) {
  std::string out;
  size_t problems = 0;
  for (const CheckLine& l : lines) {
    out += l.mark == Mark::kOk ? "✔ " : l.mark == Mark::kFail ? "✘ " : "– ";
    out += l.text + "\n";
    if (l.mark == Mark::kFail) {
      if (l.required) ++problems;
      if (!l.fix.empty()) out += "    fix: " + l.fix + "\n";
    }
  }
  out += problems == 0 ? "api.check: OK, everything configured can work\n"
                       : "api.check: " + std::to_string(problems) + " problem" +
                             (problems == 1 ? "" : "s") + " found\n";
  return out;
}

namespace {

// Probing: the fewest requests that answer every question, each one at a time.
class Prober {
 public:
  Prober(const config::Config& cfg, const config::Flags& flags, const std::string& token)
      : cfg_(cfg),
        flags_(flags),
        transport_(Options(cfg.api, token), metrics_),
        client_(cfg.api, transport_) {}
  ~Prober() { transport_.Stop(); }

  ApiProbes Run(const std::string& token_origin) {
    ApiProbes p;
    p.token_origin = token_origin;
    p.user = Send(cfg_.api.endpoint + "/oapi/v1/platform/user", flowapi::kPlatformUser);
    if (p.user.result.kind == ErrorKind::kTransport || TokenTrouble(p.user.result.kind)) {
      return p;
    }
    p.list = Call([&](auto done) { client_.ListPipelines(1, 1, Deadline(), done); });
    // Nothing else can be judged with a rejected token or on a path the API does not serve.
    if (TokenTrouble(p.list.result.kind) || p.list.result.kind == ErrorKind::kNotFound) return p;
    p.groups =
        Send(cfg_.api.endpoint + cfg_.api.PipelinesPrefix() + "/pipelineGroups?page=1&perPage=1",
             flowapi::kListGroups);
    if (p.list.result.kind == ErrorKind::kOrganization ||
        p.groups.result.kind == ErrorKind::kOrganization) {
      return p;
    }

    std::vector<model::Pipeline> discovered;
    if (cfg_.discovery.enabled) {
      p.discovery_ran = true;
      collector::Discovery discovery(cfg_.discovery, client_);
      const double before = RequestsSoFar();
      auto found = discovery.List(SystemClock::Instance().Now() + std::chrono::seconds(120));
      p.discovery_requests = RequestsSoFar() - before;
      if (found.ok()) {
        discovered = *found;
        p.discovered = discovered.size();
      } else {
        p.discovery_error = found.error();
      }
    }
    auto targets =
        collector::MergeTargets(cfg_.pipelines, discovered, flags_.shard_index, flags_.shard_total);
    p.targets = targets.size();
    for (const auto& t : targets) p.unnamed_targets += t.name.empty() ? 1 : 0;

    for (size_t i = 0; i < targets.size() && i < kMaxWatched; ++i) {
      PipelineProbe w;
      w.id = targets[i].id;
      w.name = targets[i].name;
      w.latest = Call([&](auto done) { client_.GetLatestRun(w.id, Deadline(), done); });
      if (w.latest.result.kind == ErrorKind::kNotFound) {
        w.definition = Call([&](auto done) { client_.GetPipeline(w.id, Deadline(), done); });
      }
      p.watched.push_back(std::move(w));
    }
    if (!p.watched.empty()) {
      p.run = p.watched.front().latest;
    } else if (p.list.result.ok) {
      // Nothing to watch: ask about any visible pipeline, for the permission alone.
      auto items = model::DecodePipelineList(p.list.result.body);
      if (items.ok() && !items->empty()) {
        const std::string id = items->front().id;
        p.run = Call([&](auto done) { client_.GetLatestRun(id, Deadline(), done); });
      }
    }
    return p;
  }

 private:
  static flowapi::TransportOptions Options(const config::ApiConfig& api, const std::string& token) {
    flowapi::TransportOptions o;
    o.max_concurrency = 1;
    o.timeout = api.timeout;
    o.max_response_bytes = api.max_response_bytes;
    o.max_requests_per_second = api.max_requests_per_second;
    o.rate_limit_burst = api.rate_limit_burst;
    o.max_retries = std::min(api.max_retries, 1);
    o.tls_ca_file = api.tls_ca_file;
    o.user_agent = "yunxiao-flow-exporter/" + App::Version() + " (api.check)";
    o.token = [token] { return token; };
    return o;
  }

  Clock::Steady Deadline() const {
    return SystemClock::Instance().Now() + 3 * cfg_.api.timeout + std::chrono::seconds(2);
  }

  template <typename F>
  Probe Call(F start) {
    std::promise<ApiResult> promise;
    auto future = promise.get_future();
    start([&promise](ApiResult r) { promise.set_value(std::move(r)); });
    return Probe{true, future.get()};  // the transport always answers by the deadline
  }

  Probe Send(std::string url, std::string_view endpoint) {
    return Call([&](auto done) {
      transport_.Submit(
          flowapi::Request{std::move(url), std::string(endpoint), Deadline()},
          [endpoint, done](flowapi::Response r) { done(flowapi::Classify(r, endpoint)); });
    });
  }

  // Requests answered so far, from the request counter (discovery's own pages included).
  double RequestsSoFar() const {
    double sum = 0;
    std::istringstream in(metrics_.Render());
    const std::string name = "yunxiao_flow_api_requests_total{";
    for (std::string line; std::getline(in, line);) {
      if (!line.starts_with(name)) continue;
      auto space = line.rfind(' ');
      if (space != std::string::npos) sum += std::atof(line.c_str() + space + 1);
    }
    return sum;
  }

  const config::Config& cfg_;
  const config::Flags& flags_;
  metrics::SelfMetrics metrics_;
  flowapi::Transport transport_;
  flowapi::FlowClient client_;
};

}  // namespace

int RunApiCheck(const config::Flags& flags, const char* env_token, std::ostream& out) {
  // The report is the output; the client's own warnings would only repeat it.
  logging::Configure(logging::Level::kError, flags.log_format);
  auto print = [&out](const std::string& text) { out << logging::Redacted(text); };

  config::ConfigLoad load = config::LoadConfigFile(flags.config_file);
  logging::RegisterSecret(load.config.api.token);
  if (!load.ok()) {
    std::string text;
    for (const auto& e : load.errors) text += "✘ " + e + "\n";
    text += "    fix: run --config.check --config.file=" + flags.config_file +
            " and correct the configuration first\napi.check: the configuration is invalid\n";
    print(text);
    return 1;
  }
  auto token = config::ResolveToken(load.config.api, env_token);
  if (!token.ok()) {
    print("✘ " + token.error() + "\napi.check: no usable API token\n");
    return 1;
  }
  logging::RegisterSecret(token->token);
  print("api.check: " + flags.config_file + " → " + load.config.api.endpoint + "\n");

  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    print("✘ cannot initialise libcurl\n");
    return 1;
  }
  ApiProbes probes;
  {
    Prober prober(load.config, flags, token->token);
    probes = prober.Run(token->origin);
  }
  curl_global_cleanup();
  const std::vector<CheckLine> lines = Evaluate(load.config, probes);
  print(FormatReport(lines));
  return Passed(lines) ? 0 : 1;
}

}  // namespace yfe::app
