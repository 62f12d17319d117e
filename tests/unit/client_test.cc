#include "flowapi/client.h"

#include <gtest/gtest.h>

#include "flowapi/transport.h"
#include "metrics/self_metrics.h"

namespace yfe::flowapi {
namespace {

TEST(FlowClientUrls, EachEditionAndPrefix) {
  metrics::SelfMetrics m;
  TransportOptions o;
  Transport t(o, m);
  config::ApiConfig api;
  api.endpoint = "https://openapi-rdc.aliyuncs.com";
  api.organization_id = "org1";
  EXPECT_EQ(FlowClient(api, t).LatestRunUrl("123"),
            "https://openapi-rdc.aliyuncs.com/oapi/v1/flow/organizations/org1/pipelines/123/runs/"
            "latestPipelineRun");
  api.edition = config::Edition::kRegion;
  EXPECT_EQ(FlowClient(api, t).PipelineUrl("123"),
            "https://openapi-rdc.aliyuncs.com/oapi/v1/flow/pipelines/123");
  api.path_prefix = "/oapi/v1/flow/organizations";
  EXPECT_EQ(FlowClient(api, t).RunsUrl("1 2", 2, 30),
            "https://openapi-rdc.aliyuncs.com/oapi/v1/flow/organizations/pipelines/1%202/runs?"
            "page=2&perPage=30");
  EXPECT_EQ(FlowClient(api, t).PipelinesUrl(1, 30),
            "https://openapi-rdc.aliyuncs.com/oapi/v1/flow/organizations/pipelines?page=1&"
            "perPage=30");
  t.Stop();
}

TEST(Classify, ErrorsNameTheApiErrorCodeAndRequestId) {
  Response r;
  r.status = 401;
  r.body = R"({"errorCode":"InvalidTokenError","errorMessage":"bad token","requestId":"abc-1"})";
  auto a = Classify(r);
  EXPECT_FALSE(a.ok);
  EXPECT_NE(a.error.find("HTTP 401 InvalidTokenError: bad token (requestId abc-1)"),
            std::string::npos);
  r.status = 500;
  r.body = "<html>oops</html>";
  EXPECT_EQ(Classify(r).error, "HTTP 500");
  r.status = 200;
  r.body = "{}";
  EXPECT_TRUE(Classify(r).ok);
  r.status = 0;
  r.error = "Couldn't connect to server";
  EXPECT_EQ(Classify(r).error, "Couldn't connect to server");
}

}  // namespace
}  // namespace yfe::flowapi
