#include "app/app.h"

#include <condition_variable>
#include <cstdlib>
#include <future>
#include <set>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>

#include "collector/collector.h"
#include "collector/delivery.h"
#include "collector/discovery.h"
#include "collector/history.h"
#include "collector/ledger_store.h"
#include "config/token_store.h"
#include "flowapi/client.h"
#include "flowapi/transport.h"
#include "model/decode.h"
#include "util/log.h"

#ifndef YFE_VERSION
#define YFE_VERSION "0.0.0-dev"
#endif
#ifndef YFE_REVISION
#define YFE_REVISION "unknown"
#endif

namespace yfe::app {

using std::chrono::nanoseconds;

namespace {

// How long a reload waits for the running configuration's fetches to land before taking
// over its cache (a reload during the start-up warm-up does not wait for all of it).
constexpr nanoseconds kReloadQuiesce = std::chrono::seconds(2);

// Runs a background task; an exception (bad_alloc, system_error) ends the task with a log
// line instead of std::terminate.
template <typename F>
auto Guarded(const char* task, F f) {
  return [task, f = std::move(f)]() mutable {
    try {
      f();
    } catch (const std::exception& e) {
      logging::Error("background task failed", {{"task", task}, {"err", e.what()}});
    } catch (...) {
      logging::Error("background task failed", {{"task", task}});
    }
  };
}

void LogLoaded(const config::Flags& flags, const config::Config& cfg, size_t pipelines,
               const std::string& token_origin) {
  logging::Info(
      "configuration loaded",
      {{"file", flags.config_file},
       {"endpoint", cfg.api.endpoint},
       {"edition", cfg.api.edition == config::Edition::kCentral ? "central" : "region"},
       {"pipelines", std::to_string(pipelines)},
       {"discovery", cfg.discovery.enabled ? "on" : "off"},
       {"history", cfg.collect.history ? "on" : "off"},
       {"shard", std::to_string(flags.shard_index) + "/" + std::to_string(flags.shard_total)},
       {"token_from", token_origin}});
}

}  // namespace

flowapi::TransportOptions TransportOptionsFor(const config::ApiConfig& api,
                                              const std::string& user_agent_suffix) {
  flowapi::TransportOptions o;
  o.max_concurrency = api.max_concurrency;
  o.timeout = api.timeout;
  o.max_response_bytes = api.max_response_bytes;
  o.max_requests_per_second = api.max_requests_per_second;
  o.rate_limit_burst = api.rate_limit_burst;
  o.max_retries = api.max_retries;
  o.tls_ca_file = api.tls_ca_file;
  o.user_agent = "yunxiao-flow-exporter/" + App::Version() + user_agent_suffix;
  return o;
}

// The API side that outlives reloads: one transport, hence one token bucket, one 429
// pause, one connection pool, whatever the number of reloads. Replaced only when a
// transport setting changes. The token is swapped in on each load. Thread-safe.
struct Upstream {
  struct Key {
    int max_concurrency;
    nanoseconds timeout;
    int64_t max_response_bytes;
    double max_requests_per_second;
    int rate_limit_burst;
    int max_retries;
    std::string tls_ca_file;
    bool operator==(const Key&) const = default;
  };
  static Key KeyOf(const config::ApiConfig& api) {
    return {
        api.max_concurrency,  api.timeout,     api.max_response_bytes, api.max_requests_per_second,
        api.rate_limit_burst, api.max_retries, api.tls_ca_file};
  }

  // May throw (std::system_error when no thread can be started).
  Upstream(const config::ApiConfig& api, metrics::SelfMetrics& self_metrics) : key(KeyOf(api)) {
    flowapi::TransportOptions o = TransportOptionsFor(api, "");
    o.token = [this] { return Token(); };
    transport = std::make_unique<flowapi::Transport>(std::move(o), self_metrics);
  }

  void SetToken(std::shared_ptr<config::TokenStore> t) {
    std::lock_guard lock(token_mu);
    token = std::move(t);
  }
  std::string Token() {
    std::shared_ptr<config::TokenStore> t;
    {
      std::lock_guard lock(token_mu);
      t = token;
    }
    return t ? t->Get() : std::string();
  }

