// Secrets: the API token never appears in any output channel (exposition, HTTP responses,
// logs, --config.check, reload errors), even when pasted under the wrong key, and a rotated
// token file is used without a restart.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "integration/hardening.h"
#include "support/exposition_check.h"
#include "support/harness.h"

namespace yfe::testing {
namespace {

using namespace hardening;

// The names of the channels holding the secret ("" if none).
std::string FindSecret(const std::map<std::string, std::string>& channels,
                       const std::string& secret) {
  std::string found;
  for (const auto& [name, text] : channels) {
    if (text.find(secret) != std::string::npos) found += name + "; ";
  }
  return found;
}

TEST(Secrets, TokenNeverAppearsInAnyOutputChannel) {
  const std::string token = "pt-SeCrEt-9f8e7d6c5b4a3210zyx";
  Simulator sim({.pipelines = 2, .frozen = true, .token = token});
  std::map<std::string, std::string> channels;
  const std::string config = TwoPipelineConfig(sim.Endpoint());
  {
    Exporter exp(config,
                 {.flags = {"--log.level=debug", "--web.enable-lifecycle"}, .token = token});
    ASSERT_TRUE(exp.started()) << exp.process().Stderr();
    auto keep = [&](const std::string& name, const HttpResult& r) {
      std::string all = std::to_string(r.status) + "\n";
      for (const auto& [k, v] : r.headers) all += k + ": " + v + "\n";
      channels[name] = all + r.body;
      return r;
    };
    std::string text = keep("/metrics", exp.Get("/metrics")).body;
    EXPECT_EQ(Get(text, "yunxiao_flow_fetch_success", {{"pipeline_id", kBad}}), 1)
        << "the token works\n"
        << exp.process().Stderr() << sim.process().Stderr();
    EXPECT_EQ(keep("/", exp.Get("/")).status, 200);
    EXPECT_EQ(keep("/-/healthy", exp.Get("/-/healthy")).status, 200);
    EXPECT_EQ(keep("/-/ready", exp.Get("/-/ready")).status, 200);
    EXPECT_EQ(keep("404", exp.Get("/no/such/page?token=x")).status, 404);
    EXPECT_EQ(keep("reload", HttpPost("127.0.0.1", exp.port(), "/-/reload", "")).status, 200);
    exp.dir().Write("config.yaml", config + "unknown_section: 1\n");
    EXPECT_EQ(keep("bad reload", HttpPost("127.0.0.1", exp.port(), "/-/reload", "")).status, 500);
    exp.dir().Write("config.yaml", config);
    // The API refuses the token.
    ASSERT_EQ(sim.Control("POST", "/-/sim/faults", R"({"rejectToken":true})").status, 200);
    // (A scrape may first join a fetch the reload started before the fault.)
    EXPECT_TRUE(Eventually(
        [&] {
          text = keep("/metrics after 401", exp.Get("/metrics")).body;
          return Value(text, "yunxiao_flow_api_requests_total", {"code=\"401\""}) >= 1;
        },
        20s, 100ms));
    EXPECT_EQ(exp.process().Stop(SIGTERM, 15s), 0);
    channels["exporter stdout"] = exp.process().Stdout();
    channels["exporter stderr"] = exp.process().Stderr();
    // The channels are real: debug logs every request, and the 401 was logged.
    EXPECT_NE(channels["exporter stderr"].find("msg=\"api request\""), std::string::npos);
    EXPECT_NE(channels["exporter stderr"].find("HTTP 401"), std::string::npos);
    ASSERT_EQ(sim.Control("POST", "/-/sim/faults", R"({"rejectToken":false})").status, 200);
  }
  {
    // The token in the config itself (accepted with a warning), JSON logs.
    TempDir dir;
    Process exp({YFE_EXPORTER_BIN,
                 "--config.file=" +
                     dir.Write("c.yaml", TwoPipelineConfig(sim.Endpoint(), {{"token", token}})),
                 "--web.listen-address=127.0.0.1:0", "--log.level=debug", "--log.format=json"});
    const int port = exp.WaitForPort("listening on 127.0.0.1:");
    ASSERT_GT(port, 0) << exp.Stderr();
    auto r = HttpGet("127.0.0.1", port, "/metrics");
    channels["literal token /metrics"] = r.body;
    EXPECT_EQ(Get(r.body, "yunxiao_flow_fetch_success", {{"pipeline_id", kBad}}), 1)
        << exp.Stderr();
    EXPECT_EQ(exp.Stop(SIGTERM, 15s), 0);
    channels["literal token logs"] = exp.Stderr() + exp.Stdout();
    EXPECT_NE(channels["literal token logs"].find("api.token"), std::string::npos);
  }
  TempDir dir;
  const std::string good = dir.Write("good.yaml", config);
  const std::string broken =
      dir.Write("broken.yaml", "api:\n  endpoint: " + sim.Endpoint() + "\n  timeout: forever\n");
  const std::string literal = dir.Write(
      "literal.yaml", TwoPipelineConfig(sim.Endpoint(), {{"token", token}, {"bogus_key", "1"}}));
  const std::string token_file = dir.Write("token", token + "\n");
  const std::string from_file = dir.Write(
      "file.yaml", "api:\n  endpoint: " + sim.Endpoint() + "\n  token_file: " + token_file +
                       "\n  max_retries: nope\npipelines: [\"1\"]\n");
  int n = 0;
  for (const auto& [file, want_rc] : std::vector<std::pair<std::string, int>>{
           {good, 0}, {broken, 1}, {literal, 1}, {from_file, 1}}) {
    Process check({YFE_EXPORTER_BIN, "--config.check", "--config.file=" + file},
                  {{"YUNXIAO_TOKEN", token}});
    EXPECT_EQ(check.Wait(15s), want_rc) << file << "\n" << check.Stdout() << check.Stderr();
    channels["config.check " + std::to_string(n++)] = check.Stdout() + check.Stderr();
  }
  // And starting with an invalid config.
  Process bad_start({YFE_EXPORTER_BIN, "--config.file=" + literal, "--log.level=debug",
                     "--web.listen-address=127.0.0.1:0"},
                    {{"YUNXIAO_TOKEN", token}});
  EXPECT_EQ(bad_start.Wait(15s), 1);
  channels["invalid config start"] = bad_start.Stdout() + bad_start.Stderr();

  EXPECT_EQ(FindSecret(channels, token), "") << "the token leaked";
  EXPECT_GE(channels.size(), 16u);
}

// A token pasted under the wrong key (token_file: pt-..., or into a number field) must not
// be echoed by config errors: not by --config.check, not in the start-up log, not in the
// body of POST /-/reload. The exporter knows the token from YUNXIAO_TOKEN before it reads
// the config.
TEST(Secrets, MisplacedTokenIsNeverEchoed) {
  const std::string token = "pt-MiSpLaCeD-4c3b2a1908f7e6d5";
  Simulator sim({.pipelines = 1, .frozen = true, .token = token});
  const std::string head = "api:\n  endpoint: " + sim.Endpoint() + "\n  edition: region\n";
  const std::vector<std::string> configs = {
      head + "  token_file: " + token + "\npipelines: [\"1000001\"]\n",
      head + "  max_retries: " + token + "\npipelines: [\"1000001\"]\n",
      head + "  timeout: " + token + "\npipelines: [\"1000001\"]\n"};
  std::map<std::string, std::string> channels;
  TempDir dir;
  for (size_t i = 0; i < configs.size(); ++i) {
    const std::string file = dir.Write("c" + std::to_string(i) + ".yaml", configs[i]);
    Process check({YFE_EXPORTER_BIN, "--config.check", "--config.file=" + file},
                  {{"YUNXIAO_TOKEN", token}});
    EXPECT_EQ(check.Wait(15s), 1);
    channels["config.check " + std::to_string(i)] = check.Stdout() + check.Stderr();
    Process start({YFE_EXPORTER_BIN, "--config.file=" + file, "--web.listen-address=127.0.0.1:0"},
                  {{"YUNXIAO_TOKEN", token}});
    EXPECT_EQ(start.Wait(15s), 1);
    channels["start " + std::to_string(i)] = start.Stdout() + start.Stderr();
  }
  Exporter exp(head + "pipelines: [\"1000001\"]\n",
               {.flags = {"--web.enable-lifecycle"}, .token = token});
  ASSERT_TRUE(exp.started());
  for (size_t i = 0; i < configs.size(); ++i) {
    exp.dir().Write("config.yaml", configs[i]);
    auto r = HttpPost("127.0.0.1", exp.port(), "/-/reload", "");
    EXPECT_EQ(r.status, 500);
    channels["reload " + std::to_string(i)] = r.body;
  }
  exp.process().Stop(SIGTERM, 15s);
  channels["reload log"] = exp.process().Stderr();
  EXPECT_EQ(FindSecret(channels, token), "") << "the token leaked";
}

// Kubernetes mounts a secret as dir/token -> ..data/token, ..data -> ..<version>/ and
// rotates it by swapping the ..data symlink atomically.
class MountedSecret {
 public:
  explicit MountedSecret(const std::string& token) { Rotate(token); }
  std::string path() const { return dir_.path() + "/token"; }
  void Rotate(const std::string& token) {
    namespace fs = std::filesystem;
    const std::string version = "..v" + std::to_string(++version_);
    fs::create_directory(dir_.path() + "/" + version);
    dir_.Write(version + "/token", token + "\n");
    fs::create_directory_symlink(version, dir_.path() + "/..data_tmp");
    fs::rename(dir_.path() + "/..data_tmp", dir_.path() + "/..data");
    if (!fs::is_symlink(path())) fs::create_symlink("..data/token", path());
  }

