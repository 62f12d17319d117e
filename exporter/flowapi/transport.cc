#include "flowapi/transport.h"

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstring>

#include "util/log.h"

namespace yfe::flowapi {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

struct Transport::Job {
  Request request;
  Callback done;
  int attempts = 0;
  Clock::Steady started{};
  std::string body;
  bool truncated = false;
  std::string request_id;
  int64_t max_bytes = 0;
  std::string retry_after;
  std::string location;
  PageHeaders paging;
  curl_slist* headers = nullptr;
  char error_buffer[CURL_ERROR_SIZE] = {};

  ~Job() {
    if (headers) curl_slist_free_all(headers);
  }
};

namespace {

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* job = static_cast<Transport::Job*>(user);
  size_t bytes = size * n;
  if (static_cast<int64_t>(job->body.size() + bytes) > job->max_bytes) {
    job->truncated = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  job->body.append(data, bytes);
  return bytes;
}

bool HeaderIs(std::string_view line, std::string_view name) {
  if (line.size() <= name.size() || line[name.size()] != ':') return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(line[i])) != name[i]) return false;
  }
  return true;
}

std::string HeaderValue(std::string_view line, size_t name_len) {
  std::string_view v = line.substr(name_len + 1);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) {
    v.remove_suffix(1);
  }
  return std::string(v.substr(0, 512));
}

// scheme://host[:port] of a URL, never its path or credentials.
std::string Origin(std::string_view url) {
  auto sep = url.find("://");
  if (sep == std::string_view::npos) return "(relative)";
  auto end = url.find_first_of("/?#", sep + 3);
  std::string_view authority =
      url.substr(sep + 3, end == std::string_view::npos ? std::string_view::npos : end - sep - 3);
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  return std::string(url.substr(0, sep + 3)) + std::string(authority);
}

// A paging header's value: a non-negative decimal, else empty (absent, empty or garbage).
std::optional<int64_t> PageNumber(const std::string& v) {
  if (v.empty() || v.size() > 12) return std::nullopt;
  int64_t out = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    out = out * 10 + (c - '0');
  }
  return out;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* job = static_cast<Transport::Job*>(user);
  std::string_view line(data, size * n);
  if (HeaderIs(line, "x-request-id")) job->request_id = HeaderValue(line, 12).substr(0, 128);
  if (HeaderIs(line, "retry-after")) job->retry_after = HeaderValue(line, 11);
  if (HeaderIs(line, "location")) job->location = Origin(HeaderValue(line, 8));
  if (line.size() > 2 && (line[0] == 'x' || line[0] == 'X')) {
    PageHeaders& p = job->paging;
    if (HeaderIs(line, "x-page")) p.page = PageNumber(HeaderValue(line, 6));
    if (HeaderIs(line, "x-total")) p.total = PageNumber(HeaderValue(line, 7));
    if (HeaderIs(line, "x-total-pages")) p.total_pages = PageNumber(HeaderValue(line, 13));
    if (HeaderIs(line, "x-next-page")) {
      p.next_page_sent = true;
      p.next_page = PageNumber(HeaderValue(line, 11));
    }
  }
  return size * n;
}

CURLcode AddCaFile(CURL*, void* ssl_ctx, void* user) {
  const auto* path = static_cast<const std::string*>(user);
  X509_STORE* store = SSL_CTX_get_cert_store(static_cast<SSL_CTX*>(ssl_ctx));
  if (!store || X509_STORE_load_file(store, path->c_str()) != 1) {
    return CURLE_SSL_CACERT_BADFILE;
  }
  return CURLE_OK;
}

bool IsRetryableCurl(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_COULDNT_RESOLVE_HOST:
      return true;
    default:
      return false;
  }
}

