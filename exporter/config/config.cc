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

#include "util/duration.h"
#include "util/log.h"

namespace yfe::config {
namespace {

constexpr std::string_view kCentralHost = "openapi-rdc.aliyuncs.com";

// The configuration keys, per section: the parser accepts exactly these.
constexpr std::string_view kTopKeys[] = {"api", "collect", "pipelines", "discovery", "delivery"};
constexpr std::string_view kApiKeys[] = {
    "endpoint",         "edition",         "organization_id",
    "path_prefix",      "token_file",      "token",
    "timeout",          "max_concurrency", "max_requests_per_second",
    "rate_limit_burst", "max_retries",     "max_response_bytes",
    "tls_ca_file"};
constexpr std::string_view kCollectKeys[] = {"stages",
                                             "jobs",
                                             "sparse_status",
                                             "cache_ttl",
                                             "scrape_deadline",
                                             "max_stale",
                                             "history",
                                             "history_interval",
                                             "history_buckets",
                                             "max_stages",
                                             "max_jobs_per_stage",
                                             "max_run_bytes",
                                             "history_max_pending",
                                             "state_dir"};

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
constexpr std::string_view kPipelineKeys[] = {"id", "name"};
constexpr std::string_view kDiscoveryKeys[] = {"include", "exclude", "group_ids",
                                               "refresh_interval"};
constexpr std::string_view kDeliveryKeys[] = {"deployments"};
constexpr std::string_view kDeploymentKeys[] = {"environment", "pipelines", "stage"};
constexpr std::string_view kDeploymentPipelineKeys[] = {"include", "group_ids", "ids"};

// Collects problems while walking the YAML tree, each tagged with source and line.
class Checker {
 public:
  Checker(std::string_view source, ConfigLoad& out) : source_(source), out_(out) {}

  void Error(const YAML::Node& at, const std::string& msg) {
    out_.errors.push_back(Where(at) + msg);
  }
  void Warn(const YAML::Node& at, const std::string& msg) {
    out_.warnings.push_back(Where(at) + msg);
  }
  void Error(const std::string& msg) { out_.errors.push_back(std::string(source_) + ": " + msg); }

  // Reports keys of `map` that are not in `known`.
  void OnlyKeys(const YAML::Node& map, std::string_view path,
                std::span<const std::string_view> known) {
    for (const auto& kv : map) {
      std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "?";
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        std::string list;
        for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
        Error(kv.first,
              "unknown key \"" + std::string(path) + key + "\" (known keys here: " + list + ")");
      }
    }
  }

  bool IsMap(const YAML::Node& n, const std::string& key) {
    if (!n || n.IsNull()) return false;
    if (!n.IsMap()) {
      Error(n, "\"" + key + "\" must be a mapping");
      return false;
    }
    return true;
  }

  void String(const YAML::Node& parent, const char* key, const std::string& path,
              std::string& out) {
    YAML::Node n = parent[key];
    if (!n || n.IsNull()) return;
    if (!n.IsScalar()) return Error(n, "\"" + path + "\" must be a string");
    out = n.Scalar();
  }

  void Bool(const YAML::Node& parent, const char* key, const std::string& path, bool& out) {
    YAML::Node n = parent[key];
    if (!n || n.IsNull()) return;
    bool v = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) {
      return Error(n, "\"" + path + "\" must be true or false" + Got(n, path));
    }
    out = v;
  }

  template <typename T>
  void Number(const YAML::Node& parent, const char* key, const std::string& path, T& out, T min,
              T max) {
    YAML::Node n = parent[key];
    if (!n || n.IsNull()) return;
    T v{};
    if (!n.IsScalar() || !YAML::convert<T>::decode(n, v)) {
      return Error(n, "\"" + path + "\" must be a number" + Got(n, path));
    }
    // Written so that NaN fails too (every comparison with NaN is false).
    if (!(v >= min && v <= max)) {
      std::ostringstream s;
      s << "\"" << path << "\" must be between " << min << " and " << max;
      if (Echoes(path)) s << ", got " << v;
      return Error(n, s.str());
    }
    out = v;
  }

