// RunHistory: counts the finishes of the runs of every watched pipeline while the exporter
// runs, from ListPipelineRuns (newest first) and GetPipelineRun, including runs that started
// and finished between two polls and runs that finished, went back to RUNNING (a retried or
// skipped job, a passed manual checkpoint) and finished again under the same id. Exports a
// counter of finishes, a counter of counted finishes that a resume took back, and a
// histogram of durations.
//
// Rules (docs/metrics.md): the first poll of a pipeline is a baseline: runs already
// finished then are remembered, not counted; runs seen unfinished are counted when they
// finish. A poll reads page 1 and goes to older pages only while a full page holds only ids
// above the watermark (every id at or below it has been seen); runs it tracks (seen
// unfinished) that the pages did not show are fetched by id, one request each. A run
// tracked longer than collect.history_max_pending is given up (logged). Memory per pipeline
// is bounded: at most kMaxTracked tracked runs and kMaxRemembered remembered finishes.
//
//   RunHistory h(buckets);
//   PollRunHistory(api, h, ids, deadline, on_decode_error);  // every history_interval
//   h.Render(out, named_pipelines);
//
// With collect.job_history, each counted finish also waits in the ledger for its detail
// (GetPipelineRun, fetched by PollRunHistory in the same poll, retried on failure) whose
// jobs and stages are then counted (collector/job_history.h).
//
// Thread-safe. The state outlives configuration reloads (owned by the App).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "collector/delivery_ledger.h"
#include "flowapi/client.h"
#include "model/pipeline_run.h"
#include "util/clock.h"

namespace yfe::collector {

// All that is known about one pipeline's runs: plain data, saved and restored across
// restarts by LedgerStore (collect.state_dir).
struct RunLedger {
  struct Histogram {
    std::vector<double> counts;  // per bucket, not cumulative
    double sum = 0;
    double count = 0;
    bool operator==(const Histogram&) const = default;
  };
  // A run seen unfinished: its finish will be counted.
  struct Tracked {
    int64_t since_ms = 0;       // wall clock when first seen unfinished (epoch ms)
    std::string status;         // last status seen
    int64_t jobs_after_ms = 0;  // job history: its finish counts the jobs started after this
  };
  // A run seen on the pages of the last polls and not tracked: what was done about it.
  struct Seen {
    int64_t end_ms = 0;    // end of the finish that was handled
    std::string status;    // outcome of that finish (or the status when given up)
    std::string trigger;   // trigger_mode label
    bool finished = true;  // false: given up unfinished (its finish still counts if seen)
    bool counted = false;  // that finish is in runs_total
    bool by_id = false;    // end_ms came from GetPipelineRun (derived), not from the list
  };
  using Key = std::pair<std::string, std::string>;  // (status, trigger_mode)

  bool baselined = false;              // the first poll is over
  int64_t watermark = 0;               // every id <= watermark was seen (or skipped, logged)
  std::map<int64_t, Tracked> tracked;  // at most kMaxTracked
  std::map<int64_t, Seen> seen;        // at most kMaxRemembered
  std::map<Key, double> runs;          // runs_total
  std::map<Key, double> resumed;       // runs_resumed_total, by the outcome taken back
  std::map<std::string, Histogram> durations;  // status -> histogram

  // Job history (collect.job_history; collector/job_history.h). A counted finish whose
  // jobs are still to be counted from its detail (GetPipelineRun).
  struct PendingDetail {
    int64_t after_ms = 0;  // count the jobs that started after this (0: all)
    int64_t end_ms = 0;    // end of the counted finish (0: unknown): later jobs are not its
    int64_t attempts = 0;  // failed fetches so far
  };
  using JobId = std::tuple<std::string, std::string, std::string>;  // stage, job_sign, job name
  std::map<int64_t, PendingDetail> pending_details;                 // at most kMaxPendingDetails
  std::map<std::pair<JobId, std::string>, double> job_runs;  // (job, status) -> job_runs_total
  std::map<JobId, Histogram> job_durations;                  // at most kMaxJobs jobs
  std::map<std::string, Histogram> stage_durations;          // at most kMaxStages stages
  std::map<std::string, double> jobs_skipped;  // reason -> job_history_runs_skipped_total

