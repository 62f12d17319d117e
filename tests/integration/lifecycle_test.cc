// Reload and lifecycle of the real binary: SIGHUP and POST /-/reload apply a valid config
// and keep the old one (with the reason) on an invalid one, scrapes during reloads are
// complete, and SIGTERM exits promptly while the upstream is slow.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "integration/hardening.h"
#include "support/harness.h"
#include "support/raw_http.h"

namespace yfe::testing {
namespace {

using namespace hardening;

class Lifecycle : public ::testing::Test {
 protected:
  void SetUp() override {
    sim_ = std::make_unique<Simulator>(SimulatorOptions{.pipelines = 3, .frozen = true});
    ids_ = sim_->PipelineIds();
    ASSERT_EQ(ids_.size(), 3u);
  }
  // Every scrape fetches afresh.
  std::string ConfigFor(const std::vector<std::string>& ids,
                        std::vector<std::pair<std::string, std::string>> collect = {}) {
    collect.insert(collect.begin(), {"cache_ttl", "0s"});
    return sim_->Config({.ids = ids, .collect = collect});
  }
  static std::set<std::string> Watched(const std::string& text) {
    std::set<std::string> ids;
    std::regex re("pipeline_id=\"([^\"]+)\"");
    for (const auto& line : Samples(text, "yunxiao_flow_fetch_success")) {
      std::smatch m;
      if (std::regex_search(line, m, re)) ids.insert(m[1]);
    }
    return ids;
  }
  std::unique_ptr<Simulator> sim_;
  std::vector<std::string> ids_;
};

TEST_F(Lifecycle, SighupAppliesAValidConfigAndKeepsTheOldOnAnInvalidOne) {
  Exporter exp(ConfigFor({ids_[0]}));
  ASSERT_TRUE(exp.started());
  EXPECT_EQ(Watched(exp.Scrape()), (std::set<std::string>{ids_[0]}));

  exp.dir().Write("config.yaml", ConfigFor({ids_[0], ids_[1]}));
  exp.process().Signal(SIGHUP);
  EXPECT_TRUE(Eventually(
      [&] {
        return Watched(exp.Scrape()) == std::set<std::string>{ids_[0], ids_[1]};
      },
      20s, 200ms));

  exp.dir().Write("config.yaml", ConfigFor({ids_[2]}, {{"max_stale", "yesterday"}}));
  exp.process().Signal(SIGHUP);
  EXPECT_TRUE(exp.process().WaitForOutput("max_stale")) << exp.process().Stderr();
  EXPECT_FALSE(
      LogLines(exp.process().Stderr(), {"level=error", "invalid config", "max_stale"}).empty());
  std::string text = exp.Scrape();
  EXPECT_EQ(Watched(text), (std::set<std::string>{ids_[0], ids_[1]}));
  EXPECT_EQ(Sum(text, "yunxiao_flow_fetch_success"), 2);
  EXPECT_TRUE(exp.process().Running());
}

TEST_F(Lifecycle, PostReloadAppliesOrRejectsWithTheReason) {
  Exporter exp(ConfigFor({ids_[0], ids_[1]}), {.flags = {"--web.enable-lifecycle"}});
  ASSERT_TRUE(exp.started());
  exp.dir().Write("config.yaml", ConfigFor({ids_[1], ids_[2]}));
  auto r = HttpPost("127.0.0.1", exp.port(), "/-/reload", "");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(Eventually(
      [&] {
        return Watched(exp.Scrape()) == std::set<std::string>{ids_[1], ids_[2]};
      },
      20s, 200ms));

  for (const std::string& broken :
       {std::string("api: [1"), ConfigFor({ids_[0]}) + "surprise: true\n",
        ConfigFor({ids_[0], ids_[0]}), std::string("")}) {
    SCOPED_TRACE(broken);
    exp.dir().Write("config.yaml", broken);
    r = HttpPost("127.0.0.1", exp.port(), "/-/reload", "");
    EXPECT_EQ(r.status, 500);
    EXPECT_NE(r.body.find("reload failed"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("config.yaml"), std::string::npos) << r.body;  // names the file
    std::string text = exp.Scrape();
    EXPECT_EQ(Watched(text), (std::set<std::string>{ids_[1], ids_[2]}));
    EXPECT_EQ(Sum(text, "yunxiao_flow_fetch_success"), 2);
  }
  EXPECT_EQ(exp.Get("/-/reload").status, 405) << "GET does not reload (as in Prometheus)";

  // `curl -X POST` sends neither Content-Length nor a body; a body is read and dropped.
  exp.dir().Write("config.yaml", ConfigFor({ids_[0]}));
  auto start = Clock::now();
  std::string response;
  EXPECT_EQ(RawRequest(exp.port(), "POST /-/reload HTTP/1.1\r\nHost: x\r\n\r\n", &response), 200)
      << response;
  EXPECT_LT(Seconds(start), 5) << "the reload waited for a body that was never announced";
  // An announced body is consumed: the next request on the connection is understood.
  int fd = Connect(exp.port());
  ASSERT_GE(fd, 0);
  SendAll(fd, "POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n{\"x\": true}");
  EXPECT_EQ(StatusOf(ReadResponse(fd, 10s)), 200);
  SendAll(fd, "GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string next = ReadResponse(fd, 10s);
  EXPECT_EQ(StatusOf(next), 200) << next;
  EXPECT_NE(next.find("Healthy"), std::string::npos) << next;
  close(fd);
  // A body larger than the server accepts.
  std::string big_put =
      "PUT /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(1 << 20) +
      "\r\n\r\n" + std::string(1 << 20, 'x');
  EXPECT_EQ(RawRequest(exp.port(), big_put), 413);
  EXPECT_EQ(Watched(exp.Scrape()), (std::set<std::string>{ids_[0]}));
}

// A scrape that arrives while a reload swaps the configuration is answered in full by the
// old or the new configuration, never with an empty body.
TEST_F(Lifecycle, ScrapesDuringReloadsAreAlwaysComplete) {
  Exporter exp(ConfigFor(ids_), {.flags = {"--web.enable-lifecycle"}});
  ASSERT_TRUE(exp.started());
  std::atomic<bool> stop{false};
  std::atomic<int> scrapes{0}, incomplete{0};
  std::string example;
  std::thread scraper([&] {
    while (!stop) {
      auto r = exp.Get("/metrics");
      scrapes++;
      if (r.status != 200 || r.body.find("yunxiao_flow_up ") == std::string::npos) {
        if (incomplete++ == 0) example = std::to_string(r.status) + " [" + r.body + "]";
      }
    }
  });
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(HttpPost("127.0.0.1", exp.port(), "/-/reload", "").status, 200);
  }
  stop = true;
  scraper.join();
  EXPECT_GT(scrapes.load(), 0);
  EXPECT_EQ(incomplete.load(), 0) << "of " << scrapes << ", e.g. " << example;
}

TEST_F(Lifecycle, SigtermWhileTheUpstreamIsSlowExitsPromptly) {
  ASSERT_EQ(sim_->Control("POST", "/-/sim/faults", R"({"latencyMs":30000})").status, 200);
  Exporter exp(ConfigFor(ids_), {.warm = false});
  ASSERT_TRUE(exp.started());
  auto scrape =
      std::async(std::launch::async, [&] { return HttpGet("127.0.0.1", exp.port(), "/metrics"); });
  std::this_thread::sleep_for(1s);  // requests are in flight upstream
  // Idle keep-alive connections must not hold the shutdown either.
  std::vector<int> idle;
  for (int i = 0; i < 20; ++i) idle.push_back(Connect(exp.port()));
  auto start = Clock::now();
  exp.process().Signal(SIGTERM);
  const int rc = exp.process().Wait(30s);
  const double took = Seconds(start);
  EXPECT_EQ(rc, 0) << exp.process().Stderr();
  EXPECT_LT(took, 15) << "exit took " << took << " s";
  RecordProperty("sigterm_exit_seconds", std::to_string(took));
  EXPECT_TRUE(exp.process().WaitForOutput("msg=stopped"));
  scrape.wait();
  for (int fd : idle) {
    if (fd >= 0) close(fd);
  }
}

}  // namespace
}  // namespace yfe::testing
