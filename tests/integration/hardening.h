// Helpers shared by the hardening tests of the real exporter binary (hostile_body_test.cc,
// upstream_fault_test.cc, secrets_test.cc, http_abuse_test.cc, lifecycle_test.cc): two
// pipelines of the simulator, one fed hostile input and a healthy neighbour, and raw
// requests no well-behaved client would send.
#pragma once

#include <unistd.h>

#include <chrono>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "support/harness.h"
#include "support/raw_http.h"

namespace yfe::testing::hardening {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

inline constexpr const char* kBad = "1000001";   // the pipeline that gets the hostile input
inline constexpr const char* kGood = "1000002";  // a healthy neighbour that must keep working

inline std::string Pid(const std::string& id) { return "pipeline_id=\"" + id + "\""; }
inline std::string LogId(const std::string& id) { return "pipeline_id=" + id; }

inline double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

using Lines = std::vector<std::pair<std::string, std::string>>;  // key: value, in a section

// Region-edition config for the two pipelines, names configured (no GetPipeline calls),
// every scrape fetching afresh and no retries, so each case is one request per pipeline.
// `api` and `collect` add keys to those sections.
inline std::string TwoPipelineConfig(const std::string& endpoint, const Lines& api = {},
                                     const Lines& collect = {}) {
  std::string c = "api:\n  endpoint: " + endpoint + "\n  edition: region\n  max_retries: 0\n";
  for (const auto& [key, value] : api) c += "  " + key + ": " + value + "\n";
  c += "pipelines:\n  - id: \"" + std::string(kBad) + "\"\n    name: hostile\n  - id: \"" + kGood +
       "\"\n    name: healthy\ncollect:\n  cache_ttl: 0s\n";
  for (const auto& [key, value] : collect) c += "  " + key + ": " + value + "\n";
  return c;
}

// Lines of a log that contain every fragment.
inline std::vector<std::string> LogLines(const std::string& log,
                                         const std::vector<std::string>& all) {
  std::vector<std::string> out;
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    bool ok = true;
    for (const auto& f : all) ok &= line.find(f) != std::string::npos;
    if (ok) out.push_back(line);
  }
  return out;
}

// Sends raw bytes as one request; returns the status code (0: no response). (No half
// close: httplib drops a request whose client has shut its sending side.)
inline int RawRequest(int port, const std::string& request, std::string* response = nullptr) {
  int fd = Connect(port);
  if (fd < 0) return -1;
  SendAll(fd, request);  // the server may answer and close before reading everything
  std::string r = ReadResponse(fd, 20s);
  close(fd);
  if (response) *response = r;
  return StatusOf(r);
}

}  // namespace yfe::testing::hardening
