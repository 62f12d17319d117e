// A running Flow API simulator and exporter, for integration tests.
//
//   Simulator sim({"--pipelines=5", "--clock=frozen:1795000000"});
//   Exporter exp(sim.CentralConfig());
//   std::string text = exp.Scrape();
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "support/test_support.h"

namespace yfe::testing {

inline constexpr const char* kSimToken = "sim-token-5f7c2a91";

class Simulator {
 public:
  explicit Simulator(std::vector<std::string> extra_args = {});
  int port() const { return port_; }
  std::string Endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Pipeline ids of the simulated organization, from its control API.
  std::vector<std::string> PipelineIds();
  // Config text: api section for an edition plus the given pipelines.
  std::string Config(const std::vector<std::string>& ids, const std::string& edition = "central",
                     const std::string& extra_api = "", const std::string& extra = "") const;
  std::string CentralConfig(const std::string& extra = "");
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

class Exporter {
 public:
  // Starts the exporter with this config text on an ephemeral port and, if warm, waits
  // for its start-up fetch of every pipeline to end (so tests begin from a known cache).
  explicit Exporter(const std::string& config, std::vector<std::string> extra_args = {},
                    std::map<std::string, std::string> env = {{"YUNXIAO_TOKEN", kSimToken}},
                    bool warm = true);
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
