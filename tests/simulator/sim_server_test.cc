#include "sim_server.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "world.h"

namespace yfe::sim {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int64_t kFrozenMs = 1732800000000;
constexpr const char* kToken = "test-token";
constexpr const char* kCentral = "/oapi/v1/flow/organizations/sim-org";
constexpr const char* kRegion = "/oapi/v1/flow";
constexpr const char* kSlip = "/oapi/v1/flow/organizations";

rapidjson::Document Json(const std::string& body) {
  rapidjson::Document doc;
  doc.Parse(body.c_str(), body.size());
  return doc;
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// One simulator (world + HTTP server) on an ephemeral port.
class Sim {
 public:
  explicit Sim(ServerOptions options = {}, WorldOptions world = {},
               std::optional<int64_t> frozen = kFrozenMs)
      : clock_(frozen), world_(world, &clock_) {
    if (options.token == "sim-token") options.token = kToken;
    options.threads = 32;
    server_ = std::make_unique<SimServer>(&world_, options);
    port_ = server_->Start("127.0.0.1", 0);
  }
  ~Sim() { server_->Stop(); }

  int port() const { return port_; }
  SimServer& server() { return *server_; }
  World& world() { return world_; }
  SimClock& clock() { return clock_; }

  httplib::Client Client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(30, 0);
    return c;
  }
  static httplib::Headers Auth() { return {{"x-yunxiao-token", kToken}}; }

  httplib::Result Api(const std::string& path) const { return Client().Get(path, Auth()); }
  httplib::Result Post(const std::string& path, const std::string& body) const {
    return Client().Post(path, body, "application/json");
  }

 private:
  SimClock clock_;
  World world_;
  std::unique_ptr<SimServer> server_;
  int port_ = -1;
};

void ExpectError(const httplib::Result& r, int status, const std::string& code) {
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, status) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  rapidjson::Document doc = Json(r->body);
  ASSERT_TRUE(doc.IsObject()) << r->body;
  ASSERT_TRUE(doc.HasMember("errorCode") && doc["errorCode"].IsString());
  EXPECT_EQ(std::string(doc["errorCode"].GetString()), code);
  ASSERT_TRUE(doc.HasMember("errorMessage") && doc["errorMessage"].IsString());
  ASSERT_TRUE(doc.HasMember("requestId") && doc["requestId"].IsString());
  EXPECT_EQ(doc["requestId"].GetStringLength(), 36u);
}

TEST(ServerTest, StartsOnEphemeralPortAndIsHealthy) {
  Sim sim;
  ASSERT_GT(sim.port(), 0);
  auto r = sim.Client().Get("/-/healthy");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = sim.Client().Head("/oapi/v1/platform/user", Sim::Auth());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body.empty());
}

TEST(ServerTest, BusyPortFailsToBind) {
  Sim first;
  SimClock clock(kFrozenMs);
  World world(WorldOptions{}, &clock);
  SimServer second(&world, ServerOptions{});
  EXPECT_EQ(second.Start("127.0.0.1", first.port()), -1);
}

TEST(ServerTest, TokenIsRequiredOnEveryApiRoute) {
  Sim sim;
  auto c = sim.Client();
  for (const std::string& path :
       {std::string(kCentral) + "/pipelines/1000001/runs/latestPipelineRun",
        std::string(kRegion) + "/pipelines", std::string(kCentral) + "/pipelineGroups",
        std::string("/oapi/v1/platform/user"), std::string(kRegion) + "/no/such/route"}) {
    SCOPED_TRACE(path);
    ExpectError(c.Get(path), 401, "Unauthorized");
    ExpectError(c.Get(path, {{"x-yunxiao-token", "wrong"}}), 401, "Unauthorized");
  }
  auto r = c.Get("/oapi/v1/platform/user", Sim::Auth());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(Json(r->body).IsObject());
}

TEST(ServerTest, AllThreePathFormsServeTheSameRun) {
  Sim sim;
  const std::string tail = "/pipelines/1000003/runs/latestPipelineRun";
  auto central = sim.Api(kCentral + tail);
  auto region = sim.Api(kRegion + tail);
  auto slip = sim.Api(kSlip + tail);
  ASSERT_TRUE(central && region && slip);
  EXPECT_EQ(central->status, 200);
  EXPECT_EQ(central->body, region->body);
  EXPECT_EQ(central->body, slip->body);
  rapidjson::Document doc = Json(central->body);
  ASSERT_TRUE(doc.IsObject());
  EXPECT_EQ(doc["pipelineId"].GetInt64(), 1000003);
  EXPECT_TRUE(doc["pipelineRunId"].IsInt64());
  EXPECT_FALSE(doc.HasMember("endTime"));
  const std::string repo = doc["sources"][0]["data"]["repo"].GetString();
  EXPECT_NE(repo.find("deploy:SIM-SECRET-PASSWORD@"), std::string::npos);

  ExpectError(sim.Api("/oapi/v1/flow/organizations/other-org" + tail), 404, "NotFound");
}