  // A duration up to `max`: every duration is added to time points (now + d), and a
  // bounded one cannot overflow them.
  void Duration(const YAML::Node& parent, const char* key, const std::string& path,
                nanoseconds& out, bool allow_zero, nanoseconds max) {
    YAML::Node n = parent[key];
    if (!n || n.IsNull()) return;
    if (!n.IsScalar()) return Error(n, "\"" + path + "\" must be a duration such as 10s");
    auto d = ParseDuration(n.Scalar());
    if (!d.ok()) {
      if (!Echoes(path)) return Error(n, "\"" + path + "\" must be a duration such as 10s");
      return Error(n, "\"" + path + "\": " + d.error());
    }
    if (!allow_zero && d->count() == 0) return Error(n, "\"" + path + "\" must be more than 0");
    if (*d > max) {
      return Error(n, "\"" + path + "\" must be at most " + FormatDuration(max));
    }
    out = *d;
  }

  // Values of keys in the api section, where the token lives, are never quoted back: a
  // token pasted into the wrong key would be printed. The message names key and line.
  static bool Echoes(std::string_view path) { return path.substr(0, 4) != "api."; }

  // `, got "value"` for a message about `path`, or a note that the value is not shown.
  static std::string Got(const YAML::Node& n, std::string_view path) {
    if (!Echoes(path)) return " (the value is not shown: the api section holds the token)";
    if (n.IsScalar()) return ", got \"" + n.Scalar().substr(0, 60) + "\"";
    if (n.IsSequence()) return ", got a list";
    if (n.IsMap()) return ", got a mapping";
    return ", got nothing";
  }

 private:
  std::string Where(const YAML::Node& n) {
    auto mark = n.Mark();
    std::string w(source_);
    if (mark.line >= 0) w += ":" + std::to_string(mark.line + 1);
    return w + ": ";
  }

  std::string_view source_;
  ConfigLoad& out_;
};

bool ValidPipelineId(const std::string& id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
           c == '_';
  });
}

// scheme://host[:port] with an optional trailing slash; returns the host or an error text.
bool SplitEndpoint(const std::string& endpoint, std::string& scheme, std::string& host,
                   std::string& error) {
  auto sep = endpoint.find("://");
  if (sep == std::string::npos) {
    error = "must look like https://host[:port]";
    return false;
  }
  scheme = endpoint.substr(0, sep);
  if (scheme != "https" && scheme != "http") {
    error = "scheme must be https or http";
    return false;
  }
  std::string rest = endpoint.substr(sep + 3);
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.empty() || rest.find_first_of("/?#@ ") != std::string::npos) {
    error = "must be scheme://host[:port] with no path, query or credentials";
    return false;
  }
  host = rest;
  if (host.front() == '[') {
    host = host.substr(0, host.find(']') + 1);
  } else if (auto colon = host.find(':'); colon != std::string::npos) {
    host = host.substr(0, colon);
  }
  return true;
}

