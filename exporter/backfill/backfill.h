// Backfill (`--backfill.since`): the run history live collection would have built, had the
// exporter been running since `since`, from the runs ListPipelineRuns still lists. The pure
// part lives here: which runs count, the samples every step, the OpenMetrics text that
// `promtool tsdb create-blocks-from openmetrics` reads, and the ledger starting point that
// live collection continues (collect.state_dir). The I/O (discovery, paging, progress,
// files) is in app/backfill.h. docs/backfill.md has the steps.
//
//   OpenMetricsWriter w(options, "out.om");       // family bodies go to temporary files
//   w.Add(pipeline_runs);                          // per pipeline, streamed
//   auto ledger = StartingPoint(pipeline_runs, options);
//   w.Finish();                                    // headers, bodies, # EOF; atomic rename
//
// With --backfill.chunk, one writer per period: w.Add(pipeline_runs, ChunkWindow(k, chunk))
// for every pipeline (kept meanwhile as Encode()d bytes), each file valid on its own.
//
// With collect.job_history, each counted run's detail (GetPipelineRun) is counted as live
// collection counts it (collector/job_history.h, jobs::CountDetail: all its finished jobs
// and stages), at the run's finish: the job series are sampled like the run series and the
// starting point holds their counters.
//
// Rules (as live collection's, docs/metrics.md): a run counts once, with the status it has
// now, when it finished after `since` and at or before the pipeline's cutoff (when its
// first page was read); runs unfinished at the cutoff (or finished after it) are tracked
// and counted live when they finish. Resumes before the backfill cannot be seen (the API
// shows a run's latest finish only): runs_resumed_total starts at 0.
#pragma once

#include <climits>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "collector/history.h"
#include "model/pipeline_run.h"
#include "util/result.h"

namespace yfe::backfill {

struct Options {
  int64_t since_ms = 0;  // counters are 0 here
  int64_t step_ms = 5 * 60 * 1000;
  std::vector<double> buckets;  // collect.history_buckets
  // Added to every series (e.g. job, instance: the labels Prometheus gives the live
  // exporter's series), so that the backfilled series are the live ones.
  std::vector<std::pair<std::string, std::string>> labels;
  bool job_history = false;         // collect.job_history
  std::vector<double> job_buckets;  // collect.job_history_buckets
};

// One pipeline's runs as read: newest pages first, de-duplicated by id.
struct PipelineRuns {
  std::string id;
  std::string name;
  int64_t cutoff_ms = 0;  // when its first page was read: the end of its backfill
  std::vector<model::RunSummary> runs;
  // collect.job_history: the detail of each counted run (GetPipelineRun). A counted run
  // without one (gone, 404) counts in job_history_runs_skipped_total{reason=
  // "detail_unavailable"}, as in live collection.
  std::map<int64_t, model::PipelineRun> details;
};

// The sample times a file holds: [from_ms, to_ms).
struct Window {
  int64_t from_ms = INT64_MIN;
  int64_t to_ms = INT64_MAX;
};

// Chunk k of --backfill.chunk: [k * chunk, (k + 1) * chunk), aligned to the epoch as
// promtool's blocks are (a 1d chunk is one 24h block).
Window ChunkWindow(int64_t k, int64_t chunk_ms);

// A pipeline's runs as bytes and back (the runs, their details' stages and jobs; what the
// backfill uses only). Decode fails on bytes Encode did not write.
std::string Encode(const PipelineRuns& p);
Result<PipelineRuns> Decode(std::string_view bytes);

// "job=x,instance=y" → labels; an error for a malformed list or a name the exporter uses.
Result<std::vector<std::pair<std::string, std::string>>> ParseLabels(const std::string& text);

// Whether a run counts in the backfill (finished in (since, cutoff]).
bool Counts(const model::RunSummary& run, int64_t since_ms, int64_t cutoff_ms);

// The sample times of a pipeline: every multiple of step from the one at or before its
// first counted finish (or the cutoff, when none) up to the cutoff, then the cutoff itself.
std::vector<int64_t> SampleTimes(const PipelineRuns& p, const Options& o);

// The ledger live collection continues from: the counters and histograms of the last
// sample, the watermark (the newest run read), the runs unfinished at the cutoff tracked
// (since max(start, since)), the newest page of finished runs remembered.
collector::RunLedger StartingPoint(const PipelineRuns& p, const Options& o);

// Streams OpenMetrics text for many pipelines: each family's samples go to a temporary file
// next to `path` (so memory does not grow with the pipelines or the days), Finish() writes
// `path`.tmp with the headers, the family bodies and `# EOF`, fsyncs and renames it to
// `path`. Without Finish() (an error) the temporary files are removed and `path` is not
// written. Not thread-safe.
class OpenMetricsWriter {
 public:
  OpenMetricsWriter(Options options, std::string path);
  ~OpenMetricsWriter();
  OpenMetricsWriter(const OpenMetricsWriter&) = delete;
  OpenMetricsWriter& operator=(const OpenMetricsWriter&) = delete;

  // Opens the temporary files; the error names the path.
  Result<bool> Open();
  // Appends a pipeline's samples in `window`. Returns the number of sample lines written.
  Result<size_t> Add(const PipelineRuns& p, Window window = {});
  Result<bool> Finish();
  int64_t bytes() const { return bytes_; }

 private:
  void Remove();
  Options options_;
  std::string path_;
  std::vector<std::string> parts_;  // one temporary file per family
  std::vector<FILE*> files_;
  std::vector<int64_t> family_bytes_;
  int64_t bytes_ = 0;
  bool finished_ = false;
};

// The families, in the order they are written: runs_total, runs_resumed_total,
// run_duration_seconds, then those of job history: job_runs_total,
// job_run_duration_seconds, stage_run_duration_seconds, job_history_runs_skipped_total.
// A family without samples is left out.
inline constexpr size_t kFamilies = 7;
// Their OpenMetrics descriptors (# TYPE, # UNIT, # HELP).
std::string FamilyHeader(size_t family);
// One pipeline's samples in OpenMetrics text: every series of the ledger StartingPoint()
// returns, at the SampleTimes() in `window` from the time before the series first exists
// (a 0 there, so that increase() sees its first count; the baseline zeros exist from the
// first time), a series' samples together and in time order. Integers and whole-second
// timestamps are written without decimals. `flush` gets each family's text in pieces of
// about 64 KiB and empties it.
void Render(const PipelineRuns& p, const Options& o,
            const std::function<void(size_t family, std::string& text)>& flush, Window window = {});

}  // namespace yfe::backfill