// What curl's ending of a transfer means for the decision.
Attempt::Failure FailureOf(CURLcode rc, bool truncated) {
  if (rc == CURLE_OK) return Attempt::Failure::kNone;
  if (truncated || rc == CURLE_FILESIZE_EXCEEDED) return Attempt::Failure::kBodyTooLarge;
  return IsRetryableCurl(rc) ? Attempt::Failure::kTransient : Attempt::Failure::kFatal;
}

// A 429: pauses every request for Retry-After, else for a backoff that grows with the
// 429s in a row (jittered in [0.5, 1) of its ceiling); capped by max_pause.
void PauseFor429(const Attempt& a, const RetryPolicy& p, PauseState& s, Clock::Steady now,
                 Clock::Wall wall_now, double jitter01, Decision& d) {
  d.rate_limited = true;
  auto after = ParseRetryAfter(a.retry_after, wall_now);
  d.pause = after ? *after
                  : BackoffDelay(s.consecutive_429, milliseconds(1000), p.max_pause,
                                 0.5 + 0.5 * jitter01);
  d.pause = std::min(d.pause, p.max_pause);
  s.consecutive_429++;
  s.paused_until = std::max(s.paused_until, now + d.pause);
}

std::string RedirectError(const std::string& location) {
  return "redirected to " + (location.empty() ? "(no Location)" : location) +
         ": not followed, the token is only sent to api.endpoint (check api.endpoint, the "
         "edition and the token)";
}

}  // namespace

Decision Decide(const Attempt& a, const RetryPolicy& p, PauseState& s, Clock::Steady now,
                Clock::Wall wall_now, double jitter01) {
  using F = Attempt::Failure;
  Decision d;
  const bool no_response = a.failure == F::kTransient || a.failure == F::kFatal;
  d.status = no_response ? 0 : a.status;
  d.code = d.status > 0 ? std::to_string(d.status) : "error";
  if (a.failure == F::kBodyTooLarge) {
    d.error = "response body larger than api.max_response_bytes (" +
              std::to_string(p.max_response_bytes) + " bytes)";
  } else if (no_response) {
    d.error = a.failure_text;
  }
  milliseconds delay{0};
  if (d.status == 429) {
    PauseFor429(a, p, s, now, wall_now, jitter01, d);
    d.retry = a.number <= p.max_retries;
    delay = duration_cast<milliseconds>(s.paused_until - now);
  } else {
    if (d.status > 0) s.consecutive_429 = 0;
    const bool transient = (d.status >= 500 && d.status <= 599) || a.failure == F::kTransient;
    if (transient && a.number <= p.max_retries) {
      d.retry = true;
      delay = BackoffDelay(a.number - 1, p.retry_base, p.retry_cap, jitter01);
    }
  }
  d.retry = d.retry && now + delay + milliseconds(1) < a.deadline;
  d.retry_at = d.retry ? now + delay : Clock::Steady{};
  if (!d.retry && d.error.empty() && d.status >= 300 && d.status < 400) {
    d.error = RedirectError(a.location);
  }
  return d;
}

UpTracker::Verdict UpTracker::Judge(long status) {
  if (status == 429) return Verdict::kNone;  // the rate limiter says nothing about the token
  if ((status >= 200 && status < 300) || status == 404) return Verdict::kAccepted;
  if (status == 0 || (status >= 300 && status < 400) || status == 400 || status == 401 ||
      status == 403 || status >= 500) {
    return Verdict::kRefused;
  }
  return Verdict::kNone;
}

void UpTracker::Record(bool run_endpoint, long status, Clock::Steady at) {
  const Verdict v = Judge(status);
  if (v == Verdict::kNone) return;
  const int64_t t = std::max<int64_t>(1, Ticks(at));
  if (run_endpoint) {
    (v == Verdict::kAccepted ? run_accepted_ : run_refused_) = t;
  } else if (v == Verdict::kAccepted) {
    other_accepted_ = t;
  } else if (status != 403) {  // a permission missing for this endpoint alone
    other_refused_ = t;
  }
}