void ParseApi(Checker& c, const YAML::Node& api, ApiConfig& out, bool& edition_set) {
  c.OnlyKeys(api, "api.", kApiKeys);
  c.String(api, "endpoint", "api.endpoint", out.endpoint);
  if (YAML::Node e = api["edition"]; e && !e.IsNull()) {
    std::string ed = e.IsScalar() ? e.Scalar() : "";
    if (ed == "central") {
      out.edition = Edition::kCentral;
      edition_set = true;
    } else if (ed == "region") {
      out.edition = Edition::kRegion;
      edition_set = true;
    } else {
      c.Error(e, "\"api.edition\" must be central or region" + Checker::Got(e, "api.edition"));
    }
  }
  c.String(api, "organization_id", "api.organization_id", out.organization_id);
  if (YAML::Node p = api["path_prefix"]; p && !p.IsNull()) {
    std::string prefix;
    c.String(api, "path_prefix", "api.path_prefix", prefix);
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    if (!prefix.empty() &&
        (prefix.front() != '/' || prefix.find_first_of("?# ") != std::string::npos)) {
      c.Error(p, "\"api.path_prefix\" must be an absolute path such as /my-gateway/oapi/v1/flow");
    }
    if (!prefix.empty()) out.path_prefix = prefix;
  }
  c.String(api, "token_file", "api.token_file", out.token_file);
  c.String(api, "token", "api.token", out.token);
  if (api["token"] && !api["token"].IsNull()) {
    c.Warn(api["token"],
           "\"api.token\" keeps a secret in the config file; prefer api.token_file or the "
           "YUNXIAO_TOKEN environment variable");
  }
  c.Duration(api, "timeout", "api.timeout", out.timeout, false, kMaxTimeout);
  c.Number(api, "max_concurrency", "api.max_concurrency", out.max_concurrency, 1, 256);
  c.Number(api, "max_requests_per_second", "api.max_requests_per_second",
           out.max_requests_per_second, 0.01, 100000.0);
  c.Number(api, "rate_limit_burst", "api.rate_limit_burst", out.rate_limit_burst, 1, 100000);
  c.Number(api, "max_retries", "api.max_retries", out.max_retries, 0, 10);
  c.Number<int64_t>(api, "max_response_bytes", "api.max_response_bytes", out.max_response_bytes,
                    1024, int64_t{1} << 30);
  c.String(api, "tls_ca_file", "api.tls_ca_file", out.tls_ca_file);
}

void ParseCollect(Checker& c, const YAML::Node& n, CollectConfig& out) {
  c.OnlyKeys(n, "collect.", kCollectKeys);
  c.Bool(n, "stages", "collect.stages", out.stages);
  c.Bool(n, "jobs", "collect.jobs", out.jobs);
  c.Bool(n, "sparse_status", "collect.sparse_status", out.sparse_status);
  c.Duration(n, "cache_ttl", "collect.cache_ttl", out.cache_ttl, true, kMaxCacheTtl);
  c.Duration(n, "scrape_deadline", "collect.scrape_deadline", out.scrape_deadline, false,
             kMaxScrapeDeadline);
  c.Duration(n, "max_stale", "collect.max_stale", out.max_stale, true, kMaxStale);
  c.Bool(n, "history", "collect.history", out.history);
  c.Duration(n, "history_interval", "collect.history_interval", out.history_interval, false,
             kMaxHistoryInterval);
  c.Number(n, "max_stages", "collect.max_stages", out.max_stages, 1, 200);
  c.Number(n, "max_jobs_per_stage", "collect.max_jobs_per_stage", out.max_jobs_per_stage, 1, 200);
  c.Number<int64_t>(n, "max_run_bytes", "collect.max_run_bytes", out.max_run_bytes, 4096,
                    int64_t{64} << 20);
  c.Duration(n, "history_max_pending", "collect.history_max_pending", out.history_max_pending,
             false, kMaxHistoryPending);
  if (YAML::Node m = n["history_max_pending"];
      m && m.IsScalar() && out.history_max_pending < out.history_interval) {
    c.Error(m, "\"collect.history_max_pending\" must be at least collect.history_interval");
  }
  c.String(n, "state_dir", "collect.state_dir", out.state_dir);
  if (!out.state_dir.empty() && !out.history) {
    c.Warn(n["state_dir"], "\"collect.state_dir\" has no effect without collect.history: true");
  }
  if (YAML::Node b = n["history_buckets"]; b && !b.IsNull()) {
    if (!b.IsSequence() || b.size() == 0) {
      c.Error(b, "\"collect.history_buckets\" must be a non-empty list of seconds");
    } else {
      std::vector<double> buckets;
      for (const auto& item : b) {
        double v = 0;
        if (!item.IsScalar() || !YAML::convert<double>::decode(item, v) || !(v > 0) ||
            !std::isfinite(v)) {
          c.Error(item,
                  "\"collect.history_buckets\" entries must be positive finite numbers (the "
                  "+Inf bucket is implicit)");
          return;
        }
        if (!buckets.empty() && v <= buckets.back()) {
          c.Error(item, "\"collect.history_buckets\" must be strictly increasing");
          return;
        }
        buckets.push_back(v);
      }
      out.history_buckets = buckets;
    }
  }
}

