#include "app/backfill.h"

#include <curl/curl.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "app/app.h"
#include "backfill/backfill.h"
#include "collector/collector.h"
#include "collector/discovery.h"
#include "collector/ledger_store.h"
#include "flowapi/transport.h"
#include "metrics/self_metrics.h"
#include "model/decode.h"
#include "model/status.h"
#include "util/duration.h"
#include "util/log.h"

namespace yfe::app {

namespace {

using Clock_ = std::chrono::steady_clock;

// 600,000 runs of one pipeline (over 6,000 a day for 90 days): beyond, a server looping. Bounds
// the memory a pipeline's runs take while they are read.
constexpr int kMaxRunPages = 20000;
// Run details (GetPipelineRun) asked for at a time per pipeline (the transport's
// api.max_concurrency and rate limit apply on top).
constexpr size_t kDetailBatch = 16;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Progress on stderr: redrawn in place at most 5 times a second on a terminal, else one
// line every 30 s (a log file is not flooded). Thread-safe.
class Progress {
 public:
  explicit Progress(size_t total) : total_(total), tty_(::isatty(STDERR_FILENO) == 1) {}
  void Add(int64_t runs, size_t pipelines, int64_t details = 0) {
    std::lock_guard lock(mu_);
    runs_ += runs;
    done_ += pipelines;
    details_ += details;
    const auto now = Clock_::now();
    if (now - last_ < (tty_ ? std::chrono::milliseconds(200) : std::chrono::seconds(30))) return;
    last_ = now;
    Print(false);
  }
  void End() {
    std::lock_guard lock(mu_);
    Print(true);
  }

 private:
  void Print(bool last) {
    const double elapsed = std::chrono::duration<double>(Clock_::now() - start_).count();
    const std::string line = ProgressLine(done_, total_, runs_, elapsed, details_);
    std::fprintf(stderr, tty_ ? "\r%s\033[K%s" : "%s%s", line.c_str(), tty_ && !last ? "" : "\n");
    std::fflush(stderr);
  }
  std::mutex mu_;
  const size_t total_;
  const bool tty_;
  size_t done_ = 0;
  int64_t runs_ = 0;
  int64_t details_ = 0;
  const Clock_::time_point start_ = Clock_::now();
  Clock_::time_point last_{};
};

// Blocking calls on the asynchronous API (the transport answers by the deadline).
template <typename F>
flowapi::ApiResult Call(F start) {
  std::promise<flowapi::ApiResult> promise;
  auto future = promise.get_future();
  start([&promise](flowapi::ApiResult r) { promise.set_value(std::move(r)); });
  return future.get();
}

// Whether every run of a page is older than `since`: started before it and, if finished,
// finished before it. Older pages can then hold nothing to count.
bool AllBefore(const std::vector<model::RunSummary>& runs, int64_t since_ms) {
  for (const auto& r : runs) {
    if (r.start_ms > since_ms) return false;
    if (model::IsFinished(r.status) && r.end_ms > since_ms) return false;
  }
  return true;
}

struct Reader {
  std::chrono::nanoseconds timeout;  // api.timeout
  flowapi::Api& api;
  int64_t since_ms;
  Progress* progress;        // may be null
  bool job_history = false;  // fetch each counted run's detail

  Clock::Steady Deadline() const {
    return SystemClock::Instance().Now() + 3 * timeout + std::chrono::seconds(2);
  }

  std::string NameOf(const collector::Target& t) {
    if (!t.name.empty()) return t.name;
    auto r = Call([&](auto done) { api.GetPipeline(t.id, Deadline(), done); });
    if (r.ok) {
      if (auto p = model::DecodePipeline(r.body, t.id); p.ok() && !p->name.empty()) return p->name;
    }
    return t.id;  // as live collection labels a pipeline whose name it cannot get
  }