TEST(ServerTest, ErrorsForUnknownRoutesIdsAndBadParams) {
  Sim sim;
  const std::string base = kCentral;
  ExpectError(sim.Api(base + "/nothing"), 404, "NotFound");
  ExpectError(sim.Api(base + "/pipelines/1000001/runs/latestPipelineRun/extra"), 404, "NotFound");
  ExpectError(sim.Api(base + "/pipelines/abc/runs/latestPipelineRun"), 400, "BadRequest");
  ExpectError(sim.Api(base + "/pipelines/1000001/runs/xyz"), 400, "BadRequest");
  ExpectError(sim.Api(base + "/pipelines/999/runs/latestPipelineRun"), 404, "NotFound");
  ExpectError(sim.Api(base + "/pipelines/999"), 404, "NotFound");
  ExpectError(sim.Api(base + "/pipelines/1000001/runs/99999999"), 404, "NotFound");
  ExpectError(sim.Api(base + "/pipelines?page=abc"), 400, "BadRequest");
  ExpectError(sim.Api(base + "/pipelines?perPage=0"), 400, "BadRequest");
  auto r = sim.Client().Post(base + "/pipelines", Sim::Auth(), "{}", "application/json");
  ExpectError(r, 404, "NotFound");
  auto other = sim.Client().Get("/not-api");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
}

TEST(ServerTest, PaginationHeadersAndClamping) {
  Sim sim;
  auto r = sim.Api(std::string(kCentral) + "/pipelines?page=2&perPage=5");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("x-page"), "2");
  EXPECT_EQ(r->get_header_value("x-per-page"), "5");
  EXPECT_EQ(r->get_header_value("x-prev-page"), "1");
  EXPECT_EQ(r->get_header_value("x-next-page"), "3");
  EXPECT_EQ(r->get_header_value("x-total"), "12");
  EXPECT_EQ(r->get_header_value("x-total-pages"), "3");
  rapidjson::Document doc = Json(r->body);
  ASSERT_TRUE(doc.IsArray());
  ASSERT_EQ(doc.Size(), 5u);
  // Today's shape by default: no groupId.
  EXPECT_EQ(doc[0]["pipelineId"].GetInt64(), 1000006);
  EXPECT_TRUE(doc[0]["pipelineName"].IsString() && doc[0]["createAccountId"].IsString() &&
              doc[0]["createTime"].IsInt64());
  EXPECT_FALSE(doc[0].HasMember("groupId") || doc[0].HasMember("id"));

  r = sim.Api(std::string(kCentral) + "/pipelines");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("x-per-page"), "10");
  EXPECT_EQ(Json(r->body).Size(), 10u);
  EXPECT_EQ(r->get_header_value("x-prev-page"), "");

  r = sim.Api(std::string(kCentral) + "/pipelines/1000001/runs?perPage=100&page=3");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("x-per-page"), "30");
  doc = Json(r->body);
  ASSERT_EQ(doc.Size(), 30u);
  const int64_t total = std::stoll(r->get_header_value("x-total"));
  EXPECT_EQ(doc[0]["pipelineRunId"].GetInt64(), total - 60);
  EXPECT_EQ(r->get_header_value("x-total-pages"), std::to_string((total + 29) / 30));
  for (const char* key : {"pipelineRunId", "pipelineId", "status", "startTime", "endTime",
                          "triggerMode", "creatorAccountId"}) {
    EXPECT_TRUE(doc[0].HasMember(key)) << key;
  }

  r = sim.Api(std::string(kCentral) + "/pipelines?page=50");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "[]");
  EXPECT_EQ(r->get_header_value("x-next-page"), "");

  r = sim.Api(std::string(kCentral) + "/pipelineGroups?perPage=3");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("x-total"), "4");
  EXPECT_EQ(r->get_header_value("x-total-pages"), "2");
  EXPECT_EQ(Json(r->body).Size(), 3u);
}

TEST(ServerTest, The2025ListStyleHasGroupIdsAndNulls) {
  ServerOptions o;
  o.list_style = ListStyle::k2025;
  Sim sim(o);
  auto r = sim.Api(std::string(kCentral) + "/pipelines?perPage=5");
  ASSERT_TRUE(r);
  rapidjson::Document doc = Json(r->body);
  ASSERT_EQ(doc.Size(), 5u);
  EXPECT_EQ(doc[0]["id"].GetInt64(), 1000001);
  EXPECT_TRUE(doc[0]["name"].IsString());
  EXPECT_FALSE(doc[0].HasMember("pipelineId"));
  for (const char* key : {"owner", "pipelineConfig", "modifierAccountId", "updateTime", "envName",
                          "envId", "tagList", "pipelineConfigId", "modifier"}) {
    EXPECT_TRUE(doc[0][key].IsNull()) << key;
  }
  EXPECT_TRUE(doc[0]["creator"]["username"].IsNull());
  EXPECT_EQ(doc[4]["groupId"].GetInt64(), 0);  // every fifth pipeline is ungrouped
  EXPECT_GT(doc[0]["groupId"].GetInt64(), 0);
}