void ParsePipelines(Checker& c, const YAML::Node& n, std::vector<PipelineConfig>& out) {
  if (!n || n.IsNull()) return;
  if (!n.IsSequence()) return c.Error(n, "\"pipelines\" must be a list of {id, name}");
  std::set<std::string> seen;
  for (size_t i = 0; i < n.size(); ++i) {
    const YAML::Node item = n[i];
    std::string path = "pipelines[" + std::to_string(i) + "]";
    PipelineConfig p;
    if (item.IsScalar()) {
      p.id = item.Scalar();
    } else if (item.IsMap()) {
      c.OnlyKeys(item, path + ".", kPipelineKeys);
      c.String(item, "id", path + ".id", p.id);
      c.String(item, "name", path + ".name", p.name);
    } else {
      c.Error(item, "\"" + path + "\" must be a mapping with id and name");
      continue;
    }
    if (p.id.empty()) {
      c.Error(item, "\"" + path + ".id\" is required");
      continue;
    }
    if (!ValidPipelineId(p.id)) {
      c.Error(item, "\"" + path + ".id\" must be letters, digits, - or _ (got \"" +
                        p.id.substr(0, 64) + "\")");
      continue;
    }
    if (!seen.insert(p.id).second) {
      c.Error(item, "duplicate pipeline id \"" + p.id + "\" in " + path);
      continue;
    }
    out.push_back(std::move(p));
  }
}

void ParseDiscovery(Checker& c, const YAML::Node& n, DiscoveryConfig& out) {
  out.enabled = true;
  c.OnlyKeys(n, "discovery.", kDiscoveryKeys);
  c.String(n, "include", "discovery.include", out.include);
  c.String(n, "exclude", "discovery.exclude", out.exclude);
  for (const char* key : {"include", "exclude"}) {
    const std::string& re = std::string_view(key) == "include" ? out.include : out.exclude;
    if (re.empty()) continue;
    if (auto compiled = CompileNameRegex(re); !compiled->ok()) {
      c.Error(n[key], "\"discovery." + std::string(key) +
                          "\" is not a valid RE2 regular expression: " + compiled->error());
    }
  }
  if (YAML::Node g = n["group_ids"]; g && !g.IsNull()) {
    if (!g.IsSequence()) {
      c.Error(g, "\"discovery.group_ids\" must be a list of numbers");
    } else {
      for (const auto& item : g) {
        int64_t v = 0;
        if (!item.IsScalar() || !YAML::convert<int64_t>::decode(item, v)) {
          c.Error(item, "\"discovery.group_ids\" entries must be numbers");
        } else {
          out.group_ids.push_back(v);
        }
      }
    }
  }
  c.Duration(n, "refresh_interval", "discovery.refresh_interval", out.refresh_interval, false,
             kMaxRefreshInterval);
}

// A list of numbers (pipeline group ids) at n, for `path`.
void GroupIds(Checker& c, const YAML::Node& n, const std::string& path, std::vector<int64_t>& out) {
  if (!n || n.IsNull()) return;
  if (!n.IsSequence()) return c.Error(n, "\"" + path + "\" must be a list of numbers");
  for (const auto& item : n) {
    int64_t v = 0;
    if (!item.IsScalar() || !YAML::convert<int64_t>::decode(item, v)) {
      c.Error(item, "\"" + path + "\" entries must be numbers");
    } else {
      out.push_back(v);
    }
  }
}

// A regex key checked with RE2, as discovery's.
void Regex(Checker& c, const YAML::Node& parent, const char* key, const std::string& path,
           std::string& out) {
  c.String(parent, key, path, out);
  if (out.empty()) return;
  if (auto compiled = CompileNameRegex(out); !compiled->ok()) {
    c.Error(parent[key],
            "\"" + path + "\" is not a valid RE2 regular expression: " + compiled->error());
    out.clear();
  }
}

