#include "flowapi/client.h"

#include "model/decode.h"

namespace yfe::flowapi {

std::string EscapeSegment(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

FlowClient::FlowClient(const config::ApiConfig& api, Transport& transport)
    : base_(api.endpoint + api.PipelinesPrefix()), transport_(transport) {}

std::string FlowClient::LatestRunUrl(std::string_view id) const {
  return base_ + "/pipelines/" + EscapeSegment(id) + "/runs/latestPipelineRun";
}
std::string FlowClient::PipelineUrl(std::string_view id) const {
  return base_ + "/pipelines/" + EscapeSegment(id);
}
std::string FlowClient::PipelinesUrl(int page, int per_page) const {
  return base_ + "/pipelines?page=" + std::to_string(page) + "&perPage=" + std::to_string(per_page);
}
std::string FlowClient::RunsUrl(std::string_view id, int page, int per_page) const {
  return base_ + "/pipelines/" + EscapeSegment(id) + "/runs?page=" + std::to_string(page) +
         "&perPage=" + std::to_string(per_page);
}

std::string FlowClient::GroupPipelinesUrl(int64_t group_id, int page, int per_page) const {
  return base_ + "/pipelineGroups/pipelines?groupId=" + std::to_string(group_id) +
         "&page=" + std::to_string(page) + "&perPage=" + std::to_string(per_page);
}

void FlowClient::GetLatestRun(std::string_view id, Clock::Steady deadline, Callback done) {
  Get(LatestRunUrl(id), kLatestRun, deadline, std::move(done), /*run_endpoint=*/true);
}
void FlowClient::GetPipeline(std::string_view id, Clock::Steady deadline, Callback done) {
  Get(PipelineUrl(id), kGetPipeline, deadline, std::move(done));
}
void FlowClient::ListPipelines(int page, int per_page, Clock::Steady deadline, Callback done) {
  Get(PipelinesUrl(page, per_page), kListPipelines, deadline, std::move(done));
}
void FlowClient::ListRuns(std::string_view id, int page, int per_page, Clock::Steady deadline,
                          Callback done) {
  Get(RunsUrl(id, page, per_page), kListRuns, deadline, std::move(done), /*run_endpoint=*/true);
}
void FlowClient::ListGroupPipelines(int64_t group_id, int page, int per_page,
                                    Clock::Steady deadline, Callback done) {
  Get(GroupPipelinesUrl(group_id, page, per_page), kListGroupPipelines, deadline, std::move(done));
}

void FlowClient::Get(std::string url, std::string_view endpoint, Clock::Steady deadline,
                     Callback done, bool run_endpoint) {
  Request req{std::move(url), std::string(endpoint), deadline, run_endpoint};
  transport_.Submit(std::move(req), [done = std::move(done)](Response r) {
    ApiResult out = Classify(r);
    out.paging = r.paging;
    done(std::move(out));
  });
}

ApiResult Classify(const Response& r) {
  ApiResult out;
  out.status = r.status;
  if (!r.error.empty()) {
    out.error = r.status > 0 ? "HTTP " + std::to_string(r.status) + ": " + r.error : r.error;
    return out;
  }
  if (r.status >= 200 && r.status < 300) {
    out.ok = true;
    out.body = r.body;
    return out;
  }
  model::ApiError e = model::DecodeApiError(r.body);
  out.error = "HTTP " + std::to_string(r.status);
  if (!e.code.empty()) out.error += " " + e.code;
  if (!e.message.empty()) out.error += ": " + e.message;
  if (!e.request_id.empty()) out.error += " (requestId " + e.request_id + ")";
  switch (r.status) {
    case 401:
      out.error += " - the token was rejected: check api.token_file / YUNXIAO_TOKEN";
      break;
    case 403:
      out.error += " - the token lacks permission (Pipeline run instance: read-only)";
      break;
    case 404:
      out.error += " - check the pipeline id, api.organization_id and api.edition";
      break;
    case 429:
      out.error += " - rate limited; lower api.max_requests_per_second";
      break;
    default:
      break;
  }
  return out;
}

}  // namespace yfe::flowapi