TEST(ServerTest, GroupPipelinesArePagedAndShortPagesSaySo) {
  ServerOptions o;
  o.max_per_page = 2;  // fewer than asked
  Sim sim(o);
  auto r = sim.Api(std::string(kCentral) + "/pipelineGroups/pipelines?groupId=4&page=1&perPage=30");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  rapidjson::Document doc = Json(r->body);
  ASSERT_EQ(doc.Size(), 2u) << r->body;
  EXPECT_TRUE(doc[0]["gmtCreate"].IsInt64() && doc[0]["pipelineId"].IsInt64() &&
              doc[0]["pipelineName"].IsString());
  EXPECT_EQ(r->get_header_value("x-per-page"), "2");
  EXPECT_EQ(r->get_header_value("x-total"), "3");  // #3, #7, #11 of 12
  EXPECT_EQ(r->get_header_value("x-total-pages"), "2");
  EXPECT_EQ(r->get_header_value("x-next-page"), "2");
  EXPECT_FALSE(r->get_header_value("x-request-id").empty());
  r = sim.Api(std::string(kCentral) + "/pipelineGroups/pipelines?groupId=0");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "[]");
  r = sim.Api(std::string(kCentral) + "/pipelineGroups/pipelines");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
}

TEST(ServerTest, NeverRunPipelinesAnswerInEachStyle) {
  WorldOptions w;
  w.never_run = 4;  // #9..#12 of 12
  Sim sim({}, w);
  const std::string base = std::string(kCentral) + "/pipelines/";
  struct Case {
    int64_t id;
    int status;
    std::string body;
  };
  for (const Case& c :
       {Case{1000010, 200, ""}, Case{1000011, 200, "null"}, Case{1000012, 200, "{}"}}) {
    auto r = sim.Api(base + std::to_string(c.id) + "/runs/latestPipelineRun");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, c.status) << c.id;
    EXPECT_EQ(r->body, c.body) << c.id;
  }
  auto r = sim.Api(base + "1000009/runs/latestPipelineRun");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(r->body.find("has no run"), std::string::npos);
  r = sim.Api(base + "1000009/runs");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "[]");
  EXPECT_EQ(r->get_header_value("x-total"), "0");
  r = sim.Api(base + "1000009");  // the pipeline itself exists
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  // A run started through the control API is its first.
  ASSERT_TRUE(sim.world().StartRun(1000012));
  r = sim.Api(base + "1000012/runs/latestPipelineRun");
  ASSERT_TRUE(r);
  EXPECT_EQ(Json(r->body)["pipelineRunId"].GetInt64(), 1);
}

TEST(ServerTest, JobsNotStartedHaveNullTimes) {
  Sim sim;
  bool seen_init = false;
  for (int64_t id = 1000001; id <= 1000012 && !seen_init; ++id) {
    auto r = sim.Api(std::string(kCentral) + "/pipelines/" + std::to_string(id) +
                     "/runs/latestPipelineRun");
    ASSERT_TRUE(r);
    rapidjson::Document doc = Json(r->body);
    for (const auto& stage : doc["stages"].GetArray()) {
      for (const auto& job : stage["stageInfo"]["jobs"].GetArray()) {
        if (std::string(job["status"].GetString()) != "INIT") {
          EXPECT_TRUE(job["startTime"].IsInt64());
          continue;
        }
        seen_init = true;
        EXPECT_TRUE(job["startTime"].IsNull());
        EXPECT_TRUE(job["endTime"].IsNull());
      }
    }
  }
  EXPECT_TRUE(seen_init) << "no running pipeline with a job not started";
}

TEST(ServerTest, PagingHeadersCanBeLeftOut) {
  ServerOptions o;
  o.paging_headers = false;
  Sim sim(o);
  auto r = sim.Api(std::string(kCentral) + "/pipelines?perPage=5");
  ASSERT_TRUE(r);
  EXPECT_EQ(Json(r->body).Size(), 5u);
  EXPECT_FALSE(r->has_header("x-total-pages"));
  EXPECT_FALSE(r->has_header("x-next-page"));
}

TEST(ServerTest, FrozenClockResponsesAreByteIdentical) {
  Sim a;
  Sim b;
  for (const std::string& path :
       {std::string(kCentral) + "/pipelines/1000001/runs/latestPipelineRun",
        std::string(kCentral) + "/pipelines/1000005/runs/latestPipelineRun",
        std::string(kCentral) + "/pipelines/1000005/runs?perPage=30",
        std::string(kCentral) + "/pipelines?perPage=30",
        std::string(kCentral) + "/pipelines/1000007", std::string(kCentral) + "/pipelineGroups",
        std::string(kCentral) + "/pipelines/1000007/runs/1", std::string(kCentral) + "/nope"}) {
    auto ra = a.Api(path);
    auto rb = b.Api(path);
    ASSERT_TRUE(ra && rb);
    EXPECT_EQ(ra->body, rb->body) << path;
    EXPECT_EQ(ra->headers, rb->headers) << path;
  }
}

