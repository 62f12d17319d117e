// `--api.check`: a user's first command against a real organization. It reads the
// configuration, probes the Flow API with a handful of cheap requests and prints one line
// per check, ✔ or ✘, with the fix under every ✘:
//
//   ✔ API reachable at https://openapi-rdc.aliyuncs.com (TLS verified)
//   ✘ token rejected: HTTP 401 ExpiredTokenError: ...
//       fix: the token expired: create a new personal access token ...
//
// Probing (I/O, in RunApiCheck) is kept apart from judging: Evaluate() is a pure function
// from the probes' results to the report's lines, so every failure mode is tested without a
// network. Never prints the token. Not thread-safe (a one-shot command).
#pragma once

#include <cstddef>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/flags.h"
#include "flowapi/client.h"

namespace yfe::app {

// One request's outcome; `sent` is false when an earlier failure made it pointless.
struct Probe {
  bool sent = false;
  flowapi::ApiResult result;
};

struct PipelineProbe {
  std::string id;
  std::string name;  // configured or discovered; may be empty
  Probe latest;      // GetLatestPipelineRun
  Probe definition;  // GetPipeline, only sent when the latest run answered 404
};

struct ApiProbes {
  std::string token_origin;  // where the token came from (never the token)
  Probe user;                // GET /oapi/v1/platform/user: the token alone
  Probe list;                // ListPipelines page=1 perPage=1: permission 流水线
  Probe groups;              // ListPipelineGroups page=1 perPage=1: permission 流水线分组
  Probe run;                 // a run endpoint: permission 流水线运行实例
  std::vector<PipelineProbe> watched;  // up to kMaxWatched of the pipelines to watch
  size_t targets = 0;                  // pipelines this replica would watch
  size_t unnamed_targets = 0;          // of which without a configured or discovered name
  // Discovery, when configured.
  bool discovery_ran = false;
  std::optional<size_t> discovered;  // matching pipelines; empty when discovery failed
  std::string discovery_error;
  double discovery_requests = 0;  // requests one discovery refresh took
};

inline constexpr size_t kMaxWatched = 3;

enum class Mark { kOk, kFail, kSkipped };

struct CheckLine {
  Mark mark = Mark::kOk;
  bool required = true;  // a failed line that this configuration does not need is only a note
  std::string text;
  std::string fix;  // what to do, for a failed line
};

// What one minute of this configuration costs the API, in requests.
struct Budget {
  double latest_runs = 0;
  double names = 0;
  double history = 0;
  double discovery = 0;
  double total = 0;
  double allowed = 0;              // api.max_requests_per_second × 60
  double cold_scrape_seconds = 0;  // every pipeline fetched at the rate limit
};
Budget RequestBudget(const config::Config& cfg, size_t targets, size_t unnamed,
                     double discovery_requests);

// The report's lines, in order (pure).
std::vector<CheckLine> Evaluate(const config::Config& cfg, const ApiProbes& probes);
// True when every required line passed: everything configured can work.
bool Passed(const std::vector<CheckLine>& lines);
std::string FormatReport(const std::vector<CheckLine>& lines);

// Loads flags.config_file, probes the API, prints the report to `out`; returns the exit
// code: 0 when everything configured can work, 1 otherwise.
int RunApiCheck(const config::Flags& flags, const char* env_token, std::ostream& out);

}  // namespace yfe::app
