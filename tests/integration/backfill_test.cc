// Backfill end to end: the simulator with weeks of past runs → --backfill.since → real
// promtool → a real Prometheus on those blocks → the live exporter continuing from the
// ledger, scraped by that Prometheus. The failure ratio and p90 duration queries of
// docs/metrics.md give the simulator's truth for the backfilled days, and the counters go
// on without a reset or a jump.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <regex>
#include <sstream>
#include <tuple>

#include "support/harness.h"

namespace yfe::testing {
namespace {

constexpr int64_t kStep = 30 * 60 * 1000;
constexpr int64_t kDay = 24 * 3600 * 1000LL;
const std::vector<double> kBuckets = {300, 450, 600, 750, 900};

struct Finish {
  std::string status;
  int64_t start = 0, end = 0;
};

std::vector<Finish> Finishes(Simulator& sim, const std::string& id, int64_t since) {
  rapidjson::Document d;
  d.Parse(sim.Control("GET", "/-/sim/pipelines/" + id + "/finishes?since=" + std::to_string(since))
              .body.c_str());
  std::vector<Finish> out;
  for (const auto& e : d.GetArray()) {
    out.push_back({e["status"].GetString(), e["startTime"].GetInt64(), e["endTime"].GetInt64()});
  }
  return out;
}

std::string Encode(const std::string& s) {
  std::string q;
  for (char c : s) {
    char buf[4];
    std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
    q += std::isalnum(static_cast<unsigned char>(c)) ? std::string(1, c) : std::string(buf);
  }
  return q;
}

// pipeline_name (or pipeline_id) → value of an instant query at `at_ms`.
std::map<std::string, double> Query(int port, const std::string& promql, int64_t at_ms,
                                    const std::string& by = "pipeline_name") {
  char at[32];
  std::snprintf(at, sizeof at, "%.3f", static_cast<double>(at_ms) / 1000);
  rapidjson::Document d;
  d.Parse(HttpGet("127.0.0.1", port, "/api/v1/query?query=" + Encode(promql) + "&time=" + at)
              .body.c_str());
  std::map<std::string, double> out;
  if (!d.IsObject() || !d.HasMember("data")) return out;
  for (const auto& r : d["data"]["result"].GetArray()) {
    const std::string key =
        r["metric"].HasMember(by.c_str()) ? r["metric"][by.c_str()].GetString() : "";
    out[key] = std::stod(r["value"][1].GetString());
  }
  return out;
}

// histogram_quantile over these durations (seconds) with kBuckets, as Prometheus computes it.
double Quantile(double q, const std::vector<double>& durations) {
  std::vector<double> cumulative(kBuckets.size() + 1, 0);
  for (double d : durations) {
    for (size_t i = 0; i < kBuckets.size(); ++i) cumulative[i] += d <= kBuckets[i] ? 1 : 0;
    cumulative.back() += 1;
  }
  const double rank = q * cumulative.back();
  size_t b = 0;
  while (cumulative[b] < rank) ++b;
  if (b == kBuckets.size()) return kBuckets.back();
  const double start = b == 0 ? 0 : kBuckets[b - 1];
  const double below = b == 0 ? 0 : cumulative[b - 1];
  return start + (kBuckets[b] - start) * (rank - below) / (cumulative[b] - below);
}

// The simulator's job truth (finishes?jobs=1) since `since`, finished at or before `until`:
// (pipeline_id, job_sign, status) → job runs.
std::map<std::tuple<std::string, std::string, std::string>, double> JobTruth(
    Simulator& sim, const std::vector<std::string>& ids, int64_t since, int64_t until) {
  std::map<std::tuple<std::string, std::string, std::string>, double> out;
  for (const auto& id : ids) {
    rapidjson::Document d;
    d.Parse(sim.Control("GET", "/-/sim/pipelines/" + id +
                                   "/finishes?jobs=1&since=" + std::to_string(since))
                .body.c_str());
    for (const auto& e : d.GetArray()) {
      if (e["endTime"].GetInt64() > until) continue;
      for (const auto& s : e["stages"].GetArray()) {
        for (const auto& j : s["jobs"].GetArray()) {
          out[{id, j["jobSign"].GetString(), j["status"].GetString()}] += 1;
        }
      }
    }
  }
  return out;
}

// The same from a text exposition or a Prometheus vector: (pipeline_id, job_sign, status).
std::map<std::tuple<std::string, std::string, std::string>, double> JobCounts(
    const std::string& exposition) {
  std::map<std::tuple<std::string, std::string, std::string>, double> out;
  const std::regex line(
      "yunxiao_flow_job_runs_total\\{pipeline_id=\"([^\"]*)\".*job_sign=\"([^\"]*)\".*"
      "status=\"([^\"]*)\"\\} ([0-9.e+]+)");
  std::istringstream in(exposition);
  for (std::string l; std::getline(in, l);) {
    std::smatch m;
    if (std::regex_search(l, m, line) && std::stod(m[4]) > 0) {
      out[{m[1], m[2], m[3]}] += std::stod(m[4]);
    }
  }
  return out;
}

std::map<std::tuple<std::string, std::string, std::string>, double> PromJobCounts(int port,
                                                                                  int64_t at_ms) {
  char at[32];
  std::snprintf(at, sizeof at, "%.3f", static_cast<double>(at_ms) / 1000);
  rapidjson::Document d;
  d.Parse(HttpGet("127.0.0.1", port,
                  "/api/v1/query?query=" +
                      Encode("sum by (pipeline_id, job_sign, status) "
                             "(yunxiao_flow_job_runs_total) > 0") +
                      "&time=" + at)
              .body.c_str());
  std::map<std::tuple<std::string, std::string, std::string>, double> out;
  if (!d.IsObject() || !d.HasMember("data")) return out;
  for (const auto& r : d["data"]["result"].GetArray()) {
    out[{r["metric"]["pipeline_id"].GetString(), r["metric"]["job_sign"].GetString(),
         r["metric"]["status"].GetString()}] = std::stod(r["value"][1].GetString());
  }
  return out;
}

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST(Backfill, PrometheusOnTheBlocksAnswersForThePastAndLiveCollectionContinues) {
  if (access("/usr/bin/prometheus", X_OK) != 0 || access("/usr/bin/promtool", X_OK) != 0) {
    GTEST_SKIP() << "prometheus is not installed";
  }
  const int64_t t0 = WallMs() / 1000 * 1000;  // the simulator's frozen now
  Simulator sim(
      {.pipelines = 4, .flags = {"--history=504h", "--clock=frozen:" + std::to_string(t0 / 1000)}});
  const auto ids = sim.PipelineIds();
  ASSERT_EQ(ids.size(), 4u);
  TempDir dir;
  const int port = FreePort();
  const std::string config =
      sim.Config({.ids = ids,
                  .api = {{"max_requests_per_second", "1000"}, {"rate_limit_burst", "1000"}},
                  .collect = {{"history", "true"},
                              {"history_interval", "1s"},
                              {"history_buckets", "[300, 450, 600, 750, 900]"},
                              {"job_history", "true"},
                              {"state_dir", dir.path() + "/state"}}});
  const std::string config_file = dir.Write("config.yaml", config);
  const std::map<std::string, std::string> env = {{"YUNXIAO_TOKEN", kSimToken}};

  // 1. Backfill two weeks, with the labels Prometheus gives the live exporter's target, in
  // chunks of a week (three files: the two weeks are not aligned to the epoch's weeks).
  const std::string om = dir.path() + "/backfill.om";
  Process backfill({YFE_EXPORTER_BIN, "--config.file=" + config_file, "--backfill.since=14d",
                    "--backfill.output=" + om, "--backfill.step=30m", "--backfill.chunk=7d",
                    "--backfill.labels=job=yfe,instance=127.0.0.1:" + std::to_string(port)},
                   env);
  ASSERT_EQ(backfill.Wait(std::chrono::seconds(60)), 0) << backfill.Stderr();
  const int64_t backfill_end = WallMs();
  std::smatch m;
  const std::string log = backfill.Stderr();
  ASSERT_TRUE(std::regex_search(log, m, std::regex("since_ms=([0-9]+)"))) << log;
  const int64_t since = std::stoll(m[1]);
  EXPECT_NE(log.find("backfill: 4/4 pipelines"), std::string::npos) << log;
  EXPECT_NE(log.find("run details"), std::string::npos) << log;
  EXPECT_FALSE(std::filesystem::exists(om));

  // 2. Real promtool makes blocks of each chunk in turn (each deleted after), a real
  // Prometheus starts on them.
  int chunks = 0;
  for (int n = 1; n < 10; ++n) {
    const std::string chunk = dir.path() + "/backfill.000" + std::to_string(n) + ".om";
    if (!std::filesystem::exists(chunk)) break;
    ++chunks;
    const std::string text = ReadFile(chunk);
    EXPECT_EQ(text.substr(text.size() - 6), "# EOF\n") << chunk;
    Process promtool({"/usr/bin/promtool", "tsdb", "create-blocks-from", "openmetrics",
                      "--max-block-duration=168h", chunk, dir.path() + "/data"});
    ASSERT_EQ(promtool.Wait(std::chrono::seconds(40)), 0)
        << chunk << promtool.Stderr() << promtool.Stdout();
    std::filesystem::remove(chunk);
  }
  EXPECT_EQ(chunks, 3);
  const int prom_port = FreePort();
  const std::string prom_config = dir.Write(
      "prometheus.yml",
      "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: yfe\n    scrape_timeout: "
      "1s\n    static_configs:\n      - targets: ['127.0.0.1:" +
          std::to_string(port) + "']\n");
  Process prom({"/usr/bin/prometheus", "--config.file=" + prom_config,
                "--storage.tsdb.path=" + dir.path() + "/data", "--storage.tsdb.retention.time=60d",
                "--web.listen-address=127.0.0.1:" + std::to_string(prom_port), "--log.level=warn"});
  ASSERT_TRUE(Eventually([&] { return HttpGet("127.0.0.1", prom_port, "/-/ready").status == 200; },
                         std::chrono::seconds(30)));

  // 3. The backfilled days: the docs' queries at a time between two samples, two days back
  // (every series then has counted runs before the window, so increase() extrapolates all
  // of a pipeline's series alike and the ratios are exact). The window's samples cover the
  // finishes in (first sample, last sample].
  const int64_t at = (t0 - 2 * kDay) / kStep * kStep + kStep / 2;
  const std::string ratio_q =
      "sum by (pipeline_name) (increase(yunxiao_flow_pipeline_runs_total{status=\"FAIL\"}[1d]))"
      " / sum by (pipeline_name) (increase(yunxiao_flow_pipeline_runs_total[1d]))";
  const std::string p90_q =
      "histogram_quantile(0.9, sum by (pipeline_name, le) ("
      "rate(yunxiao_flow_pipeline_run_duration_seconds_bucket{status=\"SUCCESS\"}[7d])))";
  const auto ratios = Query(prom_port, ratio_q, at);
  const auto p90s = Query(prom_port, p90_q, at);
  ASSERT_EQ(ratios.size(), 4u);
  ASSERT_EQ(p90s.size(), 4u);
  for (const auto& id : ids) {
    const auto all = Finishes(sim, id, since);
    double fail = 0, total = 0;
    std::vector<double> success;
    for (const auto& f : all) {
      if (f.end > at - kDay + kStep / 2 && f.end <= at - kStep / 2) {
        total += 1;
        fail += f.status == "FAIL" ? 1 : 0;
      }
      if (f.end > at - 7 * kDay + kStep / 2 && f.end <= at - kStep / 2 && f.status == "SUCCESS") {
        success.push_back(static_cast<double>(f.end - f.start) / 1000);
      }
    }
    const auto named = Query(
        prom_port,
        "last_over_time(yunxiao_flow_pipeline_runs_total{pipeline_id=\"" + id + "\"}[1h])", at);
    ASSERT_FALSE(named.empty()) << id;
    const std::string name = named.begin()->first;
    ASSERT_GT(total, 20);
    EXPECT_NEAR(ratios.at(name), fail / total, 1e-9) << name;
    EXPECT_NEAR(p90s.at(name), Quantile(0.9, success), 1e-6) << name;
  }

  // 4. The hand-over: runs finish, the live exporter continues from the ledger.
  const auto before = Query(prom_port, "sum by (pipeline_id) (yunxiao_flow_pipeline_runs_total)",
                            backfill_end, "pipeline_id");
  ASSERT_EQ(sim.Control("POST", "/-/sim/clock", R"({"advanceSeconds":1800})").status, 200);
  ASSERT_EQ(
      sim.Control("POST", "/-/sim/pipelines/" + ids[0] + "/finish", R"({"status":"FAIL"})").status,
      200);
  Exporter live(
      config, ExporterOptions{.flags = {"--web.listen-address=127.0.0.1:" + std::to_string(port)}});
  ASSERT_EQ(live.port(), port) << live.process().Stderr();
  std::map<std::string, double> truth_before, truth_now;
  for (const auto& id : ids) {
    for (const auto& f : Finishes(sim, id, since)) {
      truth_now[id] += 1;
      truth_before[id] += f.end <= t0 ? 1 : 0;
    }
  }
  EXPECT_EQ(before, truth_before);
  // Job history: the backfilled job counters are the simulator's truth per job_sign, and
  // live collection continues them (the FAIL run's jobs counted once more, none twice).
  EXPECT_EQ(PromJobCounts(prom_port, backfill_end), JobTruth(sim, ids, since, t0));
  const auto job_truth_now = JobTruth(sim, ids, since, INT64_MAX);
  EXPECT_NE(job_truth_now, JobTruth(sim, ids, since, t0));
  std::map<std::tuple<std::string, std::string, std::string>, double> jobs_now;
  EXPECT_TRUE(Eventually([&] { return (jobs_now = JobCounts(live.Scrape())) == job_truth_now; },
                         std::chrono::seconds(20)));
  EXPECT_EQ(jobs_now, job_truth_now);
  std::map<std::string, double> now;
  EXPECT_TRUE(Eventually(
      [&] {
        now = Query(prom_port, "sum by (pipeline_id) (yunxiao_flow_pipeline_runs_total)", WallMs(),
                    "pipeline_id");
        return now == truth_now;
      },
      std::chrono::seconds(20)));
  for (const auto& id : ids) {
    EXPECT_EQ(now[id] - before.at(id), truth_now[id] - truth_before[id]) << id;  // no jump
  }
  EXPECT_GT(truth_now[ids[0]] - truth_before[ids[0]], 0);
  const std::string resets_q =
      "sum(resets(yunxiao_flow_pipeline_runs_total[1h])) + "
      "sum(resets(yunxiao_flow_pipeline_run_duration_seconds_bucket[1h])) + "
      "sum(resets(yunxiao_flow_job_runs_total[1h])) + "
      "sum(resets(yunxiao_flow_job_run_duration_seconds_bucket[1h]))";
  EXPECT_EQ(Query(prom_port, resets_q, WallMs(), "x"), (std::map<std::string, double>{{"", 0}}));
  EXPECT_EQ(live.process().Stderr().find("cannot be used"), std::string::npos);
}

}  // namespace
}  // namespace yfe::testing