void ParseDeploymentPipelines(Checker& c, const YAML::Node& n, const std::string& path,
                              DeploymentConfig& d) {
  if (!c.IsMap(n, path)) return;
  c.OnlyKeys(n, path + ".", kDeploymentPipelineKeys);
  Regex(c, n, "include", path + ".include", d.include);
  GroupIds(c, n["group_ids"], path + ".group_ids", d.group_ids);
  if (YAML::Node ids = n["ids"]; ids && !ids.IsNull()) {
    if (!ids.IsSequence()) return c.Error(ids, "\"" + path + ".ids\" must be a list of ids");
    for (const auto& item : ids) {
      std::string id = item.IsScalar() ? item.Scalar() : "";
      if (!ValidPipelineId(id)) {
        c.Error(item, "\"" + path + ".ids\" entries must be letters, digits, - or _");
      } else {
        d.ids.push_back(id);
      }
    }
  }
}

void ParseDelivery(Checker& c, const YAML::Node& n, DeliveryConfig& out) {
  c.OnlyKeys(n, "delivery.", kDeliveryKeys);
  const YAML::Node list = n["deployments"];
  if (!list || list.IsNull()) return;
  if (!list.IsSequence()) {
    return c.Error(list, "\"delivery.deployments\" must be a list of {environment, pipelines}");
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node item = list[i];
    const std::string path = "delivery.deployments[" + std::to_string(i) + "]";
    if (!c.IsMap(item, path)) continue;
    c.OnlyKeys(item, path + ".", kDeploymentKeys);
    DeploymentConfig d;
    c.String(item, "environment", path + ".environment", d.environment);
    ParseDeploymentPipelines(c, item["pipelines"], path + ".pipelines", d);
    Regex(c, item, "stage", path + ".stage", d.stage);
    if (d.environment.empty()) {
      c.Error(item, "\"" + path + ".environment\" is required");
    } else if (!seen.insert(d.environment).second) {
      c.Error(item, "duplicate environment \"" + d.environment + "\" in " + path);
    } else if (d.include.empty() && d.group_ids.empty() && d.ids.empty()) {
      c.Error(item, "\"" + path + ".pipelines\" must name pipelines (include, group_ids or ids)");
    } else {
      out.deployments.push_back(std::move(d));
    }
  }
}

}  // namespace

