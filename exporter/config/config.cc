#include "config/config.h"

#include <re2/re2.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <span>
#include <sstream>

#include "config/schema.h"
#include "util/duration.h"
#include "util/log.h"
#include "util/result.h"

namespace yfe::config {
namespace {

constexpr std::string_view kCentralHost = "openapi-rdc.aliyuncs.com";

// Upper bounds of the durations (docs/configuration.md): generous, and far from the
// ~292 years at which now + d overflows a nanosecond clock.
using std::chrono::hours;
constexpr nanoseconds kMaxTimeout = std::chrono::minutes(10);
constexpr nanoseconds kMaxCacheTtl = hours(24);
constexpr nanoseconds kMaxScrapeDeadline = std::chrono::minutes(10);
constexpr nanoseconds kMaxStale = hours(24 * 30);
constexpr nanoseconds kMaxHistoryInterval = hours(24);
constexpr nanoseconds kMaxRefreshInterval = hours(24 * 7);
constexpr nanoseconds kMaxHistoryPending = hours(24 * 90);
bool ValidPipelineId(const std::string& id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
           c == '_';
  });
}

// An api.endpoint taken apart.
struct Endpoint {
  std::string scheme;
  std::string host;
};

// scheme://host[:port] with an optional trailing slash.
Result<Endpoint> SplitEndpoint(const std::string& endpoint) {
  auto sep = endpoint.find("://");
  if (sep == std::string::npos) return Error("must look like https://host[:port]");
  Endpoint e{endpoint.substr(0, sep), ""};
  if (e.scheme != "https" && e.scheme != "http") return Error("scheme must be https or http");
  std::string rest = endpoint.substr(sep + 3);
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.empty() || rest.find_first_of("/?#@ ") != std::string::npos) {
    return Error("must be scheme://host[:port] with no path, query or credentials");
  }
  e.host = rest;
  if (e.host.front() == '[') {
    e.host = e.host.substr(0, e.host.find(']') + 1);
  } else if (auto colon = e.host.find(':'); colon != std::string::npos) {
    e.host = e.host.substr(0, colon);
  }
  return e;
}

// root[section][key] when both exist, else the nearest that does: a message's line.
YAML::Node Nearest(const YAML::Node& root, const char* section, const char* key = nullptr) {
  const YAML::Node s = root[section];
  if (!s || !s.IsMap()) return root;
  if (key == nullptr) return s;
  const YAML::Node k = s[key];
  return k ? k : s;
}

void DeclarePathPrefix(Section& api, ApiConfig& out) {
  std::string prefix;
  YAML::Node p = api.String("path_prefix", prefix, "replaces everything before /pipelines");
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (!prefix.empty() &&
      (prefix.front() != '/' || prefix.find_first_of("?# ") != std::string::npos)) {
    api.checker().Error(
        p, "\"api.path_prefix\" must be an absolute path such as /my-gateway/oapi/v1/flow");
  }
  if (!prefix.empty()) out.path_prefix = prefix;
}

// The api section: where the token lives, so its values are never quoted back.
void DeclareApi(Section api, ApiConfig& out, bool& edition_set) {
  api.NoEcho("the api section holds the token");
  api.String("endpoint", out.endpoint, "scheme://host[:port] of the Flow OpenAPI");
  std::string edition;
  api.Choice("edition", edition, {"central", "region"}, "path form; default from the host");
  if (!edition.empty()) {
    out.edition = edition == "central" ? Edition::kCentral : Edition::kRegion;
    edition_set = true;
  }
  api.String("organization_id", out.organization_id, "required for the central edition");
  DeclarePathPrefix(api, out);
  api.String("token_file", out.token_file, "file holding the token (first line)");
  if (YAML::Node t = api.String("token", out.token, "the token itself (discouraged)")) {
    api.checker().Warn(t,
                       "\"api.token\" keeps a secret in the config file; prefer api.token_file or "
                       "the YUNXIAO_TOKEN environment variable");
  }
  api.Duration("timeout", out.timeout, false, kMaxTimeout, "per request");
  api.Number("max_concurrency", out.max_concurrency, 1, 256, "requests in flight at once");
  api.Number("max_requests_per_second", out.max_requests_per_second, 0.01, 100000.0,
             "token-bucket rate limit");
  api.Number("rate_limit_burst", out.rate_limit_burst, 1, 100000, "token-bucket size");
  api.Number("max_retries", out.max_retries, 0, 10, "retries after a 5xx, 429 or transport error");
  api.Number<int64_t>("max_response_bytes", out.max_response_bytes, 1024, int64_t{1} << 30,
                      "larger bodies fail the fetch");
  api.String("tls_ca_file", out.tls_ca_file, "PEM CA certificates for the API's TLS");
}

