// A real Prometheus (Debian's /usr/bin/prometheus) scraping one target on 127.0.0.1, for
// tests and benchmarks. Its data lives in a temporary directory removed at the end.
//
//   PrometheusServer prom(exp.port(), "15s", "10s");
//   prom.Ready();
//   double d = prom.Scalar("scrape_duration_seconds");
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "support/test_support.h"

namespace yfe::testing {

class PrometheusServer {
 public:
  // Scrapes 127.0.0.1:<target_port>/metrics every `interval` (Prometheus duration syntax)
  // with the extra scrape metrics (scrape_body_size_bytes) on.
  PrometheusServer(int target_port, const std::string& interval, const std::string& timeout);
  bool Ready();
  int port() const { return port_; }
  Process& process() { return *process_; }

  struct Sample {
    std::map<std::string, std::string> labels;
    double value = 0;
  };
  // An instant query's vector; empty on error.
  std::vector<Sample> Query(const std::string& promql);
  // The value of a query with one result; NaN otherwise.
  double Scalar(const std::string& promql);

 private:
  TempDir dir_;
  std::unique_ptr<Process> process_;
  int port_ = 0;
};

}  // namespace yfe::testing
