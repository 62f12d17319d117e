// `yunxiao-flow-exporter --api.check` against the simulator in each way a first contact
// with a real organization fails, and the exporter's own log lines for the same failures.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "support/harness.h"

namespace yfe::testing {
namespace {

struct CheckRun {
  int code = -1;
  std::string output;  // stdout and stderr
};

// Runs --api.check with this config text and this YUNXIAO_TOKEN (none when empty).
CheckRun ApiCheck(const TempDir& dir, const std::string& config, const std::string& token,
                  const std::string& extra = "") {
  const std::string path = dir.Write("config.yaml", config);
  const std::string env =
      token.empty() ? "env -u YUNXIAO_TOKEN " : "env YUNXIAO_TOKEN='" + token + "' ";
  CheckRun run;
  run.code = RunCommand(
      "timeout 60 " + env + YFE_EXPORTER_BIN + " --api.check --config.file=" + path + " " + extra,
      &run.output);
  return run;
}

void SetFaults(Simulator& sim, const std::string& json) {
  ASSERT_EQ(sim.Control("POST", "/-/sim/faults", json).status, 200) << json;
}

size_t Count(const std::string& text, const std::string& fragment) {
  size_t n = 0;
  for (auto at = text.find(fragment); at != std::string::npos; at = text.find(fragment, at + 1)) {
    ++n;
  }
  return n;
}

class ApiCheckTest : public ::testing::Test {
 protected:
  ApiCheckTest() : sim_({.pipelines = 5, .frozen = true}) {}
  // Central edition, organization sim-org, three unnamed pipelines.
  std::string Config(const std::string& extra = "") {
    auto ids = sim_.PipelineIds();
    ids.resize(3);
    return sim_.Config({.ids = ids, .extra = extra});
  }
  TempDir dir_;
  Simulator sim_;
};

TEST_F(ApiCheckTest, AHealthyOrganizationPassesAndTheTokenIsNeverPrinted) {
  auto run = ApiCheck(dir_, Config(), kSimToken);
  EXPECT_EQ(run.code, 0) << run.output;
  EXPECT_EQ(run.output.find("✘"), std::string::npos) << run.output;
  for (const char* line :
       {"✔ API reachable at http://127.0.0.1:",
        "✔ central edition, paths /oapi/v1/flow/organizations/sim-org/pipelines/",
        "✔ token accepted (token from YUNXIAO_TOKEN)",
        "✔ organization sim-org: the token's user is a member",
        "✔ permission 流水线运行实例 (Pipeline run instance): read-only",
        "✔ permission 流水线 (Pipeline): read-only",
        "✔ permission 流水线分组 (Pipeline group): read-only", "✔ pipelines visible",
        "✔ pipeline 1000001: latest run #",
        "✔ request budget: about 6.0 requests/min for 3 pipelines", "api.check: OK"}) {
    EXPECT_NE(run.output.find(line), std::string::npos) << line << "\n" << run.output;
  }
  EXPECT_EQ(run.output.find(kSimToken), std::string::npos);
}

TEST_F(ApiCheckTest, ATokenFromAFileIsNamedByItsOrigin) {
  const std::string file = dir_.Write("token", std::string(kSimToken) + "\n");
  auto run = ApiCheck(dir_, Config(), "", "");
  EXPECT_EQ(run.code, 1);  // no token at all
  EXPECT_NE(run.output.find("no API token"), std::string::npos) << run.output;
  auto with_file = sim_.Config({.ids = {"1000001"}, .api = {{"token_file", file}}});
  run = ApiCheck(dir_, with_file, "");
  EXPECT_EQ(run.code, 0) << run.output;
  EXPECT_NE(run.output.find("token accepted (token from api.token_file " + file + ")"),
            std::string::npos)
      << run.output;
  EXPECT_EQ(run.output.find(kSimToken), std::string::npos);
}

TEST_F(ApiCheckTest, ABadTokenFailsWithTheFixAndIsNotEchoed) {
  const std::string bad = "pt-not-the-right-token-9f8e7d";
  auto run = ApiCheck(dir_, Config(), bad);
  EXPECT_EQ(run.code, 1) << run.output;
  EXPECT_NE(run.output.find("✘ token rejected (token from YUNXIAO_TOKEN): HTTP 401 Unauthorized"),
            std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("    fix: check the token in YUNXIAO_TOKEN"), std::string::npos);
  EXPECT_EQ(run.output.find(bad), std::string::npos);
  EXPECT_EQ(run.output.find(kSimToken), std::string::npos);
}

TEST_F(ApiCheckTest, AnExpiredTokenIsCalledExpired) {
  SetFaults(sim_, R"({"expiredToken":true})");
  auto run = ApiCheck(dir_, Config(), kSimToken);
  EXPECT_EQ(run.code, 1) << run.output;
  EXPECT_NE(
      run.output.find("✘ token expired (token from YUNXIAO_TOKEN): HTTP 401 ExpiredTokenError"),
      std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("fix: create a new personal access token"), std::string::npos);
}

TEST_F(ApiCheckTest, AMistypedOrganizationIsAnOrganizationProblem) {
  SetFaults(sim_, R"({"organizationError":"not_member"})");
  std::string config = Config();
  config.replace(config.find("organization_id: sim-org"), 24, "organization_id: sim-orq");
  auto run = ApiCheck(dir_, config, kSimToken);
  EXPECT_EQ(run.code, 1) << run.output;
  EXPECT_NE(run.output.find("✘ the token's user is not a member of organization sim-orq: HTTP 403 "
                            "Forbidden.InvalidUser.UserNotInCurrentOrganization"),
            std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("fix: check api.organization_id"), std::string::npos);
  EXPECT_EQ(run.output.find("permission"), std::string::npos) << run.output;
}

TEST_F(ApiCheckTest, EachMissingPermissionFailsOnItsOwnLine) {
  // Discovery with groups: this configuration needs all three permissions.
  const std::string config = Config("discovery:\n  include: \".\"\n  group_ids: [1, 2]\n");
  struct Case {
    const char* deny;
    const char* line;
    const char* grant;
  };
  for (const Case& c :
       {Case{"run", "✘ permission 流水线运行实例 (Pipeline run instance): read-only missing",
             "fix: grant the token 流水线 › 流水线运行实例 › 只读"},
        Case{"pipeline", "✘ permission 流水线 (Pipeline): read-only missing",
             "fix: grant the token 流水线 › 流水线 › 只读"},
        Case{"group", "✘ permission 流水线分组 (Pipeline group): read-only missing",
             "fix: grant the token 流水线分组 › 只读"}}) {
    SetFaults(sim_, std::string(R"({"denyPermissions":[")") + c.deny + "\"]}");
    auto run = ApiCheck(dir_, config, kSimToken);
    EXPECT_EQ(run.code, 1) << c.deny << "\n" << run.output;
    EXPECT_NE(run.output.find(c.line), std::string::npos) << c.deny << "\n" << run.output;
    EXPECT_NE(run.output.find(c.grant), std::string::npos) << c.deny << "\n" << run.output;
    EXPECT_EQ(Count(run.output, "read-only missing"), 1u) << run.output;
  }
  // A permission this configuration does not use is a note, not a failure.
  SetFaults(sim_, R"({"denyPermissions":["group"]})");
  auto run = ApiCheck(dir_, Config(), kSimToken);
  EXPECT_EQ(run.code, 0) << run.output;
  EXPECT_NE(run.output.find("read-only missing"), std::string::npos);
  EXPECT_NE(run.output.find("(not needed by this configuration)"), std::string::npos);
}

TEST_F(ApiCheckTest, AnUnreachableHostFailsAtTheFirstLine) {
  const int port = FreePort();  // nothing listens there
  auto run = ApiCheck(dir_,
                      "api:\n  endpoint: http://127.0.0.1:" + std::to_string(port) +
                          "\n  timeout: 2s\npipelines: [\"1000001\"]\n",
                      kSimToken);
  EXPECT_EQ(run.code, 1) << run.output;
  EXPECT_NE(run.output.find("✘ API not reachable at http://127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("fix: nothing answers at api.endpoint"), std::string::npos);
  EXPECT_EQ(run.output.find("token accepted"), std::string::npos);
}

TEST_F(ApiCheckTest, NeverRunAndMissingPipelinesAreToldApart) {
  ASSERT_EQ(sim_.Control("PUT", "/-/sim/pipelines/1000002/latest?status=404",
                         R"({"errorCode":"NotFound","errorMessage":"no run"})")
                .status,
            200);
  auto run = ApiCheck(dir_, sim_.Config({.ids = {"1000001", "1000002", "4242"}}), kSimToken);
  EXPECT_EQ(run.code, 1) << run.output;
  EXPECT_NE(run.output.find("✔ pipeline 1000002: no run yet (the pipeline exists)"),
            std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("✘ pipeline 4242 not found in this organization"), std::string::npos)
      << run.output;
}

TEST_F(ApiCheckTest, DiscoveryCountAndTheRequestBudget) {
  auto run = ApiCheck(dir_,
                      sim_.Config({.no_pipelines = true,
                                   .api = {{"max_requests_per_second", "0.5"}},
                                   .collect = {{"cache_ttl", "10s"}},
                                   .extra = "discovery:\n  include: \".\"\n"}),
                      kSimToken);
  // 5 pipelines every 10 s: 30 requests/min, more than 0.5/s allows.
  EXPECT_EQ(run.code, 1) << run.output;
  EXPECT_NE(run.output.find("✔ discovery finds 5 pipelines (include \".\"; 1 request per refresh)"),
            std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("✘ request budget: about 30 requests/min for 5 pipelines"),
            std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("of 30 allowed by api.max_requests_per_second 0.5"), std::string::npos)
      << run.output;
}

// The exporter itself, on the same failures.

TEST(ApiErrorsInTheLog, AMissingPipelinePermissionIsLoggedOnceNotPerPipelineOrScrape) {
  Simulator sim({.pipelines = 4, .frozen = true});
  SetFaults(sim, R"({"denyPermissions":["pipeline"]})");
  Exporter exp(sim.Config({.collect = {{"cache_ttl", "1s"}}}));
  ASSERT_TRUE(exp.started()) << exp.process().Stderr();
  for (int i = 0; i < 3; ++i) {
    exp.Scrape();
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  }
  const std::string log = exp.process().Stderr();
  EXPECT_GE(sim.ApiRequests("getPipeline"), 4);  // every pipeline's name was asked for
  EXPECT_EQ(Count(log, "the token lacks a permission"), 1u) << log;
  EXPECT_NE(log.find("permission=\"流水线 (Pipeline): read-only\""), std::string::npos) << log;
  EXPECT_EQ(Count(log, "cannot fetch pipeline name"), 0u) << log;
}

TEST(ApiErrorsInTheLog, AMistypedOrganizationIsLoggedAsAnOrganizationProblem) {
  Simulator sim({.pipelines = 2, .frozen = true});
  SetFaults(sim, R"({"organizationError":"not_member"})");
  std::string config = sim.Config();
  config.replace(config.find("organization_id: sim-org"), 24, "organization_id: sim-orq");
  Exporter exp(config);
  ASSERT_TRUE(exp.started()) << exp.process().Stderr();
  exp.Scrape();
  const std::string log = exp.process().Stderr();
  EXPECT_NE(log.find("Forbidden.InvalidUser.UserNotInCurrentOrganization"), std::string::npos)
      << log;
  EXPECT_NE(log.find("not a member of this organization: check api.organization_id"),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("lacks"), std::string::npos) << log;
}

TEST(ApiErrorsInTheLog, AFailedRequestIsLoggedWithTheGatewaysRequestId) {
  Simulator sim({.pipelines = 1, .frozen = true});
  // A body without requestId: the header is all support has to go on.
  ASSERT_EQ(sim.Control("PUT", "/-/sim/pipelines/1000001/latest?status=400",
                        R"({"errorCode":"BadRequest","message":"bad"})")
                .status,
            200);
  Exporter exp(sim.Config());
  ASSERT_TRUE(exp.started()) << exp.process().Stderr();
  const std::string log = exp.process().Stderr();
  EXPECT_NE(log.find("HTTP 400 BadRequest: bad (x-request-id "), std::string::npos) << log;
}

}  // namespace
}  // namespace yfe::testing
