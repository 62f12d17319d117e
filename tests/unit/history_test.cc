#include "collector/history.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "collector/collector.h"
#include "collector/discovery.h"
#include "collector/ledger_store.h"
#include "config/config.h"
#include "model/status.h"
#include "support/exposition_check.h"
#include "support/test_support.h"

namespace yfe::collector {
namespace {

using model::RunSummary;
using std::chrono::hours;
using std::chrono::minutes;

RunSummary MakeRun(int64_t id, const std::string& status, int64_t trigger = 1) {
  RunSummary r;
  r.id = id;
  r.status = status;
  r.trigger_mode = trigger;
  r.start_ms = 1700000000000 + id * 1000;
  r.end_ms = model::IsFinished(status) ? r.start_ms + 90'000 : 0;
  return r;
}

// A Flow API holding one pipeline's runs ("p"), answering at once, counting requests.
class FakeRuns : public flowapi::Api {
 public:
  void GetLatestRun(std::string_view, Clock::Steady, Callback) override {}
  void GetPipeline(std::string_view, Clock::Steady, Callback) override {}
  void ListPipelines(int, int, Clock::Steady, Callback) override {}
  bool ApiUp(Clock::Steady) const override { return true; }

  void ListRuns(std::string_view, int page, int per_page, Clock::Steady, Callback done) override {
    ++list_calls;
    flowapi::ApiResult r;
    if (fail_pages.contains(page)) {
      r.status = 500;
      r.error = "HTTP 500";
      return done(r);
    }
    r.ok = true;
    r.status = 200;
    r.body = "[";
    int i = 0, skip = (page - 1) * per_page;
    for (auto it = runs.rbegin(); it != runs.rend(); ++it, ++i) {  // newest first
      if (i < skip || i >= skip + per_page) continue;
      if (r.body.size() > 1) r.body += ",";
      const RunSummary& x = it->second;
      r.body += R"({"pipelineRunId":)" + std::to_string(x.id) + R"(,"status":")" + x.status +
                R"(","triggerMode":)" + std::to_string(*x.trigger_mode) + R"(,"startTime":)" +
                std::to_string(x.start_ms) + R"(,"endTime":)" + std::to_string(x.end_ms) + "}";
    }
    r.body += "]";
    done(r);
  }
  void GetRun(std::string_view, int64_t run_id, Clock::Steady, Callback done) override {
    ++get_calls;
    flowapi::ApiResult r;
    auto it = runs.find(run_id);
    if (it == runs.end()) {
      r.status = 404;
      r.error = "HTTP 404 NotFound";
      return done(r);
    }
    const RunSummary& x = it->second;
    r.ok = true;
    r.status = 200;
    r.body = R"({"pipelineRunId":)" + std::to_string(x.id) + R"(,"status":")" + x.status +
             R"(","triggerMode":)" + std::to_string(*x.trigger_mode) + R"(,"createTime":)" +
             std::to_string(x.start_ms) + R"(,"updateTime":)" +
             std::to_string(x.end_ms ? x.end_ms + get_end_offset : x.start_ms) + R"(,"stages":[]})";
    done(r);
  }

  void Set(const RunSummary& r) { runs[r.id] = r; }
  void Add(int n, const std::string& status = "SUCCESS") {
    int64_t next = runs.empty() ? 1 : runs.rbegin()->first + 1;
    for (int i = 0; i < n; ++i) Set(MakeRun(next + i, status));
  }

  std::map<int64_t, RunSummary> runs;
  std::set<int> fail_pages;
  int64_t get_end_offset = 0;  // GetPipelineRun's derived end vs the list's endTime
  int list_calls = 0;
  int get_calls = 0;
};

void Poll(RunHistory& h, FakeRuns& api) {
  PollRunHistory(api, h, {"p"}, Clock::Steady::max(), [](std::string_view) {});
}

double Finishes(const RunHistory& h, const std::string& status) {
  double n = 0;
  for (const char* t : {"manual", "scheduled", "commit", "pipeline", "webhook", "unknown"}) {
    n += h.Count("p", status, t);
  }
  return n;
}

TEST(RunHistory, BaselineIsNotCounted) {
  RunHistory h({60, 120});
  FakeRuns api;
  for (auto r : {MakeRun(1, "SUCCESS"), MakeRun(2, "FAIL"), MakeRun(3, "RUNNING")}) api.Set(r);
  Poll(h, api);
  EXPECT_EQ(h.Count("p", "SUCCESS", "manual"), 0);
  EXPECT_EQ(h.Count("p", "FAIL", "manual"), 0);
}