bool UpTracker::Up(Clock::Steady since) const {
  const int64_t from = Ticks(since);
  const int64_t ok = run_accepted_.load(), bad = run_refused_.load();
  if (ok != 0 && ok >= from) return true;
  if (bad != 0 && bad >= from) return false;
  if (ok != 0 || bad != 0) return ok > bad;
  return other_accepted_.load() > other_refused_.load();
}

Transport::Transport(TransportOptions options, metrics::SelfMetrics& metrics, const Clock& clock)
    : options_(std::move(options)),
      policy_{options_.max_retries, options_.retry_base, options_.retry_cap, options_.max_pause,
              options_.max_response_bytes},
      metrics_(metrics),
      clock_(clock),
      bucket_(options_.max_requests_per_second, options_.rate_limit_burst, clock_.Now()) {
  CURLM* multi = curl_multi_init();
  multi_ = multi;
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                    static_cast<long>(options_.max_concurrency));
  curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                    static_cast<long>(options_.max_concurrency));
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(options_.max_concurrency));
  curl_multi_setopt(multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  thread_ = std::thread([this] { Loop(); });
}

Transport::~Transport() {
  Stop();
  for (void* h : idle_handles_) curl_easy_cleanup(static_cast<CURL*>(h));
  curl_multi_cleanup(static_cast<CURLM*>(multi_));
}

void Transport::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  curl_multi_wakeup(static_cast<CURLM*>(multi_));
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void Transport::Submit(Request request, Callback done) {
  auto job = std::make_unique<Job>();
  job->request = std::move(request);
  job->done = std::move(done);
  job->max_bytes = options_.max_response_bytes;
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      incoming_.push_back(std::move(job));
      job = nullptr;
    }
  }
  if (job) {
    Response r;
    r.error = "exporter is shutting down";
    job->done(std::move(r));
    return;
  }
  curl_multi_wakeup(static_cast<CURLM*>(multi_));
}

void Transport::Complete(std::unique_ptr<Job> job, Response response) {
  response.attempts = job->attempts;
  Callback done = std::move(job->done);
  job.reset();
  if (done) done(std::move(response));
}

// Clears what the previous attempt left and sets this attempt's headers.
void Transport::PrepareAttempt(Job& job, Clock::Steady now) {
  job.attempts++;
  job.started = now;
  job.body.clear();
  job.truncated = false;
  job.request_id.clear();
  job.retry_after.clear();
  job.location.clear();
  job.paging = PageHeaders{};
  job.error_buffer[0] = '\0';
  if (job.headers) {
    curl_slist_free_all(job.headers);
    job.headers = nullptr;
  }
  std::string token_header = "x-yunxiao-token: ";
  if (options_.token) token_header += options_.token();
  job.headers = curl_slist_append(job.headers, token_header.c_str());
  job.headers = curl_slist_append(job.headers, "Accept: application/json");
  job.headers = curl_slist_append(job.headers, "Content-Type: application/json");
}

void Transport::Configure(void* handle, Job& job, milliseconds timeout) {
  CURL* easy = static_cast<CURL*>(handle);
  curl_easy_setopt(easy, CURLOPT_URL, job.request.url.c_str());
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, job.headers);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout.count()));
  // Waiting for a connection that might multiplex only pays off where HTTP/2 is possible
  // (TLS with ALPN); on plain HTTP/1.1 it would queue requests behind each other.
  const bool tls = job.request.url.starts_with("https://");
  curl_easy_setopt(easy, CURLOPT_PIPEWAIT, tls ? 1L : 0L);
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
  // gzip only: cheap to decode, and brotli at a server's default quality costs it much more CPU.
  curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "gzip");
  curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE,
                   static_cast<curl_off_t>(options_.max_response_bytes));
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &job);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &job);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, job.error_buffer);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options_.tls_ca_file.empty()) {
    curl_easy_setopt(easy, CURLOPT_SSL_CTX_FUNCTION, AddCaFile);
    curl_easy_setopt(easy, CURLOPT_SSL_CTX_DATA, &options_.tls_ca_file);
  }
}