TEST(ServerTest, GetPipelineShape) {
  Sim sim;
  auto r = sim.Api(std::string(kCentral) + "/pipelines/1000001");
  ASSERT_TRUE(r);
  rapidjson::Document doc = Json(r->body);
  ASSERT_TRUE(doc.IsObject());
  for (const char* key : {"name", "groupId", "envId", "envName", "tagList", "createTime",
                          "updateTime", "pipelineConfig"}) {
    EXPECT_TRUE(doc.HasMember(key)) << key;
  }
  EXPECT_TRUE(doc["pipelineConfig"]["sources"].IsArray());
}

TEST(ServerTest, Faults429And5xx) {
  Sim sim;
  const std::string path = std::string(kCentral) + "/pipelines/1000001/runs/latestPipelineRun";
  auto f = sim.Post("/-/sim/faults", R"({"status429":1,"retryAfterSeconds":7})");
  ASSERT_TRUE(f);
  ASSERT_EQ(f->status, 200) << f->body;
  auto r = sim.Api(path);
  ExpectError(r, 429, "TooManyRequests");
  EXPECT_EQ(r->get_header_value("Retry-After"), "7");

  ASSERT_EQ(sim.Post("/-/sim/faults", R"({"status5xx":1})")->status, 200);
  ExpectError(sim.Api(path), 500, "InternalServerError");

  // Half the requests fail.
  ASSERT_EQ(sim.Post("/-/sim/faults", R"({"status5xx":0.5})")->status, 200);
  int failed = 0;
  auto c = sim.Client();
  for (int i = 0; i < 200; ++i) failed += c.Get(path, Sim::Auth())->status == 500;
  EXPECT_GT(failed, 60);
  EXPECT_LT(failed, 140);

  // The token is checked before faults.
  ExpectError(sim.Client().Get(path), 401, "Unauthorized");
  ASSERT_EQ(sim.Post("/-/sim/faults", "{}")->status, 200);
  EXPECT_EQ(sim.Api(path)->status, 200);
}

TEST(ServerTest, RejectTokenAndRedirect) {
  Sim sim;
  const std::string path = std::string(kCentral) + "/pipelines";
  ASSERT_EQ(sim.Post("/-/sim/faults", R"({"rejectToken":true})")->status, 200);
  ExpectError(sim.Api(path), 401, "InvalidTokenError");

  ASSERT_EQ(sim.Post("/-/sim/faults", R"({"redirect":true})")->status, 200);
  auto r = sim.Api(path);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 302);
  EXPECT_EQ(r->get_header_value("Location"), kRedirectLocation);
}

TEST(ServerTest, ExpiredTokenOrganizationAndPermissionFaults) {
  Sim sim;
  const std::string list = std::string(kCentral) + "/pipelines";
  const std::string latest = list + "/1000001/runs/latestPipelineRun";
  const std::string other = "/oapi/v1/flow/organizations/typo-org/pipelines";

  ASSERT_EQ(sim.Post("/-/sim/faults", R"({"expiredToken":true})")->status, 200);
  ExpectError(sim.Api(list), 401, "ExpiredTokenError");
  ExpectError(sim.Api("/oapi/v1/platform/user"), 401, "ExpiredTokenError");

  // A mistyped organization id: 404 NotFound unless told how the real API answers.
  ASSERT_EQ(sim.Post("/-/sim/faults", "{}")->status, 200);
  ExpectError(sim.Api(other), 404, "NotFound");
  ASSERT_EQ(sim.Post("/-/sim/faults", R"({"organizationError":"not_member"})")->status, 200);
  ExpectError(sim.Api(other), 403, "Forbidden.InvalidUser.UserNotInCurrentOrganization");
  EXPECT_EQ(sim.Api(list)->status, 200);  // the right organization is unaffected
  EXPECT_EQ(sim.Api("/oapi/v1/platform/user")->status, 200);
  ASSERT_EQ(sim.Post("/-/sim/faults", R"({"organizationError":"invalid_member"})")->status, 200);
  ExpectError(sim.Api(other), 403, "Forbidden.InvalidOrganizationMember");
  ASSERT_EQ(sim.Post("/-/sim/faults", R"({"organizationError":"not_found"})")->status, 200);
  ExpectError(sim.Api(other), 404, "InvalidOrganization.NotFound");
  EXPECT_EQ(sim.Post("/-/sim/faults", R"({"organizationError":"nope"})")->status, 400);

  // Each permission guards its endpoints, as the console's permissions do.
  ASSERT_EQ(sim.Post("/-/sim/faults", R"({"denyPermissions":["run"]})")->status, 200);
  ExpectError(sim.Api(latest), 403, "Forbidden");
  ExpectError(sim.Api(list + "/1000001/runs?page=1&perPage=1"), 403, "Forbidden");
  EXPECT_EQ(sim.Api(list)->status, 200);
  EXPECT_EQ(sim.Api(std::string(kCentral) + "/pipelineGroups")->status, 200);
  ASSERT_EQ(sim.Post("/-/sim/faults", R"({"denyPermissions":["pipeline","group"]})")->status, 200);
  ExpectError(sim.Api(list), 403, "Forbidden");
  ExpectError(sim.Api(list + "/1000001"), 403, "Forbidden");
  ExpectError(sim.Api(std::string(kCentral) + "/pipelineGroups"), 403, "Forbidden");
  EXPECT_EQ(sim.Api(latest)->status, 200);
  EXPECT_EQ(sim.Api("/oapi/v1/platform/user")->status, 200);
  EXPECT_EQ(sim.Post("/-/sim/faults", R"({"denyPermissions":["admin"]})")->status, 400);
  auto faults = Json(sim.Client().Get("/-/sim/faults")->body);
  ASSERT_TRUE(faults.IsObject());
  ASSERT_TRUE(faults.HasMember("denyPermissions") && faults["denyPermissions"].IsArray());
  EXPECT_EQ(faults["denyPermissions"].Size(), 2u);
}