TEST(RunHistory, EachFinishedRunIsCountedOnce) {
  RunHistory h({60, 120});
  FakeRuns api;
  for (auto r : {MakeRun(1, "SUCCESS"), MakeRun(2, "RUNNING")}) api.Set(r);
  Poll(h, api);
  // Run 2 finishes, runs 3 and 4 start and finish between polls, 5 is running.
  for (auto r : {MakeRun(2, "FAIL"), MakeRun(3, "SUCCESS", 3), MakeRun(4, "SUCCESS", 3),
                 MakeRun(5, "RUNNING")}) {
    api.Set(r);
  }
  Poll(h, api);
  Poll(h, api);  // nothing new: nothing counted again
  EXPECT_EQ(h.Count("p", "FAIL", "manual"), 1);
  EXPECT_EQ(h.Count("p", "SUCCESS", "commit"), 2);
  EXPECT_EQ(h.Count("p", "SUCCESS", "manual"), 0);
  api.Set(MakeRun(5, "CANCELED"));
  Poll(h, api);
  EXPECT_EQ(h.Count("p", "CANCELED", "manual"), 1);
}

TEST(RunHistory, ManyRunsBetweenPollsAreReadFromOlderPages) {
  RunHistory h({60});
  FakeRuns api;
  api.Set(MakeRun(1, "SUCCESS"));
  Poll(h, api);
  for (int id = 2; id <= 71; ++id) api.Set(MakeRun(id, id % 2 ? "FAIL" : "SUCCESS"));
  api.list_calls = 0;
  Poll(h, api);
  EXPECT_EQ(h.Count("p", "SUCCESS", "manual") + h.Count("p", "FAIL", "manual"), 70);
  EXPECT_EQ(api.list_calls, 3);
}

TEST(RunHistory, LongRunningRunIsFollowedOffThePage) {
  RunHistory h({60});
  FakeRuns api;
  api.Set(MakeRun(1, "RUNNING"));
  Poll(h, api);
  api.Add(39);
  Poll(h, api);  // 39 new runs: two pages
  api.Set(MakeRun(1, "FAIL"));
  api.get_calls = 0;
  Poll(h, api);  // run 1 is on page 2 now: fetched by id
  EXPECT_EQ(h.Count("p", "FAIL", "manual"), 1);
  EXPECT_EQ(h.Count("p", "SUCCESS", "manual"), 39);
  EXPECT_EQ(api.get_calls, 1);
  EXPECT_EQ(h.TrackedIds("p"), 0u);
}

// Retrying a failed job sends the same run back to RUNNING.
TEST(RunHistory, ResumedRunIsCountedAgainWhenItFinishesAgain) {
  RunHistory h({60, 120});
  FakeRuns api;
  api.Add(3);
  Poll(h, api);
  api.Set(MakeRun(4, "FAIL"));
  Poll(h, api);
  EXPECT_EQ(h.Count("p", "FAIL", "manual"), 1);
  RunSummary resumed = MakeRun(4, "RUNNING");
  api.Set(resumed);
  Poll(h, api);
  EXPECT_EQ(h.Resumed("p", "FAIL", "manual"), 1);  // the FAIL is taken back...
  EXPECT_EQ(h.Count("p", "FAIL", "manual"), 1);    // ...without lowering a counter
  EXPECT_EQ(h.TrackedIds("p"), 1u);
  Poll(h, api);  // still running: nothing changes
  EXPECT_EQ(h.Resumed("p", "FAIL", "manual"), 1);
  resumed = MakeRun(4, "SUCCESS");
  resumed.end_ms += 600'000;
  api.Set(resumed);
  Poll(h, api);
  Poll(h, api);
  EXPECT_EQ(h.Count("p", "SUCCESS", "manual"), 1);
  EXPECT_EQ(h.Count("p", "FAIL", "manual"), 1);
  // Two finishes of one distinct run; the final outcome is SUCCESS.
  EXPECT_EQ(Finishes(h, "SUCCESS") + Finishes(h, "FAIL") - h.Resumed("p", "FAIL", "manual"), 1);
  EXPECT_EQ(h.Count("p", "FAIL", "manual") - h.Resumed("p", "FAIL", "manual"), 0);
  EXPECT_EQ(h.DurationCount("p", "SUCCESS"), 1);
  EXPECT_EQ(h.DurationCount("p", "FAIL"), 1);
  EXPECT_EQ(h.TrackedIds("p"), 0u);
}

TEST(RunHistory, ResumedAndFinishedBetweenTwoPollsIsNoticedByItsNewEnd) {
  RunHistory h({60});
  FakeRuns api;
  api.Add(2);
  Poll(h, api);
  api.Set(MakeRun(3, "FAIL"));
  Poll(h, api);
  RunSummary again = MakeRun(3, "SUCCESS");
  again.end_ms += 300'000;
  api.Set(again);
  Poll(h, api);
  Poll(h, api);
  EXPECT_EQ(h.Count("p", "FAIL", "manual"), 1);
  EXPECT_EQ(h.Count("p", "SUCCESS", "manual"), 1);
  EXPECT_EQ(h.Resumed("p", "FAIL", "manual"), 1);
}

