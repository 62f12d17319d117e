// What the exporter knows about Flow status values and trigger modes.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace yfe::model {

// Status values the exporter always exports in a state set. The API may send others;
// those are exported as they are, in addition.
inline constexpr std::array<std::string_view, 7> kKnownStatuses = {
    "SUCCESS", "FAIL", "RUNNING", "CANCELED", "WAITING", "INIT", "SWITCH_MANUAL"};

// A finished item's end time and duration mean something; an unfinished one's do not.
inline bool IsFinished(std::string_view status) {
  return status == "SUCCESS" || status == "FAIL" || status == "CANCELED" || status == "FINISH";
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