TEST(ServerTest, ApiAnswersCarryTheGatewaysRequestIdHeader) {
  Sim sim;
  auto ok = sim.Api(std::string(kCentral) + "/pipelines");
  ASSERT_TRUE(ok);
  EXPECT_FALSE(ok->get_header_value("x-request-id").empty());
  auto denied = sim.Client().Get(std::string(kCentral) + "/pipelines");  // no token
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->get_header_value("x-request-id"), Json(denied->body)["requestId"].GetString());
}

TEST(ServerTest, MalformedBodyIsTruncatedJson) {
  Sim sim;
  ASSERT_EQ(sim.Post("/-/sim/faults", R"({"malformed":1})")->status, 200);
  auto r = sim.Api(std::string(kCentral) + "/pipelines/1000001/runs/latestPipelineRun");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(Json(r->body).HasParseError());
  EXPECT_EQ(r->body[0], '{');
}

TEST(ServerTest, OversizedBodyIsChunkedValidAndHuge) {
  Sim sim;
  ASSERT_EQ(sim.Post("/-/sim/faults", R"({"oversized":1})")->status, 200);
  for (const std::string& path :
       {std::string(kCentral) + "/pipelines/1000001/runs/latestPipelineRun",
        std::string(kCentral) + "/pipelines"}) {
    auto r = sim.Api(path);
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 200);
    EXPECT_FALSE(r->has_header("Content-Length"));
    EXPECT_EQ(r->get_header_value("Transfer-Encoding"), "chunked");
    EXPECT_GT(r->body.size(), kOversizedPadding);
    rapidjson::Document doc = Json(r->body);
    EXPECT_FALSE(doc.HasParseError()) << path;
  }
}

TEST(ServerTest, ResetClosesConnectionMidBody) {
  Sim sim;
  ASSERT_EQ(sim.Post("/-/sim/faults", R"({"reset":1})")->status, 200);
  auto r = sim.Api(std::string(kCentral) + "/pipelines/1000001/runs/latestPipelineRun");
  EXPECT_FALSE(r);
  EXPECT_EQ(r.error(), httplib::Error::Read);
  // The server keeps serving.
  ASSERT_EQ(sim.Post("/-/sim/faults", R"({"reset":0})")->status, 200);
  EXPECT_EQ(sim.Api(std::string(kCentral) + "/pipelines")->status, 200);
}

TEST(ServerTest, SlowBodyTricklesOverSeconds) {
  Sim sim;
  const std::string path = std::string(kCentral) + "/pipelines/1000001/runs/latestPipelineRun";
  const std::string normal = sim.Api(path)->body;
  ASSERT_EQ(sim.Post("/-/sim/faults", R"({"slowBody":1})")->status, 200);
  const auto start = Clock::now();
  auto r = sim.Api(path);
  const double elapsed = Seconds(Clock::now() - start);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, normal);
  EXPECT_GT(elapsed, 3.0);
  EXPECT_LT(elapsed, 8.0);
}

