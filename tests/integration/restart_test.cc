// Run history across restarts and crashes (collect.state_dir): the real binary, the simulator's
// ground truth of finishes, kill -9 at random moments.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include "support/harness.h"

namespace yfe::testing {
namespace {

namespace fs = std::filesystem;

int64_t SimNowMs(Simulator& sim) {
  rapidjson::Document d;
  d.Parse(sim.Control("GET", "/-/sim/clock").body.c_str());
  return d["nowMs"].GetInt64();
}

// Finishes per status since `since` (the simulator's ground truth).
std::map<std::string, double> Truth(Simulator& sim, const std::string& id, int64_t since) {
  std::map<std::string, double> t;
  rapidjson::Document d;
  d.Parse(sim.Control("GET", "/-/sim/pipelines/" + id + "/finishes?since=" + std::to_string(since))
              .body.c_str());
  for (const auto& e : d.GetArray()) t[e["status"].GetString()] += 1;
  return t;
}

std::string Differences(Simulator& sim, const std::string& text,
                        const std::vector<std::string>& ids, int64_t since) {
  std::string diff;
  for (const auto& id : ids) {
    const auto truth = Truth(sim, id, since);
    const std::string pid = "pipeline_id=\"" + id + "\"";
    for (const char* status : {"SUCCESS", "FAIL", "CANCELED"}) {
      const std::string s = "status=\"" + std::string(status) + "\"";
      const double runs = Sum(text, "yunxiao_flow_pipeline_runs_total", {pid, s});
      const double want = truth.contains(status) ? truth.at(status) : 0.0;
      const double durations =
          Sum(text, "yunxiao_flow_pipeline_run_duration_seconds_count", {pid, s});
      if (runs != want || (std::string(status) != "CANCELED" && durations != runs)) {
        diff += id + " " + status + ": runs " + std::to_string(runs) + " want " +
                std::to_string(want) + " durations " + std::to_string(durations) + "; ";
      }
    }
  }
  return diff;
}

// Remembers the highest value of every runs_total series seen so far and reports any that
// went down (a counter reset, to Prometheus).
class Monotonic {
 public:
  void Check(const std::string& text) {
    for (const auto& line : Samples(text, "yunxiao_flow_pipeline_runs_total")) {
      const size_t sp = line.rfind(' ');
      const std::string series = line.substr(0, sp);
      const double v = std::stod(line.substr(sp + 1));
      auto [it, fresh] = max_.emplace(series, v);
      if (!fresh && v < it->second) {
        decreases_ +=
            series + " went from " + std::to_string(it->second) + " to " + std::to_string(v) + "; ";
      }
      if (v > it->second) it->second = v;
    }
    ++scrapes_;
  }
  const std::string& decreases() const { return decreases_; }
  int scrapes() const { return scrapes_; }

 private:
  std::map<std::string, double> max_;
  std::string decreases_;
  int scrapes_ = 0;
};

std::string Config(Simulator& sim, const std::vector<std::string>& ids, const std::string& dir) {
  return sim.Config(
      {.ids = ids,
       .collect = {{"history", "true"}, {"history_interval", "1s"}, {"state_dir", dir}}});
}

// Waits until the exporter shows run history for every pipeline (its baseline, or its first
// poll after a restart).
bool HistoryShown(Exporter& exp, size_t pipelines) {
  return Eventually([&] {
    auto r = exp.Get("/metrics");
    return r.status == 200 &&
           PipelineIdsIn(r.body, "yunxiao_flow_pipeline_runs_total").size() == pipelines;
  });
}

TEST(Restart, CountersContinueAcrossStopsAndKillNineAndMatchTheSimulator) {
  Simulator sim({.pipelines = 2, .frozen = true});
  const auto ids = sim.PipelineIds();
  ASSERT_EQ(ids.size(), 2u);
  TempDir state;
  const std::string dir = state.path() + "/state";
  const std::string config = Config(sim, ids, dir);
  const std::string file = dir + "/run-ledger";

  auto exp = std::make_unique<Exporter>(config);
  ASSERT_TRUE(exp->started()) << exp->process().Stderr();
  ASSERT_TRUE(HistoryShown(*exp, 2));
  ASSERT_TRUE(Eventually([&] { return fs::exists(file); }));  // the baseline is committed
  const int64_t since = SimNowMs(sim);
  ASSERT_EQ(sim.Control("POST", "/-/sim/clock", R"({"advanceSeconds":1})").status, 200);

  std::mt19937 rng(std::random_device{}());
  const char* statuses[] = {"SUCCESS", "SUCCESS", "FAIL", "CANCELED"};
  auto finish_one = [&] {
    const std::string& id = ids[rng() % ids.size()];
    const std::string body = std::string(R"({"status":")") + statuses[rng() % 4] + "\"}";
    ASSERT_EQ(sim.Control("POST", "/-/sim/pipelines/" + id + "/finish", body).status, 200);
  };
  Monotonic mono;
  auto scrape = [&] {
    auto r = HttpGet("127.0.0.1", exp->port(), "/metrics");
    if (r.status == 200) mono.Check(r.body);
  };

  // 1. Runs finish while the exporter is stopped cleanly.
  for (int i = 0; i < 5; ++i) finish_one();
  ASSERT_TRUE(Eventually([&] {
    scrape();
    auto r = exp->Get("/metrics");
    return r.status == 200 && Differences(sim, r.body, ids, since).empty();
  }));
  EXPECT_EQ(exp->process().Stop(15), 0);
  exp.reset();
  for (int i = 0; i < 12; ++i) finish_one();
  exp = std::make_unique<Exporter>(config);
  ASSERT_TRUE(exp->started()) << exp->process().Stderr();
  std::string diff;
  EXPECT_TRUE(Eventually([&] {
    scrape();
    auto r = exp->Get("/metrics");
    diff = r.status == 200 ? Differences(sim, r.body, ids, since) : "no scrape";
    return diff.empty();
  })) << diff;
  EXPECT_NE(exp->process().Stderr().find("run ledger: state restored"), std::string::npos);

  // 2. kill -9 at random moments while runs keep finishing (and while it is down).
  for (int round = 0; round < 5; ++round) {
    const auto lifetime = std::chrono::milliseconds(200 + rng() % 2800);
    const auto end = std::chrono::steady_clock::now() + lifetime;
    while (std::chrono::steady_clock::now() < end) {
      if (rng() % 3 == 0) finish_one();
      scrape();
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 40));
    }
    EXPECT_EQ(exp->process().Stop(9), -9);
    exp.reset();
    for (int i = rng() % 8; i > 0; --i) finish_one();
    exp = std::make_unique<Exporter>(config);
    ASSERT_TRUE(exp->started()) << exp->process().Stderr();
    EXPECT_EQ(exp->process().Stderr().find("cannot be used"), std::string::npos)
        << exp->process().Stderr();
  }

