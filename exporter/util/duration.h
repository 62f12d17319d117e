// Go-style durations ("500ms", "10s", "1m30s", "2h") as used by Prometheus configs.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "util/result.h"

namespace yfe {

// Parses a non-negative Go-style duration. Units: ns, us, µs, ms, s, m, h, d, w.
// A bare "0" is accepted. Returns an error naming the text on anything else.
Result<std::chrono::nanoseconds> ParseDuration(std::string_view text);

// Formats a duration the way ParseDuration reads it, e.g. "1m30s", "250ms".
std::string FormatDuration(std::chrono::nanoseconds d);

}  // namespace yfe