TEST(RunHistory, BaselineRunThatResumesCountsOnlyItsNewFinish) {
  RunHistory h({60});
  FakeRuns api;
  api.Set(MakeRun(1, "FAIL"));
  Poll(h, api);  // baseline: not counted
  api.Set(MakeRun(1, "RUNNING"));
  Poll(h, api);
  EXPECT_EQ(h.Resumed("p", "FAIL", "manual"), 0);  // nothing counted to take back
  RunSummary done = MakeRun(1, "SUCCESS");
  done.end_ms += 60'000;
  api.Set(done);
  Poll(h, api);
  EXPECT_EQ(h.Count("p", "SUCCESS", "manual"), 1);
}

TEST(RunHistory, ResumedRunOffThePageIsFollowedById) {
  RunHistory h({60});
  FakeRuns api;
  api.Add(1);
  Poll(h, api);
  api.Set(MakeRun(2, "FAIL"));
  Poll(h, api);
  api.Set(MakeRun(2, "RUNNING"));
  Poll(h, api);
  api.Add(40);  // run 2 drops to page 2
  Poll(h, api);
  RunSummary done = MakeRun(2, "SUCCESS");
  done.end_ms += 3'600'000;
  api.Set(done);
  api.get_calls = 0;
  api.list_calls = 0;
  Poll(h, api);
  EXPECT_EQ(api.list_calls, 1);
  EXPECT_EQ(api.get_calls, 1);
  EXPECT_EQ(h.Count("p", "SUCCESS", "manual"), 41);
  EXPECT_EQ(h.Resumed("p", "FAIL", "manual"), 1);
  EXPECT_EQ(h.DurationCount("p", "SUCCESS"), 41);
}

// Security audit finding 12: one run waiting at a manual checkpoint for days.
TEST(RunHistory, RunWaitingForDaysCostsOneRequestPerPollAndBoundedMemory) {
  RunHistory h({60});
  FakeRuns api;
  api.Set(MakeRun(1, "WAITING"));
  Poll(h, api);
  for (int poll = 0; poll < 200; ++poll) {
    api.Add(10);
    api.list_calls = api.get_calls = 0;
    Poll(h, api);
    EXPECT_EQ(api.list_calls, 1) << poll;
    EXPECT_LE(api.get_calls, 1) << poll;  // the waiting run, once off page 1
  }
  EXPECT_EQ(h.Count("p", "SUCCESS", "manual"), 2000);
  EXPECT_EQ(h.TrackedIds("p"), 1u);
  EXPECT_LE(h.RememberedIds("p"), 31u);
  api.Set(MakeRun(1, "SUCCESS"));
  Poll(h, api);
  EXPECT_EQ(h.Count("p", "SUCCESS", "manual"), 2001);
  EXPECT_EQ(h.TrackedIds("p"), 0u);
}

TEST(RunHistory, GivesUpOnARunAfterMaxPending) {
  FakeClock clock;
  RunHistory h({60}, clock);
  h.SetMaxPending(hours(24));
  FakeRuns api;
  api.Set(MakeRun(1, "SUCCESS"));
  Poll(h, api);
  api.Set(MakeRun(2, "SWITCH_MANUAL"));
  Poll(h, api);
  api.Add(40);
  Poll(h, api);  // two pages: run 2 is still seen on page 2
  clock.Advance(hours(23));
  api.get_calls = 0;
  Poll(h, api);  // page 1 only: run 2 is fetched by id
  EXPECT_EQ(api.get_calls, 1);
  EXPECT_EQ(h.TrackedIds("p"), 1u);
  clock.Advance(hours(2));
  Poll(h, api);  // still waiting after 25h: given up
  EXPECT_EQ(h.TrackedIds("p"), 0u);
  api.get_calls = 0;
  for (int i = 0; i < 5; ++i) Poll(h, api);
  EXPECT_EQ(api.get_calls, 0);
  api.Set(MakeRun(2, "SUCCESS"));  // off the page: not seen, not counted
  Poll(h, api);
  EXPECT_EQ(h.Count("p", "SUCCESS", "manual"), 40);
}

TEST(RunHistory, GivenUpRunStillOnPageOneIsNotTrackedAgainButCountedWhenItFinishes) {
  FakeClock clock;
  RunHistory h({60}, clock);
  h.SetMaxPending(hours(1));
  FakeRuns api;
  api.Add(1);
  Poll(h, api);
  api.Set(MakeRun(2, "WAITING"));
  Poll(h, api);
  clock.Advance(hours(2));
  Poll(h, api);
  EXPECT_EQ(h.TrackedIds("p"), 0u);
  Poll(h, api);
  EXPECT_EQ(h.TrackedIds("p"), 0u);
  api.Set(MakeRun(2, "SUCCESS"));
  Poll(h, api);
  Poll(h, api);
  EXPECT_EQ(h.Count("p", "SUCCESS", "manual"), 1);
}

