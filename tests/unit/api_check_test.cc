// --api.check's judgement (a pure function of the probes' results) and the error
// classification it shares with the exporter: every failure mode of a first contact with a
// real organization, without a network.
#include "app/api_check.h"

#include <gtest/gtest.h>

#include "config/flags.h"
#include "flowapi/client.h"
#include "support/test_support.h"

namespace yfe::app {
namespace {

using flowapi::Classify;
using flowapi::ErrorKind;
using flowapi::Response;

constexpr const char* kRun =
    R"({"pipelineRunId":7,"pipelineId":1000001,"status":"SUCCESS","stages":[]})";

Probe Answer(long status, std::string body, std::string_view endpoint) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return Probe{true, Classify(r, endpoint)};
}

Probe Unreachable(std::string error) {
  Response r;
  r.error = std::move(error);
  return Probe{true, Classify(r, flowapi::kPlatformUser)};
}

std::string ErrorBody(const std::string& code, const std::string& message = "m") {
  return R"({"errorCode":")" + code + R"(","errorMessage":")" + message +
         R"(","requestId":"rid-1"})";
}

config::Config Cfg(const std::string& extra = "pipelines: [\"1000001\"]\n") {
  auto load = config::ParseConfig(
      "api:\n  endpoint: https://openapi-rdc.aliyuncs.com\n"
      "  organization_id: org-1\n" +
          extra,
      "test");
  EXPECT_TRUE(load.ok()) << (load.errors.empty() ? "" : load.errors[0]);
  return load.config;
}

// Everything answers as a healthy organization does.
ApiProbes Healthy() {
  ApiProbes p;
  p.token_origin = "YUNXIAO_TOKEN";
  p.user = Answer(200, R"({"id":"u1","name":"张三"})", flowapi::kPlatformUser);
  p.list =
      Answer(200, R"([{"pipelineId":1000001,"pipelineName":"build"}])", flowapi::kListPipelines);
  p.groups = Answer(200, R"([{"id":1,"name":"g"}])", flowapi::kListGroups);
  PipelineProbe w;
  w.id = "1000001";
  w.latest = Answer(200, kRun, flowapi::kLatestRun);
  p.watched.push_back(w);
  p.run = w.latest;
  p.targets = 1;
  p.unnamed_targets = 1;
  return p;
}

std::string Report(const config::Config& cfg, const ApiProbes& p) {
  return FormatReport(Evaluate(cfg, p));
}

// The failed lines' text and fix, for assertions about what a user is told.
std::string Failures(const std::vector<CheckLine>& lines) {
  std::string out;
  for (const auto& l : lines) {
    if (l.mark == Mark::kFail) out += l.text + " | " + l.fix + "\n";
  }
  return out;
}

