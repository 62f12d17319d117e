#include "route.h"

#include <charconv>
#include <vector>

namespace yfe::sim {
namespace {

std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string_view::npos) next = path.size();
    out.push_back(path.substr(pos, next - pos));
    pos = next + 1;
  }
  return out;
}

// `rest` starts at "pipelines" or "pipelineGroups".
Route ParseFlowRest(const std::vector<std::string_view>& seg, size_t i) {
  Route r;
  const size_t n = seg.size() - i;
  if (n == 1 && seg[i] == "pipelineGroups") {
    r.endpoint = Endpoint::kListPipelineGroups;
    return r;
  }
  if (n == 2 && seg[i] == "pipelineGroups" && seg[i + 1] == "pipelines") {
    r.endpoint = Endpoint::kListGroupPipelines;
    return r;
  }
  if (seg[i] != "pipelines") return r;
  if (n == 1) {
    r.endpoint = Endpoint::kListPipelines;
    return r;
  }
  r.pipeline_id = std::string(seg[i + 1]);
  if (r.pipeline_id.empty()) return Route{};
  if (n == 2) {
    r.endpoint = Endpoint::kGetPipeline;
    return r;
  }
  if (seg[i + 2] != "runs") return Route{};
  if (n == 3) {
    r.endpoint = Endpoint::kListPipelineRuns;
    return r;
  }
  if (n == 4 && !seg[i + 3].empty()) {
    if (seg[i + 3] == "latestPipelineRun") {
      r.endpoint = Endpoint::kLatestPipelineRun;
    } else {
      r.endpoint = Endpoint::kGetPipelineRun;
      r.run_id = std::string(seg[i + 3]);
    }
    return r;
  }
  return Route{};
}

}  // namespace

const char* EndpointName(Endpoint e) {
  switch (e) {
    case Endpoint::kLatestPipelineRun:
      return "latestPipelineRun";
    case Endpoint::kGetPipelineRun:
      return "getPipelineRun";
    case Endpoint::kListPipelineRuns:
      return "listPipelineRuns";
    case Endpoint::kListPipelines:
      return "listPipelines";
    case Endpoint::kGetPipeline:
      return "getPipeline";
    case Endpoint::kListPipelineGroups:
      return "listPipelineGroups";
    case Endpoint::kUser:
      return "user";
    case Endpoint::kListGroupPipelines:
      return "listGroupPipelines";
    case Endpoint::kUnknown:
      break;
  }
  return "unknown";
}

Route ParseApiPath(std::string_view path, std::string_view organization_id) {
  if (path == "/oapi/v1/platform/user") {
    Route r;
    r.endpoint = Endpoint::kUser;
    return r;
  }
  constexpr std::string_view kFlow = "/oapi/v1/flow/";
  if (path.substr(0, kFlow.size()) != kFlow) return Route{};
  const std::vector<std::string_view> seg = Split(path.substr(kFlow.size()));
  if (seg.empty()) return Route{};
  if (seg[0] == "pipelines" || seg[0] == "pipelineGroups") return ParseFlowRest(seg, 0);  // region
  if (seg[0] != "organizations" || seg.size() < 2) return Route{};
  if (seg[1] == "pipelines" || seg[1] == "pipelineGroups") return ParseFlowRest(seg, 1);  // slip
  if (seg.size() < 3 || seg[1].empty()) return Route{};
  Route r = ParseFlowRest(seg, 2);  // central
  if (r.endpoint != Endpoint::kUnknown && seg[1] != organization_id) r.wrong_organization = true;
  return r;
}

std::optional<int64_t> ParseInt64(std::string_view s) {
  if (s.empty() || s[0] < '0' || s[0] > '9') return std::nullopt;
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace yfe::sim