TEST(RunHistory, DeletedTrackedRunIsForgotten) {
  RunHistory h({60});
  FakeRuns api;
  api.Add(1);
  Poll(h, api);
  api.Set(MakeRun(2, "RUNNING"));
  Poll(h, api);
  api.Add(40);
  Poll(h, api);
  api.runs.erase(2);
  Poll(h, api);  // 404
  EXPECT_EQ(h.TrackedIds("p"), 0u);
  api.get_calls = 0;
  Poll(h, api);
  EXPECT_EQ(api.get_calls, 0);
}

TEST(RunHistory, ManyUnfinishedRunsAreTrackedUpToABound) {
  RunHistory h({60});
  FakeRuns api;
  api.Add(1);
  Poll(h, api);
  for (int poll = 0; poll < 20; ++poll) {
    api.Add(30, "RUNNING");
    api.list_calls = api.get_calls = 0;
    Poll(h, api);
    EXPECT_LE(api.list_calls, 1 + 1) << poll;
    EXPECT_LE(static_cast<size_t>(api.get_calls), RunHistory::kMaxTracked) << poll;
  }
  EXPECT_EQ(h.TrackedIds("p"), RunHistory::kMaxTracked);
  EXPECT_LE(h.RememberedIds("p"), RunHistory::kMaxTracked + RunHistory::kMaxRemembered);
}

TEST(RunHistory, FailedPageIsReadAgainWithoutCountingTwice) {
  RunHistory h({60});
  FakeRuns api;
  api.Add(1);
  Poll(h, api);
  api.Add(45);
  api.fail_pages = {2};
  Poll(h, api);
  EXPECT_EQ(h.Count("p", "SUCCESS", "manual"), 30);
  api.fail_pages.clear();
  Poll(h, api);
  EXPECT_EQ(h.Count("p", "SUCCESS", "manual"), 45);
  Poll(h, api);
  EXPECT_EQ(h.Count("p", "SUCCESS", "manual"), 45);
}

// A run counted from GetPipelineRun and then seen on a page: the list's endTime may differ
// from the end derived from the run's stages; that is not a new finish.
TEST(RunHistory, RunCountedByIdIsNotCountedAgainWhenAPageShowsIt) {
  RunHistory h({60});
  FakeRuns api;
  api.Add(1);
  Poll(h, api);
  api.Add(39);
  api.Set(MakeRun(35, "RUNNING"));
  api.fail_pages = {2};
  Poll(h, api);  // page 1: 11..40, run 35 tracked; page 2 fails
  api.Add(30);
  api.Set(MakeRun(35, "SUCCESS"));
  api.get_end_offset = -5000;
  api.get_calls = 0;
  Poll(h, api);  // page 2 fails again: run 35 is counted from GetPipelineRun
  EXPECT_EQ(api.get_calls, 1);
  api.fail_pages.clear();
  Poll(h, api);  // pages 1-3, run 35 on page 2 with the list's end
  Poll(h, api);
  EXPECT_EQ(h.Count("p", "SUCCESS", "manual"), 69);  // runs 2..70, once each
  EXPECT_EQ(h.Resumed("p", "SUCCESS", "manual"), 0);
}

TEST(RunHistory, FailedFirstPageDelaysTheBaseline) {
  RunHistory h({60});
  FakeRuns api;
  api.Add(3);
  api.fail_pages = {1};
  Poll(h, api);
  api.fail_pages.clear();
  api.Add(2);
  Poll(h, api);  // this is the baseline
  EXPECT_EQ(h.Count("p", "SUCCESS", "manual"), 0);
}

// Like the transport: answers on other threads, later. One FakeRuns per pipeline.
class ThreadedRuns : public flowapi::Api {
 public:
  ~ThreadedRuns() override { JoinAll(); }
  void GetLatestRun(std::string_view, Clock::Steady, Callback) override {}
  void GetPipeline(std::string_view, Clock::Steady, Callback) override {}
  void ListPipelines(int, int, Clock::Steady, Callback) override {}
  bool ApiUp(Clock::Steady) const override { return true; }
  void ListRuns(std::string_view id, int page, int per_page, Clock::Steady deadline,
                Callback done) override {
    Later([=, this, id = std::string(id)] {
      flowapi::ApiResult out;
      {
        std::lock_guard lock(mu);
        fakes[id].ListRuns(id, page, per_page, deadline, [&](flowapi::ApiResult r) { out = r; });
      }
      ++answered;
      done(out);
    });
  }
  void GetRun(std::string_view id, int64_t run_id, Clock::Steady deadline, Callback done) override {
    Later([=, this, id = std::string(id)] {
      flowapi::ApiResult out;
      {
        std::lock_guard lock(mu);
        fakes[id].GetRun(id, run_id, deadline, [&](flowapi::ApiResult r) { out = r; });
      }
      ++answered;
      done(out);
    });
  }
  void JoinAll() {
    std::vector<std::thread> t;
    {
      std::lock_guard lock(threads_mu);
      t.swap(threads);
    }
    for (auto& x : t) x.join();
  }

