// Plain data decoded from the Flow API: a pipeline run with its stages and jobs.
// Times are epoch milliseconds; 0 means "absent or not meaningful".
// Only what the exporter uses is kept: no globalParams, no job instance ids.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace yfe::model {

struct Job {
  std::string sign;  // jobSign: the stable key of a job across runs
  std::string name;
  std::string status;  // upper case, as the API sends it; empty if absent
  int64_t start_ms = 0;
  int64_t end_ms = 0;
};

struct Stage {
  std::string index;  // e.g. "Group0-Stage0"
  std::string name;
  std::string status;
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  std::vector<Job> jobs;
};

struct Source {
  std::string name;
  std::string type;
  std::string repo;  // credentials (userinfo, query) already removed
  std::string branch;
};

struct PipelineRun {
  std::optional<int64_t> run_id;
  std::string status;
  std::optional<int64_t> trigger_mode;
  int64_t create_ms = 0;
  int64_t update_ms = 0;
  std::string pipeline_type;
  std::vector<Source> sources;
  std::vector<Stage> stages;
};

// A run as listed by ListPipelineRuns (newest first).
struct RunSummary {
  int64_t id = 0;
  std::string status;
  std::optional<int64_t> trigger_mode;
  int64_t start_ms = 0;
  int64_t end_ms = 0;
};

// A pipeline as listed by ListPipelines / GetPipeline.
struct Pipeline {
  std::string id;
  std::string name;
  std::optional<int64_t> group_id;
};

// Error body of the Flow API: {"errorCode":..., "errorMessage":..., "requestId":...}.
struct ApiError {
  std::string code;
  std::string message;
  std::string request_id;
};

}  // namespace yfe::model
