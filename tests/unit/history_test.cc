#include "collector/history.h"

#include <gtest/gtest.h>

#include "collector/collector.h"
#include "collector/discovery.h"
#include "support/exposition_check.h"
#include "support/test_support.h"

namespace yfe::collector {
namespace {

using model::RunSummary;

RunSummary MakeRun(int64_t id, const std::string& status, int64_t trigger = 1) {
  RunSummary r;
  r.id = id;
  r.status = status;
  r.trigger_mode = trigger;
  r.start_ms = 1700000000000 + id * 1000;
  r.end_ms = status == "RUNNING" ? r.start_ms : r.start_ms + 90'000;
  return r;
}

// Newest first, like the API.
std::vector<RunSummary> Page(std::vector<RunSummary> runs) {
  std::sort(runs.begin(), runs.end(), [](auto& a, auto& b) { return a.id > b.id; });
  return runs;
}

void Poll(RunHistory& h, const std::string& id, const std::vector<RunSummary>& all) {
  auto sorted = Page(all);
  int page = 1;
  while (true) {
    std::vector<RunSummary> slice;
    for (size_t i = (page - 1) * 30; i < sorted.size() && i < page * 30u; ++i) {
      slice.push_back(sorted[i]);
    }
    if (!h.Observe(id, page, slice)) break;
    ++page;
  }
  h.FinishPoll(id);
}

TEST(RunHistory, BaselineIsNotCounted) {
  RunHistory h({60, 120});
  Poll(h, "p", {MakeRun(1, "SUCCESS"), MakeRun(2, "FAIL"), MakeRun(3, "RUNNING")});
  EXPECT_EQ(h.Count("p", "SUCCESS", "manual"), 0);
  EXPECT_EQ(h.Count("p", "FAIL", "manual"), 0);
}

TEST(RunHistory, EachFinishedRunIsCountedOnce) {
  RunHistory h({60, 120});
  Poll(h, "p", {MakeRun(1, "SUCCESS"), MakeRun(2, "RUNNING")});
  // Run 2 finishes, runs 3 and 4 start and finish between polls, 5 is running.
  std::vector<RunSummary> now = {MakeRun(1, "SUCCESS"), MakeRun(2, "FAIL"),
                                 MakeRun(3, "SUCCESS", 3), MakeRun(4, "SUCCESS", 3),
                                 MakeRun(5, "RUNNING")};
  Poll(h, "p", now);
  Poll(h, "p", now);  // nothing new: nothing counted again
  EXPECT_EQ(h.Count("p", "FAIL", "manual"), 1);
  EXPECT_EQ(h.Count("p", "SUCCESS", "commit"), 2);
  EXPECT_EQ(h.Count("p", "SUCCESS", "manual"), 0);
  now[4] = MakeRun(5, "CANCELED");
  Poll(h, "p", now);
  EXPECT_EQ(h.Count("p", "CANCELED", "manual"), 1);
}

TEST(RunHistory, ManyRunsBetweenPollsAreReadFromOlderPages) {
  RunHistory h({60});
  std::vector<RunSummary> runs = {MakeRun(1, "SUCCESS")};
  Poll(h, "p", runs);
  for (int id = 2; id <= 71; ++id) runs.push_back(MakeRun(id, id % 2 ? "FAIL" : "SUCCESS"));
  Poll(h, "p", runs);
  EXPECT_EQ(h.Count("p", "SUCCESS", "manual") + h.Count("p", "FAIL", "manual"), 70);
}

TEST(RunHistory, LongRunningRunIsFollowedOffThePage) {
  RunHistory h({60});
  std::vector<RunSummary> runs = {MakeRun(1, "RUNNING")};
  Poll(h, "p", runs);
  for (int id = 2; id <= 40; ++id) runs.push_back(MakeRun(id, "SUCCESS"));
  Poll(h, "p", runs);  // 39 new runs: two pages
  runs[0] = MakeRun(1, "FAIL");
  Poll(h, "p", runs);  // run 1 is on page 2 now
  EXPECT_EQ(h.Count("p", "FAIL", "manual"), 1);
  EXPECT_EQ(h.Count("p", "SUCCESS", "manual"), 39);
}

TEST(RunHistory, RendersValidCountersAndHistograms) {
  RunHistory h({60, 120});
  Poll(h, "p", {MakeRun(1, "SUCCESS")});
  Poll(h, "p", {MakeRun(1, "SUCCESS"), MakeRun(2, "SUCCESS")});
  std::string out;
  h.Render(out, {{"p", "name"}});
  EXPECT_EQ(testing::CheckExposition(out), "");
  EXPECT_EQ(testing::Value(out, "yunxiao_flow_pipeline_runs_total",
                           {"status=\"SUCCESS\"", "trigger_mode=\"manual\""}),
            1);
  EXPECT_EQ(testing::Value(out, "yunxiao_flow_pipeline_runs_total", {"status=\"FAIL\""}), 0);
  EXPECT_EQ(testing::Value(out, "yunxiao_flow_pipeline_run_duration_seconds_bucket",
                           {"status=\"SUCCESS\"", "le=\"60\""}),
            0);
  EXPECT_EQ(testing::Value(out, "yunxiao_flow_pipeline_run_duration_seconds_bucket",
                           {"status=\"SUCCESS\"", "le=\"120\""}),
            1);
  EXPECT_EQ(
      testing::Value(out, "yunxiao_flow_pipeline_run_duration_seconds_sum", {"status=\"SUCCESS\""}),
      90);
  out.clear();
  h.Render(out, {});
  EXPECT_TRUE(out.empty());
}

TEST(RunHistory, MemoryIsBounded) {
  RunHistory h({60});
  std::vector<RunSummary> runs;
  for (int id = 1; id <= 5000; ++id) {
    runs.push_back(MakeRun(id, "SUCCESS"));
    if (id % 10 == 0) {
      std::vector<RunSummary> newest(runs.end() - std::min<size_t>(runs.size(), 60), runs.end());
      Poll(h, "p", newest);
    }
  }
  EXPECT_EQ(h.Count("p", "SUCCESS", "manual"), 4990);
  EXPECT_LE(h.RememberedIds("p"), 60u);
}

TEST(MergeTargets, ConfiguredFirstAndTheirNamesWin) {
  std::vector<config::PipelineConfig> configured = {{"9", "mine"}, {"5", ""}};
  std::vector<model::Pipeline> found = {
      {"5", "five", 1}, {"9", "nine", 1}, {"10", "ten", 2}, {"2", "two", 2}};
  auto t = MergeTargets(configured, found, 0, 1);
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[0].id, "9");
  EXPECT_EQ(t[0].name, "mine");
  EXPECT_EQ(t[1].name, "five");
  EXPECT_EQ(t[2].id, "2");
  EXPECT_EQ(t[3].id, "10");
}

TEST(MergeTargets, ShardsPartitionThePipelines) {
  std::vector<model::Pipeline> found;
  for (int i = 0; i < 300; ++i) found.push_back({std::to_string(1000000 + i), "p", 1});
  size_t total = 0;
  std::set<std::string> seen;
  for (int s = 0; s < 3; ++s) {
    auto t = MergeTargets({}, found, s, 3);
    EXPECT_GT(t.size(), 60u);  // roughly even
    total += t.size();
    for (auto& x : t) seen.insert(x.id);
  }
  EXPECT_EQ(total, 300u);
  EXPECT_EQ(seen.size(), 300u);
}

}  // namespace
}  // namespace yfe::collector