  // Every run of the pipeline back to `since`, newest page first; a run listed twice (new
  // runs push older ones to the next page) keeps what its first listing said.
  Result<backfill::PipelineRuns> Read(const collector::Target& t) {
    backfill::PipelineRuns p;
    p.id = t.id;
    p.name = NameOf(t);
    std::map<int64_t, model::RunSummary> runs;
    size_t seen = 0;
    for (std::optional<int> page = 1; page;) {
      if (*page > kMaxRunPages)
        return Error("pipeline " + t.id + ": more than " + std::to_string(kMaxRunPages) +
                     " pages of runs");
      if (*page == 1) p.cutoff_ms = WallMs();
      auto r = Call([&](auto done) {
        api.ListRuns(t.id, *page, collector::RunHistory::kPerPage, Deadline(), done);
      });
      const std::string where = "pipeline " + t.id + " (" + p.name + "): ListPipelineRuns page " +
                                std::to_string(*page) + ": ";
      if (!r.ok) return Error(where + r.error);
      auto items = model::DecodeRunList(r.body);
      if (!items.ok()) return Error(where + "cannot decode: " + items.error());
      seen += items->size();
      if (progress) progress->Add(static_cast<int64_t>(items->size()), 0);
      const bool older = AllBefore(*items, since_ms);
      size_t fresh = 0;
      for (const auto& run : *items) fresh += runs.emplace(run.id, run).second ? 1 : 0;
      // Nothing new on a page: the list has ended (or the server repeats itself).
      if (older || (*page > 1 && fresh == 0)) break;
      page = collector::NextPage(*page, collector::RunHistory::kPerPage, items->size(), seen,
                                 r.paging);
    }
    p.runs.reserve(runs.size());
    for (auto& [id, run] : runs) p.runs.push_back(std::move(run));
    if (job_history) {
      if (auto fetched = FetchDetails(p); !fetched.ok()) return Error(fetched.error());
    }
    return p;
  }

  // collect.job_history: the detail of every counted run (one GetPipelineRun each, up to
  // kDetailBatch at a time). A run gone (404) has none; any other failure stops the backfill.
  Result<bool> FetchDetails(backfill::PipelineRuns& p) {
    std::vector<int64_t> ids;
    for (const auto& r : p.runs) {
      if (backfill::Counts(r, since_ms, p.cutoff_ms)) ids.push_back(r.id);
    }
    for (size_t i = 0; i < ids.size(); i += kDetailBatch) {
      const size_t n = std::min(kDetailBatch, ids.size() - i);
      std::vector<std::promise<flowapi::ApiResult>> promises(n);
      std::vector<std::future<flowapi::ApiResult>> results;
      for (size_t k = 0; k < n; ++k) {
        results.push_back(promises[k].get_future());
        api.GetRun(p.id, ids[i + k], Deadline(), [&promise = promises[k]](flowapi::ApiResult r) {
          promise.set_value(std::move(r));
        });
      }
      std::string error;  // the first failure, once every answer is in
      for (size_t k = 0; k < n; ++k) {
        const flowapi::ApiResult r = results[k].get();
        const std::string where = "pipeline " + p.id + " (" + p.name + "): GetPipelineRun " +
                                  std::to_string(ids[i + k]) + ": ";
        if (!r.ok) {
          if (r.status != 404 && error.empty()) error = where + r.error;
          continue;
        }
        auto detail = model::DecodePipelineRun(r.body);
        if (!detail.ok()) {
          if (error.empty()) error = where + "cannot decode: " + detail.error();
          continue;
        }
        detail->sources.clear();  // not used: less memory
        p.details[ids[i + k]] = std::move(*detail);
      }
      if (!error.empty()) return Error(error);
      if (progress) progress->Add(0, 0, static_cast<int64_t>(n));
    }
    return true;
  }
};

// The pipelines' runs kept on disk between reading them and writing the chunks, so that
// memory does not grow with the pipelines: an unlinked temporary file next to the output
// (gone with the process however it ends). Not thread-safe.
class Spill {
 public:
  ~Spill() {
    if (file_) std::fclose(file_);
  }
  Result<bool> Open(const std::string& output) {
    const std::string path = output + ".runs.tmp";
    file_ = std::fopen(path.c_str(), "w+");
    if (!file_) return Error("cannot write " + path + ": " + std::strerror(errno));
    std::remove(path.c_str());
    return true;
  }
  Result<bool> Put(const backfill::PipelineRuns& p) {
    const std::string bytes = backfill::Encode(p);
    if (std::fseek(file_, 0, SEEK_END) != 0 ||
        std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
      return Error(std::string("cannot write the runs to a temporary file: ") +
                   std::strerror(errno));
    }
    index_.emplace_back(end_, bytes.size());
    end_ += static_cast<int64_t>(bytes.size());
    return true;
  }
  Result<backfill::PipelineRuns> Get(size_t i) {
    std::string bytes(index_.at(i).second, '\0');
    if (std::fflush(file_) != 0 || ::pread(fileno(file_), bytes.data(), bytes.size(),
                                           index_[i].first) != static_cast<ssize_t>(bytes.size())) {
      return Error(std::string("cannot read the runs back: ") + std::strerror(errno));
    }
    return backfill::Decode(bytes);
  }
  size_t size() const { return index_.size(); }

