#include "app/app.h"

#include <condition_variable>
#include <cstdlib>
#include <future>
#include <set>
#include <thread>
#include <utility>

#include "collector/collector.h"
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

// One configuration's running objects and background work (discovery, run history,
// start-up warm-up). Destroyed on reload or exit: it stops the transport first, which
// answers every outstanding request, then joins its threads.
class Pipeline {
 public:
  Pipeline(const config::Config& cfg, const config::Flags& flags, config::TokenSource token,
           metrics::SelfMetrics& self_metrics, std::shared_ptr<collector::RunHistory> history,
           std::shared_ptr<collector::LedgerStore> store)
      : cfg_(cfg),
        flags_(flags),
        self_metrics_(self_metrics),
        history_(std::move(history)),
        store_(std::move(store)),
        token_(std::move(token), cfg.api.token_file),
        transport_(TransportOptionsFrom(cfg.api), self_metrics),
        client_(cfg.api, transport_),
        collector_(CollectorOptionsFrom(cfg), client_, self_metrics) {
    if (cfg_.collect.history) {
      collector_.AddExtraRenderer(
          [this](std::string& out) { history_->Render(out, collector_.Named()); });
    }
    if (cfg_.discovery.enabled) {
      threads_.emplace_back([this] { DiscoveryLoop(); });
    } else {
      collector_.SetTargets(
          collector::MergeTargets(cfg_.pipelines, {}, flags_.shard_index, flags_.shard_total));
      ready_ = true;
      threads_.emplace_back([this] { collector_.WarmUp(kWarmUpBudget); });
    }
    if (cfg_.collect.history) threads_.emplace_back([this] { HistoryLoop(); });
  }

  ~Pipeline() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    transport_.Stop();  // answers everything outstanding: no thread stays blocked
    for (auto& t : threads_) t.join();
  }

  std::string Scrape() { return collector_.Scrape(); }
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    transport_.Stop();
  }
  bool Ready() const { return ready_.load(); }
  size_t Count() const { return collector_.TargetCount(); }

 private:
  static constexpr nanoseconds kWarmUpBudget = std::chrono::minutes(15);

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
    collector::Discovery discovery(cfg_.discovery, client_);
    bool first = true;
    while (!Stopping()) {
      auto deadline = SystemClock::Instance().Now() +
                      std::max(cfg_.api.timeout * 10, nanoseconds(std::chrono::minutes(2)));
      auto found = discovery.List(deadline);
      nanoseconds next = cfg_.discovery.refresh_interval;
      if (found.ok()) {
        self_metrics_.SetDiscovered(static_cast<double>(found->size()));
        collector_.SetTargets(collector::MergeTargets(cfg_.pipelines, *found, flags_.shard_index,
                                                      flags_.shard_total));
        logging::Info("discovery refreshed", {{"discovered", std::to_string(found->size())},
                                              {"watched", std::to_string(Count())}});
        if (first) {
          first = false;
          ready_ = true;
          warmup_ = std::async(std::launch::async, [this] { collector_.WarmUp(kWarmUpBudget); });
        }
      } else if (!Stopping()) {
        self_metrics_.CountDiscoveryError();
        logging::Warn("discovery failed; keeping the previous list", {{"err", found.error()}});
        if (first) {
          // Not ready until the first discovery succeeds; until then the configured
          // pipelines are watched.
          collector_.SetTargets(
              collector::MergeTargets(cfg_.pipelines, {}, flags_.shard_index, flags_.shard_total));
          next = std::min(next, nanoseconds(std::chrono::seconds(15)));
        }
      }
      if (!Sleep(next)) break;
    }
    if (warmup_.valid()) warmup_.wait();
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
    collector::PollRunHistory(client_, *history_, ids, deadline, [this](std::string_view endpoint) {
      self_metrics_.CountDecodeError(endpoint);
    });
    if (store_) store_->Commit(*history_);  // the counts and the watermark, in one commit
    return true;
  }

  flowapi::TransportOptions TransportOptionsFrom(const config::ApiConfig& api) {
    flowapi::TransportOptions o;
    o.max_concurrency = api.max_concurrency;
    o.timeout = api.timeout;
    o.max_response_bytes = api.max_response_bytes;
    o.max_requests_per_second = api.max_requests_per_second;
    o.rate_limit_burst = api.rate_limit_burst;
    o.max_retries = api.max_retries;
    o.tls_ca_file = api.tls_ca_file;
    o.user_agent = "yunxiao-flow-exporter/" + App::Version();
    o.token = [this] { return token_.Get(); };
    return o;
  }

  static collector::CollectorOptions CollectorOptionsFrom(const config::Config& cfg) {
    collector::CollectorOptions o;
    o.render.stages = cfg.collect.stages;
    o.render.jobs = cfg.collect.jobs;
    o.render.sparse_status = cfg.collect.sparse_status;
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
  config::TokenStore token_;
  flowapi::Transport transport_;
  flowapi::FlowClient client_;
  collector::Collector collector_;

  std::atomic<bool> ready_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::future<void> warmup_;          // warm-up started by discovery
  std::vector<std::thread> threads_;  // last member: joined in the destructor
};