  DeliveryLedger delivery;  // kept by the RunObserver (collector/delivery.h), if any
};

// Every pipeline's ledger at one moment, with the buckets its histograms use.
struct LedgerSnapshot {
  std::vector<double> buckets;
  std::vector<double> job_buckets;  // of the job and stage histograms
  std::map<std::string, RunLedger> pipelines;
};

// Told of what RunHistory counts, under its lock and with the pipeline's ledger, so that
// what it keeps there is in the same commit as the counts (collector/delivery.h). The
// calls must not call the RunHistory.
class RunObserver {
 public:
  virtual ~RunObserver() = default;
  // A finish counted in runs_total.
  virtual void Counted(const std::string& pipeline_id, RunLedger& l,
                       const model::RunSummary& run) = 0;
  // A counted finish that a resume took back (runs_resumed_total): the run runs again.
  virtual void TakenBack(const std::string& pipeline_id, RunLedger& l, int64_t run_id,
                         const std::string& status) = 0;
  // The end of a poll of the pipeline, after its last Counted.
  virtual void PollEnded(const std::string& pipeline_id, RunLedger& l) = 0;
  // Adds the runs whose detail (GetPipelineRun) it waits for to ids: fetched with job
  // history's, one request per run for both.
  virtual void WantedDetails(const RunLedger& l, std::set<int64_t>& ids) const = 0;
  // A run's detail, or a failed fetch of it (run null; gone: 404).
  virtual void Detail(const std::string& pipeline_id, RunLedger& l, int64_t run_id,
                      const model::PipelineRun* run, bool gone) = 0;
};

// The rendered text of one pipeline's history families (RunHistory::Render keeps it).
struct PipelineText;

class RunHistory {
 public:
  static constexpr int kPerPage = 30;
  static constexpr int kMaxPages = 5;
  static constexpr size_t kMaxTracked = 50;
  static constexpr size_t kMaxRemembered = 2 * kMaxPages * kPerPage;
  static constexpr std::chrono::hours kDefaultMaxPending{7 * 24};

  explicit RunHistory(std::vector<double> buckets, const Clock& clock = SystemClock::Instance());

  // Feeds one page (newest first) of a pipeline's runs, page counting from 1. Returns true
  // when the next older page is needed.
  bool Observe(const std::string& pipeline_id, int page,
               const std::vector<model::RunSummary>& runs);
  // After the pages of a poll: the tracked runs they did not show, to fetch by id.
  std::vector<int64_t> Unseen(const std::string& pipeline_id) const;
  // A tracked run fetched by id.
  void ObserveRun(const std::string& pipeline_id, const model::RunSummary& run);
  // A tracked run the API no longer knows (404): stop tracking it.
  void Forget(const std::string& pipeline_id, int64_t run_id);
  // Ends a poll of a pipeline. complete: the pages reached the watermark, the end of the
  // list or the page cap (false after a failed page: the next poll reads them again).
  // Gives up on runs tracked too long, forgets what is no longer needed, ends the baseline.
  void FinishPoll(const std::string& pipeline_id, bool complete = true);
  // Forgets pipelines that are no longer watched.
  void Retain(const std::set<std::string>& ids);
  void SetBuckets(std::vector<double> buckets);
  void SetMaxPending(std::chrono::nanoseconds max_pending);
  // collect.job_history and its buckets (collector/job_history.h). Off: no details are
  // fetched (those pending are dropped) and no job series rendered.
  void SetJobHistory(bool enabled, std::vector<double> buckets);
  // Set once, before the first poll (null: none).
  void SetObserver(std::shared_ptr<RunObserver> observer);

  // Job history (and the observer's WantedDetails): the counted finishes whose detail is to
  // be fetched (one GetPipelineRun each), then what came of each fetch.
  std::vector<int64_t> PendingDetails(const std::string& pipeline_id) const;
  // A run's detail: counts its jobs if its finish is pending (else does nothing).
  void ObserveDetail(const std::string& pipeline_id, int64_t run_id, const model::PipelineRun& run);
  // A failed fetch: tried again next poll, given up (counted, logged) after
  // jobs::kMaxDetailAttempts or at once when gone (404).
  void DetailFailed(const std::string& pipeline_id, int64_t run_id, bool gone);

  // The ledgers of the pipelines past their baseline, copied under the lock: a consistent
  // state (call it between polls, e.g. after PollRunHistory, to save it).
  LedgerSnapshot Snapshot() const;
  // The same without a copy (LedgerStore::Commit): each ledger is shared, and the history
  // copies a ledger before changing it while a share holds it, so what the share sees stays
  // as it was at this instant. Taken under the lock in O(pipelines); read it outside the
  // lock, then give it back with Unshare (which drops the references under the lock).
  struct SharedLedgers {
    std::vector<double> buckets;
    std::vector<double> job_buckets;
    std::vector<std::pair<std::string, std::shared_ptr<const RunLedger>>> pipelines;  // by id
  };
  SharedLedgers Share() const;
  void Unshare(SharedLedgers& shared) const;
  // Under the lock, each(id, ledger) for every pipeline a scrape may show (past its
  // baseline, and polled since a restore), as Render does.
  void VisitShown(const std::function<void(const std::string&, const RunLedger&)>& each) const;
  // Takes stored ledgers (at start, before the first poll). The next poll continues them:
  // runs finished after the stored watermark are counted, tracked runs are followed. A
  // restored pipeline is rendered only after its first poll, so that a scrape never shows
  // the stored counters below what the process before the restart may have shown. Stored
  // histograms with other buckets than the configured ones start again (logged).
  void Restore(LedgerSnapshot snapshot);

  // Appends the runs_total, runs_resumed_total and run_duration_seconds families for these
  // pipelines (id, name), in this order, then the job history families. Each pipeline's
  // text is kept and rendered again only when its counters, its name or the buckets have
  // changed since; the texts are put together outside the lock.
  void Render(std::string& out,
              const std::vector<std::pair<std::string, std::string>>& pipelines) const;