TEST(ServerTest, FaultsRevertAfterForSeconds) {
  Sim sim;
  const std::string path = std::string(kCentral) + "/pipelines";
  auto f = sim.Post("/-/sim/faults", R"({"status5xx":1,"forSeconds":0.5})");
  ASSERT_EQ(f->status, 200);
  rapidjson::Document doc = Json(sim.Client().Get("/-/sim/faults")->body);
  EXPECT_DOUBLE_EQ(doc["status5xx"].GetDouble(), 1.0);
  EXPECT_TRUE(doc["revertInSeconds"].IsNumber());
  EXPECT_EQ(sim.Api(path)->status, 500);
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  EXPECT_EQ(sim.Api(path)->status, 200);
  doc = Json(sim.Client().Get("/-/sim/faults")->body);
  EXPECT_DOUBLE_EQ(doc["status5xx"].GetDouble(), 0.0);

  EXPECT_EQ(sim.Post("/-/sim/faults", R"({"status5xx":2})")->status, 400);
  EXPECT_EQ(sim.Post("/-/sim/faults", R"({"bogus":1})")->status, 400);
  EXPECT_EQ(sim.Post("/-/sim/faults", "not json")->status, 400);
}

TEST(ServerTest, LatencyIsServedConcurrently) {
  Sim sim;
  ASSERT_EQ(sim.Post("/-/sim/faults", R"({"latencyMs":300})")->status, 200);
  ASSERT_EQ(sim.Post("/-/sim/stats/reset", "")->status, 200);
  constexpr int kClients = 16;
  std::vector<std::thread> threads;
  std::vector<int> statuses(kClients, 0);
  const auto start = Clock::now();
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      auto r = sim.Api(std::string(kCentral) + "/pipelines/" + std::to_string(1000001 + i % 12) +
                       "/runs/latestPipelineRun");
      statuses[static_cast<size_t>(i)] = r ? r->status : -1;
    });
  }
  for (auto& t : threads) t.join();
  const double elapsed = Seconds(Clock::now() - start);
  for (int s : statuses) EXPECT_EQ(s, 200);
  EXPECT_GE(elapsed, 0.29);
  EXPECT_LT(elapsed, 1.5);  // sequential would take 4.8 s
  rapidjson::Document stats = Json(sim.Client().Get("/-/sim/stats")->body);
  EXPECT_GE(stats["inFlightMax"].GetInt(), 8);
}

TEST(ServerTest, StatsCountPerEndpointAndStatus) {
  Sim sim;
  sim.Api(std::string(kCentral) + "/pipelines/1000001/runs/latestPipelineRun");
  sim.Api(std::string(kCentral) + "/pipelines/1000001/runs/latestPipelineRun");
  sim.Api(std::string(kCentral) + "/pipelines/1000001/runs/1");
  sim.Api(std::string(kCentral) + "/pipelines/1000001/runs");
  sim.Api(std::string(kCentral) + "/pipelines/1000001");
  sim.Api(std::string(kCentral) + "/pipelines");
  sim.Api(std::string(kCentral) + "/pipelineGroups");
  sim.Api("/oapi/v1/platform/user");
  sim.Api("/oapi/v1/whatever");
  sim.Client().Get(std::string(kCentral) + "/pipelines");  // 401
  rapidjson::Document s = Json(sim.Client().Get("/-/sim/stats")->body);
  ASSERT_TRUE(s.IsObject());
  EXPECT_EQ(s["total"].GetInt64(), 10);
  const auto& req = s["requests"];
  EXPECT_EQ(req["latestPipelineRun"]["200"].GetInt64(), 2);
  EXPECT_EQ(req["getPipelineRun"]["200"].GetInt64(), 1);
  EXPECT_EQ(req["listPipelineRuns"]["200"].GetInt64(), 1);
  EXPECT_EQ(req["getPipeline"]["200"].GetInt64(), 1);
  EXPECT_EQ(req["listPipelines"]["200"].GetInt64(), 1);
  EXPECT_EQ(req["listPipelines"]["401"].GetInt64(), 1);
  EXPECT_EQ(req["listPipelineGroups"]["200"].GetInt64(), 1);
  EXPECT_EQ(req["user"]["200"].GetInt64(), 1);
  EXPECT_EQ(req["unknown"]["404"].GetInt64(), 1);
  EXPECT_GE(s["inFlightMax"].GetInt(), 1);

  ASSERT_EQ(sim.Post("/-/sim/stats/reset", "")->status, 200);
  s = Json(sim.Client().Get("/-/sim/stats")->body);
  EXPECT_EQ(s["total"].GetInt64(), 0);
  EXPECT_TRUE(s["requests"]["latestPipelineRun"].ObjectEmpty());
}