TEST(ApiCheck, AHealthyOrganizationPassesEveryCheck) {
  auto lines = Evaluate(Cfg(), Healthy());
  EXPECT_TRUE(Passed(lines));
  const std::string report = FormatReport(lines);
  EXPECT_EQ(report.find("✘"), std::string::npos) << report;
  EXPECT_NE(report.find("✔ API reachable at https://openapi-rdc.aliyuncs.com (TLS verified)"),
            std::string::npos);
  EXPECT_NE(report.find("central edition, paths /oapi/v1/flow/organizations/org-1/pipelines/"),
            std::string::npos);
  EXPECT_NE(report.find("token accepted (token from YUNXIAO_TOKEN), user 张三"), std::string::npos);
  EXPECT_NE(report.find("organization org-1: the token's user is a member"), std::string::npos);
  EXPECT_NE(report.find("✔ permission 流水线运行实例 (Pipeline run instance)"), std::string::npos);
  EXPECT_NE(report.find("✔ permission 流水线 (Pipeline)"), std::string::npos);
  EXPECT_NE(report.find("✔ permission 流水线分组 (Pipeline group)"), std::string::npos);
  EXPECT_NE(report.find("{pipelineId, pipelineName, …}: today's shape"), std::string::npos);
  EXPECT_NE(report.find("✔ pipeline 1000001: latest run #7 SUCCESS"), std::string::npos);
  EXPECT_NE(report.find("request budget: about 2.0 requests/min for 1 pipelines"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("api.check: OK"), std::string::npos);
}

TEST(ApiCheck, AnUnreachableHostStopsAtTheFirstLineWithTheFix) {
  ApiProbes p;
  p.user = Unreachable("Couldn't connect to server: Failed to connect to 10.0.0.1 port 443");
  auto lines = Evaluate(Cfg(), p);
  EXPECT_FALSE(Passed(lines));
  ASSERT_GE(lines.size(), 1u);
  EXPECT_EQ(lines[0].mark, Mark::kFail);
  EXPECT_NE(lines[0].text.find("API not reachable"), std::string::npos);
  EXPECT_NE(lines[0].fix.find("api.endpoint"), std::string::npos);
  EXPECT_EQ(Failures(lines).find("token"), std::string::npos);  // nothing else is judged

  p.user = Unreachable("SSL certificate problem: unable to get local issuer certificate");
  EXPECT_NE(Evaluate(Cfg(), p)[0].fix.find("api.tls_ca_file"), std::string::npos);
  p.user = Unreachable("Could not resolve host: openapi-rdc.example");
  EXPECT_NE(Evaluate(Cfg(), p)[0].fix.find("does not resolve"), std::string::npos);
}

TEST(ApiCheck, ARejectedAndAnExpiredTokenGetDifferentFixes) {
  ApiProbes p = Healthy();
  p.user = Answer(401, ErrorBody("InvalidTokenError"), flowapi::kPlatformUser);
  auto lines = Evaluate(Cfg(), p);
  EXPECT_FALSE(Passed(lines));
  std::string f = Failures(lines);
  EXPECT_NE(f.find("token rejected (token from YUNXIAO_TOKEN)"), std::string::npos) << f;
  EXPECT_NE(f.find("copied whole"), std::string::npos);
  // The rest is not judged with a token that does not work.
  EXPECT_EQ(f.find("permission"), std::string::npos) << f;

  p.user = Answer(401, ErrorBody("ExpiredTokenError", "token expired"), flowapi::kPlatformUser);
  f = Failures(Evaluate(Cfg(), p));
  EXPECT_NE(f.find("token expired"), std::string::npos) << f;
  EXPECT_NE(f.find("create a new personal access token"), std::string::npos);

  p.user = Answer(302, "", flowapi::kPlatformUser);
  p.user.result.kind = ErrorKind::kRedirect;  // what the transport reports for a 3xx
  f = Failures(Evaluate(Cfg(), p));
  EXPECT_NE(f.find("redirected"), std::string::npos) << f;
}

TEST(ApiCheck, AWrongOrganizationIsReportedAsSuchNotAsAMissingPermission) {
  for (auto [status, code] : {std::pair{403L, "Forbidden.InvalidUser.UserNotInCurrentOrganization"},
                              std::pair{403L, "Forbidden.InvalidOrganizationMember"},
                              std::pair{404L, "InvalidOrganization.NotFound"}}) {
    ApiProbes p = Healthy();
    p.list = Answer(status, ErrorBody(code), flowapi::kListPipelines);
    p.groups = Answer(status, ErrorBody(code), flowapi::kListGroups);
    p.watched.clear();
    p.run = {};
    auto lines = Evaluate(Cfg(), p);
    EXPECT_FALSE(Passed(lines)) << code;
    const std::string f = Failures(lines);
    EXPECT_NE(f.find("not a member of organization org-1"), std::string::npos) << f;
    EXPECT_NE(f.find("check api.organization_id"), std::string::npos) << f;
    EXPECT_EQ(f.find("permission"), std::string::npos) << f;
    EXPECT_EQ(f.find("does not serve"), std::string::npos) << f;
  }
}

TEST(ApiCheck, EachMissingPermissionNamesItsConsolePermission) {
  struct Case {
    Probe ApiProbes::*probe;
    std::string_view endpoint;
    std::string console;
  };
  for (const Case& c :
       {Case{&ApiProbes::run, flowapi::kLatestRun, "流水线 › 流水线运行实例 › 只读"},
        Case{&ApiProbes::list, flowapi::kListPipelines, "流水线 › 流水线 › 只读"},
        Case{&ApiProbes::groups, flowapi::kListGroups, "流水线分组 › 只读"}}) {
    ApiProbes p = Healthy();
    p.*c.probe = Answer(403, ErrorBody("Forbidden"), c.endpoint);
    // Discovery with groups needs all three permissions.
    auto cfg = Cfg("discovery:\n  include: b\n  group_ids: [1]\n");
    p.discovery_ran = true;
    p.discovered = 1;
    auto lines = Evaluate(cfg, p);
    EXPECT_FALSE(Passed(lines)) << c.console;
    const std::string f = Failures(lines);
    EXPECT_NE(f.find("grant the token " + c.console), std::string::npos) << f;
    EXPECT_NE(f.find("missing"), std::string::npos) << f;
    EXPECT_EQ(f.find("organization"), std::string::npos) << f;
  }
}

TEST(ApiCheck, APermissionThisConfigurationDoesNotUseIsANoteNotAFailure) {
  ApiProbes p = Healthy();
  p.groups = Answer(403, ErrorBody("Forbidden"), flowapi::kListGroups);
  auto lines = Evaluate(Cfg(), p);  // no discovery.group_ids
  EXPECT_TRUE(Passed(lines)) << FormatReport(lines);
  EXPECT_NE(Failures(lines).find("not needed by this configuration"), std::string::npos);
  // Named pipelines need no 流水线 (Pipeline) permission either.
  p = Healthy();
  p.list = Answer(403, ErrorBody("Forbidden"), flowapi::kListPipelines);
  EXPECT_TRUE(Passed(Evaluate(Cfg("pipelines:\n  - {id: \"1000001\", name: b}\n"), p)));
  EXPECT_FALSE(Passed(Evaluate(Cfg(), p)));  // an unnamed pipeline: its name comes from the API
}

TEST(ApiCheck, APipelineThatNeverRanIsFineOneThatDoesNotExistIsNot) {
  ApiProbes p = Healthy();
  p.watched[0].latest = Answer(404, ErrorBody("NotFound"), flowapi::kLatestRun);
  p.watched[0].definition = Answer(200, R"({"name":"build"})", flowapi::kGetPipeline);
  p.run = p.watched[0].latest;
  auto lines = Evaluate(Cfg(), p);
  EXPECT_TRUE(Passed(lines)) << FormatReport(lines);
  EXPECT_NE(FormatReport(lines).find("✔ pipeline 1000001: no run yet"), std::string::npos);

  p.watched[0].definition = Answer(404, ErrorBody("NotFound"), flowapi::kGetPipeline);
  lines = Evaluate(Cfg(), p);
  EXPECT_FALSE(Passed(lines));
  EXPECT_NE(Failures(lines).find(
                "pipeline 1000001 not found in this organization | check pipelines[].id"),
            std::string::npos)
      << Failures(lines);

  for (const char* body : {"", "null", "{}"}) {
    p = Healthy();
    p.watched[0].latest = Answer(200, body, flowapi::kLatestRun);
    EXPECT_NE(Report(Cfg(), p).find("✔ pipeline 1000001: no run yet"), std::string::npos) << body;
  }
}

TEST(ApiCheck, ThePathFormIsJudgedByListPipelines) {
  ApiProbes p = Healthy();
  p.list = Answer(404, ErrorBody("NotFound"), flowapi::kListPipelines);
  auto cfg = Cfg();
  cfg.api.edition = config::Edition::kRegion;  // the central host with the region form
  auto lines = Evaluate(cfg, p);
  EXPECT_FALSE(Passed(lines));
  EXPECT_NE(Failures(lines).find("api.endpoint is the central edition's host but api.edition is "
                                 "region"),
            std::string::npos)
      << Failures(lines);
  // Nothing else is judged on a path the API does not serve: no "✔ permission" from a 404.
  const std::string report = FormatReport(lines);
  EXPECT_EQ(report.find("permission"), std::string::npos) << report;
  EXPECT_NE(report.find("the other checks need a path form that the API serves"),
            std::string::npos);
}

TEST(ApiCheck, APlatformUserPathThatIsNotServedFallsBackToListPipelines) {
  ApiProbes p = Healthy();
  p.user = Answer(404, ErrorBody("NotFound"), flowapi::kPlatformUser);
  auto lines = Evaluate(Cfg(), p);
  EXPECT_TRUE(Passed(lines));
  EXPECT_NE(FormatReport(lines).find("token accepted (token from YUNXIAO_TOKEN) (judged from "
                                     "ListPipelines)"),
            std::string::npos);
  p.list = Answer(401, ErrorBody("ExpiredTokenError"), flowapi::kListPipelines);
  EXPECT_NE(Failures(Evaluate(Cfg(), p)).find("token expired"), std::string::npos);
}

TEST(ApiCheck, TheListShapeIsReported) {
  ApiProbes p = Healthy();
  p.list = Answer(200, R"([{"id":1000001,"name":"b","groupId":0,"envName":null}])",
                  flowapi::kListPipelines);
  EXPECT_NE(Report(Cfg(), p).find("{id, name, groupId, …}: the 2025 shape"), std::string::npos);
  p.list = Answer(200, "[]", flowapi::kListPipelines);
  auto discovery = Cfg("discovery: {include: x}\n");
  p.discovery_ran = true;
  p.discovered = 0;
  auto lines = Evaluate(discovery, p);
  EXPECT_FALSE(Passed(lines));
  EXPECT_NE(Failures(lines).find("no pipeline visible"), std::string::npos);
}

TEST(ApiCheck, DiscoveryReportsItsMatchCount) {
  ApiProbes p = Healthy();
  p.discovery_ran = true;
  p.discovered = 12;
  p.discovery_requests = 2;
  auto cfg = Cfg("discovery:\n  include: \"^b\"\n  exclude: tmp\n");
  EXPECT_NE(Report(cfg, p).find("✔ discovery finds 12 pipelines (include \"^b\", exclude \"tmp\"; "
                                "2 requests per refresh)"),
            std::string::npos)
      << Report(cfg, p);
  p.discovered = 0;
  auto lines = Evaluate(cfg, p);
  EXPECT_FALSE(Passed(lines));
  EXPECT_NE(Failures(lines).find("loosen discovery.include"), std::string::npos);
  p.discovered.reset();
  p.discovery_error = "ListPipelines page 3: HTTP 500";
  EXPECT_NE(Failures(Evaluate(cfg, p)).find("discovery failed: ListPipelines page 3"),
            std::string::npos);
}

TEST(ApiCheck, TheRequestBudgetIsCountedAgainstTheRateLimit) {
  auto cfg =
      Cfg("collect:\n  cache_ttl: 30s\n  history: true\n  history_interval: 1m\n"
          "discovery:\n  refresh_interval: 10m\n");
  Budget b = RequestBudget(cfg, 300, 60, 10);
  EXPECT_DOUBLE_EQ(b.latest_runs, 600);  // 300 pipelines, each every 30 s
  EXPECT_DOUBLE_EQ(b.history, 300);
  EXPECT_DOUBLE_EQ(b.discovery, 1);  // 10 pages every 10 min
  EXPECT_DOUBLE_EQ(b.names, 60.0 / 360);
  EXPECT_DOUBLE_EQ(b.total, 901 + 60.0 / 360);
  EXPECT_DOUBLE_EQ(b.allowed, 1200);  // 20 requests/s
  EXPECT_DOUBLE_EQ(b.cold_scrape_seconds, 15);

  ApiProbes p = Healthy();
  p.targets = 2000;  // 4000 requests/min > 1200
  p.discovery_ran = true;
  p.discovered = 2000;
  auto lines = Evaluate(cfg, p);
  EXPECT_FALSE(Passed(lines));
  const std::string f = Failures(lines);
  EXPECT_NE(f.find("of 1200 allowed by api.max_requests_per_second 20"), std::string::npos) << f;
  EXPECT_NE(f.find("raise collect.cache_ttl"), std::string::npos);
  EXPECT_NE(f.find("more than collect.scrape_deadline"), std::string::npos);
}

TEST(ApiCheck, IsADeclaredFlag) {
  auto f = config::ParseFlags({"--api.check", "--config.file=c.yaml"});
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->api_check);
  EXPECT_NE(config::Usage().find("--api.check"), std::string::npos);
}