  // For tests.
  size_t RememberedIds(const std::string& pipeline_id) const;
  size_t TrackedIds(const std::string& pipeline_id) const;
  double Count(const std::string& pipeline_id, const std::string& status,
               const std::string& trigger_mode) const;
  double Resumed(const std::string& pipeline_id, const std::string& status,
                 const std::string& trigger_mode) const;
  double DurationCount(const std::string& pipeline_id, const std::string& status) const;
  // A copy of a pipeline's ledger (empty if unknown).
  RunLedger LedgerOf(const std::string& pipeline_id) const;
  // How many pipeline texts Render has rendered (not taken from its cache) so far.
  size_t TextsRendered() const;

 private:
  // What one poll has seen so far (not part of the ledger).
  struct PollState {
    std::set<int64_t> ids;
    int64_t oldest = 0;
    int64_t newest = 0;
    bool capped = false;             // stopped at kMaxPages with ids still unread
    std::set<std::string> triggers;  // trigger modes seen by the baseline
  };
  // The ledger is shared with the commits that took it (Share): Mut() copies it first
  // while one still holds it. Both only under mu_. Every change goes through Mut() or Set(),
  // which bump gen().
  class PipelineState {
   public:
    const RunLedger& ledger() const { return *ledger_; }
    RunLedger& Mut();
    std::shared_ptr<const RunLedger> Shared() const { return ledger_; }
    void Set(RunLedger ledger) {
      ledger_ = std::make_shared<RunLedger>(std::move(ledger));
      ++gen_;
    }
    uint64_t gen() const { return gen_; }
    PollState poll;
    bool shown = true;  // false: restored and not polled since
    // Render's text of this pipeline, and the gen() it was last found current at. Under mu_.
    mutable std::shared_ptr<const PipelineText> text;
    mutable uint64_t text_gen = 0;

   private:
    std::shared_ptr<RunLedger> ledger_ = std::make_shared<RunLedger>();
    uint64_t gen_ = 0;
  };
  // Render's part under the lock: each shown pipeline's text, rendered again if stale.
  std::vector<std::shared_ptr<const PipelineText>> Texts(
      const std::vector<std::pair<std::string, std::string>>& pipelines) const;
  void Handle(const std::string& pipeline_id, PipelineState& st, const model::RunSummary& run,
              bool by_id = false);
  void HandleUnknown(const std::string& pipeline_id, RunLedger& l, const model::RunSummary& run,
                     const RunLedger::Seen& now_seen);
  void HandleRemembered(const std::string& pipeline_id, RunLedger& l, const model::RunSummary& run,
                        const RunLedger::Seen& now_seen);
  void GiveUpStale(const std::string& pipeline_id, RunLedger& l);
  void EndBaseline(RunLedger& l, const PollState& poll);
  const RunLedger* FindLedger(const std::string& pipeline_id) const;  // under mu_
  void CountFinish(const std::string& pipeline_id, RunLedger& l, const model::RunSummary& run,
                   int64_t jobs_after_ms);
  void Track(const std::string& pipeline_id, RunLedger& l, const model::RunSummary& run,
             int64_t jobs_after_ms);
  void Resume(const std::string& pipeline_id, RunLedger& l, const model::RunSummary& run,
              const RunLedger::Seen& was);
  void TakeBack(const std::string& pipeline_id, RunLedger& l, int64_t run_id,
                const RunLedger::Seen& was);
  void GiveUpDetail(const std::string& pipeline_id, RunLedger& l, int64_t run_id,
                    const std::string& why);
  // The ledger of pipeline_id and its pending detail of run_id; nulls if none. Under mu_.
  // The observer's Detail for a fetched detail or a failed fetch (under mu_).
  void TellObserver(const std::string& pipeline_id, int64_t run_id, const model::PipelineRun* run,
                    bool gone);
  std::pair<RunLedger*, RunLedger::PendingDetail*> FindPendingDetail(const std::string& pipeline_id,
                                                                     int64_t run_id);
  RunLedger::Histogram& HistogramFor(RunLedger& l, const std::string& status);

  const Clock& clock_;
  mutable std::mutex mu_;
  std::vector<double> buckets_;
  std::chrono::nanoseconds max_pending_ = kDefaultMaxPending;
  bool jobs_enabled_ = false;
  std::vector<double> job_buckets_;
  std::map<std::string, PipelineState> pipelines_;
  std::shared_ptr<RunObserver> observer_;
  mutable size_t texts_rendered_ = 0;
};

// One poll of these pipelines' run history: for each, the pages of ListPipelineRuns that
// RunHistory asks for, then GetPipelineRun for each tracked run the pages did not show
// (concurrently across pipelines). Returns when every request is answered (by the
// deadline). on_decode_error is called with the endpoint of a body that did not decode.
void PollRunHistory(flowapi::Api& api, RunHistory& history, const std::set<std::string>& ids,
                    Clock::Steady deadline,
                    const std::function<void(std::string_view endpoint)>& on_decode_error);

}  // namespace yfe::collector
