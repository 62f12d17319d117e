// Classification of Flow API request paths. Three path forms are accepted:
//   central  /oapi/v1/flow/organizations/{organizationId}/pipelines/...
//   region   /oapi/v1/flow/pipelines/...
//   doc-slip /oapi/v1/flow/organizations/pipelines/...
// (the doc-slip form appears on one English doc page only; no real client uses it)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace yfe::sim {

enum class Endpoint {
  kLatestPipelineRun,
  kGetPipelineRun,
  kListPipelineRuns,
  kListPipelines,
  kGetPipeline,
  kListPipelineGroups,
  kUser,
  kUnknown,
  kListGroupPipelines,  // pipelineGroups/pipelines?groupId= (keep last: see kEndpointCount)
};
inline constexpr int kEndpointCount = static_cast<int>(Endpoint::kListGroupPipelines) + 1;

// Name used by the stats control route.
const char* EndpointName(Endpoint e);

struct Route {
  Endpoint endpoint = Endpoint::kUnknown;
  std::string pipeline_id;  // raw path segment (may be non-numeric)
  std::string run_id;       // raw path segment
  bool wrong_organization = false;
};

Route ParseApiPath(std::string_view path, std::string_view organization_id);

// Strict decimal parse of a non-negative id / integer parameter.
std::optional<int64_t> ParseInt64(std::string_view s);

}  // namespace yfe::sim
