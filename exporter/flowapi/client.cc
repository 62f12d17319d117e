#include "flowapi/client.h"

#include "model/decode.h"
#include "util/log.h"

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

std::string FlowClient::RunUrl(std::string_view id, int64_t run_id) const {
  return base_ + "/pipelines/" + EscapeSegment(id) + "/runs/" + std::to_string(run_id);
}

void Api::GetRun(std::string_view, int64_t, Clock::Steady, Callback done) {
  ApiResult r;
  r.error = "GetPipelineRun is not available from this API";
  done(std::move(r));
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

void FlowClient::GetRun(std::string_view id, int64_t run_id, Clock::Steady deadline,
                        Callback done) {
  Get(RunUrl(id, run_id), kGetRun, deadline, std::move(done), /*run_endpoint=*/true);
}

void FlowClient::Get(std::string url, std::string_view endpoint, Clock::Steady deadline,
                     Callback done, bool run_endpoint) {
  Request req{std::move(url), std::string(endpoint), deadline, run_endpoint};
  transport_.Submit(std::move(req), [this, endpoint, done = std::move(done)](Response r) {
    ApiResult out = Classify(r, endpoint);
    out.paging = r.paging;
    if (!out.ok) WarnOnce(endpoint, out);
    done(std::move(out));
  });
}

void FlowClient::WarnOnce(std::string_view endpoint, const ApiResult& result) {
  if (result.kind != ErrorKind::kPermission && result.kind != ErrorKind::kOrganization) return;
  if (PermissionFor(endpoint) == kRunInstancePermission) return;  // each fetch failure says it
  {
    std::lock_guard lock(warned_mu_);
    if (!warned_
             .insert(std::string(endpoint) + (result.kind == ErrorKind::kPermission ? "/p" : "/o"))
             .second) {
      return;
    }
  }
  if (result.kind == ErrorKind::kPermission) {
    logging::Warn(
        "the token lacks a permission; the exporter carries on without this endpoint "
        "(pipeline names fall back to the id, discovery keeps its last list)",
        {{"endpoint", endpoint}, {"permission", PermissionFor(endpoint)}, {"err", result.error}});
  } else {
    logging::Warn("the token's user is not a member of the organization: check api.organization_id",
                  {{"endpoint", endpoint}, {"err", result.error}});
  }
}

std::string_view PermissionFor(std::string_view endpoint) {
  if (endpoint.find("group") != std::string_view::npos) return kGroupPermission;
  if (endpoint.find("run") != std::string_view::npos) return kRunInstancePermission;
  if (endpoint == kGetPipeline || endpoint == kListPipelines) return kPipelinePermission;
  return {};
}

ErrorKind KindOf(long status, std::string_view code) {
  if (status >= 200 && status < 300) return ErrorKind::kNone;
  if (status <= 0) return ErrorKind::kTransport;
  if (status >= 300 && status < 400) return ErrorKind::kRedirect;
  if (status == 401) {
    return code == "ExpiredTokenError" ? ErrorKind::kTokenExpired : ErrorKind::kTokenRejected;
  }
  if (status == 400 && code == "UnsupportedCurrentTokenType") return ErrorKind::kTokenRejected;
  if (status == 403) {
    // Forbidden.InvalidUser.UserNotInCurrentOrganization is what a mistyped organization id
    // gets; Forbidden.InvalidOrganizationMember a user who left it.
    if (code.find("Organization") != std::string_view::npos) return ErrorKind::kOrganization;
    return ErrorKind::kPermission;
  }
  if (status == 404) {
    // The older API's answer to an unknown organization.
    if (code.find("InvalidOrganization") != std::string_view::npos) {
      return ErrorKind::kOrganization;
    }
    return ErrorKind::kNotFound;
  }
  if (status == 429) return ErrorKind::kRateLimited;
  if (status >= 500) return ErrorKind::kServer;
  return ErrorKind::kOther;
}

namespace {

std::string Hint(ErrorKind kind, std::string_view code, std::string_view endpoint) {
  switch (kind) {
    case ErrorKind::kTokenExpired:
      return "the token expired: create a new personal access token in Yunxiao and put it in "
             "api.token_file or YUNXIAO_TOKEN";
    case ErrorKind::kTokenRejected:
      if (code == "UnsupportedCurrentTokenType") {
        return "this kind of token is not accepted: use a personal access token";
      }
      return "the token was rejected: check api.token_file / YUNXIAO_TOKEN";
    case ErrorKind::kOrganization:
      return "the token's user is not a member of this organization: check api.organization_id "
             "(the id in your Yunxiao URLs)";
    case ErrorKind::kPermission: {
      std::string_view permission = PermissionFor(endpoint);
      if (permission.empty()) {
        return "the token lacks permission: grant it " + std::string(kRunInstancePermission) +
               ", " + std::string(kPipelinePermission) + " and " + std::string(kGroupPermission);
      }
      return "the token lacks permission " + std::string(permission);
    }
    case ErrorKind::kNotFound:
      if (endpoint == kListPipelines || endpoint == kListGroups || endpoint == kPlatformUser) {
        return "this path is not served: check api.endpoint, api.edition and api.path_prefix";
      }
      return "check the pipeline id, api.organization_id and api.edition";
    case ErrorKind::kRateLimited:
      return "rate limited; lower api.max_requests_per_second";
    default:
      return "";
  }
}

}  // namespace

ApiResult Classify(const Response& r, std::string_view endpoint) {
  ApiResult out;
  out.status = r.status;
  out.request_id = model::SanitizeLabel(r.request_id, 64);
  if (!r.error.empty()) {
    out.kind = ErrorKind::kTransport;
    out.error = r.status > 0 ? "HTTP " + std::to_string(r.status) + ": " + r.error : r.error;
    if (r.status >= 300 && r.status < 400) out.kind = ErrorKind::kRedirect;
    return out;
  }
  if (r.status >= 200 && r.status < 300) {
    out.ok = true;
    out.body = r.body;
    return out;
  }
  model::ApiError e = model::DecodeApiError(r.body);
  if (!e.request_id.empty()) out.request_id = e.request_id;
  out.code = e.code;
  out.kind = KindOf(r.status, e.code);
  out.error = "HTTP " + std::to_string(r.status);
  if (!e.code.empty()) out.error += " " + e.code;
  if (!e.message.empty()) out.error += ": " + e.message;
  if (!e.request_id.empty()) {
    out.error += " (requestId " + e.request_id + ")";
  } else if (!r.request_id.empty()) {
    out.error += " (x-request-id " + out.request_id + ")";
  }
  out.hint = Hint(out.kind, e.code, endpoint);
  if (!out.hint.empty()) out.error += " - " + out.hint;
  return out;
}

}  // namespace yfe::flowapi
