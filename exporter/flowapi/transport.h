// Transport: every HTTP request to the Flow API goes through one long-lived libcurl multi
// handle driven by one thread, so connections, TLS sessions and HTTP/2 streams are reused
// across scrapes. It enforces the limits that protect the API: at most max_concurrency
// requests in flight, a token-bucket rate limit shared by every kind of request, a pause
// of the whole client after a 429 (Retry-After honoured), bounded retries with jittered
// backoff for 5xx and transport errors, a per-request timeout, a per-request deadline and a
// cap on response bodies.
//
// Thread-safe. Callbacks run on the transport thread, exactly once per Submit, and must be
// quick; they may call Submit. Redirects are never followed (the token must not travel to
// another address).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "flowapi/rate_limit.h"
#include "metrics/self_metrics.h"
#include "util/clock.h"

namespace yfe::flowapi {

struct TransportOptions {
  int max_concurrency = 8;
  std::chrono::nanoseconds timeout = std::chrono::seconds(10);
  int64_t max_response_bytes = 8 << 20;
  double max_requests_per_second = 20;
  int rate_limit_burst = 20;
  int max_retries = 2;
  std::string tls_ca_file;  // added to the system CA store
  std::string user_agent = "yunxiao-flow-exporter";
  // Returns the token for the x-yunxiao-token header; called for every request, so a
  // rotated token file takes effect without a restart.
  std::function<std::string()> token;
  std::chrono::milliseconds retry_base = std::chrono::milliseconds(200);
  std::chrono::milliseconds retry_cap = std::chrono::seconds(5);
  std::chrono::milliseconds max_pause = std::chrono::seconds(60);
};

struct Request {
  std::string url;
  std::string endpoint;  // metric label, e.g. "latest_pipeline_run"
  Clock::Steady deadline;
};

struct Response {
  // The gateway's x-request-id header, for error reports.
  std::string request_id;

  long status = 0;       // HTTP status of the last attempt; 0 when none was received
  std::string body;      // complete body (only when not truncated)
  std::string error;     // non-empty when no usable response: transport, cap, deadline
  std::string location;  // scheme://host of a redirect's Location
  int attempts = 0;
};

class Transport {
 public:
  using Callback = std::function<void(Response)>;
  struct Job;  // one request and its attempts

  Transport(TransportOptions options, metrics::SelfMetrics& metrics);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  void Submit(Request request, Callback done);

  // Evidence from the most recent answered request that the API is reachable and accepts
  // the token: true after 2xx or 404, false after 401, 403, 3xx, 5xx or a transport failure.
  bool ApiUp() const { return api_up_.load(); }

  // Stops the loop: requests not yet answered complete with an error. Idempotent.
  void Stop();

 private:
  void Loop();
  void StartJob(std::unique_ptr<Job> job, Clock::Steady now);
  void FinishJob(void* easy, int curl_code);
  void Complete(std::unique_ptr<Job> job, Response response);
  void ExpireQueued(Clock::Steady now);
  void AbandonAll(const std::string& why);
  int WaitMillis(Clock::Steady now);

  const TransportOptions options_;
  metrics::SelfMetrics& metrics_;
  void* multi_ = nullptr;  // CURLM*

  std::mutex mu_;
  std::deque<std::unique_ptr<Job>> incoming_;
  bool stopping_ = false;

  // Owned by the loop thread.
  std::deque<std::unique_ptr<Job>> ready_;
  std::multimap<Clock::Steady, std::unique_ptr<Job>> delayed_;
  std::unordered_map<void*, std::unique_ptr<Job>> active_;
  std::vector<void*> idle_handles_;
  TokenBucket bucket_;
  Clock::Steady paused_until_{};
  int consecutive_429_ = 0;
  Clock::Steady last_expiry_scan_{};
  std::mt19937_64 rng_{std::random_device{}()};

  std::atomic<bool> api_up_{false};
  std::thread thread_;
};

}  // namespace yfe::flowapi