TEST(TokenPrecedence, AnUnreadableTokenFileSaysThatItWinsOverTheEnvironment) {
  config::ApiConfig api;
  api.token_file = "/nonexistent/yunxiao-token";
  auto r = config::ResolveToken(api, "pt-env-token-123");
  ASSERT_FALSE(r.ok());
  std::string err = r.error();
  EXPECT_NE(err.find("cannot read api.token_file /nonexistent/yunxiao-token"), std::string::npos);
  EXPECT_NE(err.find("is used instead of YUNXIAO_TOKEN"), std::string::npos) << err;
  EXPECT_EQ(err.find("pt-env-token-123"), std::string::npos);
  r = config::ResolveToken(api, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().find("YUNXIAO_TOKEN"), std::string::npos) << r.error();  // nothing to explain
}

TEST(TokenPrecedence, TheExampleConfigTakesTheTokenFromTheEnvironment) {
  auto load = config::LoadConfigFile(std::string(YFE_SOURCE_DIR) + "/config.example.yaml");
  ASSERT_TRUE(load.ok());
  auto token = config::ResolveToken(load.config.api, "pt-env-token-123");
  ASSERT_TRUE(token.ok()) << token.error();
  EXPECT_EQ(token->origin, "YUNXIAO_TOKEN");
}