std::string FormatBuckets(const std::vector<double>& buckets) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < buckets.size(); ++i) s << (i ? ", " : "") << buckets[i];
  return s.str() + "]";
}

// Histogram buckets in seconds (collect.<key>): positive, finite, strictly increasing.
void DeclareBuckets(Section& collect, const char* key, const char* help, std::vector<double>& out) {
  std::vector<double> buckets;
  bool bad = false;
  const std::string name = std::string("\"collect.") + key + "\"";
  YAML::Node b = collect.Sequence(
      key, "a non-empty list of seconds", FormatBuckets(out), help, [&](const YAML::Node& item) {
        double v = 0;
        if (bad) return;
        if (!item.IsScalar() || !YAML::convert<double>::decode(item, v) || !(v > 0) ||
            !std::isfinite(v)) {
          bad = true;
          return collect.checker().Error(item, name +
                                                   " entries must be positive finite numbers "
                                                   "(the +Inf bucket is implicit)");
        }
        if (!buckets.empty() && v <= buckets.back()) {
          bad = true;
          return collect.checker().Error(item, name + " must be strictly increasing");
        }
        buckets.push_back(v);
      });
  if (b && !bad) out = buckets;
}

void DeclareCollect(Section collect, CollectConfig& out) {
  collect.Bool("stages", out.stages, "export stage series");
  collect.Bool("jobs", out.jobs, "export job series");
  collect.Bool("sparse_status", out.sparse_status, "only the current status series");
  collect.Duration("cache_ttl", out.cache_ttl, true, kMaxCacheTtl, "latest-run cache lifetime");
  collect.Duration("scrape_deadline", out.scrape_deadline, false, kMaxScrapeDeadline,
                   "a scrape answers by then");
  collect.Duration("max_stale", out.max_stale, true, kMaxStale, "serve last good data this long");
  collect.Bool("history", out.history, "count every finished run");
  collect.Duration("history_interval", out.history_interval, false, kMaxHistoryInterval,
                   "run history poll interval");
  DeclareBuckets(collect, "history_buckets", "histogram buckets in seconds", out.history_buckets);
  collect.Number("max_stages", out.max_stages, 1, 200, "stages one run may render");
  collect.Number("max_jobs_per_stage", out.max_jobs_per_stage, 1, 200, "jobs one stage may render");
  collect.Number<int64_t>("max_run_bytes", out.max_run_bytes, 4096, int64_t{64} << 20,
                          "exposition bytes one run may render");
  YAML::Node m = collect.Duration("history_max_pending", out.history_max_pending, false,
                                  kMaxHistoryPending, "how long an unfinished run is followed");
  if (m && m.IsScalar() && out.history_max_pending < out.history_interval) {
    collect.checker().Error(
        m, "\"collect.history_max_pending\" must be at least collect.history_interval");
  }
  YAML::Node dir = collect.String("state_dir", out.state_dir, "where run history is saved");
  if (!out.state_dir.empty() && !out.history) {
    collect.checker().Warn(dir,
                           "\"collect.state_dir\" has no effect without collect.history: true");
  }
  YAML::Node jobs = collect.Bool("job_history", out.job_history,
                                 "count the jobs and stages of every counted run");
  if (out.job_history && !out.history) {
    collect.checker().Warn(jobs,
                           "\"collect.job_history\" has no effect without collect.history: true");
  }
  DeclareBuckets(collect, "job_history_buckets", "job and stage histogram buckets in seconds",
                 out.job_history_buckets);
}

void DeclarePipeline(Section& item, std::set<std::string>& seen, std::vector<PipelineConfig>& out) {
  Checker& c = item.checker();
  const std::string& path = item.Path("").substr(0, item.Path("").size() - 1);
  PipelineConfig p;
  if (item.node().IsDefined() && item.node().IsScalar()) p.id = item.node().Scalar();  // bare id
  if (item.node().IsDefined() && !item.node().IsScalar() && !item.node().IsMap()) {
    return c.Error(item.node(), "\"" + path + "\" must be a mapping with id and name");
  }
  item.String("id", p.id, "the pipeline id: required, unique");
  item.String("name", p.name, "the name label; default from the API, else the id");
  if (!item.present()) return;  // the schema only
  if (p.id.empty()) return c.Error(item.node(), "\"" + path + ".id\" is required");
  if (!ValidPipelineId(p.id)) {
    return c.Error(item.node(), "\"" + path + ".id\" must be letters, digits, - or _ (got \"" +
                                    p.id.substr(0, 64) + "\")");
  }
  if (!seen.insert(p.id).second) {
    return c.Error(item.node(), "duplicate pipeline id \"" + p.id + "\" in " + path);
  }
  out.push_back(std::move(p));
}