  std::mutex mu;  // guards fakes
  std::map<std::string, FakeRuns> fakes;
  std::atomic<int> answered{0};

 private:
  void Later(std::function<void()> f) {
    std::lock_guard lock(threads_mu);
    threads.emplace_back([f = std::move(f)] {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      f();
    });
  }
  std::mutex threads_mu;
  std::vector<std::thread> threads;
};

TEST(RunHistory, PollWaitsForAnswersFromOtherThreads) {
  RunHistory h({60});
  ThreadedRuns api;
  std::set<std::string> ids;
  for (int i = 0; i < 8; ++i) {
    const std::string id = "p" + std::to_string(i);
    ids.insert(id);
    api.fakes[id].Add(1);
    api.fakes[id].Set(MakeRun(2, "WAITING"));
  }
  auto poll = [&] {
    const int before = api.answered.load();
    PollRunHistory(api, h, ids, Clock::Steady::max(), [](std::string_view) {});
    return api.answered.load() - before;
  };
  EXPECT_EQ(poll(), 8);  // baselines
  for (auto& [id, f] : api.fakes) f.Add(40);
  EXPECT_EQ(poll(), 16);  // two pages each
  for (auto& [id, f] : api.fakes) f.Set(MakeRun(2, "SUCCESS"));
  EXPECT_EQ(poll(), 16);  // page 1 and the waiting run by id, every answer in
  api.JoinAll();
  for (const auto& id : ids) {
    EXPECT_EQ(h.Count(id, "SUCCESS", "manual"), 41) << id;
    EXPECT_EQ(h.TrackedIds(id), 0u) << id;
  }
}

TEST(RunHistory, RendersValidCountersAndHistograms) {
  RunHistory h({60, 120});
  FakeRuns api;
  api.Set(MakeRun(1, "SUCCESS"));
  Poll(h, api);
  api.Set(MakeRun(2, "SUCCESS"));
  Poll(h, api);
  std::string out;
  h.Render(out, {{"p", "name"}});
  EXPECT_EQ(testing::CheckExposition(out), "");
  EXPECT_EQ(testing::Value(out, "yunxiao_flow_pipeline_runs_total",
                           {"status=\"SUCCESS\"", "trigger_mode=\"manual\""}),
            1);
  EXPECT_EQ(testing::Value(out, "yunxiao_flow_pipeline_runs_total", {"status=\"FAIL\""}), 0);
  EXPECT_EQ(testing::Value(out, "yunxiao_flow_pipeline_runs_resumed_total",
                           {"status=\"FAIL\"", "trigger_mode=\"manual\""}),
            0);
  EXPECT_EQ(testing::Value(out, "yunxiao_flow_pipeline_run_duration_seconds_bucket",
                           {"status=\"SUCCESS\"", "le=\"60\""}),
            0);
  EXPECT_EQ(testing::Value(out, "yunxiao_flow_pipeline_run_duration_seconds_bucket",
                           {"status=\"SUCCESS\"", "le=\"120\""}),
            1);
  EXPECT_EQ(
      testing::Value(out, "yunxiao_flow_pipeline_run_duration_seconds_sum", {"status=\"SUCCESS\""}),
      90);
  // A resume shows in the exposition too.
  api.Set(MakeRun(2, "RUNNING"));
  Poll(h, api);
  out.clear();
  h.Render(out, {{"p", "name"}});
  EXPECT_EQ(testing::CheckExposition(out), "");
  EXPECT_EQ(testing::Value(out, "yunxiao_flow_pipeline_runs_resumed_total",
                           {"status=\"SUCCESS\"", "trigger_mode=\"manual\""}),
            1);
  out.clear();
  h.Render(out, {});
  EXPECT_TRUE(out.empty());
}

TEST(RunHistory, MemoryIsBounded) {
  RunHistory h({60});
  FakeRuns api;
  for (int id = 1; id <= 5000; ++id) {
    api.Set(MakeRun(id, "SUCCESS"));
    if (id % 10 == 0) {
      api.runs.erase(api.runs.begin(), api.runs.lower_bound(id - 59));  // keep 60
      Poll(h, api);
    }
  }
  EXPECT_EQ(h.Count("p", "SUCCESS", "manual"), 4990);
  EXPECT_LE(h.RememberedIds("p"), 60u);
}

// ---- Render keeps each pipeline's text until its counters, name or buckets change ----