 private:
  TempDir dir_;
  int version_ = 0;
};

TEST(Secrets, RotatedTokenFileIsUsedWithoutRestart) {
  const std::string old_token = "pt-old-token-1111aaaa";
  const std::string new_token = "pt-new-token-2222bbbb";
  const std::string revoked = "pt-revoked-3333cccc";
  Simulator sim({.pipelines = 2, .frozen = true, .token = new_token});
  MountedSecret secret(old_token);
  Exporter exp(TwoPipelineConfig(sim.Endpoint(), {{"token_file", secret.path()}}), {.token = ""});
  ASSERT_TRUE(exp.started()) << exp.process().Stderr();
  const pid_t pid = exp.process().pid();
  std::string text = exp.Scrape();
  EXPECT_EQ(Sum(text, "yunxiao_flow_fetch_success"), 0);
  EXPECT_EQ(Value(text, "yunxiao_flow_up"), 0);
  EXPECT_GE(Value(text, "yunxiao_flow_api_requests_total", {"code=\"401\""}), 1);

  secret.Rotate(new_token);
  EXPECT_TRUE(Eventually(
      [&] {
        text = exp.Scrape();
        return Sum(text, "yunxiao_flow_fetch_success") == 2;
      },
      20s, 250ms))
      << text;
  EXPECT_EQ(Value(text, "yunxiao_flow_up"), 1);
  EXPECT_TRUE(exp.process().WaitForOutput("token file changed; using the new token"));
  EXPECT_TRUE(exp.process().Running());
  EXPECT_EQ(exp.process().pid(), pid);

  // A plain rewrite of the file is noticed too.
  std::ofstream(secret.path(), std::ios::trunc) << revoked << "\n";
  EXPECT_TRUE(
      Eventually([&] { return Sum(exp.Scrape(), "yunxiao_flow_fetch_success") == 0; }, 20s, 250ms));
  const std::string log = exp.process().Stderr();
  for (const auto& t : {old_token, new_token, revoked}) {
    EXPECT_EQ(log.find(t), std::string::npos) << t;
  }
}

}  // namespace
}  // namespace yfe::testing
