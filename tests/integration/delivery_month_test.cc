// A scripted month of delivery through a real Prometheus: the simulator's scheduled runs
// (deployments, failures, restores), a failed deployment resumed to success and a restart
// of the exporter (collect.state_dir) in the middle. The live exporter is scraped once a
// simulated day; the scrapes, stamped with the simulator's time, become TSDB blocks (real
// promtool) under a real Prometheus, which answers the expressions of
// deploy/prometheus/delivery.rules.yml for the four keys over 7d and 30d. Each must be
// exactly what the simulator's ground truth gives.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <vector>

#include "support/harness.h"

namespace yfe::testing {
namespace {

constexpr int64_t kDay = 24 * 3600 * 1000LL;
// collector::kDeliveryBuckets, as the exporter exposes them.
constexpr std::array<double, 14> kBuckets = {60,     300,     900,     1800,    3600,
                                             7200,   14400,   28800,   86400,   172800,
                                             604800, 1209600, 2592000, 15552000};

struct Event {
  int64_t run = 0;
  std::string status;
  int64_t start = 0, end = 0;
};

std::vector<Event> Finishes(Simulator& sim, const std::string& id, int64_t since) {
  rapidjson::Document d;
  d.Parse(sim.Control("GET", "/-/sim/pipelines/" + id + "/finishes?since=" + std::to_string(since))
              .body.c_str());
  std::vector<Event> out;
  for (const auto& e : d.GetArray()) {
    out.push_back({e["runId"].GetInt64(), e["status"].GetString(), e["startTime"].GetInt64(),
                   e["endTime"].GetInt64()});
  }
  std::sort(out.begin(), out.end(), [](const Event& a, const Event& b) { return a.end < b.end; });
  return out;
}

// What the four keys must be over (from, to]: the simulator's truth, by the exporter's
// rules (docs/metrics.md, "Delivery").
struct Keys {
  std::map<std::string, double> deployments;  // by status of each run's first finish
  std::vector<double> leads, restores;        // seconds
};
Keys Truth(const std::vector<Event>& events, int64_t from, int64_t to) {
  Keys k;
  std::map<int64_t, bool> seen, succeeded;
  int64_t failing_since = 0;
  for (const Event& e : events) {  // in end order
    const bool in = e.end > from && e.end <= to;
    if (!seen[e.run]) {
      seen[e.run] = true;
      if (in) k.deployments[e.status] += 1;
    }
    if (e.status == "SUCCESS" && !succeeded[e.run]) {
      succeeded[e.run] = true;
      if (in) k.leads.push_back(static_cast<double>(e.end - e.start) / 1000);
    }
    if (e.status == "FAIL" && failing_since == 0) failing_since = e.end;
    if (e.status == "SUCCESS" && failing_since > 0) {
      if (in) k.restores.push_back(static_cast<double>(e.end - failing_since) / 1000);
      failing_since = 0;
    }
  }
  return k;
}

// histogram_quantile over these values with kBuckets, as Prometheus computes it.
double Quantile(double q, const std::vector<double>& values) {
  std::vector<double> cumulative(kBuckets.size() + 1, 0);
  for (double v : values) {
    for (size_t i = 0; i < kBuckets.size(); ++i) cumulative[i] += v <= kBuckets[i] ? 1 : 0;
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

// record -> expr of a rules file (`expr: <one line>` or `expr: |` and its indented lines).
std::map<std::string, std::string> Rules(const std::string& path) {
  std::map<std::string, std::string> out;
  std::istringstream in(ReadFile(path));
  std::string line, record;
  bool block = false;
  while (std::getline(in, line)) {
    const size_t at = line.find_first_not_of(' ');
    if (at == std::string::npos) continue;
    const std::string text = line.substr(at);
    if (text.rfind("- record: ", 0) == 0) {
      record = text.substr(10);
      block = false;
    } else if (text.rfind("- ", 0) == 0) {
      record.clear();
      block = false;
    } else if (!record.empty() && text == "expr: |") {
      block = true;
    } else if (!record.empty() && text.rfind("expr: ", 0) == 0) {
      out[record] = text.substr(6);
    } else if (block && at >= 10) {
      out[record] += text + " ";
    }
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

// environment -> value of an instant query at at_ms.
std::map<std::string, double> Query(int port, const std::string& promql, int64_t at_ms) {
  rapidjson::Document d;
  d.Parse(HttpGet("127.0.0.1", port,
                  "/api/v1/query?query=" + Encode(promql) + "&time=" + std::to_string(at_ms / 1000))
              .body.c_str());
  std::map<std::string, double> out;
  if (!d.IsObject() || !d.HasMember("data")) return out;
  for (const auto& r : d["data"]["result"].GetArray()) {
    const std::string env =
        r["metric"].HasMember("environment") ? r["metric"]["environment"].GetString() : "";
    out[env] = std::stod(r["value"][1].GetString());
  }
  return out;
}

int64_t SimNowMs(Simulator& sim) {
  rapidjson::Document d;
  d.Parse(sim.Control("GET", "/-/sim/clock").body.c_str());
  return d["nowMs"].GetInt64();
}

TEST(DeliveryMonth, PrometheusGivesExactlyTheScriptedFourKeys) {
  if (access("/usr/bin/prometheus", X_OK) != 0 || access("/usr/bin/promtool", X_OK) != 0) {
    GTEST_SKIP() << "prometheus is not installed";
  }
  const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  Simulator sim({.pipelines = 2,
                 .flags = {"--clock=frozen:" + std::to_string(now_s - 32 * 24 * 3600),
                           "--run-gap=3h", "--run-duration=20m", "--fail-ratio=0.35"}});
  const auto ids = sim.PipelineIds();
  ASSERT_EQ(ids.size(), 2u);
  const std::string prod = ids[0];
  TempDir dir;
  const std::string config =
      sim.Config({.ids = ids,
                  .api = {{"max_requests_per_second", "1000"}, {"rate_limit_burst", "1000"}},
                  .collect = {{"history", "true"},
                              {"history_interval", "1s"},
                              {"state_dir", dir.path() + "/state"}},
                  .extra = "delivery:\n  deployments:\n    - environment: production\n"
                           "      pipelines: {ids: ['" +
                           prod + "']}\n"});
  auto exp = std::make_unique<Exporter>(config);
  ASSERT_TRUE(exp->started()) << exp->process().Stderr();
  ASSERT_TRUE(Eventually(
      [&] { return Samples(exp->Scrape(), "yunxiao_flow_deployments_total").size() == 3; }));
  const int64_t t0 = SimNowMs(sim);

  // series (name and labels) -> (time ms, value), from one scrape a day.
  std::map<std::string, std::vector<std::pair<int64_t, std::string>>> series;
  auto record = [&](int64_t at) {
    std::istringstream in(exp->Scrape());
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      if (line.rfind("yunxiao_flow_deployment", 0) != 0 &&
          line.rfind("yunxiao_flow_pipeline_restore", 0) != 0) {
        continue;
      }
      const size_t sp = line.rfind(' ');
      series[line.substr(0, sp)].push_back({at, line.substr(sp + 1)});
    }
  };
  // Every finish so far counted (runs_total), for both pipelines.
  auto caught_up = [&] {
    const std::string text = exp->Scrape();
    for (const auto& id : ids) {
      const double want = static_cast<double>(Finishes(sim, id, t0).size());
      if (Sum(text, "yunxiao_flow_pipeline_runs_total", {"pipeline_id=\"" + id + "\""}) != want) {
        return false;
      }
    }
    return true;
  };
  ASSERT_TRUE(Eventually(caught_up, std::chrono::seconds(20)));
  record(t0);
  for (int day = 1; day <= 30; ++day) {
    if (day == 15) {  // the exporter stops; a day of runs finishes meanwhile
      ASSERT_EQ(exp->process().Stop(15), 0);
      exp.reset();
    }
    if (day == 10) {  // a failed deployment is retried and succeeds
      const auto events = Finishes(sim, prod, t0);
      auto failed = std::find_if(events.rbegin(), events.rend(),
                                 [](const Event& e) { return e.status == "FAIL"; });
      ASSERT_NE(failed, events.rend());
      ASSERT_EQ(sim.Control("POST",
                            "/-/sim/pipelines/" + prod + "/runs/" + std::to_string(failed->run) +
                                "/resume",
                            R"({"status":"SUCCESS","seconds":300})")
                    .status,
                200);
    }
    ASSERT_EQ(sim.Control("POST", "/-/sim/clock", R"({"advanceSeconds":86400})").status, 200);
    if (!exp) {
      exp = std::make_unique<Exporter>(config);
      ASSERT_TRUE(exp->started()) << exp->process().Stderr();
    }
    ASSERT_TRUE(Eventually(caught_up, std::chrono::seconds(20))) << "day " << day;
    record(t0 + day * kDay);
  }
  const int64_t t30 = t0 + 30 * kDay;

  // The scrapes as OpenMetrics, one series after another, then real promtool and Prometheus.
  std::ofstream om(dir.path() + "/month.om");
  for (const auto& [name, samples] : series) {
    for (const auto& [at, value] : samples) om << name << ' ' << value << ' ' << at / 1000 << '\n';
  }
  om << "# EOF\n";
  om.close();
  Process promtool({"/usr/bin/promtool", "tsdb", "create-blocks-from", "openmetrics",
                    "--max-block-duration=720h", dir.path() + "/month.om", dir.path() + "/data"});
  ASSERT_EQ(promtool.Wait(std::chrono::seconds(40)), 0) << promtool.Stderr() << promtool.Stdout();
  const int prom_port = FreePort();
  const std::string prom_config = dir.Write("prometheus.yml", "global:\n  scrape_interval: 1m\n");
  Process prom({"/usr/bin/prometheus", "--config.file=" + prom_config,
                "--storage.tsdb.path=" + dir.path() + "/data", "--storage.tsdb.retention.time=90d",
                "--web.listen-address=127.0.0.1:" + std::to_string(prom_port), "--log.level=warn"});
  ASSERT_TRUE(Eventually([&] { return HttpGet("127.0.0.1", prom_port, "/-/ready").status == 200; },
                         std::chrono::seconds(30)));

  const auto rules = Rules(std::string(YFE_SOURCE_DIR) + "/deploy/prometheus/delivery.rules.yml");
  const auto events = Finishes(sim, prod, t0);
  for (int days : {7, 30}) {
    const std::string w = std::to_string(days) + "d";
    auto q = [&](const std::string& record) {
      const auto it = rules.find("environment:yunxiao_flow_" + record + w);
      EXPECT_NE(it, rules.end()) << record << w;
      return it == rules.end() ? std::map<std::string, double>{}
                               : Query(prom_port, it->second, t30);
    };
    const Keys k = Truth(events, t30 - days * kDay, t30);
    double all = 0;
    for (const auto& [status, n] : k.deployments) all += n;
    ASSERT_GT(all, 0) << w;
    const double fail = k.deployments.count("FAIL") ? k.deployments.at("FAIL") : 0;
    SCOPED_TRACE(w + ": " + std::to_string(all) + " deployments, " + std::to_string(fail) +
                 " failed, " + std::to_string(k.restores.size()) + " restores");
    const auto deployments = q("deployments:increase");
    ASSERT_EQ(deployments.size(), 1u);
    EXPECT_DOUBLE_EQ(deployments.at("production"), all);
    const auto cfr = q("change_failure_rate:ratio");
    ASSERT_EQ(cfr.size(), 1u);
    EXPECT_NEAR(cfr.at("production"), fail / all, 1e-12);
    const auto lead = q("deployment_lead_time_seconds:median");
    ASSERT_EQ(lead.size(), 1u);
    EXPECT_NEAR(lead.at("production"), Quantile(0.5, k.leads), 1e-6);
    const auto restore = q("restore_duration_seconds:median");
    ASSERT_EQ(restore.size(), k.restores.empty() ? 0u : 1u);
    if (!k.restores.empty()) {
      EXPECT_NEAR(restore.at("production"), Quantile(0.5, k.restores), 1e-6);
    }
  }
  // The month held what makes the keys interesting.
  const Keys month = Truth(events, t0, t30);
  EXPECT_GT(month.deployments.count("FAIL") ? month.deployments.at("FAIL") : 0, 3);
  EXPECT_GT(month.restores.size(), 2u);
}

}  // namespace
}  // namespace yfe::testing