  const Key key;
  std::mutex token_mu;
  std::shared_ptr<config::TokenStore> token;
  std::unique_ptr<flowapi::Transport> transport;  // last: stops before the token goes
};

// One configuration's view of the shared API: it answers every request it forwarded when
// the configuration ends (Stop), so that configuration's threads never wait on the shared
// transport, and drops the late answers. Thread-safe.
class Session final : public flowapi::Api {
 public:
  explicit Session(flowapi::Api& inner) : inner_(inner), state_(std::make_shared<State>()) {}
  ~Session() override { Stop(); }

  void GetLatestRun(std::string_view id, Clock::Steady deadline, Callback done) override {
    if (auto cb = Track(std::move(done))) inner_.GetLatestRun(id, deadline, std::move(cb));
  }
  void GetPipeline(std::string_view id, Clock::Steady deadline, Callback done) override {
    if (auto cb = Track(std::move(done))) inner_.GetPipeline(id, deadline, std::move(cb));
  }
  void ListPipelines(int page, int per_page, Clock::Steady deadline, Callback done) override {
    if (auto cb = Track(std::move(done))) {
      inner_.ListPipelines(page, per_page, deadline, std::move(cb));
    }
  }
  void ListRuns(std::string_view id, int page, int per_page, Clock::Steady deadline,
                Callback done) override {
    if (auto cb = Track(std::move(done))) {
      inner_.ListRuns(id, page, per_page, deadline, std::move(cb));
    }
  }
  void ListGroupPipelines(int64_t group_id, int page, int per_page, Clock::Steady deadline,
                          Callback done) override {
    if (auto cb = Track(std::move(done))) {
      inner_.ListGroupPipelines(group_id, page, per_page, deadline, std::move(cb));
    }
  }
  void GetRun(std::string_view id, int64_t run_id, Clock::Steady deadline, Callback done) override {
    if (auto cb = Track(std::move(done))) inner_.GetRun(id, run_id, deadline, std::move(cb));
  }
  bool ApiUp(Clock::Steady since) const override { return inner_.ApiUp(since); }

  // Answers every outstanding request with an error and waits for answers being delivered
  // on other threads; later requests are answered at once. Idempotent.
  void Stop() {
    std::unordered_map<uint64_t, Callback> pending;
    {
      std::lock_guard lock(state_->mu);
      state_->stopped = true;
      pending.swap(state_->pending);
    }
    for (auto& [id, done] : pending) done(Stopped());
    std::unique_lock lock(state_->mu);
    state_->idle.wait(lock, [this] { return state_->delivering == 0; });
  }

 private:
  struct State {
    std::mutex mu;
    std::condition_variable idle;
    bool stopped = false;
    uint64_t next_id = 0;
    int delivering = 0;
    std::unordered_map<uint64_t, Callback> pending;
  };

  static flowapi::ApiResult Stopped() {
    flowapi::ApiResult r;
    r.error = "configuration replaced or exporter stopping";
    return r;
  }

  // The callback to hand to the shared API, or none (after answering `done`) if stopped.
  Callback Track(Callback done) {
    uint64_t id = 0;
    {
      std::lock_guard lock(state_->mu);
      if (!state_->stopped) {
        id = ++state_->next_id;
        state_->pending.emplace(id, std::move(done));
      }
    }
    if (id == 0) {
      done(Stopped());
      return nullptr;
    }
    return [state = state_, id](flowapi::ApiResult r) {
      Callback cb;
      {
        std::lock_guard lock(state->mu);
        auto it = state->pending.find(id);
        if (it == state->pending.end()) return;  // answered by Stop()
        cb = std::move(it->second);
        state->pending.erase(it);
        ++state->delivering;
      }
      cb(std::move(r));
      std::lock_guard lock(state->mu);
      if (--state->delivering == 0) state->idle.notify_all();
    };
  }