TEST(ServerTest, ControlFinishStartAndOverride) {
  Sim sim;
  const std::string latest = std::string(kCentral) + "/pipelines/1000002/runs/latestPipelineRun";
  const int64_t before = Json(sim.Api(latest)->body)["pipelineRunId"].GetInt64();

  auto r = sim.Post("/-/sim/pipelines/1000002/finish", R"({"status":"FAIL"})");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  rapidjson::Document truth = Json(r->body);
  EXPECT_EQ(truth["latestRunId"].GetInt64(), before + 1);
  EXPECT_STREQ(truth["status"].GetString(), "FAIL");
  rapidjson::Document run = Json(sim.Api(latest)->body);
  EXPECT_EQ(run["pipelineRunId"].GetInt64(), before + 1);
  EXPECT_STREQ(run["status"].GetString(), "FAIL");
  EXPECT_EQ(run["updateTime"].GetInt64(), kFrozenMs);
  int failed_stages = 0;
  for (const auto& s : run["stages"].GetArray()) {
    failed_stages += std::string(s["stageInfo"]["status"].GetString()) == "FAIL";
  }
  EXPECT_EQ(failed_stages, 1);

  r = sim.Post("/-/sim/pipelines/1000002/start", "");
  ASSERT_EQ(r->status, 200);
  run = Json(sim.Api(latest)->body);
  EXPECT_EQ(run["pipelineRunId"].GetInt64(), before + 2);
  EXPECT_EQ(run["createTime"].GetInt64(), kFrozenMs);
  ASSERT_EQ(sim.Post("/-/sim/clock", R"({"advanceSeconds":86400})")->status, 200);
  run = Json(sim.Api(latest)->body);
  EXPECT_EQ(run["pipelineRunId"].GetInt64(), before + 2);
  const std::string status = run["status"].GetString();
  EXPECT_TRUE(status == "RUNNING" || status == "WAITING") << status;

  r = sim.Client().Delete("/-/sim/pipelines/1000002/override");
  ASSERT_EQ(r->status, 200);
  ASSERT_EQ(sim.Post("/-/sim/clock", R"({"advanceSeconds":3600})")->status, 200);
  run = Json(sim.Api(latest)->body);
  EXPECT_GT(run["pipelineRunId"].GetInt64(), before + 2);

  EXPECT_EQ(sim.Post("/-/sim/pipelines/42/finish", R"({"status":"FAIL"})")->status, 404);
  EXPECT_EQ(sim.Post("/-/sim/pipelines/1000002/finish", R"({"status":1})")->status, 400);
}

TEST(ServerTest, ControlHoldResumeAndFinishes) {
  Sim sim;
  const std::string runs = std::string(kCentral) + "/pipelines/1000003/runs";
  auto r = sim.Post("/-/sim/pipelines/1000003/hold", "");
  ASSERT_EQ(r->status, 200) << r->body;
  const int64_t held = Json(r->body)["latestRunId"].GetInt64();
  EXPECT_STREQ(Json(r->body)["status"].GetString(), "WAITING");
  r = sim.Post("/-/sim/pipelines/1000003/finish", R"({"status":"FAIL"})");
  const int64_t failed = Json(r->body)["latestRunId"].GetInt64();
  EXPECT_EQ(failed, held + 1);
  const std::string resume = "/-/sim/pipelines/1000003/runs/" + std::to_string(failed) + "/resume";
  ASSERT_EQ(sim.Post(resume, R"({"status":"SUCCESS","seconds":30})")->status, 200);
  rapidjson::Document run = Json(sim.Api(runs + "/" + std::to_string(failed))->body);
  EXPECT_STREQ(run["status"].GetString(), "RUNNING");
  rapidjson::Document list = Json(sim.Api(runs + "?perPage=2")->body);
  EXPECT_EQ(list[0]["pipelineRunId"].GetInt64(), failed);
  EXPECT_STREQ(list[0]["status"].GetString(), "RUNNING");
  EXPECT_STREQ(list[1]["status"].GetString(), "WAITING");
  EXPECT_EQ(sim.Post(resume, "")->status, 409);  // running on its own
  ASSERT_EQ(sim.Post("/-/sim/clock", R"({"advanceSeconds":30})")->status, 200);
  run = Json(sim.Api(runs + "/" + std::to_string(failed))->body);
  EXPECT_STREQ(run["status"].GetString(), "SUCCESS");

  auto f =
      sim.Client().Get("/-/sim/pipelines/1000003/finishes?since=" + std::to_string(kFrozenMs - 1));
  ASSERT_EQ(f->status, 200) << f->body;
  rapidjson::Document events = Json(f->body);
  ASSERT_TRUE(events.IsArray());
  std::vector<std::string> of_failed;
  for (const auto& e : events.GetArray()) {
    EXPECT_NE(e["runId"].GetInt64(), held);  // still waiting
    if (e["runId"].GetInt64() == failed) {
      of_failed.push_back(std::string(e["status"].GetString()) +
                          (e["superseded"].GetBool() ? "*" : ""));
    }
  }
  EXPECT_EQ(of_failed, (std::vector<std::string>{"FAIL*", "SUCCESS"}));

  EXPECT_EQ(sim.Post("/-/sim/pipelines/1000003/runs/999999/resume", "")->status, 404);
  EXPECT_EQ(sim.Post("/-/sim/pipelines/42/runs/1/resume", "")->status, 404);
  EXPECT_EQ(sim.Post(resume, R"({"seconds":-1})")->status, 400);
  EXPECT_EQ(sim.Post("/-/sim/pipelines/1000003/hold", R"({"status":""})")->status, 400);
  EXPECT_EQ(sim.Client().Get("/-/sim/pipelines/42/finishes")->status, 404);
  EXPECT_EQ(sim.Client().Get("/-/sim/pipelines/1000003/finishes?since=x")->status, 400);
}

