#include "backfill/backfill.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "app/backfill.h"
#include "support/test_support.h"

namespace yfe::backfill {
namespace {

namespace fs = std::filesystem;
using yfe::testing::ReadFile;
using yfe::testing::TempDir;

constexpr int64_t kMin = 60 * 1000;
constexpr int64_t kSince = 1'790'000'040'000;  // a multiple of 2 minutes

model::RunSummary MakeRun(int64_t id, const std::string& status, int64_t start, int64_t end,
                          int64_t trigger = 1) {
  model::RunSummary r;
  r.id = id;
  r.status = status;
  r.trigger_mode = trigger;
  r.start_ms = start;
  r.end_ms = end;
  return r;
}

// A small pipeline: one run finished before `since` (not counted), three counted, one
// finished after the cutoff and one running (both tracked).
PipelineRuns Small() {
  PipelineRuns p;
  p.id = "1001";
  p.name = "backend \"build\"";
  p.cutoff_ms = kSince + 5 * kMin + 30'000;
  p.runs = {MakeRun(1, "SUCCESS", kSince - 10 * kMin, kSince - kMin),
            MakeRun(2, "SUCCESS", kSince, kSince + kMin + 500),
            MakeRun(3, "FAIL", kSince + kMin, kSince + 2 * kMin, 2),
            MakeRun(4, "SUCCESS", kSince + 2 * kMin, kSince + 4 * kMin),
            MakeRun(5, "FAIL", kSince + 3 * kMin, kSince + 6 * kMin),
            MakeRun(6, "RUNNING", kSince + 4 * kMin, 0)};
  return p;
}

Options SmallOptions() {
  Options o;
  o.since_ms = kSince;
  o.step_ms = 2 * kMin;
  o.buckets = {60, 150};
  o.labels = {{"job", "yfe"}};
  return o;
}

std::string Write(const std::vector<PipelineRuns>& pipelines, const Options& o) {
  TempDir dir;
  const std::string path = dir.path() + "/out.om";
  OpenMetricsWriter w(o, path);
  EXPECT_TRUE(w.Open().ok());
  for (const auto& p : pipelines) EXPECT_TRUE(w.Add(p).ok());
  EXPECT_TRUE(w.Finish().ok());
  EXPECT_EQ(fs::directory_iterator(dir.path())->path().filename(), "out.om");  // no leftovers
  return ReadFile(path);
}

// series → (timestamp ms, value), in file order.
std::map<std::string, std::vector<std::pair<int64_t, double>>> Parse(const std::string& text) {
  std::map<std::string, std::vector<std::pair<int64_t, double>>> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const size_t ts = line.rfind(' ');
    const size_t value = line.rfind(' ', ts - 1);
    const double seconds = std::stod(line.substr(ts + 1));
    out[line.substr(0, value)].emplace_back(std::llround(seconds * 1000),
                                            std::stod(line.substr(value + 1, ts - value - 1)));
  }
  return out;
}

TEST(BackfillTest, GoldenSmallFile) {
  const std::string text = Write({Small()}, SmallOptions());
  const std::string golden = std::string(YFE_SOURCE_DIR) + "/tests/golden/backfill_small.om";
  if (std::getenv("YFE_UPDATE_GOLDEN")) std::ofstream(golden, std::ios::binary) << text;
  EXPECT_EQ(text, ReadFile(golden));
}

TEST(BackfillTest, SampleTimesStartBeforeTheFirstFinishAndEndAtTheCutoff) {
  const PipelineRuns p = Small();
  const std::vector<int64_t> t = SampleTimes(p, SmallOptions());
  // First counted finish at since+1m0.5s: the grid point before it, then every 2m, then
  // the cutoff.
  EXPECT_EQ(t, (std::vector<int64_t>{kSince, kSince + 2 * kMin, kSince + 4 * kMin, p.cutoff_ms}));
  PipelineRuns none = p;
  none.runs = {MakeRun(9, "RUNNING", kSince, 0)};
  EXPECT_EQ(SampleTimes(none, SmallOptions()), (std::vector<int64_t>{p.cutoff_ms}));
}

TEST(BackfillTest, CountsOnlyFinishesAfterSinceUpToTheCutoff) {
  const PipelineRuns p = Small();
  EXPECT_FALSE(Counts(p.runs[0], kSince, p.cutoff_ms));  // before since
  EXPECT_TRUE(Counts(p.runs[1], kSince, p.cutoff_ms));
  EXPECT_FALSE(Counts(p.runs[4], kSince, p.cutoff_ms));  // after the cutoff
  EXPECT_FALSE(Counts(p.runs[5], kSince, p.cutoff_ms));  // running
  const auto text = Parse(Write({p}, SmallOptions()));
  const std::string prefix =
      "yunxiao_flow_pipeline_runs_total{pipeline_id=\"1001\",pipeline_name=\"backend "
      "\\\"build\\\"\",job=\"yfe\",";
  const auto& success = text.at(prefix + "status=\"SUCCESS\",trigger_mode=\"manual\"}");
  ASSERT_EQ(success.size(), 4u);
  EXPECT_EQ(success[0].second, 0);  // since: nothing yet
  EXPECT_EQ(success[1].second, 1);  // run 2 (run 1 finished before since)
  EXPECT_EQ(success[2].second, 2);  // run 4 ends at since+4m: in the sample at since+4m
  EXPECT_EQ(success[3].second, 2);  // the cutoff
}

// Random pipelines: every counter series is monotonic with increasing timestamps, every
// histogram's buckets are cumulative with +Inf == _count, the file ends with # EOF.
TEST(BackfillTest, CountersMonotonicHistogramsCumulativeAndEof) {
  std::mt19937_64 rng(7);
  std::vector<PipelineRuns> pipelines;
  Options o = SmallOptions();
  o.step_ms = 7 * kMin;
  o.buckets = {60, 300, 900, 3600};
  for (int p = 0; p < 5; ++p) {
    PipelineRuns runs;
    runs.id = std::to_string(2000 + p);
    runs.name = "p" + runs.id;
    runs.cutoff_ms = kSince + 3 * 24 * 60 * kMin;
    int64_t t = kSince - 60 * kMin;
    for (int64_t id = 1; t < runs.cutoff_ms + 60 * kMin; ++id) {
      const int64_t d = static_cast<int64_t>(rng() % (120 * kMin));
      const char* status = rng() % 4 == 0 ? "FAIL" : rng() % 9 == 0 ? "CANCELED" : "SUCCESS";
      runs.runs.push_back(MakeRun(id, status, t, t + d, 1 + static_cast<int64_t>(rng() % 3)));
      t += static_cast<int64_t>(rng() % (60 * kMin));
    }
    pipelines.push_back(runs);
  }
  const std::string text = Write(pipelines, o);
  ASSERT_GE(text.size(), 6u);
  EXPECT_EQ(text.substr(text.size() - 6), "# EOF\n");
  EXPECT_EQ(text.find("# EOF"), text.size() - 6);
  const auto series = Parse(text);
  for (const auto& [name, samples] : series) {
    for (size_t i = 1; i < samples.size(); ++i) {
      ASSERT_GT(samples[i].first, samples[i - 1].first) << name;
      ASSERT_GE(samples[i].second, samples[i - 1].second) << name;  // all are counters
    }
  }
  // Buckets per time, in le order, are cumulative and end with +Inf == _count.
  for (const auto& [name, samples] : series) {
    if (name.find("_bucket{") == std::string::npos || name.find("le=\"60\"") == std::string::npos) {
      continue;
    }
    double before = -1;
    for (const char* le : {"60", "300", "900", "3600", "+Inf"}) {
      std::string other = name;
      other.replace(other.find("le=\"60\""), 7, std::string("le=\"") + le + "\"");
      const auto& s = series.at(other);
      EXPECT_GE(s.back().second, before) << other;
      before = s.back().second;
    }
    std::string count = name;
    count.replace(count.find("_bucket"), 7, "_count");
    count.replace(count.find(",le=\"60\""), 8, "");
    EXPECT_EQ(series.at(count).back().second, before) << count;
  }
}

// The ledger live collection continues from holds exactly the values of the last sample.
TEST(BackfillTest, StartingPointEqualsTheLastSample) {
  const PipelineRuns p = Small();
  const Options o = SmallOptions();
  const auto series = Parse(Write({p}, o));
  const collector::RunLedger l = StartingPoint(p, o);
  const std::string prefix =
      "{pipeline_id=\"1001\",pipeline_name=\"backend \\\"build\\\"\",job=\"yfe\",";
  size_t checked = 0;
  for (const auto& [key, n] : l.runs) {
    const auto& s = series.at("yunxiao_flow_pipeline_runs_total" + prefix + "status=\"" +
                              key.first + "\",trigger_mode=\"" + key.second + "\"}");
    EXPECT_EQ(s.back().first, p.cutoff_ms);
    EXPECT_EQ(s.back().second, n) << key.first << " " << key.second;
    ++checked;
  }
  for (const auto& [key, n] : l.resumed) {
    EXPECT_EQ(series
                  .at("yunxiao_flow_pipeline_runs_resumed_total" + prefix + "status=\"" +
                      key.first + "\",trigger_mode=\"" + key.second + "\"}")
                  .back()
                  .second,
              n);
  }
  for (const auto& [status, h] : l.durations) {
    const std::string base = "yunxiao_flow_pipeline_run_duration_seconds";
    const std::string labels = prefix + "status=\"" + status + "\"";
    EXPECT_EQ(series.at(base + "_count" + labels + "}").back().second, h.count);
    EXPECT_EQ(series.at(base + "_sum" + labels + "}").back().second, h.sum);
    EXPECT_EQ(series.at(base + "_bucket" + labels + ",le=\"60\"}").back().second, h.counts[0]);
    EXPECT_EQ(series.at(base + "_bucket" + labels + ",le=\"150\"}").back().second,
              h.counts[0] + h.counts[1]);
  }
  EXPECT_EQ(checked, 6u);  // SUCCESS, FAIL, CANCELED for trigger modes 1 and 2
  EXPECT_EQ(l.runs.at({"SUCCESS", "manual"}), 2);
  EXPECT_EQ(l.runs.at({"FAIL", "scheduled"}), 1);
  EXPECT_EQ(l.watermark, 6);
  // Unfinished at the cutoff: tracked, since they started.
  ASSERT_EQ(l.tracked.size(), 2u);
  EXPECT_EQ(l.tracked.at(5).since_ms, kSince + 3 * kMin);
  EXPECT_EQ(l.tracked.at(6).status, "RUNNING");
  EXPECT_TRUE(l.seen.at(4).counted);
  EXPECT_FALSE(l.seen.at(1).counted);
}

// Live collection restored from the starting point counts what finishes afterwards once:
// the tracked runs and new runs, never the runs the backfill counted.
TEST(BackfillTest, LiveCollectionContinuesFromTheStartingPoint) {
  const PipelineRuns p = Small();
  const Options o = SmallOptions();
  collector::RunHistory history(o.buckets);
  collector::LedgerSnapshot snap;
  snap.buckets = o.buckets;
  snap.pipelines[p.id] = StartingPoint(p, o);
  history.Restore(snap);
  std::vector<model::RunSummary> page = p.runs;
  page[5] = MakeRun(6, "SUCCESS", kSince + 4 * kMin, kSince + 7 * kMin);     // the running one ends
  page.push_back(MakeRun(7, "FAIL", kSince + 7 * kMin, kSince + 8 * kMin));  // a new one
  std::reverse(page.begin(), page.end());                                    // newest first
  history.Observe(p.id, 1, page);
  history.FinishPoll(p.id);
  EXPECT_EQ(history.Count(p.id, "SUCCESS", "manual"), 3);  // 2 backfilled + run 6
  EXPECT_EQ(history.Count(p.id, "FAIL", "manual"), 2);     // run 5 (after the cutoff), run 7
  EXPECT_EQ(history.Count(p.id, "FAIL", "scheduled"), 1);  // run 3, backfilled
  EXPECT_EQ(history.DurationCount(p.id, "SUCCESS"), 3);
}

TEST(BackfillTest, ParseLabels) {
  auto l = ParseLabels("job=yunxiao-flow,instance=host:9847");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(*l, (std::vector<std::pair<std::string, std::string>>{{"job", "yunxiao-flow"},
                                                                  {"instance", "host:9847"}}));
  EXPECT_TRUE(ParseLabels("")->empty());
  EXPECT_FALSE(ParseLabels("job").ok());
  EXPECT_FALSE(ParseLabels("=x").ok());
  EXPECT_FALSE(ParseLabels("1a=x").ok());
  EXPECT_FALSE(ParseLabels("__name__=x").ok());
  EXPECT_FALSE(ParseLabels("status=x").ok());
  EXPECT_FALSE(ParseLabels("job=a,job=b").ok());
}

TEST(BackfillTest, HeadersFollowOpenMetrics) {
  EXPECT_EQ(FamilyHeader(0).rfind("# TYPE yunxiao_flow_pipeline_runs counter\n# HELP ", 0), 0u);
  EXPECT_NE(FamilyHeader(2).find("# UNIT yunxiao_flow_pipeline_run_duration_seconds seconds\n"),
            std::string::npos);
}

TEST(BackfillTest, NothingIsLeftWhenTheWriteFails) {
  TempDir dir;
  {
    OpenMetricsWriter w(SmallOptions(), dir.path() + "/out.om");
    ASSERT_TRUE(w.Open().ok());
    ASSERT_TRUE(w.Add(Small()).ok());
  }  // destroyed without Finish: an error on the way
  EXPECT_TRUE(fs::is_empty(dir.path()));
  OpenMetricsWriter w(SmallOptions(), dir.path() + "/missing/out.om");
  auto opened = w.Open();
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.error().find("/missing/out.om.part0"), std::string::npos);
}