// The classification the exporter's own log lines use.

TEST(ErrorHints, A403NamesThePermissionOfItsEndpoint) {
  Response r;
  r.status = 403;
  r.body = ErrorBody("Forbidden", "no permission");
  EXPECT_NE(Classify(r, flowapi::kLatestRun).error.find("流水线运行实例 (Pipeline run instance)"),
            std::string::npos);
  EXPECT_NE(Classify(r, flowapi::kListRuns).error.find("流水线运行实例"), std::string::npos);
  EXPECT_NE(Classify(r, flowapi::kGetPipeline).error.find("lacks permission 流水线 (Pipeline)"),
            std::string::npos);
  EXPECT_NE(Classify(r, flowapi::kListPipelines).error.find("流水线 (Pipeline)"),
            std::string::npos);
  EXPECT_NE(Classify(r, flowapi::kListGroups).error.find("流水线分组 (Pipeline group)"),
            std::string::npos);
  EXPECT_EQ(Classify(r, flowapi::kGetPipeline).kind, ErrorKind::kPermission);
}

TEST(ErrorHints, OrganizationErrorsNameTheOrganizationIdNotAPermission) {
  Response r;
  for (auto [status, code] : {std::pair{403L, "Forbidden.InvalidUser.UserNotInCurrentOrganization"},
                              std::pair{403L, "Forbidden.InvalidOrganizationMember"},
                              std::pair{404L, "InvalidOrganization.NotFound"}}) {
    r.status = status;
    r.body = ErrorBody(code);
    auto a = Classify(r, flowapi::kLatestRun);
    EXPECT_EQ(a.kind, ErrorKind::kOrganization) << code;
    EXPECT_NE(a.error.find("check api.organization_id"), std::string::npos) << a.error;
    EXPECT_EQ(a.error.find("permission"), std::string::npos) << a.error;
  }
}

