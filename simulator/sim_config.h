// Command-line configuration of flow-simulator (`--name=value` flags). Each flag is one row
// of the table in sim_config.cc (name, value, help, setter), from which parsing and --help
// follow, as the exporter's flags (exporter/config/flags.h). Every problem of a command line
// is reported, each as "flag --name ..." (the exporter's format), not only the first.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// Parses argv (argv[0] skipped). env_token is $SIM_TOKEN or null. Returns false with every
// problem in *errors; sets *help when --help was given. Durations are Go-style, read by the
// exporter's own ParseDuration (exporter/util/duration.h).
bool ParseArgs(int argc, const char* const* argv, const char* env_token, SimConfig* config,
               bool* help, std::vector<std::string>* errors);

std::string Usage();

}  // namespace yfe::sim