void DeclareDiscovery(Section d, DiscoveryConfig& out) {
  out.enabled = d.present();
  for (auto [key, re] : {std::pair{"include", &out.include}, std::pair{"exclude", &out.exclude}}) {
    YAML::Node n = d.String(key, *re, "RE2 regex searched in the pipeline name");
    if (re->empty()) continue;
    if (auto compiled = CompileNameRegex(*re); !compiled->ok()) {
      d.checker().Error(n, "\"discovery." + std::string(key) +
                               "\" is not a valid RE2 regular expression: " + compiled->error());
    }
  }
  d.Sequence("group_ids", "a list of numbers", "", "only pipelines of these groups",
             [&](const YAML::Node& item) {
               int64_t v = 0;
               if (!item.IsScalar() || !YAML::convert<int64_t>::decode(item, v)) {
                 d.checker().Error(item, "\"discovery.group_ids\" entries must be numbers");
               } else {
                 out.group_ids.push_back(v);
               }
             });
  d.Duration("refresh_interval", out.refresh_interval, false, kMaxRefreshInterval,
             "how often the pipeline list is refreshed");
}

// A regex key, checked with RE2 as discovery's; an invalid one is reported and cleared.
void DeclareRegex(Section& s, const char* key, std::string& out, const char* help) {
  YAML::Node n = s.String(key, out, help);
  if (out.empty()) return;
  if (auto compiled = CompileNameRegex(out); !compiled->ok()) {
    s.checker().Error(
        n, "\"" + s.Path(key) + "\" is not a valid RE2 regular expression: " + compiled->error());
    out.clear();
  }
}

void DeclareDeploymentPipelines(Section p, DeploymentConfig& d) {
  DeclareRegex(p, "include", d.include, "RE2 regex searched in the pipeline name");
  p.Sequence("group_ids", "a list of numbers", "", "pipelines of these pipeline groups",
             [&](const YAML::Node& item) {
               int64_t v = 0;
               if (!item.IsScalar() || !YAML::convert<int64_t>::decode(item, v)) {
                 p.checker().Error(item, "\"" + p.Path("group_ids") + "\" entries must be numbers");
               } else {
                 d.group_ids.push_back(v);
               }
             });
  p.Sequence("ids", "a list of pipeline ids", "", "these pipeline ids",
             [&](const YAML::Node& item) {
               const std::string id = item.IsScalar() ? item.Scalar() : "";
               if (!ValidPipelineId(id)) {
                 p.checker().Error(
                     item, "\"" + p.Path("ids") + "\" entries must be letters, digits, - or _");
               } else {
                 d.ids.push_back(id);
               }
             });
}

// delivery.deployments[].stage: an RE2 regex of stage names, or "job_sign:<sign>".
void DeclareStage(Section& item, std::string& stage) {
  constexpr std::string_view kJobSign = "job_sign:";
  YAML::Node n =
      item.String("stage", stage, "the deploying stage: RE2 regex of its name, or job_sign:<sign>");
  if (stage.empty()) return;
  if (!stage.starts_with(kJobSign)) {
    if (auto compiled = CompileNameRegex(stage); !compiled->ok()) {
      item.checker().Error(n, "\"" + item.Path("stage") +
                                  "\" is not a valid RE2 regular expression: " + compiled->error());
      stage.clear();
    }
  } else if (stage.size() == kJobSign.size()) {
    item.checker().Error(n, "\"" + item.Path("stage") + "\" names no job after job_sign:");
    stage.clear();
  }
}

