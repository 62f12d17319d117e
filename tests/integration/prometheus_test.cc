// End to end with a real Prometheus (Debian's package): it scrapes the real exporter,
// which talks to the simulator, loads deploy/prometheus/alerts.yml, and its HTTP API shows
// the stored series and the alerts.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <set>

#include "support/harness.h"

namespace yfe::testing {
namespace {

class PrometheusServer {
 public:
  PrometheusServer(int exporter_port, const std::string& rules) {
    port_ = FreePort();
    std::string config =
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "rule_files:\n  - " +
        rules +
        "\n"
        "scrape_configs:\n  - job_name: yunxiao-flow-exporter\n    scrape_timeout: 1s\n"
        "    static_configs:\n      - targets: ['127.0.0.1:" +
        std::to_string(exporter_port) + "']\n        labels:\n          organization_id: sim-org\n";
    std::string file = dir_.Write("prometheus.yml", config);
    process_ = std::make_unique<Process>(std::vector<std::string>{
        "/usr/bin/prometheus", "--config.file=" + file,
        "--storage.tsdb.path=" + dir_.path() + "/data",
        "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=warn"});
  }
  bool Ready() {
    return Eventually([&] { return HttpGet("127.0.0.1", port_, "/-/ready").status == 200; },
                      std::chrono::seconds(30));
  }
  rapidjson::Document Api(const std::string& path) {
    rapidjson::Document d;
    auto r = HttpGet("127.0.0.1", port_, path);
    d.Parse(r.body.c_str());
    return d;
  }
  // Series of an instant query: the label maps.
  std::vector<std::map<std::string, std::string>> Query(const std::string& promql) {
    std::string q;
    for (char c : promql) {
      if (isalnum(static_cast<unsigned char>(c)) || c == '_') {
        q += c;
      } else {
        char buf[4];
        snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
        q += buf;
      }
    }
    auto d = Api("/api/v1/query?query=" + q);
    std::vector<std::map<std::string, std::string>> out;
    if (!d.IsObject() || !d.HasMember("data")) return out;
    for (const auto& item : d["data"]["result"].GetArray()) {
      std::map<std::string, std::string> labels;
      for (const auto& kv : item["metric"].GetObject()) {
        labels[kv.name.GetString()] = kv.value.GetString();
      }
      out.push_back(labels);
    }
    return out;
  }
  // State ("pending"/"firing") of an alert for a label value, or "" if not active.
  std::string AlertState(const std::string& name, const std::string& label = "",
                         const std::string& value = "") {
    auto d = Api("/api/v1/alerts");
    if (!d.IsObject() || !d.HasMember("data")) return "";
    for (const auto& a : d["data"]["alerts"].GetArray()) {
      const auto& labels = a["labels"];
      if (std::string(labels["alertname"].GetString()) != name) continue;
      if (!label.empty() &&
          (!labels.HasMember(label.c_str()) || labels[label.c_str()].GetString() != value)) {
        continue;
      }
      return a["state"].GetString();
    }
    return "";
  }
  Process& process() { return *process_; }

 private:
  TempDir dir_;
  int port_ = 0;
  std::unique_ptr<Process> process_;
};

TEST(Prometheus, ScrapesStoresAndAlerts) {
  Simulator sim({.pipelines = 3, .frozen = true});
  auto ids = sim.PipelineIds();
  ASSERT_EQ(ids.size(), 3u);
  Exporter exp(
      sim.Config({.ids = ids, .collect = {{"cache_ttl", "1s"}, {"scrape_deadline", "800ms"}}}));
  ASSERT_TRUE(exp.started());
  PrometheusServer prom(exp.port(), std::string(YFE_SOURCE_DIR) + "/deploy/prometheus/alerts.yml");
  ASSERT_TRUE(prom.Ready()) << prom.process().Stderr();

  // The target is up.
  EXPECT_TRUE(Eventually(
      [&] {
        auto up = prom.Query("up{job=\"yunxiao-flow-exporter\"} == 1");
        return up.size() == 1;
      },
      std::chrono::seconds(30)))
      << prom.process().Stderr();

  // Latest-run series are stored with their labels.
  std::vector<std::map<std::string, std::string>> status;
  EXPECT_TRUE(Eventually(
      [&] {
        status = prom.Query("yunxiao_flow_latest_run_status == 1");
        return status.size() == 3;
      },
      std::chrono::seconds(30)));
  std::set<std::string> stored;
  for (auto& s : status) {
    stored.insert(s["pipeline_id"]);
    EXPECT_FALSE(s["pipeline_name"].empty());
    EXPECT_FALSE(s["status"].empty());
    EXPECT_EQ(s["organization_id"], "sim-org");
  }
  EXPECT_EQ(stored, std::set<std::string>(ids.begin(), ids.end()));
  EXPECT_FALSE(prom.Query("yunxiao_flow_latest_run_job_status").empty());
  EXPECT_FALSE(prom.Query("yunxiao_flow_latest_run_stage_start_timestamp_seconds").empty());

  // A failed run raises the failed-run alert for that pipeline.
  for (const auto& id : ids) {
    ASSERT_EQ(
        sim.Control("POST", "/-/sim/pipelines/" + id + "/finish", R"({"status":"SUCCESS"})").status,
        200);
  }
  ASSERT_EQ(
      sim.Control("POST", "/-/sim/pipelines/" + ids[1] + "/finish", R"({"status":"FAIL"})").status,
      200);
  std::string state;
  EXPECT_TRUE(Eventually(
      [&] {
        state = prom.AlertState("YunxiaoFlowPipelineRunFailed", "pipeline_id", ids[1]);
        return state == "pending" || state == "firing";
      },
      std::chrono::seconds(30)));
  EXPECT_EQ(prom.AlertState("YunxiaoFlowPipelineRunFailed", "pipeline_id", ids[0]), "");

  // A rejected token raises the API-unreachable alert.
  EXPECT_EQ(prom.AlertState("YunxiaoFlowApiUnreachable"), "");
  ASSERT_EQ(sim.Control("POST", "/-/sim/faults", R"({"rejectToken":true})").status, 200);
  EXPECT_TRUE(Eventually(
      [&] {
        state = prom.AlertState("YunxiaoFlowApiUnreachable");
        return state == "pending" || state == "firing";
      },
      std::chrono::seconds(30)));
}

}  // namespace
}  // namespace yfe::testing
