// App: wires one configuration into a running exporter (token → transport → client →
// collector) and swaps it for a new one on reload. The self metrics live across reloads
// so counters never go back; so do the transport (its token bucket, 429 pause and
// connections: unless a transport setting changes) and the cached runs of the pipelines
// that stay, so reloads cannot multiply API traffic. Thread-safe; loads are serialized.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "config/config.h"
#include "config/flags.h"
#include "http/body.h"
#include "metrics/self_metrics.h"
#include "util/result.h"

namespace yfe::collector {
class Delivery;
class LedgerStore;
class RunHistory;
}  // namespace yfe::collector

namespace yfe::flowapi {
struct TransportOptions;
}  // namespace yfe::flowapi

namespace yfe::app {

// The transport's options from the api section, the exporter's user agent followed by
// `user_agent_suffix`; the caller sets the token. The exporter and the backfill share it.
flowapi::TransportOptions TransportOptionsFor(const config::ApiConfig& api,
                                              const std::string& user_agent_suffix);

class Runtime;    // one loaded configuration's running objects
struct Upstream;  // the transport shared across reloads

class App {
 public:
  explicit App(config::Flags flags);
  ~App();

  // Loads flags.config_file; on error the current configuration (if any) keeps running.
  // Never throws: a failure to start threads fails this load with a log line.
  Status Load();
  // The exposition of the running configuration; nullptr when none is running.
  std::shared_ptr<const http::Body> Scrape();
  // Ends outstanding API requests (at shutdown): scrapes answer from what they have.
  void Stop();
  // /-/ready: "" once the running configuration has its targets (discovery's first list)
  // and its start-up fetch has ended (success or failure, bounded by the warm-up budget);
  // otherwise why not. A reload keeps a warm configuration's readiness for the fetch.
  std::string NotReady() const;

  static std::string Version();
  static std::string Revision();

 private:
  std::shared_ptr<Runtime> Current() const;
  Status LoadLocked();
  Status PrepareHistory(const config::CollectConfig& collect);

  const config::Flags flags_;
  metrics::SelfMetrics self_metrics_;
  mutable std::mutex mu_;
  std::mutex load_mu_;  // one load at a time
  std::shared_ptr<Runtime> current_;
  std::shared_ptr<Upstream> upstream_;              // guarded by load_mu_
  std::shared_ptr<collector::RunHistory> history_;  // survives reloads, like the counters
  std::shared_ptr<collector::LedgerStore> store_;   // collect.state_dir at start; may be null
  std::shared_ptr<collector::Delivery> delivery_;   // observes history_; survives reloads
};

}  // namespace yfe::app
