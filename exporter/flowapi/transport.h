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
#include <optional>
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
  // A run endpoint (latest run, run list, run detail): only these answers decide ApiUp.
  bool run_endpoint = false;
};

// The documented paging headers of a list response; a header that was not sent stays empty.
// x-next-page is sent empty on the last page: next_page_sent without next_page.
struct PageHeaders {
  std::optional<int64_t> page;
  std::optional<int64_t> total_pages;
  std::optional<int64_t> total;
  std::optional<int64_t> next_page;
  bool next_page_sent = false;

  bool Any() const { return page || total_pages || total || next_page_sent; }
};

// Whether the API can be used for the runs, from the answers of recent requests. 1 when at
// least one run-endpoint request since `since` was answered with the token accepted (2xx or
// 404), 0 when run-endpoint requests since then were all refused (401, 403, other 400s, a
// redirect, 5xx, a transport failure). With no run-endpoint answer in the window the most
// recent one decides; before any, the other endpoints' answers do, where a 403 (a missing
// permission for that endpoint alone) never counts against the API. 429 says nothing.
// Thread-safe (lock-free).
class UpTracker {
 public:
  enum class Verdict { kAccepted, kRefused, kNone };
  // 0 = no response (transport failure).
  static Verdict Judge(long status);

  void Record(bool run_endpoint, long status, Clock::Steady at);
  bool Up(Clock::Steady since) const;

 private:
  static int64_t Ticks(Clock::Steady t) { return t.time_since_epoch().count(); }
  // Steady-clock ticks of the latest answer of each kind; 0 = never.
  std::atomic<int64_t> run_accepted_{0}, run_refused_{0};
  std::atomic<int64_t> other_accepted_{0}, other_refused_{0};
};

struct Response {
  // The gateway's x-request-id header, for error reports.
  std::string request_id;

  long status = 0;       // HTTP status of the last attempt; 0 when none was received
  std::string body;      // complete body (only when not truncated)
  std::string error;     // non-empty when no usable response: transport, cap, deadline
  std::string location;  // scheme://host of a redirect's Location
  int attempts = 0;
  PageHeaders paging;  // of the last attempt
};

// ---- The decision: what a finished attempt means ----

// One finished attempt, as the decision needs it (no curl types).
struct Attempt {
  // How the transfer ended below HTTP.
  enum class Failure {
    kNone,          // a complete HTTP response
    kBodyTooLarge,  // the body passed api.max_response_bytes (the status stays)
    kTransient,     // no response, worth retrying: connect, timeout, reset, DNS
    kFatal,         // no response, not worth retrying (TLS, bad URL, ...)
  };
  long status = 0;  // HTTP status received; 0 when none
  Failure failure = Failure::kNone;
  std::string failure_text;  // what the transport said (kTransient, kFatal)
  std::string retry_after;   // the Retry-After header, as sent
  std::string location;      // scheme://host of a redirect's Location
  int number = 1;            // this attempt, counting from 1
  Clock::Steady deadline{};  // the request's
};

struct RetryPolicy {
  int max_retries = 2;
  std::chrono::milliseconds retry_base{200};
  std::chrono::milliseconds retry_cap{5000};
  std::chrono::milliseconds max_pause{60000};
  int64_t max_response_bytes = 8 << 20;  // for the error text
};

// The client-wide pause after 429s: carried from one decision to the next.
struct PauseState {
  Clock::Steady paused_until{};
  int consecutive_429 = 0;
};

struct Decision {
  long status = 0;                     // reported (0: no HTTP response); decides ApiUp
  std::string code;                    // requests_total's code label: the status or "error"
  bool rate_limited = false;           // a 429: counted, and every request paused
  std::chrono::milliseconds pause{0};  // that pause (Retry-After or backoff, capped)
  bool retry = false;                  // send again at retry_at (before the deadline)
  Clock::Steady retry_at{};
  std::string error;  // empty: the response's body goes to the caller
};

// Decides what a finished attempt means: the status and code to record, the 429 pause of
// the whole client (Retry-After, else exponential backoff with jitter from the 429s in a
// row; capped by max_pause), whether to retry (429, 5xx and transient failures, up to
// max_retries, and only when the retry can be sent before the deadline) after what
// full-jitter backoff, and the error text. Updates `pause`. jitter01 is uniform in [0, 1).
// Pure: the clock's readings come in as now and wall_now.
Decision Decide(const Attempt& attempt, const RetryPolicy& policy, PauseState& pause,
                Clock::Steady now, Clock::Wall wall_now, double jitter01);

class Transport {
 public:
  using Callback = std::function<void(Response)>;
  struct Job;  // one request and its attempts

  Transport(TransportOptions options, metrics::SelfMetrics& metrics,
            const Clock& clock = SystemClock::Instance());
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  void Submit(Request request, Callback done);

  // See UpTracker::Up: whether the run endpoints answered with the token accepted since
  // `since` (every attempt counts, retries included).
  bool ApiUp(Clock::Steady since) const { return up_.Up(since); }

  // Stops the loop: requests not yet answered complete with an error. Idempotent.
  void Stop();

 private:
  void Loop();
  void StartJob(std::unique_ptr<Job> job, Clock::Steady now);
  void PrepareAttempt(Job& job, Clock::Steady now);
  void Configure(void* easy, Job& job, std::chrono::milliseconds timeout);
  void FinishJob(void* easy, int curl_code);
  // The attempt's metrics and logs.
  void Record(const Job& job, const Decision& d, double seconds);
  void Complete(std::unique_ptr<Job> job, Response response);
  void ExpireQueued(Clock::Steady now);
  void AbandonAll(const std::string& why);
  int WaitMillis(Clock::Steady now);

  const TransportOptions options_;
  const RetryPolicy policy_;
  metrics::SelfMetrics& metrics_;
  const Clock& clock_;
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
  PauseState pause_;
  Clock::Steady last_expiry_scan_{};
  std::mt19937_64 rng_{std::random_device{}()};

  UpTracker up_;
  std::thread thread_;
};

}  // namespace yfe::flowapi