void DeclareDeployment(Section& item, std::set<std::string>& seen, DeliveryConfig& out) {
  Checker& c = item.checker();
  const std::string path = item.Path("").substr(0, item.Path("").size() - 1);
  DeploymentConfig d;
  item.String("environment", d.environment, "the environment label value: required, unique");
  DeclareDeploymentPipelines(item.Map("pipelines"), d);
  DeclareStage(item, d.stage);
  if (!item.present()) return;  // the schema only
  if (d.environment.empty()) {
    c.Error(item.node(), "\"" + path + ".environment\" is required");
  } else if (!seen.insert(d.environment).second) {
    c.Error(item.node(), "duplicate environment \"" + d.environment + "\" in " + path);
  } else if (d.include.empty() && d.group_ids.empty() && d.ids.empty()) {
    c.Error(item.node(),
            "\"" + path + ".pipelines\" must name pipelines (include, group_ids or ids)");
  } else {
    out.deployments.push_back(std::move(d));
  }
}

void DeclareDelivery(Section d, DeliveryConfig& out) {
  std::set<std::string> seen;
  d.Objects("deployments", "a list of {environment, pipelines}",
            [&](Section& item) { DeclareDeployment(item, seen, out); });
}

// The whole file, section by section: the one declaration of every key.
void DeclareConfig(Section& root, Config& cfg, bool& edition_set) {
  DeclareApi(root.Map("api"), cfg.api, edition_set);
  DeclareCollect(root.Map("collect"), cfg.collect);
  std::set<std::string> seen;
  root.Objects("pipelines", "a list of {id, name}",
               [&](Section& item) { DeclarePipeline(item, seen, cfg.pipelines); });
  DeclareDiscovery(root.Map("discovery"), cfg.discovery);
  DeclareDelivery(root.Map("delivery"), cfg.delivery);
}

// What no single key can tell: the endpoint's form, the edition it implies, the organization.
void CheckAcrossKeys(Checker& c, const YAML::Node& root, Config& cfg, bool edition_set) {
  auto endpoint = SplitEndpoint(cfg.api.endpoint);
  if (!endpoint.ok()) {
    c.Error(Nearest(root, "api", "endpoint"),
            "\"api.endpoint\" " + endpoint.error());  // not echoed: it may hold user:password@
  } else {
    while (cfg.api.endpoint.back() == '/') cfg.api.endpoint.pop_back();
    const std::string& host = endpoint->host;
    if (!edition_set) {
      cfg.api.edition = host == kCentralHost ? Edition::kCentral : Edition::kRegion;
    }
    if (endpoint->scheme == "http" && host != "127.0.0.1" && host != "localhost" &&
        host != "[::1]") {
      c.Warn(Nearest(root, "api", "endpoint"),
             "\"api.endpoint\" uses plain http: the token travels unencrypted");
    }
  }
  if (cfg.api.edition == Edition::kCentral && !cfg.api.path_prefix &&
      cfg.api.organization_id.empty() && (endpoint.ok() || edition_set)) {
    c.Error(Nearest(root, "api"),
            "\"api.organization_id\" is required for the central edition (or set "
            "api.edition: region, or api.path_prefix)");
  }
  if (!cfg.api.organization_id.empty() && !ValidPipelineId(cfg.api.organization_id)) {
    c.Error(Nearest(root, "api", "organization_id"),
            "\"api.organization_id\" must be letters, digits, - or _");
  }
  if (cfg.pipelines.empty() && !cfg.discovery.enabled) {
    c.Error(root, "no pipelines: list them under \"pipelines\" or enable \"discovery\"");
  }
  if (!cfg.delivery.deployments.empty() && !cfg.collect.history) {
    c.Error(Nearest(root, "delivery"),
            "\"delivery\" needs collect.history: true (it counts the runs run history sees "
            "finish)");
  }
}

}  // namespace

std::vector<KeyInfo> Keys() {
  std::vector<std::string> sink;
  Checker c = Checker::Schema(sink);
  Config cfg;
  bool edition_set = false;
  {
    Section root = c.Root(YAML::Node());
    DeclareConfig(root, cfg, edition_set);
  }
  return c.keys();
}

std::vector<std::string> AllKeys() {
  std::vector<std::string> keys;
  for (const auto& k : Keys()) keys.push_back(k.path);
  return keys;
}

std::unique_ptr<re2::RE2> CompileNameRegex(const std::string& pattern) {
  re2::RE2::Options options;
  options.set_log_errors(false);  // the config check reports the error, with the line
  return std::make_unique<re2::RE2>(pattern, options);
}

std::string ApiConfig::PipelinesPrefix() const {
  if (path_prefix) return *path_prefix;
  if (edition == Edition::kRegion) return "/oapi/v1/flow";
  return "/oapi/v1/flow/organizations/" + organization_id;
}

