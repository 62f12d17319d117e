// Command-line flags, named as Prometheus exporters name them. Documented in
// docs/configuration.md; `--help` prints Usage().
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "util/log.h"
#include "util/result.h"

namespace yfe::config {

struct Flags {
  std::string config_file = "config.yaml";
  bool config_check = false;
  bool api_check = false;
  std::string listen_address = ":9847";
  std::string telemetry_path = "/metrics";
  std::string web_config_file;
  bool web_enable_lifecycle = false;    // POST/PUT /-/reload (Prometheus's flag)
  int web_max_connections = 2048;       // open HTTP connections; more are closed at once
  int web_max_requests_in_flight = 40;  // /metrics requests served at once; more: 503
  logging::Level log_level = logging::Level::kInfo;
  logging::Format log_format = logging::Format::kLogfmt;
  int shard_index = 0;
  int shard_total = 1;
  bool version = false;
  bool help = false;
  // The process is made non-dumpable at start (a core would hold the token) unless set.
  bool allow_core_dumps = false;
  // --backfill.* (app/backfill.h, docs/backfill.md): write the run history of the past as
  // OpenMetrics and the ledger's starting point, then exit. Off while since is 0.
  std::chrono::nanoseconds backfill_since{0};
  std::string backfill_output;
  std::chrono::nanoseconds backfill_step = std::chrono::minutes(5);
  std::string backfill_labels;            // "job=x,instance=y": added to every series
  bool backfill_overwrite_state = false;  // replace an existing run ledger
};

Result<Flags> ParseFlags(const std::vector<std::string>& args);
// --web.telemetry-path is a literal path: "/" followed by [A-Za-z0-9/_.~-], not "/" and not
// under "/-/". Never a pattern.
Result<bool> ValidTelemetryPath(const std::string& path);
std::string Usage();

// Splits "host:port", ":port" or "[v6]:port". An empty host means all interfaces.
struct ListenAddress {
  std::string host;
  int port = 0;
};
Result<ListenAddress> ParseListenAddress(const std::string& text);

}  // namespace yfe::config
