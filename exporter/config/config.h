// The exporter's configuration file: schema, defaults and validation. The keys are part
// of the public contract and documented in docs/configuration.md. Each key is declared once,
// in config.cc's Declare* functions (schema.h says how); its default is the field's
// initializer below.
//
//   ConfigLoad load = LoadConfigFile("config.yaml");
//   for (auto& e : load.errors) std::cerr << e << "\n";   // every problem, with line numbers
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace re2 {
class RE2;
}

namespace yfe::config {

using std::chrono::nanoseconds;

enum class Edition { kCentral, kRegion };

struct ApiConfig {
  std::string endpoint = "https://openapi-rdc.aliyuncs.com";  // scheme://host[:port]
  Edition edition = Edition::kCentral;
  std::string organization_id;
  std::optional<std::string> path_prefix;  // replaces everything before /pipelines
  std::string token_file;
  std::string token;  // literal token from the file (discouraged; warned about)
  nanoseconds timeout = std::chrono::seconds(10);
  int max_concurrency = 8;
  double max_requests_per_second = 20;
  int rate_limit_burst = 20;
  int max_retries = 2;
  int64_t max_response_bytes = 8 << 20;
  std::string tls_ca_file;

  // The path prefix before "/pipelines" for this edition, or path_prefix if set.
  std::string PipelinesPrefix() const;
};

struct CollectConfig {
  bool stages = true;
  bool jobs = true;
  bool sparse_status = true;
  nanoseconds cache_ttl = std::chrono::seconds(30);
  nanoseconds scrape_deadline = std::chrono::seconds(9);
  nanoseconds max_stale = std::chrono::minutes(10);
  bool history = false;
  nanoseconds history_interval = std::chrono::minutes(1);
  // A run unfinished for longer than this is no longer tracked (one request a poll each).
  nanoseconds history_max_pending = std::chrono::hours(7 * 24);
  std::vector<double> history_buckets = {10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400};
  // Job history (collector/job_history.h): per job and stage of each counted run finish.
  bool job_history = false;
  std::vector<double> job_history_buckets = {5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600};
  // What one run may render (metrics/translate.h RenderLimits): beyond, the run is cut.
  int max_stages = 100;
  int max_jobs_per_stage = 100;
  int64_t max_run_bytes = 1 << 20;
  // Where run history is saved across restarts (collector/ledger_store.h); empty: not saved.
  std::string state_dir;
};

struct PipelineConfig {
  std::string id;
  std::string name;  // empty: taken from GetPipeline, else the id
};

struct DiscoveryConfig {
  bool enabled = false;
  std::string include;  // RE2 regex searched in the pipeline name; empty = everything
  std::string exclude;  // RE2 regex; empty = nothing
  std::vector<int64_t> group_ids;
  nanoseconds refresh_interval = std::chrono::minutes(10);
};

// One environment's deployments (collector/delivery.h): the watched pipelines that deploy
// there, by id, name (RE2, searched like discovery.include) or pipeline group.
struct DeploymentConfig {
  std::string environment;  // label value
  std::string include;      // RE2 regex searched in the pipeline name; empty: none by name
  std::vector<int64_t> group_ids;
  std::vector<std::string> ids;
  std::string stage;  // RE2 regex of the deploying stage's name; empty: the whole run
};

struct DeliveryConfig {
  std::vector<DeploymentConfig> deployments;  // empty: the delivery view is off
};

struct Config {
  ApiConfig api;
  CollectConfig collect;
  std::vector<PipelineConfig> pipelines;
  DiscoveryConfig discovery;
  DeliveryConfig delivery;
};

struct ConfigLoad {
  Config config;
  std::vector<std::string> errors;    // empty when the config is valid
  std::vector<std::string> warnings;  // valid but worth saying
  bool ok() const { return errors.empty(); }
};

// Every configuration key, qualified: "api.endpoint", "pipelines[].id", ... as declared by
// the parser itself (config.cc Declare*, schema.h), with type, default, range and help.
// docs/configuration.md documents exactly these (a test checks).
struct KeyInfo;  // config/schema.h
std::vector<KeyInfo> Keys();
std::vector<std::string> AllKeys();  // Keys()' paths

// Parses and validates YAML text; `source` names it in messages (a file path).
ConfigLoad ParseConfig(std::string_view yaml, std::string_view source);
// Reads and parses a file, then registers its secrets (RegisterSecrets) before the caller
// prints any of its errors.
ConfigLoad LoadConfigFile(const std::string& path);

// Registers with the logger's redaction every token the api section names: the literal
// api.token and the content of api.token_file (when readable), so that no later message
// can echo one, even one pasted into another key.
void RegisterSecrets(const ApiConfig& api);

// Compiles a discovery name regex with RE2 (linear-time matching, no backtracking). The
// result's ok() and error() say whether RE2 accepts it; the config check reports that.
std::unique_ptr<re2::RE2> CompileNameRegex(const std::string& pattern);

// The token, from api.token_file, else the YUNXIAO_TOKEN environment value, else the
// literal api.token. Errors never contain the token.
struct TokenSource {
  std::string token;
  std::string origin;  // "api.token_file /path", "YUNXIAO_TOKEN", "api.token"
};
Result<TokenSource> ResolveToken(const ApiConfig& api, const char* env_token);

// Reads a token file: the first line, trimmed; empty or with control characters: an error.
Result<std::string> ReadTokenFile(const std::string& path);

// collect.state_dir: "" if it is (or can be created as) a writable directory, else why not
// (naming the path). No side effects: used by --config.check.
std::string CheckStateDir(const std::string& dir);

// What the exporter starts from and --config.check checks, the same way: the file
// (LoadConfigFile), then the token (ResolveToken), whose error is the last of load.errors.
struct LoadedConfig {
  ConfigLoad load;
  TokenSource token;  // when load.ok()
};
LoadedConfig LoadForRun(const std::string& path, const char* env_token);

}  // namespace yfe::config
