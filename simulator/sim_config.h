// Command-line configuration of flow-simulator (`--name=value` flags).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "faults.h"
#include "json_render.h"
#include "world.h"

namespace yfe::sim {

struct SimConfig {
  std::string listen_host = "127.0.0.1";
  int listen_port = 9848;
  std::string token = "sim-token";
  std::optional<int64_t> frozen_clock_ms;  // --clock=frozen:<epoch_seconds>
  int threads = 64;
  ListStyle list_style = ListStyle::kToday;
  int max_per_page = 30;
  bool paging_headers = true;
  WorldOptions world;
  FaultSettings faults;
};

// Go-style duration: "0", "50ms", "1.5s", "2m30s", "1h", "250us", "10ns".
std::optional<std::chrono::nanoseconds> ParseDuration(std::string_view text);

// Parses argv (argv[0] skipped). env_token is $SIM_TOKEN or null.
// Returns false with *error; sets *help when --help was given.
bool ParseArgs(int argc, const char* const* argv, const char* env_token, SimConfig* config,
               bool* help, std::string* error);

std::string Usage();

}  // namespace yfe::sim