TEST(BackfillTest, ProgressLine) {
  EXPECT_EQ(app::ProgressLine(0, 10, 0, 1), "backfill: 0/10 pipelines, 0 runs read, ETA unknown");
  EXPECT_EQ(app::ProgressLine(2, 10, 900, 30), "backfill: 2/10 pipelines, 900 runs read, ETA 2m");
  EXPECT_EQ(app::ProgressLine(10, 10, 4500, 150),
            "backfill: 10/10 pipelines, 4500 runs read, done in 2m30s");
}

}  // namespace
}  // namespace yfe::backfill

namespace yfe::backfill {
namespace {

// The starting point stays as small as live collection's state after a poll: the newest page
// of finished runs is remembered, at most 50 unfinished runs are tracked (the longest
// waiting given up first).
TEST(BackfillTest, StartingPointIsBounded) {
  PipelineRuns p;
  p.id = "7";
  p.cutoff_ms = kSince + 1000 * kMin;
  for (int64_t id = 1; id <= 200; ++id) {
    const bool running = id % 3 == 0;
    p.runs.push_back(MakeRun(id, running ? "RUNNING" : "SUCCESS", kSince + id * kMin,
                             running ? 0 : kSince + id * kMin + 1));
  }
  const collector::RunLedger l = StartingPoint(p, SmallOptions());
  EXPECT_EQ(l.watermark, 200);
  EXPECT_EQ(l.tracked.size(), collector::RunHistory::kMaxTracked);
  EXPECT_EQ(l.tracked.begin()->first, 51);  // the 50 newest of the 66 running runs
  size_t remembered = 0, given_up = 0;
  for (const auto& [id, s] : l.seen) (s.finished ? remembered : given_up) += 1;
  EXPECT_EQ(remembered, 30u);
  EXPECT_EQ(given_up, 16u);
  EXPECT_EQ(l.seen.rbegin()->first, 200);
}

}  // namespace
}  // namespace yfe::backfill

