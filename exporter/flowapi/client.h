// FlowClient: the Flow OpenAPI endpoints the exporter uses, on top of Transport. It builds
// each endpoint's URL for the configured edition (central, region or a custom prefix) and
// turns an HTTP outcome into a body or a readable error that names the API's errorCode
// and requestId. Decoding is left to model/decode.h. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "config/config.h"
#include "flowapi/transport.h"

namespace yfe::flowapi {

// What a failed answer means for the user, and so which hint it gets.
enum class ErrorKind {
  kNone,           // 2xx
  kTransport,      // no usable answer: connection, TLS, timeout, deadline, body cap
  kRedirect,       // 3xx (some gateways answer a rejected token so)
  kTokenRejected,  // 401 (other than expired), 400 UnsupportedCurrentTokenType
  kTokenExpired,   // 401 ExpiredTokenError
  kOrganization,   // 403 Forbidden.InvalidUser.UserNotInCurrentOrganization,
                   // 403 Forbidden.InvalidOrganizationMember, 404 InvalidOrganization.NotFound
  kPermission,     // any other 403: the token lacks the endpoint's permission
  kNotFound,       // any other 404
  kRateLimited,    // 429
  kServer,         // 5xx
  kOther,
};

// Endpoint names, also the `endpoint` label of the request metrics.
inline constexpr std::string_view kLatestRun = "latest_pipeline_run";
inline constexpr std::string_view kGetPipeline = "get_pipeline";
inline constexpr std::string_view kListPipelines = "list_pipelines";
inline constexpr std::string_view kListRuns = "list_pipeline_runs";
inline constexpr std::string_view kListGroupPipelines = "list_group_pipelines";
inline constexpr std::string_view kGetRun = "get_pipeline_run";

// Not a Result<std::string> (util/result.h): a failure carries its HTTP status, kind, code
// and request id, which the metrics and the hints need.
struct ApiResult {
  // When not ok: what the failure means, the API's errorCode, the request id (the body's
  // requestId, else the gateway's x-request-id header) and what the user should do (also
  // the end of `error`, after " - ").
  ErrorKind kind = ErrorKind::kNone;
  std::string code, request_id, hint;
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
  // One run by id (GetPipelineRun: the same object as the latest run). Not pure so that
  // fakes which never need it stay small; the default answers with an error.
  virtual void GetRun(std::string_view pipeline_id, int64_t run_id, Clock::Steady deadline,
                      Callback done);
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
  void GetRun(std::string_view pipeline_id, int64_t run_id, Clock::Steady deadline,
              Callback done) override;

  // URL builders (public for tests).
  std::string LatestRunUrl(std::string_view pipeline_id) const;
  std::string PipelineUrl(std::string_view pipeline_id) const;
  std::string PipelinesUrl(int page, int per_page) const;
  std::string RunsUrl(std::string_view pipeline_id, int page, int per_page) const;
  std::string GroupPipelinesUrl(int64_t group_id, int page, int per_page) const;
  std::string RunUrl(std::string_view pipeline_id, int64_t run_id) const;

 private:
  void Get(std::string url, std::string_view endpoint, Clock::Steady deadline, Callback done,
           bool run_endpoint = false);
  std::string base_;  // endpoint + pipelines prefix
  Transport& transport_;

  // One warning per endpoint and kind of refusal for the endpoints whose failure the
  // exporter survives (names, discovery, groups), instead of one per scrape.
  void WarnOnce(std::string_view endpoint, const ApiResult& result);
  std::mutex warned_mu_;
  std::set<std::string> warned_;
};

// Used by --api.check only (the exporter itself does not need them).
inline constexpr std::string_view kListGroups = "list_pipeline_groups";
inline constexpr std::string_view kPlatformUser = "platform_user";

// The token's read-only permissions, as the Yunxiao console names them.
inline constexpr std::string_view kRunInstancePermission =
    "流水线运行实例 (Pipeline run instance): read-only";
inline constexpr std::string_view kPipelinePermission = "流水线 (Pipeline): read-only";
inline constexpr std::string_view kGroupPermission = "流水线分组 (Pipeline group): read-only";

// The permission an endpoint needs: run endpoints need the run-instance permission,
// ListPipelines/GetPipeline the pipeline permission, group endpoints the group permission.
// Empty for endpoints that need none of them (platform_user) or are unknown.
std::string_view PermissionFor(std::string_view endpoint);

// What an answer's status and errorCode mean (pure).
ErrorKind KindOf(long status, std::string_view code);

// Turns a transport response into an ApiResult whose error ends with a hint for the user;
// `endpoint` names the permission in a 403's hint (pure; exposed for tests).
ApiResult Classify(const Response& r, std::string_view endpoint = {});

// Percent-encodes a path segment.
std::string EscapeSegment(std::string_view s);

}  // namespace yfe::flowapi
