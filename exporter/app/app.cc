#include "app/app.h"

#include <cstdlib>

#include "collector/collector.h"
#include "collector/shard.h"
#include "config/token_store.h"
#include "flowapi/client.h"
#include "flowapi/transport.h"
#include "util/log.h"

#ifndef YFE_VERSION
#define YFE_VERSION "0.0.0-dev"
#endif
#ifndef YFE_REVISION
#define YFE_REVISION "unknown"
#endif

namespace yfe::app {

class Pipeline {
 public:
  Pipeline(const config::Config& cfg, const config::Flags& flags, config::TokenSource token,
           metrics::SelfMetrics& self_metrics)
      : token_(std::move(token), cfg.api.token_file),
        transport_(TransportOptionsFrom(cfg.api), self_metrics),
        client_(cfg.api, transport_),
        collector_(CollectorOptionsFrom(cfg), client_, self_metrics) {
    std::vector<collector::Target> targets;
    for (const auto& p : cfg.pipelines) {
      if (collector::InShard(p.id, flags.shard_index, flags.shard_total)) {
        targets.push_back({p.id, p.name});
      }
    }
    collector_.SetTargets(std::move(targets));
  }

  ~Pipeline() { transport_.Stop(); }  // no callback may outlive the collector

  std::string Scrape() { return collector_.Scrape(); }
  bool Ready() const { return true; }
  size_t Count() const { return collector_.TargetCount(); }

 private:
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

  config::TokenStore token_;
  flowapi::Transport transport_;
  flowapi::FlowClient client_;
  collector::Collector collector_;
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
  for (const auto& w : load.warnings) logging::Warn("config", {{"warning", w}});
  if (!load.ok()) {
    std::string all;
    for (const auto& e : load.errors) {
      logging::Error("invalid config", {{"err", e}});
      all += (all.empty() ? "" : "; ") + e;
    }
    return Error(all);
  }
  std::string token_error;
  auto token = config::ResolveToken(load.config.api, std::getenv("YUNXIAO_TOKEN"), &token_error);
  if (!token) {
    logging::Error("invalid config", {{"err", token_error}});
    return Error(token_error);
  }
  const std::string origin = token->origin;
  auto next = std::make_shared<Pipeline>(load.config, flags_, std::move(*token), self_metrics_);
  std::shared_ptr<Pipeline> old;
  {
    std::lock_guard lock(mu_);
    old = std::move(current_);
    current_ = next;
  }
  logging::Info("configuration loaded",
                {{"file", flags_.config_file},
                 {"endpoint", load.config.api.endpoint},
                 {"edition", load.config.api.edition == config::Edition::kCentral ? "central"
                                                                                   : "region"},
                 {"pipelines", std::to_string(next->Count())},
                 {"token_from", origin}});
  old.reset();  // scrapes still using it hold their own reference
  return true;
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

size_t App::PipelineCount() const {
  auto p = Current();
  return p ? p->Count() : 0;
}

}  // namespace yfe::app