// A ledger with run, job, stage and skipped counters (as weeks of polls leave it).
RunLedger Counted(int n) {
  RunLedger l;
  l.baselined = true;
  l.watermark = 100;
  l.runs[{"SUCCESS", "manual"}] = n;
  l.runs[{"FAIL", "webhook"}] = 2;
  l.resumed[{"FAIL", "webhook"}] = 1;
  l.durations["SUCCESS"] = {{1, 2}, 150.5, 3};
  const RunLedger::JobId job{"build", "job-1", "Maven 构建"};
  l.job_runs[{job, "SUCCESS"}] = n;
  l.job_durations[job] = {{1, 0, 1}, 70, 2};
  l.stage_durations["build"] = {{0, 1, 1}, 80, 2};
  l.jobs_skipped["cap"] = 1;
  return l;
}

// The same history rendered without any kept text: a new RunHistory restored from it,
// every pipeline rendered from its ledger.
std::string RenderedAfresh(const RunHistory& h, const std::vector<double>& buckets, bool jobs,
                           const std::vector<std::pair<std::string, std::string>>& named) {
  RunHistory fresh(buckets);
  fresh.SetJobHistory(jobs, {30, 60, 120});
  LedgerSnapshot snap = h.Snapshot();
  snap.buckets = buckets;  // same buckets: nothing is reset
  fresh.Restore(snap);
  for (const auto& [id, name] : named) fresh.FinishPoll(id, false);  // shown
  std::string out;
  fresh.Render(out, named);
  EXPECT_EQ(fresh.TextsRendered(), snap.pipelines.size());
  return out;
}

TEST(RunHistoryRender, KeepsEachPipelinesTextUntilItChanges) {
  const std::vector<double> buckets = {60, 120};
  RunHistory h(buckets);
  h.SetJobHistory(true, {30, 60, 120});
  LedgerSnapshot s{buckets, {30, 60, 120}, {}};
  for (int p = 1; p <= 3; ++p) s.pipelines["p" + std::to_string(p)] = Counted(p);
  h.Restore(s);
  std::vector<std::pair<std::string, std::string>> named = {
      {"p1", "one"}, {"p2", "two"}, {"p3", "three"}};
  auto poll_all = [&] {
    for (const auto& [id, name] : named) h.FinishPoll(id, false);  // changes no counter
  };
  poll_all();
  std::string first;
  h.Render(first, named);
  EXPECT_EQ(testing::CheckExposition(first), "");
  EXPECT_EQ(first, RenderedAfresh(h, buckets, true, named));
  EXPECT_EQ(h.TextsRendered(), 3u);

  // Polls that count nothing: every text is kept, the output is the same.
  poll_all();
  std::string out;
  h.Render(out, named);
  EXPECT_EQ(out, first);
  EXPECT_EQ(h.TextsRendered(), 3u);

  // A poll in which p2 counts a finish: only p2's text is rendered again.
  h.Observe("p2", 1, {MakeRun(101, "FAIL")});
  poll_all();
  out.clear();
  h.Render(out, named);
  EXPECT_EQ(h.TextsRendered(), 4u);
  EXPECT_NE(out, first);
  EXPECT_EQ(out, RenderedAfresh(h, buckets, true, named));
  EXPECT_EQ(testing::Value(out, "yunxiao_flow_pipeline_runs_total",
                           {"pipeline_id=\"p2\"", "status=\"FAIL\"", "trigger_mode=\"manual\""}),
            1);

  // A renamed pipeline: its text only.
  named[2].second = "three, renamed";
  out.clear();
  h.Render(out, named);
  EXPECT_EQ(h.TextsRendered(), 5u);
  EXPECT_EQ(out, RenderedAfresh(h, buckets, true, named));
  EXPECT_NE(out.find("three, renamed"), std::string::npos);

  // Other buckets (histograms start again), job history off: every text.
  const std::vector<double> other = {30, 60, 300};
  h.SetBuckets(other);
  out.clear();
  h.Render(out, named);
  EXPECT_EQ(h.TextsRendered(), 8u);
  EXPECT_EQ(out, RenderedAfresh(h, other, true, named));
  h.SetJobHistory(false, {30, 60, 120});
  out.clear();
  h.Render(out, named);
  EXPECT_EQ(h.TextsRendered(), 11u);
  EXPECT_EQ(out, RenderedAfresh(h, other, false, named));
  EXPECT_EQ(out.find("yunxiao_flow_job"), std::string::npos);

  // A restore replaces p1's ledger: p1 is hidden until polled, then its new text shows.
  h.SetJobHistory(true, {30, 60, 120});
  LedgerSnapshot again{other, {30, 60, 120}, {}};
  again.pipelines["p1"] = Counted(40);
  h.Restore(again);
  out.clear();
  h.Render(out, named);
  EXPECT_EQ(out.find("pipeline_id=\"p1\""), std::string::npos);
  h.FinishPoll("p1", false);
  out.clear();
  h.Render(out, named);
  EXPECT_EQ(out, RenderedAfresh(h, other, true, named));
  EXPECT_EQ(testing::CheckExposition(out), "");
}