TEST(ServerTest, ControlRawLatest) {
  Sim sim;
  const std::string latest = std::string(kCentral) + "/pipelines/1000001/runs/latestPipelineRun";
  const std::string original = sim.Api(latest)->body;
  const std::string hostile = "{\"pipelineRunId\":\"not a number\",\"stages\":[[[[";
  auto r = sim.Client().Put("/-/sim/pipelines/1000001/latest?status=200", hostile, "text/plain");
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(sim.Api(latest)->body, hostile);
  r = sim.Client().Put("/-/sim/pipelines/1000001/latest?status=503", "", "text/plain");
  ASSERT_EQ(r->status, 200);
  auto served = sim.Api(latest);
  EXPECT_EQ(served->status, 503);
  EXPECT_EQ(served->body, "");
  EXPECT_EQ(sim.Client().Put("/-/sim/pipelines/1000001/latest?status=abc", "", "x")->status, 400);
  ASSERT_EQ(sim.Client().Delete("/-/sim/pipelines/1000001/latest")->status, 200);
  EXPECT_EQ(sim.Api(latest)->body, original);
}

TEST(ServerTest, ControlAddRemoveAndTruth) {
  Sim sim;
  auto r = sim.Post("/-/sim/pipelines", R"({"add":2,"remove":[1000002,42]})");
  ASSERT_EQ(r->status, 200) << r->body;
  rapidjson::Document d = Json(r->body);
  ASSERT_EQ(d["added"].Size(), 2u);
  EXPECT_EQ(d["added"][0].GetInt64(), 1000013);
  ASSERT_EQ(d["removed"].Size(), 1u);
  ExpectError(sim.Api(std::string(kCentral) + "/pipelines/1000002/runs/latestPipelineRun"), 404,
              "NotFound");
  EXPECT_EQ(sim.Api(std::string(kCentral) + "/pipelines/1000013/runs/latestPipelineRun")->status,
            200);
  auto list = sim.Api(std::string(kCentral) + "/pipelines?perPage=30");
  EXPECT_EQ(list->get_header_value("x-total"), "13");
  EXPECT_EQ(list->body.find("1000002"), std::string::npos);

  rapidjson::Document truth = Json(sim.Client().Get("/-/sim/pipelines")->body);
  ASSERT_TRUE(truth.IsArray());
  ASSERT_EQ(truth.Size(), 13u);
  for (const auto& t : truth.GetArray()) {
    const int64_t id = t["id"].GetInt64();
    rapidjson::Document run = Json(sim.Api(std::string(kCentral) + "/pipelines/" +
                                           std::to_string(id) + "/runs/latestPipelineRun")
                                       ->body);
    EXPECT_EQ(run["pipelineRunId"].GetInt64(), t["latestRunId"].GetInt64());
    EXPECT_STREQ(run["status"].GetString(), t["status"].GetString());
    EXPECT_TRUE(t["name"].IsString() && t["groupId"].IsInt());
  }
  EXPECT_EQ(sim.Post("/-/sim/pipelines", R"({"add":"x"})")->status, 400);
}

TEST(ServerTest, ClockControl) {
  Sim sim;
  auto r = sim.Post("/-/sim/clock", R"({"advanceSeconds":60})");
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(Json(r->body)["nowMs"].GetInt64(), kFrozenMs + 60000);
  r = sim.Post("/-/sim/clock", R"({"set":1700000000})");
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(sim.clock().NowMs(), 1700000000000);
  EXPECT_EQ(sim.Post("/-/sim/clock", R"({})")->status, 400);

  Sim real(ServerOptions{}, WorldOptions{}, std::nullopt);
  EXPECT_EQ(real.Post("/-/sim/clock", R"({"advanceSeconds":60})")->status, 400);
}

// The binary prints its port, serves, and exits 0 on SIGTERM.
TEST(BinaryTest, PrintsListeningLineAndStopsOnSigterm) {
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    close(out[1]);
    execl(FLOW_SIMULATOR_BINARY, FLOW_SIMULATOR_BINARY, "--web.listen-address=127.0.0.1:0",
          "--token=bin-token", "--clock=frozen:1732800000", "--threads=4",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  FILE* f = fdopen(out[0], "r");
  char line[256] = {};
  ASSERT_NE(fgets(line, sizeof(line), f), nullptr);
  const std::string text(line);
  const std::string prefix = "flow-simulator listening on 127.0.0.1:";
  ASSERT_TRUE(text.starts_with(prefix)) << text;
  const int port = std::stoi(text.substr(prefix.size()));
  {
    httplib::Client c("127.0.0.1", port);
    auto r = c.Get("/oapi/v1/platform/user", {{"x-yunxiao-token", "bin-token"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  fclose(f);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace yfe::sim
