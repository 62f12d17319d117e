// Pure decoding of Flow API response bodies into the model. No I/O, no exceptions.
// Tolerant where the API is loose (ids or times as strings or floats, missing or null
// fields), strict where a body is not what it claims to be (not JSON, not an object).
//
//   Result<PipelineRun> run = DecodePipelineRun(body);
//   if (!run.ok()) log(run.error());
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "model/pipeline_run.h"
#include "model/repo_url.h"  // StripRepoCredentials
#include "util/result.h"

namespace yfe::model {

// Upper bounds that keep a hostile body from costing unbounded memory in the output.
inline constexpr size_t kMaxStages = 200;
inline constexpr size_t kMaxJobsPerStage = 200;
inline constexpr size_t kMaxSources = 20;
inline constexpr size_t kMaxLabelBytes = 256;

Result<PipelineRun> DecodePipelineRun(std::string_view body);

// How the latest-run endpoint may say "this pipeline has no run yet" (undocumented; each is
// plausible): 404, or 2xx with an empty body, `null` or `{}`. Whether the pipeline exists
// (a 404 also answers an unknown pipeline) is the caller's question.
bool IsNoRunAnswer(bool ok, long status, std::string_view body);

// ListPipelines: a bare array; items carry pipelineId/pipelineName (today's shape, also the
// per-group list's) or id/name/groupId (the 2025 shape, with many nulls).
Result<std::vector<Pipeline>> DecodePipelineList(std::string_view body);

// ListPipelineRuns: a bare array of {pipelineRunId, status, startTime, endTime,
// triggerMode, ...}. Items without a run id are skipped.
Result<std::vector<RunSummary>> DecodeRunList(std::string_view body);

// GetPipeline: an object with `name`.
Result<Pipeline> DecodePipeline(std::string_view body, std::string_view id);

// Best effort: the error body's fields, empty when the body is not one.
ApiError DecodeApiError(std::string_view body);

// Makes a string safe as a label value: valid UTF-8 (invalid bytes become U+FFFD) and
// at most max_bytes long (cut at a character boundary).
std::string SanitizeLabel(std::string_view s, size_t max_bytes = kMaxLabelBytes);

}  // namespace yfe::model
