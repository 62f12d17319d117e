// What the exporter knows about Flow status values and trigger modes.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace yfe::model {

// Status values the exporter always exports in a state set: those the OpenAPI answers with
// (FAIL, SUCCESS, RUNNING; CANCELED and WAITING in its own filters) and those seen on real
// stages and jobs (INIT, SWITCH_MANUAL, SKIP). CANCELLING, FINISH and UNKOWN (sic) appear
// only in Flow's webhook docs (FINISH also in the old API): like any other value the API
// may send, they are exported as they come, in addition, and cost no series until then.
inline constexpr std::array<std::string_view, 8> kKnownStatuses = {
    "SUCCESS", "FAIL", "RUNNING", "CANCELED", "WAITING", "INIT", "SWITCH_MANUAL", "SKIP"};

// A finished item's end time and duration mean something; an unfinished one's do not.
// SKIP is final (a skipped job does not run later); CANCELLING is not yet.
inline bool IsFinished(std::string_view status) {
  return status == "SUCCESS" || status == "FAIL" || status == "CANCELED" || status == "FINISH" ||
         status == "SKIP";
}

// Trigger mode label value: 1 manual, 2 scheduled, 3 commit, 5 pipeline, 6 webhook.
inline std::string_view TriggerModeName(std::optional<int64_t> mode) {
  if (!mode) return "unknown";
  switch (*mode) {
    case 1:
      return "manual";
    case 2:
      return "scheduled";
    case 3:
      return "commit";
    case 5:
      return "pipeline";
    case 6:
      return "webhook";
    default:
      return "unknown";
  }
}

}  // namespace yfe::model