// ---- Across restarts (collect.state_dir): a restored ledger continues ----

// What a restart reads back: the snapshot through the file's text.
LedgerSnapshot ThroughTheFile(const RunHistory& h) {
  auto back = ParseLedger(SerializeLedger(h.Snapshot()));
  EXPECT_TRUE(back.ok()) << back.error();
  return back.ok() ? *back : LedgerSnapshot{};
}

std::string Rendered(const RunHistory& h) {
  std::string out;
  h.Render(out, {{"p", "name"}});
  return out;
}

TEST(RunHistoryRestore, RunsFinishedWhileDownAreCountedOnceOnTheFirstPoll) {
  FakeRuns api;
  api.Add(3);
  api.Set(MakeRun(4, "RUNNING"));
  RunHistory before({60, 120});
  Poll(before, api);
  api.Add(2);  // 5, 6
  Poll(before, api);
  ASSERT_EQ(Finishes(before, "SUCCESS"), 2);
  const LedgerSnapshot saved = ThroughTheFile(before);
  // While down: the tracked run 4 fails, 40 runs finish (two pages), one starts.
  api.Set(MakeRun(4, "FAIL"));
  api.Add(40);
  api.Set(MakeRun(47, "RUNNING"));
  RunHistory after({60, 120});
  after.Restore(saved);
  // Restored counters are not shown before the first poll (they may be below what the
  // process before the restart showed); the ledger is there.
  EXPECT_EQ(Rendered(after).find("yunxiao_flow_pipeline_runs_total"), std::string::npos);
  EXPECT_EQ(after.Count("p", "SUCCESS", "manual"), 2);
  Poll(after, api);
  EXPECT_EQ(Finishes(after, "SUCCESS"), 42);
  EXPECT_EQ(Finishes(after, "FAIL"), 1);
  EXPECT_EQ(after.DurationCount("p", "SUCCESS"), 42);
  EXPECT_EQ(testing::Value(Rendered(after), "yunxiao_flow_pipeline_runs_total",
                           {"status=\"SUCCESS\"", "trigger_mode=\"manual\""}),
            42);
  Poll(after, api);  // nothing counted twice
  EXPECT_EQ(Finishes(after, "SUCCESS"), 42);
  api.Set(MakeRun(47, "SUCCESS"));
  Poll(after, api);
  EXPECT_EQ(Finishes(after, "SUCCESS"), 43);
}

// kill -9 after a poll counted and before its commit: the restart goes back to the previous
// commit (counts and watermark together) and its first poll counts those runs again, once.
// Scripted changes, polled after each; the crash patterns are compared with a history that
// never stops.
TEST(RunHistoryRestore, ACrashBeforeACommitLosesAndDoublesNothing) {
  auto resume_end = [](int64_t id, const std::string& status, int64_t later_s) {
    RunSummary r = MakeRun(id, status);
    r.end_ms += later_s * 1000;
    return r;
  };
  const std::vector<std::function<void(FakeRuns&)>> steps = {
      [](FakeRuns& a) {
        a.Add(2);
        a.Set(MakeRun(3, "RUNNING"));
      },
      [](FakeRuns& a) {
        a.Set(MakeRun(3, "FAIL"));
        a.Add(1, "FAIL");
      },
      [](FakeRuns& a) {
        a.Set(MakeRun(3, "RUNNING"));  // a failed job retried
        a.Add(35);
      },
      [&](FakeRuns& a) {
        a.Set(resume_end(3, "SUCCESS", 600));  // off page 1: by id
        a.Add(10);
        a.fail_pages = {2};
      },
      [](FakeRuns& a) {
        a.fail_pages.clear();
        a.Add(2, "CANCELED");
        a.Set(MakeRun(52, "WAITING"));
      },
      [&](FakeRuns& a) {
        a.Set(resume_end(51, "RUNNING", 0));  // a cancelled run resumed
        a.Add(31);
      },
      [&](FakeRuns& a) {
        a.Set(resume_end(51, "FAIL", 300));
        a.Set(resume_end(52, "SUCCESS", 60));
        a.Add(3);
      },
  };
  auto totals = [](const RunHistory& h) {
    std::map<std::string, double> t;
    for (const char* st : {"SUCCESS", "FAIL", "CANCELED"}) {
      t[std::string("runs ") + st] = Finishes(h, st);
      t[std::string("resumed ") + st] = h.Resumed("p", st, "manual");
      t[std::string("durations ") + st] = h.DurationCount("p", st);
    }
    return t;
  };
  FakeRuns truth_api;
  RunHistory truth({60});
  for (const auto& step : steps) {
    step(truth_api);
    Poll(truth, truth_api);
  }
  const auto want = totals(truth);
  ASSERT_EQ(want.at("runs SUCCESS"), 35 + 10 + 31 + 3 + 1 + 1);  // not the baseline's 2
  ASSERT_EQ(want.at("resumed FAIL"), 1);
  ASSERT_EQ(want.at("resumed CANCELED"), 1);

  // Each bit of `crashes` is a step whose commit never happens. Not steps 1 and 4: a finish
  // counted by a lost commit and taken back by a resume before the next poll is not seen
  // again by anyone (docs/metrics.md: the same as a finish and resume between two polls).
  // Not step 0: no commit yet is a fresh baseline.
  for (unsigned crashes :
       {0u, 1u << 2, 1u << 3, 1u << 5, 1u << 6, 0b1100u, 0b1100000u, 0b1101100u}) {
    FakeRuns api;
    auto h = std::make_unique<RunHistory>(std::vector<double>{60});
    LedgerSnapshot committed;
    for (size_t i = 0; i < steps.size(); ++i) {
      steps[i](api);
      Poll(*h, api);
      if (crashes & (1u << i)) {
        h = std::make_unique<RunHistory>(std::vector<double>{60});
        h->Restore(committed);
      } else {
        committed = ThroughTheFile(*h);
      }
    }
    Poll(*h, api);  // the first poll after a last crash
    EXPECT_EQ(totals(*h), want) << "crashes " << crashes;
  }
}