  // 3. After the last restart: exactly the simulator's truth, and no counter ever went down.
  EXPECT_TRUE(Eventually([&] {
    scrape();
    auto r = exp->Get("/metrics");
    diff = r.status == 200 ? Differences(sim, r.body, ids, since) : "no scrape";
    return diff.empty();
  })) << diff;
  // A few more polls count nothing again.
  const long polls = sim.ApiRequests("listPipelineRuns");
  EXPECT_TRUE(Eventually([&] { return sim.ApiRequests("listPipelineRuns") >= polls + 6; }));
  scrape();
  EXPECT_EQ(Differences(sim, exp->Scrape(), ids, since), "");
  EXPECT_EQ(mono.decreases(), "");
  EXPECT_GT(mono.scrapes(), 20);
  double total = 0;
  for (const auto& id : ids) {
    for (const auto& [status, n] : Truth(sim, id, since)) total += n;
  }
  EXPECT_GT(total, 17);  // the test did exercise something
}

// A real Prometheus scrapes the exporter (on a fixed port) through kill -9 restarts while
// runs finish: resets() of every runs_total series is 0, and its last value is the truth.
TEST(Restart, RealPrometheusSeesNoCounterReset) {
  if (access("/usr/bin/prometheus", X_OK) != 0) GTEST_SKIP() << "prometheus is not installed";
  Simulator sim({.pipelines = 2, .frozen = true});
  const auto ids = sim.PipelineIds();
  ASSERT_EQ(ids.size(), 2u);
  TempDir state;
  const std::string config = Config(sim, ids, state.path() + "/state");
  const int port = FreePort();
  const std::vector<std::string> listen = {"--web.listen-address=127.0.0.1:" +
                                           std::to_string(port)};
  auto exp = std::make_unique<Exporter>(config, ExporterOptions{.flags = listen});
  ASSERT_EQ(exp->port(), port) << exp->process().Stderr();
  ASSERT_TRUE(HistoryShown(*exp, 2));
  ASSERT_TRUE(Eventually([&] { return fs::exists(state.path() + "/state/run-ledger"); }));
  const int64_t since = SimNowMs(sim);
  ASSERT_EQ(sim.Control("POST", "/-/sim/clock", R"({"advanceSeconds":1})").status, 200);

  TempDir prom_dir;
  const int prom_port = FreePort();
  const std::string prom_config = prom_dir.Write(
      "prometheus.yml",
      "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: yfe\n    scrape_timeout: "
      "1s\n    static_configs:\n      - targets: ['127.0.0.1:" +
          std::to_string(port) + "']\n");
  Process prom({"/usr/bin/prometheus", "--config.file=" + prom_config,
                "--storage.tsdb.path=" + prom_dir.path() + "/data",
                "--web.listen-address=127.0.0.1:" + std::to_string(prom_port), "--log.level=warn"});
  ASSERT_TRUE(Eventually([&] { return HttpGet("127.0.0.1", prom_port, "/-/ready").status == 200; },
                         std::chrono::seconds(30)));
  auto query = [&](const std::string& promql) {
    std::string q;
    for (char c : promql) {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
      q += isalnum(static_cast<unsigned char>(c)) ? std::string(1, c) : std::string(buf);
    }
    rapidjson::Document d;
    d.Parse(HttpGet("127.0.0.1", prom_port, "/api/v1/query?query=" + q).body.c_str());
    std::vector<double> values;
    if (d.IsObject() && d.HasMember("data")) {
      for (const auto& r : d["data"]["result"].GetArray()) {
        values.push_back(std::stod(r["value"][1].GetString()));
      }
    }
    return values;
  };
  // Prometheus has the baseline.
  ASSERT_TRUE(Eventually([&] { return query("yunxiao_flow_pipeline_runs_total").size() >= 6; },
                         std::chrono::seconds(20)));

  std::mt19937 rng(std::random_device{}());
  const char* statuses[] = {"SUCCESS", "FAIL", "CANCELED"};
  auto finish_some = [&](int n) {
    for (int i = 0; i < n; ++i) {
      const std::string body = std::string(R"({"status":")") + statuses[rng() % 3] + "\"}";
      ASSERT_EQ(sim.Control("POST", "/-/sim/pipelines/" + ids[rng() % 2] + "/finish", body).status,
                200);
    }
  };
  for (int round = 0; round < 3; ++round) {
    finish_some(3);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500 + rng() % 1500));  // scraped
    finish_some(2);
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 1200));
    EXPECT_EQ(exp->process().Stop(9), -9);
    exp.reset();
    finish_some(2);  // while down
    exp = std::make_unique<Exporter>(config, ExporterOptions{.flags = listen});
    ASSERT_EQ(exp->port(), port) << exp->process().Stderr();
  }
  std::string diff;
  EXPECT_TRUE(Eventually([&] {
    auto r = exp->Get("/metrics");
    diff = r.status == 200 ? Differences(sim, r.body, ids, since) : "no scrape";
    return diff.empty();
  })) << diff;
  std::this_thread::sleep_for(std::chrono::seconds(3));  // Prometheus scrapes the final values
  const auto resets = query("resets(yunxiao_flow_pipeline_runs_total[10m])");
  ASSERT_GE(resets.size(), 6u);
  for (double r : resets) EXPECT_EQ(r, 0);
  double want = 0;
  for (const auto& id : ids) {
    for (const auto& [status, n] : Truth(sim, id, since)) want += n;
  }
  const auto total = query("sum(yunxiao_flow_pipeline_runs_total)");
  ASSERT_EQ(total.size(), 1u);
  EXPECT_EQ(total[0], want);
}

