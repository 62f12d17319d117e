#include "support/prometheus.h"

#include <rapidjson/document.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace yfe::testing {

PrometheusServer::PrometheusServer(int target_port, const std::string& interval,
                                   const std::string& timeout) {
  port_ = FreePort();
  std::string config = "global:\n  scrape_interval: " + interval +
                       "\n  scrape_timeout: " + timeout +
                       "\nscrape_configs:\n  - job_name: yunxiao-flow-exporter\n"
                       "    static_configs:\n      - targets: ['127.0.0.1:" +
                       std::to_string(target_port) + "']\n";
  std::string file = dir_.Write("prometheus.yml", config);
  process_ = std::make_unique<Process>(
      std::vector<std::string>{"/usr/bin/prometheus", "--config.file=" + file,
                               "--storage.tsdb.path=" + dir_.path() + "/data",
                               "--web.listen-address=127.0.0.1:" + std::to_string(port_),
                               "--log.level=warn", "--enable-feature=extra-scrape-metrics"});
}

bool PrometheusServer::Ready() {
  return Eventually([&] { return HttpGet("127.0.0.1", port_, "/-/ready").status == 200; },
                    std::chrono::seconds(30));
}

std::vector<PrometheusServer::Sample> PrometheusServer::Query(const std::string& promql) {
  std::string q;
  for (char c : promql) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      q += c;
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
      q += buf;
    }
  }
  auto r = HttpGet("127.0.0.1", port_, "/api/v1/query?query=" + q);
  rapidjson::Document d;
  d.Parse(r.body.c_str());
  std::vector<Sample> out;
  if (!d.IsObject() || !d.HasMember("data") || !d["data"].IsObject() ||
      !d["data"].HasMember("result") || !d["data"]["result"].IsArray()) {
    return out;
  }
  for (const auto& item : d["data"]["result"].GetArray()) {
    Sample s;
    if (item.HasMember("metric") && item["metric"].IsObject()) {
      for (const auto& kv : item["metric"].GetObject()) {
        if (kv.value.IsString()) s.labels[kv.name.GetString()] = kv.value.GetString();
      }
    }
    if (item.HasMember("value") && item["value"].IsArray() && item["value"].Size() == 2 &&
        item["value"][1].IsString()) {
      s.value = std::strtod(item["value"][1].GetString(), nullptr);
    }
    out.push_back(std::move(s));
  }
  return out;
}

double PrometheusServer::Scalar(const std::string& promql) {
  auto v = Query(promql);
  return v.size() == 1 ? v[0].value : std::nan("");
}

}  // namespace yfe::testing
