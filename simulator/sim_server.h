// HTTP front end of the simulator: the Flow API routes (token check, latency,
// faults, pagination) and the /-/sim control API.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "faults.h"
#include "json_render.h"
#include "route.h"
#include "stats.h"
#include "world.h"

namespace yfe::sim {

struct ServerOptions {
  std::string token = "sim-token";
  ListStyle list_style = ListStyle::kToday;
  int threads = 64;
  // Lists send at most this many items a page whatever perPage asks (a server may send
  // 20 when 30 were asked); the paging headers say so.
  int max_per_page = 30;
  bool paging_headers = true;  // x-page, x-total-pages, ... (false: none, as a test case)
  FaultSettings faults;
};

// Where the `redirect` fault points (a different host than the simulator).
inline constexpr const char* kRedirectLocation = "http://127.0.0.2:9/login";
inline constexpr int kPerPageDefault = 10;
inline constexpr int kPerPageMax = 30;
inline constexpr size_t kOversizedPadding = 20u * 1024 * 1024;

class SimServer {
 public:
  SimServer(World* world, ServerOptions options);
  ~SimServer();
  SimServer(const SimServer&) = delete;
  SimServer& operator=(const SimServer&) = delete;

  // Binds host:port (port 0: any free port) and serves on a background thread.
  // Returns the bound port, or -1 when binding failed.
  int Start(const std::string& host, int port);
  // Stops serving and joins the server thread. Safe to call more than once.
  void Stop();
  bool Running() const { return running_.load(); }

  Stats& stats() { return stats_; }
  FaultController& faults() { return faults_; }

 private:
  void HandleApi(const httplib::Request& req, httplib::Response& res);
  // Answers a routed, authenticated request. Returns true when the body may
  // get body faults (a generated 200 response).
  bool Dispatch(const Route& route, const httplib::Request& req, int64_t now,
                const std::string& request_id, httplib::Response& res);
  void ApplyBodyFault(const FaultSettings& f, httplib::Response& res);
  void RegisterControlRoutes();
  // Sleeps unless the server stops first; false when stopping.
  bool InterruptibleSleep(std::chrono::microseconds d);
  std::string NewRequestId(const httplib::Request& req, int64_t now);

  World* const world_;
  const ServerOptions options_;
  httplib::Server server_;
  FaultController faults_;
  Stats stats_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  int listen_fd_ = -1;  // set during bind
  std::atomic<uint64_t> request_counter_{0};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by stop_mu_
};

}  // namespace yfe::sim