void Transport::StartJob(std::unique_ptr<Job> job, Clock::Steady now) {
  CURL* easy = nullptr;
  if (!idle_handles_.empty()) {
    easy = static_cast<CURL*>(idle_handles_.back());
    idle_handles_.pop_back();
    curl_easy_reset(easy);
  } else {
    easy = curl_easy_init();
  }
  PrepareAttempt(*job, now);
  auto remaining = duration_cast<milliseconds>(job->request.deadline - now);
  auto timeout = std::min(duration_cast<milliseconds>(options_.timeout), remaining);
  Configure(easy, *job, std::max(timeout, milliseconds(1)));
  curl_multi_add_handle(static_cast<CURLM*>(multi_), easy);
  if (logging::Enabled(logging::Level::kDebug)) {  // spare the formatting on every request
    logging::Debug("api request", {{"method", "GET"},
                                   {"endpoint", job->request.endpoint},
                                   {"url", job->request.url},
                                   {"attempt", std::to_string(job->attempts)}});
  }
  active_.emplace(easy, std::move(job));
}

void Transport::FinishJob(void* handle, int curl_code) {
  CURL* easy = static_cast<CURL*>(handle);
  auto it = active_.find(handle);
  curl_multi_remove_handle(static_cast<CURLM*>(multi_), easy);
  idle_handles_.push_back(handle);
  if (it == active_.end()) return;
  std::unique_ptr<Job> job = std::move(it->second);
  active_.erase(it);

  const auto now = clock_.Now();
  const CURLcode rc = static_cast<CURLcode>(curl_code);
  Attempt a;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &a.status);
  a.failure = FailureOf(rc, job->truncated);
  if (a.failure == Attempt::Failure::kTransient || a.failure == Attempt::Failure::kFatal) {
    a.failure_text = std::string(curl_easy_strerror(rc));
    if (job->error_buffer[0]) a.failure_text += ": " + std::string(job->error_buffer);
  }
  a.retry_after = job->retry_after;
  a.location = job->location;
  a.number = job->attempts;
  a.deadline = job->request.deadline;
  const Decision d = Decide(a, policy_, pause_, now, clock_.WallNow(),
                            std::uniform_real_distribution<double>(0, 1)(rng_));
  Record(*job, d, std::chrono::duration<double>(now - job->started).count());
  up_.Record(job->request.run_endpoint, d.status, now);
  if (d.retry) {
    delayed_.emplace(d.retry_at, std::move(job));
    return;
  }
  Response r;
  r.status = d.status;
  r.request_id = job->request_id;
  r.error = d.error;
  if (r.error.empty()) {
    r.body = std::move(job->body);
    r.paging = job->paging;
  }
  Complete(std::move(job), std::move(r));
}

void Transport::Record(const Job& job, const Decision& d, double seconds) {
  metrics_.ObserveRequest(job.request.endpoint, d.code, seconds);
  if (logging::Enabled(logging::Level::kDebug)) {
    logging::Debug("api response", {{"endpoint", job.request.endpoint},
                                    {"url", job.request.url},
                                    {"status", d.code},
                                    {"duration_seconds", std::to_string(seconds)},
                                    {"bytes", std::to_string(job.body.size())}});
  }
  if (d.rate_limited) {
    metrics_.CountRateLimited();
    logging::Warn("api rate limited the exporter; pausing all requests",
                  {{"endpoint", job.request.endpoint},
                   {"pause_seconds", std::to_string(d.pause.count() / 1000.0)}});
  }
}

