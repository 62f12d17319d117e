// Fault injection settings for API requests and their runtime controller.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace yfe::sim {

struct FaultSettings {
  // Probabilities in [0, 1], drawn independently per API request.
  double status5xx = 0;
  double status429 = 0;
  double malformed = 0;         // truncated JSON body
  double oversized = 0;         // ~20 MiB valid body, chunked, no Content-Length
  double slow_body = 0;         // body trickled out over several seconds
  double reset = 0;             // connection closed half-way through the body
  int retry_after_seconds = 1;  // Retry-After on 429 (omitted when <= 0)
  std::chrono::microseconds latency{0};
  std::chrono::microseconds latency_jitter{0};  // uniform +-jitter around latency
  bool reject_token = false;                    // every API request: 401 InvalidTokenError
  bool redirect = false;                        // every API request: 302 to another host
  bool expired_token = false;                   // every API request: 401 ExpiredTokenError
  // How a path naming another organization is answered: "" 404 NotFound,
  // "not_member" 403 Forbidden.InvalidUser.UserNotInCurrentOrganization (the real API's
  // answer to a mistyped organization id), "invalid_member" 403
  // Forbidden.InvalidOrganizationMember, "not_found" 404 InvalidOrganization.NotFound.
  std::string organization_error;
  // Permissions the token lacks: "run" (流水线运行实例: run endpoints), "pipeline" (流水线:
  // ListPipelines, GetPipeline), "group" (流水线分组: group endpoints). Their endpoints
  // answer 403 Forbidden.
  std::vector<std::string> deny_permissions;
};

// The permission ("run", "pipeline", "group") an endpoint name of the stats route needs;
// empty for platform/user and unknown paths.
std::string PermissionOfEndpoint(std::string_view endpoint_name);

// Parses a POST /-/sim/faults body. Keys absent from the body take their
// value from `base` (the startup settings). forSeconds, when present and > 0,
// is stored in *for_seconds. Returns false with *error on bad input.
bool ParseFaultSettings(std::string_view json, const FaultSettings& base, FaultSettings* out,
                        std::optional<double>* for_seconds, std::string* error);

std::string RenderFaultSettings(const FaultSettings& settings,
                                std::optional<double> revert_in_seconds);

class FaultController {
 public:
  explicit FaultController(FaultSettings startup) : startup_(startup), current_(startup) {}

  const FaultSettings& startup() const { return startup_; }
  // Current settings (reverts to startup once a forSeconds period is over).
  FaultSettings Current();
  void Replace(const FaultSettings& settings, std::optional<double> for_seconds);
  std::string RenderJson();

 private:
  void ExpireLocked();

  std::mutex mu_;
  const FaultSettings startup_;
  FaultSettings current_;
  std::optional<std::chrono::steady_clock::time_point> revert_at_;
};

}  // namespace yfe::sim
