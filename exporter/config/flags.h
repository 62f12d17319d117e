// Command-line flags, named as Prometheus exporters name them. Each flag is one row of the
// table in flags.cc (AllFlags()): name, value, help, default (read from Flags{}) and setter;
// parsing, `--help` (Usage()) and the check of docs/configuration.md all come from it.
// Adding a flag: a field below, a row in flags.cc's kFlags, a row in the docs' flag table.
#pragma once

#include <chrono>
#include <span>
#include <string>
#include <string_view>
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
  std::string backfill_labels;                 // "job=x,instance=y": added to every series
  bool backfill_overwrite_state = false;       // replace an existing run ledger
  std::chrono::nanoseconds backfill_chunk{0};  // one file per chunk of time (0: one file)
  int backfill_max_chunks_on_disk = 0;         // wait while this many chunks exist (0: never)
};

// One flag. A switch (empty `value`) takes --x, --x=true or --x=false; any other flag takes
// --x=V or --x V.
struct FlagDef {
  std::string_view name;   // "web.listen-address", without the dashes
  std::string_view value;  // what the value is, for --help ("ADDR"); empty for a switch
  std::string_view help;   // lines after the first are indented under it
  // The value as --help shows it as the default, or "" for none; applied to Flags{}.
  std::string (*show)(const Flags&);
  // Sets the flag from its text ("true"/"false" for a switch); the error names the flag.
  Status (*set)(Flags&, const std::string& value);
};
std::span<const FlagDef> AllFlags();

Result<Flags> ParseFlags(const std::vector<std::string>& args);
// --web.telemetry-path is a literal path: "/" followed by [A-Za-z0-9/_.~-], not "/" and not
// under "/-/". Never a pattern.
Status ValidTelemetryPath(const std::string& path);
std::string Usage();

// Splits "host:port", ":port" or "[v6]:port". An empty host means all interfaces.
struct ListenAddress {
  std::string host;
  int port = 0;
};
Result<ListenAddress> ParseListenAddress(const std::string& text);

}  // namespace yfe::config