TEST(Restart, UnusableStateFileIsMovedAsideAndTheExporterStartsWithABaseline) {
  Simulator sim({.pipelines = 1, .frozen = true});
  const auto ids = sim.PipelineIds();
  TempDir state;
  const std::string dir = state.path() + "/state";
  fs::create_directory(dir);
  state.Write("state/run-ledger", "yunxiao-flow-exporter-run-ledger\nversion 1\nbuckets 1 5\nend");
  Exporter exp(Config(sim, ids, dir));
  ASSERT_TRUE(exp.started()) << exp.process().Stderr();
  EXPECT_TRUE(HistoryShown(exp, 1));
  const std::string log = exp.process().Stderr();
  EXPECT_NE(log.find("the state file cannot be used"), std::string::npos) << log;
  EXPECT_NE(log.find(dir + "/run-ledger"), std::string::npos) << log;
  int aside = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    aside += e.path().filename().string().starts_with("run-ledger.corrupt-");
  }
  EXPECT_EQ(aside, 1);
  // A good file is written again after the baseline.
  EXPECT_TRUE(Eventually([&] {
    return fs::exists(dir + "/run-ledger") &&
           ReadFile(dir + "/run-ledger").find("crc32 ") != std::string::npos;
  }));
}

TEST(Restart, UnwritableStateDirFailsTheStartAndTheConfigCheckNamingThePath) {
  Simulator sim({.pipelines = 1, .frozen = true});
  TempDir state;
  const std::string file = state.Write("not-a-dir", "x");
  TempDir conf;
  const std::string path =
      conf.Write("config.yaml", Config(sim, sim.PipelineIds(), file + "/state"));
  Process check({YFE_EXPORTER_BIN, "--config.file=" + path, "--config.check"},
                {{"YUNXIAO_TOKEN", kSimToken}});
  EXPECT_EQ(check.Wait(std::chrono::seconds(20)), 1);
  EXPECT_NE(check.Stdout().find(file + "/state"), std::string::npos) << check.Stdout();
  Process run({YFE_EXPORTER_BIN, "--config.file=" + path, "--web.listen-address=127.0.0.1:0"},
              {{"YUNXIAO_TOKEN", kSimToken}});
  EXPECT_EQ(run.Wait(std::chrono::seconds(20)), 1);
  EXPECT_NE(run.Stderr().find(file + "/state"), std::string::npos) << run.Stderr();
}

}  // namespace
}  // namespace yfe::testing