TEST(ErrorHints, AnExpiredTokenSaysSo) {
  Response r;
  r.status = 401;
  r.body = ErrorBody("ExpiredTokenError");
  auto a = Classify(r, flowapi::kLatestRun);
  EXPECT_EQ(a.kind, ErrorKind::kTokenExpired);
  EXPECT_NE(a.error.find("the token expired"), std::string::npos) << a.error;
  r.body = ErrorBody("InvalidTokenError");
  EXPECT_EQ(Classify(r).kind, ErrorKind::kTokenRejected);
}

TEST(ErrorHints, TheMessageMayComeFromMessageOrErrorDescription) {
  Response r;
  r.status = 403;
  r.body = R"({"errorCode":"Forbidden","message":"from message"})";
  EXPECT_NE(Classify(r).error.find("Forbidden: from message"), std::string::npos);
  r.body = R"({"code":"x","errorDescription":"from description"})";
  EXPECT_NE(Classify(r).error.find("from description"), std::string::npos);
  r.body = R"({"errorMessage":"first","message":"second"})";
  EXPECT_NE(Classify(r).error.find("first"), std::string::npos);
}

TEST(ErrorHints, TheGatewaysRequestIdIsKeptWhenTheBodyHasNone) {
  Response r;
  r.status = 502;
  r.body = "<html>bad gateway</html>";
  r.request_id = "gw-7f3a";
  auto a = Classify(r);
  EXPECT_EQ(a.request_id, "gw-7f3a");
  EXPECT_NE(a.error.find("(x-request-id gw-7f3a)"), std::string::npos) << a.error;
  r.body = ErrorBody("InternalServerError");  // the body's own id wins
  EXPECT_EQ(Classify(r).request_id, "rid-1");
}

}  // namespace
}  // namespace yfe::app
