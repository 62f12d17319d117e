// A running Flow API simulator and exporter, for integration tests. Options are C++20
// designated initializers; every field has a default.
//
//   Simulator sim({.pipelines = 5, .frozen = true});
//   Exporter exp(sim.Config({.api = {{"max_retries", "0"}}, .collect = {{"cache_ttl", "0s"}}}),
//                {.flags = {"--web.enable-lifecycle"}, .warm = false});
//   std::string text = exp.Scrape();
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "support/test_support.h"

namespace yfe::testing {

inline constexpr const char* kSimToken = "sim-token-5f7c2a91";
// The instant a frozen simulator clock stands at (SimulatorOptions::frozen).
inline constexpr const char* kFrozenClock = "--clock=frozen:1795000000";

struct SimulatorOptions {
  int pipelines = 0;                    // --pipelines; 0: the simulator's default
  bool frozen = false;                  // the clock stands still at kFrozenClock
  std::string token = kSimToken;        // the only token the API accepts
  std::vector<std::string> flags = {};  // any other flag, e.g. "--latency=300ms"
};

// A config file for the simulator's API. `api` and `collect` are key/value lines of those
// sections (values written as they are, so quote what YAML must see as a string); `extra`
// is further YAML text (e.g. a discovery section).
struct ConfigOptions {
  std::vector<std::string> ids = {};  // empty: every simulated pipeline
  bool no_pipelines = false;          // no pipelines section at all (discovery alone)
  std::string edition = "central";
  std::vector<std::pair<std::string, std::string>> api = {};
  std::vector<std::pair<std::string, std::string>> collect = {};
  std::string extra = "";
};

class Simulator {
 public:
  explicit Simulator(SimulatorOptions options = {});
  int port() const { return port_; }
  std::string Endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Pipeline ids of the simulated organization, from its control API.
  std::vector<std::string> PipelineIds();
  // Config text for this simulator (see ConfigOptions).
  std::string Config(const ConfigOptions& options = {});
  // Total API requests the simulator received (control routes excluded).
  long ApiRequests();
  long ApiRequests(const std::string& endpoint);
  HttpResult Control(const std::string& method, const std::string& path,
                     const std::string& body = "");
  Process& process() { return *process_; }

 private:
  std::unique_ptr<Process> process_;
  int port_ = 0;
};

struct ExporterOptions {
  std::vector<std::string> flags = {};          // besides --config.file and --web.listen-address
  std::string token = kSimToken;                // YUNXIAO_TOKEN; "": not set
  std::map<std::string, std::string> env = {};  // further environment
  // Wait for the start-up fetch of every pipeline to end (/-/ready 200; not with a
  // --web.config.file), so tests begin from a known cache.
  bool warm = true;
};

class Exporter {
 public:
  // Starts the exporter with this config text on an ephemeral port.
  explicit Exporter(const std::string& config, ExporterOptions options = {});
  int port() const { return port_; }
  bool started() const { return port_ > 0; }
  std::string Scrape(const std::string& path = "/metrics");
  HttpResult Get(const std::string& path, const std::map<std::string, std::string>& h = {});
  Process& process() { return *process_; }
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_;
  std::unique_ptr<Process> process_;
  int port_ = 0;
};

// Runs promtool check metrics on exposition text; returns its complaints ("" if none).
std::string PromtoolProblems(const std::string& exposition);

}  // namespace yfe::testing
