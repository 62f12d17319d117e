// A strict checker of the Prometheus text format (0.0.4), for the fuzzer and tests:
// metric and label names, escapes, UTF-8, values, HELP/TYPE placement, duplicate series.
// Returns "" when the text is valid, else the first problem.
#pragma once

#include <string>
#include <string_view>

namespace yfe::testing {

std::string CheckExposition(std::string_view text);

}  // namespace yfe::testing