  flowapi::Api& inner_;
  std::shared_ptr<State> state_;  // shared with the callbacks the transport holds
};

// Runtime: one loaded configuration's running objects and background work (discovery, run
// history, start-up warm-up). Destroyed on reload or exit: it answers every request it
// made (its Session), then joins its threads.
class Runtime {
 public:
  // `previous`, the configuration this one replaces (or null), lends its cache. Throws
  // (std::system_error) when a thread cannot be started, after stopping the ones that did.
  Runtime(const config::Config& cfg, const config::Flags& flags, std::shared_ptr<Upstream> upstream,
          metrics::SelfMetrics& self_metrics, std::shared_ptr<collector::RunHistory> history,
          const Runtime* previous, std::shared_ptr<collector::LedgerStore> store,
          std::shared_ptr<collector::Delivery> delivery = nullptr)
      : cfg_(cfg),
        flags_(flags),
        self_metrics_(self_metrics),
        history_(std::move(history)),
        store_(std::move(store)),
        delivery_(std::move(delivery)),
        upstream_(std::move(upstream)),
        client_(cfg.api, *upstream_->transport),
        session_(client_),
        collector_(CollectorOptionsFrom(cfg), session_, self_metrics) {
    if (previous) {
      collector_.Seed(previous->collector_);
      warm_ = previous->warm_.load();  // its cache is this one's: no new wait for /-/ready
    }
    if (cfg_.collect.history) {
      collector_.AddExtraRenderer(
          [this](std::string& out) { history_->Render(out, collector_.Named()); });
      if (delivery_ && delivery_->Enabled()) {
        collector_.AddExtraRenderer(
            [this](std::string& out) { delivery_->Render(out, *history_, collector_.Named()); });
      }
    }
    try {
      if (cfg_.discovery.enabled) {
        threads_.emplace_back(Guarded("discovery", [this] { DiscoveryLoop(); }));
      } else {
        collector_.SetTargets(
            collector::MergeTargets(cfg_.pipelines, {}, flags_.shard_index, flags_.shard_total));
        ready_ = true;
        threads_.emplace_back(Guarded("warm-up", [this] { WarmUp(); }));
      }
      if (cfg_.collect.history) {
        threads_.emplace_back(Guarded("run history", [this] { HistoryLoop(); }));
      }
    } catch (...) {
      Shutdown();  // a joinable std::thread must not be destroyed
      throw;
    }
  }

  ~Runtime() { Shutdown(); }

  std::shared_ptr<const http::Body> Scrape() { return collector_.Scrape(); }
  // At exit: also stops the shared transport, so running scrapes answer at once.
  void Stop() {
    EndRequests();
    upstream_->transport->Stop();
  }
  std::string NotReady() const {
    if (!ready_) return "first discovery running";
    return warm_ ? "" : "first fetch running";
  }
  size_t Count() const { return collector_.TargetCount(); }
  bool WaitIdle(nanoseconds budget) const { return collector_.WaitIdle(budget); }

 private:
  static constexpr nanoseconds kWarmUpBudget = std::chrono::minutes(15);