namespace yfe::backfill {
namespace {

// Serves ListPipelineRuns pages from a function of the page number.
class PagedApi : public flowapi::Api {
 public:
  std::function<std::vector<model::RunSummary>(int page)> pages;
  std::optional<int64_t> total_pages;
  std::vector<int> asked;
  void GetLatestRun(std::string_view, Clock::Steady, Callback) override {}
  void GetPipeline(std::string_view, Clock::Steady, Callback) override {}
  void ListPipelines(int, int, Clock::Steady, Callback) override {}
  bool ApiUp(Clock::Steady) const override { return true; }
  void ListRuns(std::string_view, int page, int, Clock::Steady, Callback done) override {
    asked.push_back(page);
    flowapi::ApiResult r;
    r.ok = true;
    r.status = 200;
    r.paging.total_pages = total_pages;
    r.body = "[";
    for (const auto& run : pages(page)) {
      if (r.body.size() > 1) r.body += ",";
      r.body += "{\"pipelineRunId\":" + std::to_string(run.id) + ",\"status\":\"" + run.status +
                "\",\"startTime\":" + std::to_string(run.start_ms) +
                ",\"endTime\":" + std::to_string(run.end_ms) + ",\"triggerMode\":1}";
    }
    r.body += "]";
    done(std::move(r));
  }
};

// 30 runs a page, newest first: page p holds ids top-30(p-1) down, one run every 10 minutes,
// each taking `duration`.
std::vector<model::RunSummary> Page(int page, int64_t top, int64_t duration) {
  std::vector<model::RunSummary> out;
  for (int64_t id = top - 30 * (page - 1); id > top - 30 * page && id > 0; --id) {
    const int64_t start = kSince + (id - 100) * 10 * kMin;
    out.push_back(MakeRun(id, "SUCCESS", start, start + duration));
  }
  return out;
}

TEST(BackfillReadTest, ReadsBackToSinceIncludingRunsThatStraddleIt) {
  PagedApi api;
  // Run 100 starts at since; runs 99, 70 and 45 started before it and finished after it
  // (long runs, or resumed).
  api.pages = [](int page) {
    auto runs = Page(page, 150, 5 * kMin);
    for (auto& r : runs) {
      if (r.id == 99 || r.id == 70 || r.id == 45) r.end_ms = kSince + 15 * kMin;
    }
    return runs;
  };
  auto read = app::ReadPipelineRuns(api, {"7", "seven", false}, kSince, std::chrono::seconds(1));
  ASSERT_TRUE(read.ok()) << read.error();
  // Page 1: ids 150..121, 2: 120..91, 3: 90..61 (70 ends after since), 4: 60..31 (45 too),
  // 5: 30..1, all before since: the end.
  EXPECT_EQ(api.asked, (std::vector<int>{1, 2, 3, 4, 5}));
  EXPECT_EQ(read->runs.size(), 150u);
  EXPECT_EQ(read->name, "seven");
  size_t counted = 0;
  for (const auto& r : read->runs) counted += Counts(r, kSince, read->cutoff_ms) ? 1 : 0;
  EXPECT_EQ(counted, 54u);  // 100..150, and 99, 70, 45
}

TEST(BackfillReadTest, StopsWhenAServerRepeatsAPage) {
  PagedApi api;
  api.total_pages = 1000000;  // and claims there are many more
  api.pages = [](int) { return Page(1, 5000, kMin); };
  auto read = app::ReadPipelineRuns(api, {"7", "seven", false}, 0, std::chrono::seconds(1));
  ASSERT_TRUE(read.ok()) << read.error();
  EXPECT_EQ(api.asked, (std::vector<int>{1, 2}));
  EXPECT_EQ(read->runs.size(), 30u);
}

}  // namespace
}  // namespace yfe::backfill