void Transport::ExpireQueued(Clock::Steady now) {
  auto expired = [&](const std::unique_ptr<Job>& j) { return j->request.deadline <= now; };
  std::vector<std::unique_ptr<Job>> done;
  for (auto it = ready_.begin(); it != ready_.end();) {
    if (expired(*it)) {
      done.push_back(std::move(*it));
      it = ready_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = delayed_.begin(); it != delayed_.end();) {
    if (expired(it->second)) {
      done.push_back(std::move(it->second));
      it = delayed_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& job : done) {
    Response r;
    r.error = job->attempts == 0
                  ? "deadline passed before the request could be sent (queued behind the rate "
                    "limit or max_concurrency)"
                  : "deadline passed while waiting to retry";
    Complete(std::move(job), std::move(r));
  }
}

int Transport::WaitMillis(Clock::Steady now) {
  auto wait = milliseconds(1000);
  if (!delayed_.empty()) {
    wait = std::min(wait, duration_cast<milliseconds>(delayed_.begin()->first - now));
  }
  if (!ready_.empty()) {
    wait = std::min(wait, milliseconds(50));  // deadline expiry scan
    if (static_cast<int>(active_.size()) < options_.max_concurrency) {
      if (pause_.paused_until > now) {
        wait = std::min(wait, duration_cast<milliseconds>(pause_.paused_until - now));
      } else {
        wait = std::min(wait, duration_cast<milliseconds>(bucket_.WaitTime(now)) + milliseconds(1));
      }
    }
  }
  return static_cast<int>(std::max(wait, milliseconds(0)).count());
}

void Transport::AbandonAll(const std::string& why) {
  std::vector<std::unique_ptr<Job>> all;
  {
    std::lock_guard lock(mu_);
    for (auto& j : incoming_) all.push_back(std::move(j));
    incoming_.clear();
  }
  for (auto& j : ready_) all.push_back(std::move(j));
  ready_.clear();
  for (auto& [t, j] : delayed_) all.push_back(std::move(j));
  delayed_.clear();
  for (auto& [h, j] : active_) {
    curl_multi_remove_handle(static_cast<CURLM*>(multi_), static_cast<CURL*>(h));
    idle_handles_.push_back(h);
    all.push_back(std::move(j));
  }
  active_.clear();
  for (auto& j : all) {
    Response r;
    r.error = why;
    Complete(std::move(j), std::move(r));
  }
}

void Transport::Loop() {
  CURLM* multi = static_cast<CURLM*>(multi_);
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
      while (!incoming_.empty()) {
        ready_.push_back(std::move(incoming_.front()));
        incoming_.pop_front();
      }
    }
    auto now = clock_.Now();
    while (!delayed_.empty() && delayed_.begin()->first <= now) {
      ready_.push_front(std::move(delayed_.begin()->second));  // retries go first
      delayed_.erase(delayed_.begin());
    }
    if (now - last_expiry_scan_ >= milliseconds(50)) {
      ExpireQueued(now);
      last_expiry_scan_ = now;
    }
    while (!ready_.empty() && static_cast<int>(active_.size()) < options_.max_concurrency &&
           pause_.paused_until <= now && bucket_.TryTake(now)) {
      auto job = std::move(ready_.front());
      ready_.pop_front();
      if (job->request.deadline <= now) {
        Response r;
        r.error = "deadline passed before the request could be sent";
        Complete(std::move(job), std::move(r));
        continue;
      }
      StartJob(std::move(job), now);
    }
    metrics_.SetInFlight(static_cast<double>(active_.size()));
    metrics_.SetQueued(static_cast<double>(ready_.size() + delayed_.size()));

    curl_multi_poll(multi, nullptr, 0, WaitMillis(now), nullptr);
    int running = 0;
    curl_multi_perform(multi, &running);
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg == CURLMSG_DONE) FinishJob(msg->easy_handle, msg->data.result);
    }
  }
  AbandonAll("exporter is shutting down");
  metrics_.SetInFlight(0);
  metrics_.SetQueued(0);
}

}  // namespace yfe::flowapi
