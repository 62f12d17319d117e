// Discovery, sharding and run history against the simulator.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <regex>
#include <set>
#include <sstream>

#include "support/harness.h"

namespace yfe::testing {
namespace {

struct Truth {
  std::string id, name;
  long group = 0;
};

std::vector<Truth> SimTruth(Simulator& sim) {
  std::vector<Truth> out;
  rapidjson::Document d;
  d.Parse(sim.Control("GET", "/-/sim/pipelines").body.c_str());
  for (const auto& p : d.GetArray()) {
    Truth t;
    t.id = p["id"].IsString() ? p["id"].GetString() : std::to_string(p["id"].GetInt64());
    t.name = p["name"].GetString();
    t.group = p["groupId"].GetInt64();
    out.push_back(t);
  }
  return out;
}

std::string DiscoveryConfig(Simulator& sim, const std::string& discovery,
                            const std::string& collect = "") {
  return "api:\n  endpoint: " + sim.Endpoint() +
         "\n  edition: central\n  organization_id: sim-org\n" + collect + "discovery:\n" +
         discovery;
}

TEST(Discovery, FindsFiltersAndFollowsThePipelines) {
  Simulator sim({.pipelines = 40, .frozen = true});  // more than one page of 30
  auto truth = SimTruth(sim);
  Exporter exp(DiscoveryConfig(sim, "  refresh_interval: 1s\n"));
  EXPECT_TRUE(Eventually([&] { return exp.Get("/-/ready").status == 200; }));
  std::string text = exp.Scrape();
  std::set<std::string> want;
  for (auto& t : truth) want.insert(t.id);
  EXPECT_EQ(PipelineIdsIn(text, "yunxiao_flow_latest_run_status"), want);
  EXPECT_EQ(Value(text, "yunxiao_flow_discovered_pipelines"), 40);
  // Names come from the list: no GetPipeline needed.
  EXPECT_EQ(sim.ApiRequests("getPipeline"), 0);
  EXPECT_NE(text.find("pipeline_name=\"" + truth[0].name + "\""), std::string::npos);

  // Pipelines that appear and disappear are followed at the next refresh.
  sim.Control("POST", "/-/sim/pipelines", R"({"remove":[)" + truth[0].id + "]}");
  sim.Control("POST", "/-/sim/pipelines", R"({"add":2})");
  EXPECT_TRUE(Eventually(
      [&] {
        auto ids = PipelineIdsIn(exp.Scrape(), "yunxiao_flow_fetch_success");
        return ids.size() == 41 && !ids.contains(truth[0].id);
      },
      std::chrono::seconds(20)));
}

TEST(Discovery, IncludeExcludeAndGroups) {
  Simulator sim({.pipelines = 24, .frozen = true});
  auto truth = SimTruth(sim);
  Exporter exp(DiscoveryConfig(sim,
                               "  include: \"^[a-z]\"\n  exclude: \"-(api|web)$\"\n"
                               "  group_ids: [1, 2]\n"));
  std::set<std::string> want;
  std::regex include("^[a-z]"), exclude("-(api|web)$");
  for (auto& t : truth) {
    if (std::regex_search(t.name, include) && !std::regex_search(t.name, exclude) &&
        (t.group == 1 || t.group == 2)) {
      want.insert(t.id);
    }
  }
  ASSERT_FALSE(want.empty());
  ASSERT_LT(want.size(), truth.size());
  EXPECT_EQ(PipelineIdsIn(exp.Scrape(), "yunxiao_flow_fetch_success"), want);
}

TEST(Discovery, ConfiguredPipelinesAreMergedAndTheirNamesWin) {
  Simulator sim({.pipelines = 5, .frozen = true});
  auto truth = SimTruth(sim);
  std::string config = DiscoveryConfig(sim, "  include: \"^$\"\n");  // matches nothing
  config += "pipelines:\n  - id: \"" + truth[2].id + "\"\n    name: chosen-name\n";
  Exporter exp(config);
  std::string text = exp.Scrape();
  EXPECT_EQ(PipelineIdsIn(text, "yunxiao_flow_fetch_success"), std::set<std::string>{truth[2].id});
  EXPECT_NE(text.find("pipeline_name=\"chosen-name\""), std::string::npos);
}

TEST(Discovery, PagesShorterThanAskedAreReadToTheEnd) {
  // The server sends 20 items when 30 are asked; its paging headers say there is more.
  Simulator sim({.pipelines = 45, .frozen = true, .flags = {"--max-per-page=20"}});
  Exporter exp(DiscoveryConfig(sim, "  refresh_interval: 10m\n"));
  std::string text = exp.Scrape();
  EXPECT_EQ(Value(text, "yunxiao_flow_discovered_pipelines"), 45);
  EXPECT_EQ(PipelineIdsIn(text, "yunxiao_flow_fetch_success").size(), 45u);
  EXPECT_EQ(sim.ApiRequests("listPipelines"), 3);
}

TEST(Discovery, The2025ListShapeAndGroupsWork) {
  Simulator sim({.pipelines = 24, .frozen = true, .flags = {"--list-style=2025"}});
  auto truth = SimTruth(sim);
  Exporter exp(DiscoveryConfig(sim, "  group_ids: [3]\n"));
  std::set<std::string> want;
  for (auto& t : truth) {
    if (t.group == 3) want.insert(t.id);
  }
  ASSERT_FALSE(want.empty());
  EXPECT_EQ(PipelineIdsIn(exp.Scrape(), "yunxiao_flow_fetch_success"), want);
  EXPECT_GE(sim.ApiRequests("listGroupPipelines"), 1);
}

TEST(Discovery, AnEmptyResultIsLoggedAndServedAsNoPipeline) {
  Simulator sim({.pipelines = 5, .frozen = true});
  // Not warm: with nothing to watch there is no start-up fetch to wait for.
  Exporter exp(DiscoveryConfig(sim, "  include: \"^no-such-pipeline$\"\n"), {.warm = false});
  EXPECT_TRUE(exp.process().WaitForOutput("discovery found no pipeline to watch"))
      << exp.process().Stderr();
  EXPECT_NE(exp.process().Stderr().find("no-such-pipeline"), std::string::npos);
  std::string text = exp.Scrape();
  EXPECT_EQ(Value(text, "yunxiao_flow_discovered_pipelines"), 0);
  EXPECT_EQ(sim.ApiRequests("listPipelines"), 1);
}

TEST(Discovery, ListedPipelinesThatNeverRanNeedNoLookup) {
  Simulator sim({.pipelines = 8, .frozen = true, .flags = {"--never-run=4"}});
  Exporter exp(DiscoveryConfig(sim, "  refresh_interval: 10m\n"));
  std::string text = exp.Scrape();
  EXPECT_EQ(Sum(text, "yunxiao_flow_fetch_success"), 8);
  EXPECT_EQ(PipelineIdsIn(text, "yunxiao_flow_pipeline_info").size(), 8u);
  EXPECT_EQ(PipelineIdsIn(text, "yunxiao_flow_latest_run_status").size(), 4u);
  EXPECT_EQ(sim.ApiRequests("getPipeline"), 0);
  EXPECT_EQ(exp.process().Stderr().find("fetch failed"), std::string::npos);
}

// The lines of per-pipeline run families, minus wall-clock timestamps.
std::set<std::string> PipelineLines(const std::string& text) {
  std::set<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("yunxiao_flow_") || line.find("pipeline_id=") == std::string::npos ||
        line.starts_with("yunxiao_flow_fetch_last_success_timestamp_seconds")) {
      continue;
    }
    out.insert(line);
  }
  return out;
}