 private:
  FILE* file_ = nullptr;
  std::vector<std::pair<int64_t, size_t>> index_;  // offset, size per pipeline
  int64_t end_ = 0;
};

struct Job {
  Job(const std::vector<collector::Target>& t, Reader& r, backfill::OpenMetricsWriter* w, Spill* s,
      const backfill::Options& o)
      : targets(t), reader(r), writer(w), spill(s), options(o) {
    snapshot.buckets = o.buckets;
    snapshot.job_buckets = o.job_buckets;
  }
  const std::vector<collector::Target>& targets;
  Reader& reader;
  backfill::OpenMetricsWriter* writer;  // one file: written as read
  Spill* spill;                         // chunks: kept until every pipeline is read
  backfill::Options options;
  std::mutex mu;
  std::atomic<size_t> next{0};
  std::string error;  // the first failure: the others stop
  collector::LedgerSnapshot snapshot;
  int64_t lines = 0;
  int64_t last_cutoff_ms = 0;

  void Work() {
    for (size_t i; (i = next++) < targets.size();) {
      {
        std::lock_guard lock(mu);
        if (!error.empty()) return;
      }
      auto runs = reader.Read(targets[i]);
      std::lock_guard lock(mu);
      if (!error.empty()) return;
      if (!runs.ok()) {
        error = runs.error();
        return;
      }
      if (auto kept = Keep(*runs); !kept.ok()) {
        error = kept.error();
        return;
      }
      last_cutoff_ms = std::max(last_cutoff_ms, runs->cutoff_ms);
      snapshot.pipelines[runs->id] = backfill::StartingPoint(*runs, options);
      reader.progress->Add(0, 1);
    }
  }
  Result<bool> Keep(const backfill::PipelineRuns& runs);
};

// Under mu.
Result<bool> Job::Keep(const backfill::PipelineRuns& runs) {
  if (spill) return spill->Put(runs);
  auto added = writer->Add(runs);
  if (!added.ok()) return Error(added.error());
  lines += static_cast<int64_t>(*added);
  return true;
}

// What the configuration allows; an error says what is missing.
Result<bool> Preflight(const config::Config& cfg, const config::Flags& flags) {
  if (!cfg.collect.history) {
    return Error("backfill needs collect.history: true (live collection continues its counters)");
  }
  if (cfg.collect.state_dir.empty()) {
    return Error(
        "backfill needs collect.state_dir: it writes the ledger live collection continues "
        "from (docs/backfill.md)");
  }
  if (flags.backfill_max_chunks_on_disk > 0 && flags.backfill_chunk.count() == 0) {
    return Error("--backfill.max-chunks-on-disk needs --backfill.chunk");
  }
  std::error_code ec;
  const auto ledger =
      std::filesystem::path(cfg.collect.state_dir) / collector::LedgerStore::kFileName;
  if (std::filesystem::exists(ledger, ec) && !flags.backfill_overwrite_state) {
    return Error("a run ledger already exists at " + ledger.string() +
                 "; live collection has counted from it. Replacing it restarts the counters "
                 "from the backfill: pass --backfill.overwrite-state to do so (and delete the "
                 "TSDB blocks of an earlier backfill)");
  }
  return true;
}

Result<std::vector<collector::Target>> Targets(const config::Config& cfg,
                                               const config::Flags& flags, flowapi::Api& api) {
  std::vector<model::Pipeline> discovered;
  if (cfg.discovery.enabled) {
    collector::Discovery discovery(cfg.discovery, api);
    auto found = discovery.List(
        SystemClock::Instance().Now() +
        std::max(cfg.api.timeout * 10, std::chrono::nanoseconds(std::chrono::minutes(2))));
    if (!found.ok()) return Error("discovery failed: " + found.error());
    discovered = std::move(*found);
  }
  return collector::MergeTargets(cfg.pipelines, discovered, flags.shard_index, flags.shard_total);
}

int64_t Ms(std::chrono::nanoseconds d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

int64_t FloorDiv(int64_t a, int64_t b) {
  return a / b - ((a % b != 0 && (a < 0) != (b < 0)) ? 1 : 0);
}

// Waits while `limit` of the chunks written are still on disk (an import loop deletes them).
void WaitForRoom(const std::vector<std::string>& written, int limit) {
  for (bool logged = false; limit > 0; std::this_thread::sleep_for(std::chrono::seconds(1))) {
    int present = 0;
    std::error_code ec;
    for (const auto& path : written) present += std::filesystem::exists(path, ec) ? 1 : 0;
    if (present < limit) return;
    if (!logged) {
      logging::Info(
          "waiting for a chunk to be imported and deleted (--backfill.max-chunks-on-disk)",
          {{"chunks_on_disk", std::to_string(present)}});
    }
    logged = true;
  }
}

// --backfill.chunk: one file per chunk of time, oldest first, with every pipeline's samples
// in it. Returns the sample lines written; adds the bytes to `bytes`.
Result<int64_t> WriteChunks(const config::Flags& flags, const backfill::Options& o, Spill& spill,
                            int64_t last_cutoff_ms, int64_t& bytes) {
  const int64_t chunk = Ms(flags.backfill_chunk);
  const int64_t first = FloorDiv(o.since_ms - o.step_ms, chunk);
  const int64_t last = FloorDiv(last_cutoff_ms, chunk);
  std::vector<std::string> written;
  int64_t lines = 0;
  for (int64_t k = first; k <= last; ++k) {
    WaitForRoom(written, flags.backfill_max_chunks_on_disk);
    const std::string path = ChunkPath(flags.backfill_output, k - first + 1);
    backfill::OpenMetricsWriter writer(o, path);
    if (auto opened = writer.Open(); !opened.ok()) return Error(opened.error());
    for (size_t i = 0; i < spill.size(); ++i) {
      auto p = spill.Get(i);
      if (!p.ok()) return Error(p.error());
      auto added = writer.Add(*p, backfill::ChunkWindow(k, chunk));
      if (!added.ok()) return Error(added.error());
      lines += static_cast<int64_t>(*added);
    }
    if (auto done = writer.Finish(); !done.ok()) return Error(done.error());
    bytes += writer.bytes();
    written.push_back(path);
    logging::Info("backfill chunk written", {{"output", path},
                                             {"chunk", std::to_string(k - first + 1) + "/" +
                                                           std::to_string(last - first + 1)},
                                             {"bytes", std::to_string(writer.bytes())}});
  }
  return lines;
}

// Reads every target with up to api.max_concurrency pipelines at a time.
void ReadAll(Job& job, int max_concurrency) {
  const size_t workers = std::clamp<size_t>(static_cast<size_t>(max_concurrency), 1,
                                            std::max<size_t>(1, job.targets.size()));
  std::vector<std::thread> threads;
  for (size_t i = 1; i < workers; ++i) threads.emplace_back([&job] { job.Work(); });
  job.Work();
  for (auto& t : threads) t.join();
}

// Reads every target, writes the file (or the chunks) and then the ledger.
int Backfill(const config::Config& cfg, const config::Flags& flags, flowapi::Api& api,
             const backfill::Options& options) {
  auto targets = Targets(cfg, flags, api);
  auto store = collector::LedgerStore::Open(cfg.collect.state_dir);
  if (!targets.ok() || !store.ok()) {
    logging::Error("backfill failed", {{"err", targets.ok() ? store.error() : targets.error()}});
    return 1;
  }
  const bool chunked = flags.backfill_chunk.count() > 0;
  backfill::OpenMetricsWriter writer(options, flags.backfill_output);
  Spill spill;
  if (auto opened = chunked ? spill.Open(flags.backfill_output) : writer.Open(); !opened.ok()) {
    logging::Error("backfill failed", {{"err", opened.error()}});
    return 1;
  }
  Progress progress(targets->size());
  Reader reader{cfg.api.timeout, api, options.since_ms, &progress, options.job_history};
  Job job(*targets, reader, chunked ? nullptr : &writer, chunked ? &spill : nullptr, options);
  ReadAll(job, cfg.api.max_concurrency);
  progress.End();
  if (!job.error.empty()) {
    logging::Error("backfill failed; no file and no ledger written", {{"err", job.error}});
    return 1;
  }
  int64_t bytes = 0;
  Result<int64_t> lines = chunked ? WriteChunks(flags, options, spill, job.last_cutoff_ms, bytes)
                                  : Result<int64_t>(job.lines);
  Result<bool> done = lines.ok() && !chunked ? writer.Finish() : Result<bool>(true);
  if (!lines.ok() || !done.ok()) {
    logging::Error("backfill failed; no ledger written",
                   {{"err", lines.ok() ? done.error() : lines.error()}});
    return 1;
  }
  if (!(*store)->Save(job.snapshot)) return 1;  // logged by the store
  logging::Info("backfill written", {{"output", flags.backfill_output},
                                     {"since_ms", std::to_string(options.since_ms)},
                                     {"bytes", std::to_string(chunked ? bytes : writer.bytes())},
                                     {"samples", std::to_string(*lines)},
                                     {"pipelines", std::to_string(targets->size())},
                                     {"ledger", (*store)->path()}});
  return 0;
}

}  // namespace

Result<backfill::PipelineRuns> ReadPipelineRuns(flowapi::Api& api, const collector::Target& target,
                                                int64_t since_ms, std::chrono::nanoseconds timeout,
                                                bool job_history) {
  Reader reader{timeout, api, since_ms, nullptr, job_history};
  return reader.Read(target);
}

std::string ChunkPath(const std::string& output, int64_t n) {
  std::string stem = output;
  if (stem.size() > 3 && stem.compare(stem.size() - 3, 3, ".om") == 0) stem.resize(stem.size() - 3);
  char number[32];
  std::snprintf(number, sizeof number, ".%04lld.om", static_cast<long long>(n));
  return stem + number;
}

std::string ProgressLine(size_t done, size_t total, int64_t runs, double elapsed_seconds,
                         int64_t details) {
  std::string line = "backfill: " + std::to_string(done) + "/" + std::to_string(total) +
                     " pipelines, " + std::to_string(runs) + " runs read";
  if (details > 0) line += ", " + std::to_string(details) + " run details";
  if (done == total) {
    line +=
        ", done in " + FormatDuration(std::chrono::seconds(static_cast<int64_t>(elapsed_seconds)));
  } else if (done > 0) {
    const double left =
        elapsed_seconds / static_cast<double>(done) * static_cast<double>(total - done);
    line += ", ETA " + FormatDuration(std::chrono::seconds(static_cast<int64_t>(left + 0.5)));
  } else {
    line += ", ETA unknown";
  }
  return line;
}

int RunBackfill(const config::Flags& flags, const char* env_token) {
  config::ConfigLoad load = config::LoadConfigFile(flags.config_file);
  for (const auto& w : load.warnings) logging::Warn("config", {{"warning", w}});
  for (const auto& e : load.errors) logging::Error("invalid config", {{"err", e}});
  if (!load.ok()) return 1;
  const config::Config& cfg = load.config;
  auto labels = backfill::ParseLabels(flags.backfill_labels);
  auto ready = Preflight(cfg, flags);
  if (!labels.ok() || !ready.ok()) {
    logging::Error("cannot backfill", {{"err", labels.ok() ? ready.error() : labels.error()}});
    return 1;
  }
  if (flags.backfill_step > std::chrono::minutes(5)) {
    logging::Warn(
        "--backfill.step is longer than Prometheus's default lookback (5m): instant queries "
        "and dashboards show gaps between the backfilled samples (increase() and rate() over "
        "ranges longer than the step are right)",
        {{"step", FormatDuration(flags.backfill_step)}});
  }
  auto token = config::ResolveToken(cfg.api, env_token);
  if (!token.ok()) {
    logging::Error("invalid config", {{"err", token.error()}});
    return 1;
  }
  logging::RegisterSecret(token->token);
  backfill::Options options;
  options.since_ms =
      WallMs() -
      std::chrono::duration_cast<std::chrono::milliseconds>(flags.backfill_since).count();
  options.step_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(flags.backfill_step).count();
  options.buckets = cfg.collect.history_buckets;
  options.labels = std::move(*labels);
  options.job_history = cfg.collect.job_history;
  options.job_buckets = cfg.collect.job_history_buckets;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    logging::Error("cannot initialise libcurl");
    return 1;
  }
  int rc = 1;
  {
    metrics::SelfMetrics self_metrics;
    flowapi::TransportOptions transport_options = TransportOptionsFor(cfg.api, " (backfill)");
    transport_options.token = [t = token->token] { return t; };
    flowapi::Transport transport(std::move(transport_options), self_metrics);
    flowapi::FlowClient client(cfg.api, transport);
    rc = Backfill(cfg, flags, client, options);
  }
  curl_global_cleanup();
  return rc;
}

}  // namespace yfe::app