namespace yfe::backfill {
namespace {

// A detail with two stages: "build" (jobs a, b) and "test" (job c), all finished, each job
// taking `seconds`, job b with `b_status`.
model::PipelineRun DetailOf(const model::RunSummary& run, double seconds,
                            const std::string& b_status = "SUCCESS") {
  model::PipelineRun d;
  d.run_id = run.id;
  d.status = run.status;
  const int64_t ms = static_cast<int64_t>(seconds * 1000);
  int64_t t = run.start_ms;
  for (const char* stage : {"build", "test"}) {
    model::Stage st;
    st.name = stage;
    st.status = "SUCCESS";
    st.start_ms = t;
    for (const char* sign :
         std::string(stage) == "build" ? std::vector{"a", "b"} : std::vector{"c"}) {
      const std::string status = std::string(sign) == "b" ? b_status : "SUCCESS";
      st.jobs.push_back({sign, std::string("job ") + sign, status, t, t + ms});
      t += ms;
    }
    st.end_ms = t;
    d.stages.push_back(st);
  }
  return d;
}

PipelineRuns WithJobs() {
  PipelineRuns p = Small();
  for (const auto& r : p.runs) {
    if (!Counts(r, kSince, p.cutoff_ms)) continue;
    if (r.id == 3) continue;  // gone (404): no detail
    p.details[r.id] = DetailOf(r, 10, r.status == "FAIL" ? "FAIL" : "SUCCESS");
  }
  return p;
}

Options JobOptions() {
  Options o = SmallOptions();
  o.job_history = true;
  o.job_buckets = {5, 15};
  return o;
}

// The job part of the starting point is what live collection counts for the same finishes
// and details (RunHistory::ObserveDetail), and the last samples show it.
TEST(BackfillJobsTest, StartingPointHoldsWhatLiveJobHistoryCounts) {
  const PipelineRuns p = WithJobs();
  const Options o = JobOptions();
  collector::RunHistory live(o.buckets);
  live.SetJobHistory(true, o.job_buckets);
  live.Observe(p.id, 1, {});  // the baseline: no runs yet
  live.FinishPoll(p.id);
  std::vector<model::RunSummary> page;
  for (const auto& r : p.runs) {
    if (Counts(r, kSince, p.cutoff_ms)) page.insert(page.begin(), r);
  }
  live.Observe(p.id, 1, page);
  for (const auto& [id, d] : p.details) live.ObserveDetail(p.id, id, d);
  live.DetailFailed(p.id, 3, /*gone=*/true);
  live.FinishPoll(p.id);
  const collector::RunLedger want = live.LedgerOf(p.id);
  const collector::RunLedger got = StartingPoint(p, o);
  EXPECT_EQ(got.job_runs, want.job_runs);
  EXPECT_EQ(got.jobs_skipped, want.jobs_skipped);
  ASSERT_EQ(got.job_durations.size(), 3u);
  for (const auto& [id, h] : want.job_durations) {
    EXPECT_EQ(got.job_durations.at(id).counts, h.counts);
    EXPECT_EQ(got.job_durations.at(id).sum, h.sum);
  }
  ASSERT_EQ(got.stage_durations.size(), 2u);
  for (const auto& [stage, h] : want.stage_durations) {
    EXPECT_EQ(got.stage_durations.at(stage).counts, h.counts);
  }
  EXPECT_TRUE(got.pending_details.empty());
  EXPECT_EQ(got.job_runs.at({{"build", "b", "job b"}, "SUCCESS"}), 2);  // runs 2 and 4
  EXPECT_EQ(got.jobs_skipped.at("detail_unavailable"), 1);              // run 3
}

// Exact samples of the job series: each counted at its run's finish, from a 0 at the time
// before the series first exists.
TEST(BackfillJobsTest, JobSeriesSampledLikeTheRunSeries) {
  const PipelineRuns p = WithJobs();
  const auto series = Parse(Write({p}, JobOptions()));
  const std::string pre =
      "{pipeline_id=\"1001\",pipeline_name=\"backend \\\"build\\\"\",job=\"yfe\",";
  using Samples = std::vector<std::pair<int64_t, double>>;
  // Run 2 finishes at since+1m (sample since+2m), run 4 at since+4m; the cutoff since+5m30s.
  EXPECT_EQ(
      series.at("yunxiao_flow_job_runs_total" + pre +
                "stage_name=\"build\",job_sign=\"b\",job_name=\"job b\",status=\"SUCCESS\"}"),
      (Samples{{kSince, 0}, {kSince + 2 * kMin, 1}, {kSince + 4 * kMin, 2}, {p.cutoff_ms, 2}}));
  EXPECT_EQ(
      series.at("yunxiao_flow_job_run_duration_seconds_bucket" + pre +
                "stage_name=\"test\",job_sign=\"c\",job_name=\"job c\",le=\"15\"}"),
      (Samples{{kSince, 0}, {kSince + 2 * kMin, 1}, {kSince + 4 * kMin, 2}, {p.cutoff_ms, 2}}));
  EXPECT_EQ(
      series.at("yunxiao_flow_stage_run_duration_seconds_sum" + pre + "stage_name=\"build\"}"),
      (Samples{{kSince, 0}, {kSince + 2 * kMin, 20}, {kSince + 4 * kMin, 40}, {p.cutoff_ms, 40}}));
  // Run 3 (FAIL, since+2m) had no detail: skipped from the sample at since+2m, with a 0 before.
  EXPECT_EQ(
      series.at("yunxiao_flow_job_history_runs_skipped_total{pipeline_id=\"1001\","
                "pipeline_name=\"backend \\\"build\\\"\",job=\"yfe\",reason="
                "\"detail_unavailable\"}"),
      (Samples{{kSince, 0}, {kSince + 2 * kMin, 1}, {kSince + 4 * kMin, 1}, {p.cutoff_ms, 1}}));
  // Without job history, no job series.
  EXPECT_EQ(Write({p}, SmallOptions()).find("yunxiao_flow_job"), std::string::npos);
}

// A series that appears later (a first CANCELED run) starts with a 0 at the time before
// it: fewer samples, and increase() still sees its first count.
TEST(BackfillTest, ASeriesStartsAtTheSampleBeforeItExists) {
  PipelineRuns p;
  p.id = "5";
  p.name = "five";
  p.cutoff_ms = kSince + 20 * kMin;
  p.runs = {MakeRun(1, "SUCCESS", kSince, kSince + kMin),
            MakeRun(2, "CANCELED", kSince + 9 * kMin, kSince + 11 * kMin)};
  const auto series = Parse(Write({p}, SmallOptions()));
  using Samples = std::vector<std::pair<int64_t, double>>;
  EXPECT_EQ(series.at("yunxiao_flow_pipeline_run_duration_seconds_count{pipeline_id=\"5\","
                      "pipeline_name=\"five\",job=\"yfe\",status=\"CANCELED\"}"),
            (Samples{{kSince + 10 * kMin, 0},
                     {kSince + 12 * kMin, 1},
                     {kSince + 14 * kMin, 1},
                     {kSince + 16 * kMin, 1},
                     {kSince + 18 * kMin, 1},
                     {p.cutoff_ms, 1}}));
  // A baseline series exists from the first time.
  EXPECT_EQ(series
                .at("yunxiao_flow_pipeline_runs_total{pipeline_id=\"5\",pipeline_name=\"five\","
                    "job=\"yfe\",status=\"FAIL\",trigger_mode=\"manual\"}")
                .front(),
            (std::pair<int64_t, double>{kSince, 0}));
}

// Chunks: each file valid on its own (# EOF), and together exactly the samples of one file.
TEST(BackfillTest, ChunksTogetherAreTheWholeFile) {
  std::vector<PipelineRuns> pipelines = {WithJobs()};
  pipelines.push_back(Small());
  pipelines.back().id = "1002";
  const Options o = JobOptions();
  const auto whole = Parse(Write(pipelines, o));
  std::map<std::string, std::vector<std::pair<int64_t, double>>> joined;
  const int64_t chunk = 3 * kMin;
  size_t files = 0;
  for (int64_t k = (kSince - o.step_ms) / chunk; k <= (kSince + 6 * kMin) / chunk; ++k) {
    TempDir dir;
    OpenMetricsWriter w(o, dir.path() + "/c.om");
    ASSERT_TRUE(w.Open().ok());
    for (const auto& p : pipelines) ASSERT_TRUE(w.Add(p, ChunkWindow(k, chunk)).ok());
    ASSERT_TRUE(w.Finish().ok());
    const std::string text = ReadFile(dir.path() + "/c.om");
    ASSERT_GE(text.size(), 6u);
    EXPECT_EQ(text.substr(text.size() - 6), "# EOF\n");
    for (const auto& [name, samples] : Parse(text)) {
      for (const auto& s : samples) {
        EXPECT_GE(s.first, ChunkWindow(k, chunk).from_ms);
        EXPECT_LT(s.first, ChunkWindow(k, chunk).to_ms);
      }
      auto& all = joined[name];
      all.insert(all.end(), samples.begin(), samples.end());
    }
    files += text.size() > 6 ? 1 : 0;
  }
  EXPECT_GE(files, 3u);
  EXPECT_EQ(joined, whole);
}

TEST(BackfillTest, EncodeDecodeRoundTripAndRefuseDamage) {
  const PipelineRuns p = WithJobs();
  const std::string bytes = Encode(p);
  auto back = Decode(bytes);
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(Encode(*back), bytes);
  EXPECT_EQ(Write({*back}, JobOptions()), Write({p}, JobOptions()));
  for (size_t n = 0; n < bytes.size(); n += 7) EXPECT_FALSE(Decode(bytes.substr(0, n)).ok()) << n;
  std::string huge = bytes;
  huge[huge.find("1001") - 1] = '\x7f';  // a string length far beyond the bytes
  EXPECT_FALSE(Decode(huge).ok());
}

TEST(BackfillTest, ChunkPathAndProgressWithDetails) {
  EXPECT_EQ(app::ChunkPath("/tmp/out.om", 1), "/tmp/out.0001.om");
  EXPECT_EQ(app::ChunkPath("/tmp/out", 12), "/tmp/out.0012.om");
  EXPECT_EQ(app::ProgressLine(2, 10, 900, 30, 850),
            "backfill: 2/10 pipelines, 900 runs read, 850 run details, ETA 2m");
}

// GetPipelineRun once per counted run; a run gone (404) has no detail; another failure
// names the run.
TEST(BackfillReadTest, FetchesTheDetailOfEachCountedRun) {
  struct DetailApi : PagedApi {
    std::vector<int64_t> details;
    int64_t failing = 0;
    void GetRun(std::string_view, int64_t id, Clock::Steady, Callback done) override {
      details.push_back(id);
      flowapi::ApiResult r;
      r.status = id == 120 ? 404 : id == failing ? 500 : 200;
      r.ok = r.status == 200;
      r.error = "HTTP " + std::to_string(r.status);
      r.body = R"({"pipelineRunId":)" + std::to_string(id) +
               R"(,"status":"SUCCESS","stages":[{"index":"0","name":"s","stageInfo":{"status":)"
               R"("SUCCESS","startTime":1,"endTime":2,"jobs":[{"id":1,"jobSign":"j","name":"j",)"
               R"("status":"SUCCESS","startTime":1,"endTime":2}]}}]})";
      done(std::move(r));
    }
  } api;
  api.pages = [](int page) { return Page(page, 150, kMin); };
  auto read = app::ReadPipelineRuns(api, {"7", "seven", false}, kSince, std::chrono::seconds(1),
                                    /*job_history=*/true);
  ASSERT_TRUE(read.ok()) << read.error();
  std::sort(api.details.begin(), api.details.end());
  std::vector<int64_t> counted;
  for (const auto& r : read->runs) {
    if (Counts(r, kSince, read->cutoff_ms)) counted.push_back(r.id);
  }
  EXPECT_EQ(api.details, counted);  // once each
  EXPECT_EQ(read->details.size(), counted.size() - 1);
  EXPECT_FALSE(read->details.count(120));
  EXPECT_EQ(read->details.at(150).stages.at(0).jobs.at(0).sign, "j");
  api.failing = 130;
  auto failed =
      app::ReadPipelineRuns(api, {"7", "seven", false}, kSince, std::chrono::seconds(1), true);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().find("GetPipelineRun 130"), std::string::npos) << failed.error();
}

}  // namespace
}  // namespace yfe::backfill
