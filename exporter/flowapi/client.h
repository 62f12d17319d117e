// FlowClient: the Flow OpenAPI endpoints the exporter uses, on top of Transport. It builds
// each endpoint's URL for the configured edition (central, region or a custom prefix) and
// turns an HTTP outcome into a body or a readable error that names the API's errorCode
// and requestId. Decoding is left to model/decode.h. Thread-safe.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "flowapi/transport.h"

namespace yfe::flowapi {

// Endpoint names, also the `endpoint` label of the request metrics.
inline constexpr std::string_view kLatestRun = "latest_pipeline_run";
inline constexpr std::string_view kGetPipeline = "get_pipeline";
inline constexpr std::string_view kListPipelines = "list_pipelines";
inline constexpr std::string_view kListRuns = "list_pipeline_runs";
inline constexpr std::string_view kListGroupPipelines = "list_group_pipelines";

struct ApiResult {
  bool ok = false;
  long status = 0;
  std::string body;    // when ok
  std::string error;   // when not ok: one line, no secrets
  PageHeaders paging;  // list endpoints: the paging headers the server sent
};

// What the collector needs from the API; an interface so tests can fake the API.
class Api {
 public:
  using Callback = std::function<void(ApiResult)>;
  virtual ~Api() = default;
  virtual void GetLatestRun(std::string_view pipeline_id, Clock::Steady deadline,
                            Callback done) = 0;
  virtual void GetPipeline(std::string_view pipeline_id, Clock::Steady deadline, Callback done) = 0;
  virtual void ListPipelines(int page, int per_page, Clock::Steady deadline, Callback done) = 0;
  // Newest first.
  virtual void ListRuns(std::string_view pipeline_id, int page, int per_page,
                        Clock::Steady deadline, Callback done) = 0;
  // The pipelines of one pipeline group (`pipelineGroups/pipelines?groupId=`): items
  // {gmtCreate, pipelineId, pipelineName}. ListPipelines has no group filter.
  virtual void ListGroupPipelines(int64_t /*group_id*/, int /*page*/, int /*per_page*/,
                                  Clock::Steady /*deadline*/, Callback done) {
    ApiResult r;
    r.error = "pipeline groups are not supported by this API";
    done(std::move(r));
  }
  // See UpTracker::Up.
  virtual bool ApiUp(Clock::Steady since) const = 0;
};

class FlowClient final : public Api {
 public:
  FlowClient(const config::ApiConfig& api, Transport& transport);

  void GetLatestRun(std::string_view pipeline_id, Clock::Steady deadline, Callback done) override;
  void GetPipeline(std::string_view pipeline_id, Clock::Steady deadline, Callback done) override;
  void ListPipelines(int page, int per_page, Clock::Steady deadline, Callback done) override;
  void ListRuns(std::string_view pipeline_id, int page, int per_page, Clock::Steady deadline,
                Callback done) override;
  void ListGroupPipelines(int64_t group_id, int page, int per_page, Clock::Steady deadline,
                          Callback done) override;
  bool ApiUp(Clock::Steady since) const override { return transport_.ApiUp(since); }

  // URL builders (public for tests).
  std::string LatestRunUrl(std::string_view pipeline_id) const;
  std::string PipelineUrl(std::string_view pipeline_id) const;
  std::string PipelinesUrl(int page, int per_page) const;
  std::string RunsUrl(std::string_view pipeline_id, int page, int per_page) const;
  std::string GroupPipelinesUrl(int64_t group_id, int page, int per_page) const;

 private:
  void Get(std::string url, std::string_view endpoint, Clock::Steady deadline, Callback done,
           bool run_endpoint = false);
  std::string base_;  // endpoint + pipelines prefix
  Transport& transport_;
};

// Turns a transport response into an ApiResult (pure; exposed for tests).
ApiResult Classify(const Response& r);

// Percent-encodes a path segment.
std::string EscapeSegment(std::string_view s);

}  // namespace yfe::flowapi