namespace yfe::testing {
namespace {

// The refusals: no state dir, an existing ledger (unless --backfill.overwrite-state), an API
// failure (named, and neither the file nor the ledger written).
TEST(Backfill, RefusesClearlyAndWritesNothingOnFailure) {
  Simulator sim({.pipelines = 2, .flags = {"--history=72h"}});
  const auto ids = sim.PipelineIds();
  TempDir dir;
  const std::map<std::string, std::string> env = {{"YUNXIAO_TOKEN", kSimToken}};
  const std::string om = dir.path() + "/out.om";
  auto run = [&](const std::string& config, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {YFE_EXPORTER_BIN,
                                     "--config.file=" + dir.Write("config.yaml", config),
                                     "--backfill.since=2d", "--backfill.output=" + om};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto p = std::make_unique<Process>(argv, env);
    EXPECT_NE(p->Wait(std::chrono::seconds(30)), -1000);
    return p;
  };
  const std::pair<std::string, std::string> history = {"history", "true"};
  const std::pair<std::string, std::string> state = {"state_dir", dir.path() + "/state"};
  auto config = [&](std::vector<std::string> pipelines, bool with_state = true) {
    return sim.Config({.ids = pipelines,
                       .collect = with_state ? std::vector{history, state} : std::vector{history}});
  };

  auto no_chunk = run(config(ids), {"--backfill.max-chunks-on-disk=2"});
  EXPECT_EQ(no_chunk->Wait(std::chrono::seconds(1)), 1);
  EXPECT_NE(no_chunk->Stderr().find("needs --backfill.chunk"), std::string::npos);

  auto no_state = run(config(ids, false));
  EXPECT_EQ(no_state->Wait(std::chrono::seconds(1)), 1);
  EXPECT_NE(no_state->Stderr().find("backfill needs collect.state_dir"), std::string::npos);

  // A pipeline the API does not know: the error names it; nothing is written.
  auto failed = run(config({ids[0], "999999"}));
  EXPECT_EQ(failed->Wait(std::chrono::seconds(1)), 1);
  EXPECT_NE(failed->Stderr().find("pipeline 999999"), std::string::npos) << failed->Stderr();
  EXPECT_FALSE(std::filesystem::exists(om));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/state/run-ledger"));
  EXPECT_FALSE(std::filesystem::exists(om + ".part0"));

  auto ok = run(config(ids));
  EXPECT_EQ(ok->Wait(std::chrono::seconds(1)), 0) << ok->Stderr();
  const std::string ledger = ReadFile(dir.path() + "/state/run-ledger");
  auto again = run(config(ids));
  EXPECT_EQ(again->Wait(std::chrono::seconds(1)), 1);
  EXPECT_NE(again->Stderr().find("--backfill.overwrite-state"), std::string::npos);
  EXPECT_EQ(ReadFile(dir.path() + "/state/run-ledger"), ledger);
  auto forced = run(config(ids), {"--backfill.overwrite-state"});
  EXPECT_EQ(forced->Wait(std::chrono::seconds(1)), 0) << forced->Stderr();
}

}  // namespace
}  // namespace yfe::testing