TEST(RunHistoryRestore, ChangedBucketsResetTheHistogramsAndKeepTheCounters) {
  FakeRuns api;
  api.Add(1);
  RunHistory before({60, 120});
  Poll(before, api);
  api.Add(2);
  Poll(before, api);
  RunHistory after({30});
  after.Restore(ThroughTheFile(before));
  api.Add(1);
  Poll(after, api);
  EXPECT_EQ(after.Count("p", "SUCCESS", "manual"), 3);
  EXPECT_EQ(after.DurationCount("p", "SUCCESS"), 1);  // the new run only
  const std::string out = Rendered(after);
  EXPECT_EQ(testing::CheckExposition(out), "");
  EXPECT_EQ(testing::Value(out, "yunxiao_flow_pipeline_run_duration_seconds_bucket",
                           {"status=\"SUCCESS\"", "le=\"+Inf\""}),
            1);
}

// Only pipelines past their baseline are saved; a restored one stays out of the exposition
// until it is polled, also when its first poll after the restart fails.
TEST(RunHistoryRestore, SnapshotHoldsBaselinedPipelinesOnly) {
  FakeRuns api;
  api.Add(2);
  RunHistory h({60});
  EXPECT_TRUE(h.Snapshot().pipelines.empty());
  api.fail_pages = {1};
  Poll(h, api);  // failed first page: no baseline
  EXPECT_TRUE(h.Snapshot().pipelines.empty());
  api.fail_pages.clear();
  Poll(h, api);
  ASSERT_EQ(h.Snapshot().pipelines.size(), 1u);
  EXPECT_EQ(h.Snapshot().pipelines.at("p").watermark, 2);
  RunHistory after({60});
  after.Restore(ThroughTheFile(h));
  api.Add(1);
  api.fail_pages = {1};
  Poll(after, api);
  EXPECT_EQ(Rendered(after).find("yunxiao_flow_pipeline_runs_total"), std::string::npos);
  EXPECT_EQ(after.Snapshot().pipelines.size(), 1u);  // still saved
  api.fail_pages.clear();
  Poll(after, api);
  EXPECT_EQ(testing::Value(Rendered(after), "yunxiao_flow_pipeline_runs_total",
                           {"status=\"SUCCESS\"", "trigger_mode=\"manual\""}),
            1);
}

TEST(RunHistory, MaxPendingIsAValidatedConfigKey) {
  auto ok = config::ParseConfig(
      "api: {endpoint: 'http://x', edition: region}\npipelines: [1]\n"
      "collect: {history: true, history_max_pending: 36h}\n",
      "c.yaml");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.config.collect.history_max_pending, hours(36));
  auto defaults = config::ParseConfig(
      "api: {endpoint: 'http://x', edition: region}\npipelines: [1]\n", "c.yaml");
  EXPECT_EQ(defaults.config.collect.history_max_pending, hours(7 * 24));
  for (const char* bad : {"0", "soon", "30s"}) {  // 30s: shorter than the 1m interval
    auto l = config::ParseConfig(
        std::string("api: {endpoint: 'http://x', edition: region}\npipelines: [1]\n"
                    "collect: {history_max_pending: ") +
            bad + "}\n",
        "c.yaml");
    EXPECT_FALSE(l.ok()) << bad;
    bool named = false;
    for (const auto& e : l.errors)
      named |= e.find("collect.history_max_pending") != std::string::npos;
    EXPECT_TRUE(named) << bad;
  }
}

}  // namespace
}  // namespace yfe::collector
