// JSON bodies of the simulated Flow API (compact, deterministic).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "world.h"

namespace yfe::sim {

// ListPipelines item shape: today's `{pipelineId, pipelineName, createAccountId,
// createTime}` (the docs, and what real clients read since 2026-03), or the 2025 capture's
// `{id, name, groupId, ...}` with many nulls (`groupId` 0 = ungrouped).
enum class ListStyle { kToday, k2025 };

std::string RenderRun(const PipelineInfo& pipeline, const RunView& run,
                      const WorldOptions& options);
std::string RenderRunList(const std::vector<RunView>& runs);
std::string RenderPipelineList(const std::vector<PipelinePtr>& pipelines, ListStyle style);
// `pipelineGroups/pipelines?groupId=`: `[{gmtCreate, pipelineId, pipelineName}]`.
std::string RenderGroupPipelines(const std::vector<PipelinePtr>& pipelines);
std::string RenderPipeline(const PipelineInfo& pipeline, const WorldOptions& options);
std::string RenderGroups(const std::vector<PipelineGroup>& groups);
std::string RenderUser(const WorldOptions& options);
std::string RenderError(std::string_view code, std::string_view message,
                        std::string_view request_id);
std::string RenderTruth(const std::vector<PipelineTruth>& truth);
std::string RenderTruthItem(const PipelineTruth& truth);

// uuid-shaped id derived from a hash.
std::string RequestIdFromHash(uint64_t h);

}  // namespace yfe::sim