  // Wakes the loops to end and answers everything this configuration asked, so that no
  // thread stays blocked.
  void EndRequests() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    session_.Stop();
  }
  // EndRequests, then joins the threads.
  void Shutdown() {
    EndRequests();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  // Sleeps up to d; false when stopping.
  bool Sleep(nanoseconds d) {
    std::unique_lock lock(mu_);
    return !cv_.wait_for(lock, d, [this] { return stopping_; });
  }
  bool Stopping() {
    std::lock_guard lock(mu_);
    return stopping_;
  }

  void DiscoveryLoop() {
    collector::DiscoveryRefresher refresher(cfg_, flags_.shard_index, flags_.shard_total, session_,
                                            collector_, self_metrics_);
    while (!Stopping()) {
      const auto outcome = refresher.Refresh([this] { return Stopping(); });
      if (outcome.first_success) {
        ready_ = true;
        StartWarmUp();
      }
      if (!Sleep(outcome.next)) break;
    }
    if (warmup_.valid()) warmup_.wait();
  }

  // The start-up fetch; when it ends, however (every fetch answered, failed or timed out, or
  // the budget spent, or an exception), /-/ready turns 200.
  void WarmUp() {
    struct MarkWarm {
      std::atomic<bool>& warm;
      ~MarkWarm() { warm = true; }
    } mark{warm_};
    collector_.WarmUp(kWarmUpBudget);
  }

  // The warm-up after the first discovery, on its own thread.
  void StartWarmUp() {
    try {
      warmup_ = std::async(std::launch::async, Guarded("warm-up", [this] { WarmUp(); }));
    } catch (const std::system_error& e) {
      // Scrapes fetch what is missing; only the head start is lost.
      logging::Warn("cannot start the warm-up thread", {{"err", e.what()}});
      warm_ = true;
    }
  }

  void HistoryLoop() {
    while (!Stopping()) {
      // Until discovery has found the pipelines there is nothing to poll: look again soon.
      nanoseconds next = Sweep() ? cfg_.collect.history_interval : std::chrono::seconds(1);
      if (!Sleep(next)) break;
    }
  }

  // One poll of every watched pipeline's run list; false if there was nothing to poll.
  bool Sweep() {
    if (!ready_) return false;
    auto named = collector_.Named();
    std::set<std::string> ids;
    for (const auto& [id, name] : named) ids.insert(id);
    history_->Retain(ids);
    if (ids.empty()) return false;
    const auto deadline = SystemClock::Instance().Now() + cfg_.collect.history_interval;
    if (delivery_ && delivery_->Enabled()) delivery_->Prepare(session_, named, deadline);
    collector::PollRunHistory(
        session_, *history_, ids, deadline,
        [this](std::string_view endpoint) { self_metrics_.CountDecodeError(endpoint); });
    if (store_) store_->Commit(*history_);  // the counts and the watermark, in one commit
    return true;
  }

  static collector::CollectorOptions CollectorOptionsFrom(const config::Config& cfg) {
    collector::CollectorOptions o;
    o.render.stages = cfg.collect.stages;
    o.render.jobs = cfg.collect.jobs;
    o.render.sparse_status = cfg.collect.sparse_status;
    o.render.max_stages = static_cast<size_t>(cfg.collect.max_stages);
    o.render.max_jobs_per_stage = static_cast<size_t>(cfg.collect.max_jobs_per_stage);
    o.render.max_run_bytes = static_cast<size_t>(cfg.collect.max_run_bytes);
    o.cache_ttl = cfg.collect.cache_ttl;
    o.scrape_deadline = cfg.collect.scrape_deadline;
    o.max_stale = cfg.collect.max_stale;
    o.version = App::Version();
    o.revision = App::Revision();
    return o;
  }

  const config::Config cfg_;
  const config::Flags flags_;
  metrics::SelfMetrics& self_metrics_;
  std::shared_ptr<collector::RunHistory> history_;
  std::shared_ptr<collector::LedgerStore> store_;  // null: collect.state_dir not set
  std::shared_ptr<collector::Delivery> delivery_;  // null: none
  std::shared_ptr<Upstream> upstream_;
  flowapi::FlowClient client_;
  Session session_;  // what this configuration's objects use: answered in full on Stop()
  collector::Collector collector_;

  std::atomic<bool> ready_{false};  // the targets are known (discovery's first list)
  std::atomic<bool> warm_{false};   // the start-up fetch has ended
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::future<void> warmup_;          // warm-up started by discovery
  std::vector<std::thread> threads_;  // last member: joined in the destructor
};

App::App(config::Flags flags) : flags_(std::move(flags)) {}

App::~App() {
  std::shared_ptr<Runtime> current;
  {
    std::lock_guard lock(mu_);
    current = std::move(current_);
  }
  current.reset();  // its threads join before the transport they use goes
  upstream_.reset();
}

std::string App::Version() { return YFE_VERSION; }
std::string App::Revision() { return YFE_REVISION; }

Status App::Load() {
  std::lock_guard load_lock(load_mu_);  // concurrent reloads wait for each other
  try {
    return LoadLocked();
  } catch (const std::exception& e) {
    // Typically std::system_error: no thread could be started. The running configuration
    // stays; nothing of the new one is left running.
    logging::Error("cannot start the new configuration; keeping the current one",
                   {{"err", e.what()}});
    return Error(std::string("cannot start the new configuration: ") + e.what());
  } catch (...) {
    logging::Error("cannot start the new configuration; keeping the current one");
    return Error("cannot start the new configuration");
  }
}

Status App::LoadLocked() {
  // The file's secrets are registered for redaction before any of its errors is logged.
  config::LoadedConfig loaded =
      config::LoadForRun(flags_.config_file, std::getenv("YUNXIAO_TOKEN"));
  const config::ConfigLoad& load = loaded.load;
  for (const auto& w : load.warnings) logging::Warn("config", {{"warning", w}});
  if (!load.ok()) {
    std::string all;
    for (const auto& e : load.errors) {
      logging::Error("invalid config", {{"err", e}});
      all += (all.empty() ? "" : "; ") + e;
    }
    return Error(logging::Redacted(all));
  }
  const std::string origin = loaded.token.origin;
  auto token_store =
      std::make_shared<config::TokenStore>(std::move(loaded.token), load.config.api.token_file);

  // The transport (its token bucket, 429 pause and connections) carries over unless one of
  // its settings changed: reloads cannot multiply API traffic.
  std::shared_ptr<Upstream> upstream = upstream_;
  const auto key = Upstream::KeyOf(load.config.api);
  if (!upstream || !(upstream->key == key))
    upstream = std::make_shared<Upstream>(load.config.api, self_metrics_);
  upstream->SetToken(token_store);

  if (Status history = PrepareHistory(load.config.collect); !history.ok()) return history;
  if (!delivery_) {
    delivery_ = std::make_shared<collector::Delivery>(load.config.delivery);
    history_->SetObserver(delivery_);
  } else {
    delivery_->SetConfig(load.config.delivery);
  }
  // The new configuration starts before the old one stops, so that no scrape finds none,
  // taking over the old one's cache; then the old one's requests end and its threads join.
  // (The run history is shared and thread-safe: a run is counted once, whichever poll
  // first sees it finished.)
  std::shared_ptr<Runtime> old = Current();
  // Fetches on their way land in the old cache first, which the new one takes over.
  if (old) old->WaitIdle(kReloadQuiesce);
  auto next = std::make_shared<Runtime>(load.config, flags_, upstream, self_metrics_, history_,
                                        old.get(), store_, delivery_);
  {
    std::lock_guard lock(mu_);
    current_ = next;
  }
  upstream_ = std::move(upstream);
  old.reset();  // scrapes still using it hold their own reference
  LogLoaded(flags_, load.config, next->Count(), origin);
  return Ok();
}

// The run history and its state file outlive reloads: made by the first load, adjusted
// by the next ones.
Status App::PrepareHistory(const config::CollectConfig& collect) {
  const std::string& state_dir = collect.state_dir;
  if (!history_) {
    if (!state_dir.empty()) {
      auto store = collector::LedgerStore::Open(state_dir);
      if (!store.ok()) {
        logging::Error("cannot use the state directory", {{"err", store.error()}});
        return Error(store.error());
      }
      store_ = *store;
    }
    history_ = std::make_shared<collector::RunHistory>(collect.history_buckets);
    history_->SetJobHistory(collect.job_history, collect.job_history_buckets);
    if (store_) history_->Restore(store_->Load());
  } else {
    history_->SetBuckets(collect.history_buckets);
    if (state_dir != (store_ ? store_->dir() : std::string())) {
      logging::Warn("a new collect.state_dir takes effect at the next restart",
                    {{"state_dir", store_ ? store_->dir() : std::string("(none)")}});
    }
  }
  history_->SetMaxPending(collect.history_max_pending);
  history_->SetJobHistory(collect.job_history, collect.job_history_buckets);
  return Ok();
}

void App::Stop() {
  if (auto p = Current()) p->Stop();
}

std::shared_ptr<Runtime> App::Current() const {
  std::lock_guard lock(mu_);
  return current_;
}

std::shared_ptr<const http::Body> App::Scrape() {
  auto p = Current();
  if (!p) return nullptr;
  return p->Scrape();
}

std::string App::NotReady() const {
  auto p = Current();
  return p ? p->NotReady() : "no configuration running";
}

}  // namespace yfe::app