TEST(Sharding, ReplicasTogetherCoverEveryPipelineExactlyOnce) {
  Simulator sim({.pipelines = 30, .frozen = true});
  std::string config = DiscoveryConfig(sim, "  refresh_interval: 10m\n");
  Exporter whole(config);
  auto all = PipelineLines(whole.Scrape());
  ASSERT_FALSE(all.empty());
  std::set<std::string> merged;
  size_t total = 0;
  std::set<std::string> ids_seen;
  for (int i = 0; i < 3; ++i) {
    Exporter shard(config, {.flags = {"--shard.index=" + std::to_string(i), "--shard.total=3"}});
    std::string text = shard.Scrape();
    auto ids = PipelineIdsIn(text, "yunxiao_flow_fetch_success");
    EXPECT_GT(ids.size(), 0u) << "shard " << i << " is empty";
    for (const auto& id : ids) EXPECT_TRUE(ids_seen.insert(id).second) << id << " in two shards";
    auto lines = PipelineLines(text);
    total += lines.size();
    merged.insert(lines.begin(), lines.end());
  }
  EXPECT_EQ(total, merged.size());  // no overlap
  EXPECT_EQ(merged, all);           // union equals the unsharded output
}

TEST(History, RunsFinishedBetweenScrapesAreCountedExactlyOnce) {
  Simulator sim({.pipelines = 2, .frozen = true});
  auto truth = SimTruth(sim);
  const std::string a = truth[0].id;
  Exporter exp(sim.Config({.ids = {truth[0].id, truth[1].id},
                           .collect = {{"history", "true"}, {"history_interval", "1s"}}}),
               {.flags = {"--web.enable-lifecycle"}});
  // Baseline done: the zero series exist.
  EXPECT_TRUE(Eventually(
      [&] { return !Samples(exp.Scrape(), "yunxiao_flow_pipeline_runs_total").empty(); }));
  std::string text = exp.Scrape();
  EXPECT_EQ(Sum(text, "yunxiao_flow_pipeline_runs_total"), 0);
  // Three runs start and finish between two scrapes (and likely between two polls).
  for (const char* status : {"FAIL", "SUCCESS", "FAIL"}) {
    ASSERT_EQ(sim.Control("POST", "/-/sim/pipelines/" + a + "/finish",
                          std::string(R"({"status":")") + status + "\"}")
                  .status,
              200);
  }
  EXPECT_TRUE(Eventually([&] {
    return Sum(exp.Scrape(), "yunxiao_flow_pipeline_runs_total", {"pipeline_id=\"" + a + "\""}) ==
           3;
  }));
  // Several more polls count nothing again.
  long polls = sim.ApiRequests("listPipelineRuns");
  EXPECT_TRUE(Eventually([&] { return sim.ApiRequests("listPipelineRuns") >= polls + 6; }));
  text = exp.Scrape();
  EXPECT_EQ(Sum(text, "yunxiao_flow_pipeline_runs_total", {"pipeline_id=\"" + a + "\"", "FAIL"}),
            2);
  EXPECT_EQ(Sum(text, "yunxiao_flow_pipeline_runs_total", {"pipeline_id=\"" + a + "\"", "SUCCESS"}),
            1);
  EXPECT_EQ(Sum(text, "yunxiao_flow_pipeline_runs_total", {"pipeline_id=\"" + truth[1].id + "\""}),
            0);
  EXPECT_EQ(
      Sum(text, "yunxiao_flow_pipeline_run_duration_seconds_count", {"pipeline_id=\"" + a + "\""}),
      3);
  EXPECT_EQ(PromtoolProblems(text), "");
  // A reload keeps the counts.
  ASSERT_EQ(HttpPost("127.0.0.1", exp.port(), "/-/reload", "").status, 200);
  EXPECT_TRUE(Eventually([&] {
    return Sum(exp.Scrape(), "yunxiao_flow_pipeline_runs_total", {"pipeline_id=\"" + a + "\""}) ==
           3;
  }));
}

}  // namespace
}  // namespace yfe::testing