ConfigLoad ParseConfig(std::string_view yaml, std::string_view source) {
  ConfigLoad load;
  Checker c(source, load.errors, load.warnings);
  const YAML::Node root = c.Load(yaml, "a mapping with api, collect, pipelines");
  if (!root) return load;
  if (root.IsNull()) {
    c.Error("the file is empty");
    return load;
  }
  bool edition_set = false;
  c.Walk(
      root, [&](Section& r) { DeclareConfig(r, load.config, edition_set); },
      [&] { CheckAcrossKeys(c, root, load.config, edition_set); });
  return load;
}

std::string CheckStateDir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path p(dir);
  if (fs::exists(p, ec)) {
    if (!fs::is_directory(p, ec)) return dir + " is not a directory";
    if (access(dir.c_str(), W_OK | X_OK) != 0) {
      return dir + " is not writable: " + std::strerror(errno);
    }
    return "";
  }
  // Created at start: the nearest existing parent must allow it.
  fs::path parent = fs::absolute(p, ec).parent_path();
  while (!fs::exists(parent, ec) && parent != parent.parent_path()) parent = parent.parent_path();
  if (!fs::is_directory(parent, ec)) {
    return dir + " cannot be created: " + parent.string() + " is not a directory";
  }
  if (access(parent.c_str(), W_OK | X_OK) != 0) {
    return dir + " cannot be created in " + parent.string() + ": " + std::strerror(errno);
  }
  return "";
}

ConfigLoad LoadConfigFile(const std::string& path) {
  const std::optional<std::string> text = ReadWholeFile(path);
  if (!text) {
    ConfigLoad load;
    load.errors.push_back(path + ": cannot read the config file");
    return load;
  }
  ConfigLoad load = ParseConfig(*text, path);
  RegisterSecrets(load.config.api);
  // The file system, not the text: checked here so that --config.check and the start agree.
  if (const std::string& dir = load.config.collect.state_dir; load.ok() && !dir.empty()) {
    if (std::string why = CheckStateDir(dir); !why.empty()) {
      load.errors.push_back(path + ": \"collect.state_dir\" " + why);
    }
  }
  return load;
}

void RegisterSecrets(const ApiConfig& api) {
  logging::RegisterSecret(api.token);
  if (!api.token_file.empty()) {
    // An unreadable file is reported when the token is resolved.
    logging::RegisterSecret(ReadTokenFile(api.token_file).value_or(""));
  }
}

Result<std::string> ReadTokenFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error("cannot read api.token_file " + path);
  std::string line;
  std::getline(in, line, '\n');
  auto is_space = [](char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; };
  while (!line.empty() && is_space(line.back())) line.pop_back();
  size_t start = 0;
  while (start < line.size() && is_space(line[start])) ++start;
  line.erase(0, start);
  if (line.empty()) return Error("api.token_file " + path + " is empty");
  for (char ch : line) {
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) {
      return Error("api.token_file " + path + " holds control characters");
    }
  }
  return line;
}

Result<TokenSource> ResolveToken(const ApiConfig& api, const char* env_token) {
  if (!api.token_file.empty()) {
    auto token = ReadTokenFile(api.token_file);
    if (!token.ok() && env_token && *env_token) {
      return Error(token.error() +
                   " (api.token_file, when set, is used instead of YUNXIAO_TOKEN: remove it "
                   "from the configuration to take the token from the environment)");
    }
    YFE_RETURN_IF_ERROR(token);
    return TokenSource{*token, "api.token_file " + api.token_file};
  }
  auto usable = [](const std::string& token, const char* origin) -> Result<TokenSource> {
    for (char ch : token) {
      if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) {
        return Error(std::string(origin) + " holds control characters");
      }
    }
    return TokenSource{token, origin};
  };
  if (env_token && *env_token) return usable(env_token, "YUNXIAO_TOKEN");
  if (!api.token.empty()) return usable(api.token, "api.token");
  return Error("no API token: set api.token_file, or the YUNXIAO_TOKEN environment variable");
}

LoadedConfig LoadForRun(const std::string& path, const char* env_token) {
  LoadedConfig out{LoadConfigFile(path), {}};
  if (!out.load.ok()) return out;
  auto token = ResolveToken(out.load.config.api, env_token);
  if (!token.ok()) {
    out.load.errors.push_back(token.error());
  } else {
    out.token = std::move(*token);
  }
  return out;
}

}  // namespace yfe::config