App::App(config::Flags flags) : flags_(std::move(flags)) {}

App::~App() {
  std::lock_guard lock(mu_);
  current_.reset();
}

std::string App::Version() { return YFE_VERSION; }
std::string App::Revision() { return YFE_REVISION; }

Result<bool> App::Load() {
  std::lock_guard load_lock(load_mu_);
  config::ConfigLoad load = config::LoadConfigFile(flags_.config_file);
  logging::RegisterSecret(load.config.api.token);  // a token pasted elsewhere is not echoed
  for (const auto& w : load.warnings) logging::Warn("config", {{"warning", w}});
  if (!load.ok()) {
    std::string all;
    for (const auto& e : load.errors) {
      logging::Error("invalid config", {{"err", e}});
      all += (all.empty() ? "" : "; ") + e;
    }
    return Error(logging::Redacted(all));
  }
  std::string token_error;
  auto token = config::ResolveToken(load.config.api, std::getenv("YUNXIAO_TOKEN"), &token_error);
  if (!token) {
    logging::Error("invalid config", {{"err", token_error}});
    return Error(logging::Redacted(token_error));
  }
  const std::string& state_dir = load.config.collect.state_dir;
  if (!history_) {
    if (!state_dir.empty()) {
      auto store = collector::LedgerStore::Open(state_dir);
      if (!store.ok()) {
        logging::Error("cannot use the state directory", {{"err", store.error()}});
        return Error(store.error());
      }
      store_ = *store;
    }
    history_ = std::make_shared<collector::RunHistory>(load.config.collect.history_buckets);
    if (store_) history_->Restore(store_->Load());
  } else {
    history_->SetBuckets(load.config.collect.history_buckets);
    if (state_dir != (store_ ? store_->dir() : std::string())) {
      logging::Warn("a new collect.state_dir takes effect at the next restart",
                    {{"state_dir", store_ ? store_->dir() : std::string("(none)")}});
    }
  }
  history_->SetMaxPending(load.config.collect.history_max_pending);
  const std::string origin = token->origin;
  // The new configuration starts before the old one stops, so that no scrape finds none;
  // then the old one's requests end and its threads join. (The run history is shared and
  // thread-safe: a run is counted once, whichever poll first sees it finished.)
  auto next = std::make_shared<Pipeline>(load.config, flags_, std::move(*token), self_metrics_,
                                         history_, store_);
  std::shared_ptr<Pipeline> old;
  {
    std::lock_guard lock(mu_);
    old = std::exchange(current_, next);
  }
  old.reset();  // scrapes still using it hold their own reference
  logging::Info(
      "configuration loaded",
      {{"file", flags_.config_file},
       {"endpoint", load.config.api.endpoint},
       {"edition", load.config.api.edition == config::Edition::kCentral ? "central" : "region"},
       {"pipelines", std::to_string(next->Count())},
       {"discovery", load.config.discovery.enabled ? "on" : "off"},
       {"history", load.config.collect.history ? "on" : "off"},
       {"shard", std::to_string(flags_.shard_index) + "/" + std::to_string(flags_.shard_total)},
       {"token_from", origin}});
  return true;
}

void App::Stop() {
  if (auto p = Current()) p->Stop();
}

std::shared_ptr<Pipeline> App::Current() const {
  std::lock_guard lock(mu_);
  return current_;
}

std::string App::Scrape() {
  auto p = Current();
  if (!p) return {};
  return p->Scrape();
}

bool App::Ready() const {
  auto p = Current();
  return p && p->Ready();
}

}  // namespace yfe::app
