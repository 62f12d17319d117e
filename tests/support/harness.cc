#include "support/harness.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

namespace yfe::testing {

Simulator::Simulator(SimulatorOptions options) {
  std::vector<std::string> argv = {YFE_SIMULATOR_BIN, "--web.listen-address=127.0.0.1:0",
                                   "--token=" + options.token, "--organization-id=sim-org"};
  if (options.pipelines > 0) argv.push_back("--pipelines=" + std::to_string(options.pipelines));
  if (options.frozen) argv.push_back(kFrozenClock);
  argv.insert(argv.end(), options.flags.begin(), options.flags.end());
  process_ = std::make_unique<Process>(argv);
  port_ = process_->WaitForPort("listening on 127.0.0.1:");
  EXPECT_GT(port_, 0) << "simulator did not start: " << process_->Stderr();
}

std::vector<std::string> Simulator::PipelineIds() {
  std::vector<std::string> ids;
  auto r = HttpGet("127.0.0.1", port_, "/-/sim/pipelines");
  rapidjson::Document d;
  d.Parse(r.body.c_str());
  if (d.HasParseError() || !d.IsArray()) return ids;
  for (const auto& p : d.GetArray()) {
    if (p.IsObject() && p.HasMember("id")) {
      const auto& id = p["id"];
      ids.push_back(id.IsString() ? id.GetString() : std::to_string(id.GetInt64()));
    }
  }
  return ids;
}

std::string Simulator::Config(const ConfigOptions& o) {
  std::string c = "api:\n  endpoint: " + Endpoint() + "\n  edition: " + o.edition + "\n";
  if (o.edition == "central") c += "  organization_id: sim-org\n";
  for (const auto& [key, value] : o.api) c += "  " + key + ": " + value + "\n";
  if (!o.collect.empty()) c += "collect:\n";
  for (const auto& [key, value] : o.collect) c += "  " + key + ": " + value + "\n";
  c += o.extra;
  const std::vector<std::string> ids = o.no_pipelines  ? o.ids
                                       : o.ids.empty() ? PipelineIds()
                                                       : o.ids;
  if (!ids.empty()) {
    c += "pipelines:\n";
    for (const auto& id : ids) c += "  - id: \"" + id + "\"\n";
  }
  return c;
}

long Simulator::ApiRequests() {
  auto r = HttpGet("127.0.0.1", port_, "/-/sim/stats");
  rapidjson::Document d;
  d.Parse(r.body.c_str());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("total")) return -1;
  return d["total"].GetInt64();
}

long Simulator::ApiRequests(const std::string& endpoint) {
  auto r = HttpGet("127.0.0.1", port_, "/-/sim/stats");
  rapidjson::Document d;
  d.Parse(r.body.c_str());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("requests")) return -1;
  const auto& req = d["requests"];
  if (!req.HasMember(endpoint.c_str())) return 0;
  long n = 0;
  for (const auto& kv : req[endpoint.c_str()].GetObject()) n += kv.value.GetInt64();
  return n;
}

HttpResult Simulator::Control(const std::string& method, const std::string& path,
                              const std::string& body) {
  if (method == "GET") return HttpGet("127.0.0.1", port_, path);
  if (method == "PUT") return HttpPut("127.0.0.1", port_, path, body);
  if (method == "DELETE") {
    std::string out;
    HttpResult r;
    r.status = RunCommand("curl -s -o /dev/null -w '%{http_code}' -X DELETE http://127.0.0.1:" +
                              std::to_string(port_) + path,
                          &out) == 0
                   ? std::atoi(out.c_str())
                   : 0;
    return r;
  }
  return HttpPost("127.0.0.1", port_, path, body);
}

Exporter::Exporter(const std::string& config, ExporterOptions options) {
  std::string path = dir_.Write("config.yaml", config);
  // YFE_EXPORTER_BIN in the environment: another build (benchmarks compare two builds).
  const char* bin = std::getenv("YFE_EXPORTER_BIN");
  std::vector<std::string> argv = {bin != nullptr && *bin != '\0' ? bin : YFE_EXPORTER_BIN,
                                   "--config.file=" + path, "--web.listen-address=127.0.0.1:0"};
  argv.insert(argv.end(), options.flags.begin(), options.flags.end());
  std::map<std::string, std::string> env = options.env;
  if (!options.token.empty()) env["YUNXIAO_TOKEN"] = options.token;
  process_ = std::make_unique<Process>(argv, env);
  // The port from the stable stdout line (docs/configuration.md, "Output"); a build from
  // before that line (benchmarks compare builds) only logs it.
  const bool other_build = bin != nullptr && *bin != '\0';
  port_ = process_->WaitForPort(other_build ? "msg=listening address=127.0.0.1:"
                                            : "listening on 127.0.0.1:");
  // /-/ready turns 200 once the start-up fetch has ended (a scrape would disturb the cache
  // counters tests assert on). With a web config, /-/ready may need TLS or credentials the
  // harness does not have: those tests scrape without waiting.
  const bool web_config =
      std::any_of(options.flags.begin(), options.flags.end(),
                  [](const std::string& f) { return f.rfind("--web.config.file", 0) == 0; });
  if (options.warm && port_ > 0 && !web_config) {
    Eventually([&] { return !process_->Running() || Get("/-/ready").status == 200; },
               std::chrono::seconds(60), std::chrono::milliseconds(20));
  }
}

std::string Exporter::Scrape(const std::string& path) {
  auto r = HttpGet("127.0.0.1", port_, path);
  EXPECT_EQ(r.status, 200) << r.error;
  return r.body;
}

HttpResult Exporter::Get(const std::string& path, const std::map<std::string, std::string>& h) {
  return HttpGet("127.0.0.1", port_, path, h);
}

std::string PromtoolProblems(const std::string& exposition) {
  TempDir dir;
  std::string file = dir.Write("m.txt", exposition);
  std::string out;
  int rc = RunCommand("promtool check metrics < " + file, &out);
  if (rc == 127) return "promtool is not installed";
  return rc == 0 ? out : "exit " + std::to_string(rc) + ": " + out;
}

}  // namespace yfe::testing