std::vector<std::string> AllKeys() {
  std::vector<std::string> keys;
  auto add = [&](std::string_view prefix, std::span<const std::string_view> names) {
    for (auto n : names) keys.push_back(std::string(prefix) + std::string(n));
  };
  add("api.", kApiKeys);
  add("collect.", kCollectKeys);
  add("pipelines[].", kPipelineKeys);
  add("discovery.", kDiscoveryKeys);
  // (delivery.deployments[].pipelines is a mapping: its keys are listed instead)
  keys.push_back("delivery.deployments[].environment");
  keys.push_back("delivery.deployments[].stage");
  add("delivery.deployments[].pipelines.", kDeploymentPipelineKeys);
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
  Checker c(source, load);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    c.Error("line " + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg);
    return load;
  }
  if (!root || root.IsNull()) {
    c.Error("the file is empty");
    return load;
  }
  if (!root.IsMap()) {
    c.Error("the top level must be a mapping with api, collect, pipelines");
    return load;
  }
  Config& cfg = load.config;
  try {
    c.OnlyKeys(root, "", kTopKeys);
    bool edition_set = false;
    if (c.IsMap(root["api"], "api")) ParseApi(c, root["api"], cfg.api, edition_set);
    if (c.IsMap(root["collect"], "collect")) ParseCollect(c, root["collect"], cfg.collect);
    ParsePipelines(c, root["pipelines"], cfg.pipelines);
    if (c.IsMap(root["discovery"], "discovery"))
      ParseDiscovery(c, root["discovery"], cfg.discovery);
    if (c.IsMap(root["delivery"], "delivery")) ParseDelivery(c, root["delivery"], cfg.delivery);
    if (!cfg.delivery.deployments.empty() && !cfg.collect.history) {
      c.Error(root["delivery"],
              "\"delivery\" needs collect.history: true (it counts the runs "
              "run history sees finish)");
    }

    std::string scheme, host, why;
    const bool endpoint_ok = SplitEndpoint(cfg.api.endpoint, scheme, host, why);
    if (!endpoint_ok) {
      c.Error(root["api"]["endpoint"] ? root["api"]["endpoint"] : root,
              "\"api.endpoint\" " + why);  // not echoed: it may hold user:password@
    } else {
      while (cfg.api.endpoint.back() == '/') cfg.api.endpoint.pop_back();
      if (!edition_set) {
        cfg.api.edition = host == kCentralHost ? Edition::kCentral : Edition::kRegion;
      }
      if (scheme == "http" && host != "127.0.0.1" && host != "localhost" && host != "[::1]") {
        c.Warn(root["api"]["endpoint"],
               "\"api.endpoint\" uses plain http: the token travels unencrypted");
      }
    }
    if (cfg.api.edition == Edition::kCentral && !cfg.api.path_prefix &&
        cfg.api.organization_id.empty() && (endpoint_ok || edition_set)) {
      c.Error(root["api"] ? root["api"] : root,
              "\"api.organization_id\" is required for the central edition (or set "
              "api.edition: region, or api.path_prefix)");
    }
    if (!cfg.api.organization_id.empty() && !ValidPipelineId(cfg.api.organization_id)) {
      c.Error(root["api"]["organization_id"],
              "\"api.organization_id\" must be letters, digits, - or _");
    }
    if (cfg.pipelines.empty() && !cfg.discovery.enabled) {
      c.Error(root, "no pipelines: list them under \"pipelines\" or enable \"discovery\"");
    }
  } catch (const YAML::Exception& e) {
    c.Error("line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
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
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ConfigLoad load;
    load.errors.push_back(path + ": cannot read the config file");
    return load;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  ConfigLoad load = ParseConfig(buf.str(), path);
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
    std::string ignored;  // an unreadable file is reported when the token is resolved
    logging::RegisterSecret(ReadTokenFile(api.token_file, &ignored));
  }
}

std::string ReadTokenFile(const std::string& path, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot read api.token_file " + path;
    return {};
  }
  std::string line;
  std::getline(in, line, '\n');
  auto is_space = [](char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; };
  while (!line.empty() && is_space(line.back())) line.pop_back();
  size_t start = 0;
  while (start < line.size() && is_space(line[start])) ++start;
  line.erase(0, start);
  if (line.empty()) *error = "api.token_file " + path + " is empty";
  for (char ch : line) {
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) {
      *error = "api.token_file " + path + " holds control characters";
      return {};
    }
  }
  return line;
}

std::optional<TokenSource> ResolveToken(const ApiConfig& api, const char* env_token,
                                        std::string* error) {
  if (!api.token_file.empty()) {
    std::string token = ReadTokenFile(api.token_file, error);
    if (token.empty()) {
      if (env_token && *env_token) {
        *error +=
            " (api.token_file, when set, is used instead of YUNXIAO_TOKEN: remove it from "
            "the configuration to take the token from the environment)";
      }
      return std::nullopt;
    }
    return TokenSource{token, "api.token_file " + api.token_file};
  }
  auto usable = [error](const std::string& token, const char* origin) {
    for (char ch : token) {
      if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) {
        *error = std::string(origin) + " holds control characters";
        return false;
      }
    }
    return true;
  };
  if (env_token && *env_token) {
    if (!usable(env_token, "YUNXIAO_TOKEN")) return std::nullopt;
    return TokenSource{env_token, "YUNXIAO_TOKEN"};
  }
  if (!api.token.empty()) {
    if (!usable(api.token, "api.token")) return std::nullopt;
    return TokenSource{api.token, "api.token"};
  }
  *error = "no API token: set api.token_file, or the YUNXIAO_TOKEN environment variable";
  return std::nullopt;
}

}  // namespace yfe::config
