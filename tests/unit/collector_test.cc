#include "collector/collector.h"

#include <gtest/gtest.h>

#include <cmath>
#include <deque>
#include <future>
#include <thread>

#include "support/exposition_check.h"
#include "support/test_support.h"

namespace yfe::collector {
namespace {

using std::chrono::seconds;
using testing::Value;

// A Flow API that answers from a table, immediately or when told to.
class FakeApi : public flowapi::Api {
 public:
  struct Pending {
    std::string id;
    Callback done;
  };

  void GetLatestRun(std::string_view id, Clock::Steady, Callback done) override {
    std::unique_lock lock(mu);
    ++latest_calls;
    if (hold) {
      pending.push_back({std::string(id), std::move(done)});
      cv.notify_all();
      return;
    }
    auto r = Answer(std::string(id));
    lock.unlock();
    done(r);
  }
  void GetPipeline(std::string_view id, Clock::Steady, Callback done) override {
    ++name_calls;
    flowapi::ApiResult r;
    r.ok = true;
    r.status = 200;
    r.body = R"({"name":"name-)" + std::string(id) + "\"}";
    done(r);
  }
  void ListPipelines(int, int, Clock::Steady, Callback) override {}
  void ListRuns(std::string_view, int, int, Clock::Steady, Callback) override {}
  bool ApiUp() const override { return true; }

  flowapi::ApiResult Answer(const std::string& id) {
    flowapi::ApiResult r;
    if (failing) {
      r.status = 500;
      r.error = "HTTP 500";
      return r;
    }
    r.ok = true;
    r.status = 200;
    r.body = R"({"status":")" + status + R"(","pipelineRunId":)" + std::to_string(run_id) +
             R"(,"createTime":1700000000000,"pipelineId":)" + id + "}";
    return r;
  }
  void ReleaseAll() {
    std::deque<Pending> p;
    {
      std::lock_guard lock(mu);
      p.swap(pending);
    }
    for (auto& x : p) x.done(Answer(x.id));
  }
  bool WaitPending(size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, seconds(10), [&] { return pending.size() >= n; });
  }

  std::mutex mu;
  std::condition_variable cv;
  bool hold = false;
  bool failing = false;
  std::string status = "SUCCESS";
  int run_id = 1;
  int latest_calls = 0;
  std::atomic<int> name_calls{0};
  std::deque<Pending> pending;
};

class CollectorTest : public ::testing::Test {
 protected:
  CollectorOptions Options() {
    CollectorOptions o;
    o.cache_ttl = seconds(30);
    o.max_stale = seconds(600);
    o.scrape_deadline = seconds(5);
    return o;
  }
  FakeApi api;
  FakeClock clock;
  metrics::SelfMetrics self;
};

TEST_F(CollectorTest, CachesForTheTtlThenFetchesAgain) {
  Collector c(Options(), api, self, clock);
  c.SetTargets({{"1", "one"}, {"2", "two"}});
  std::string text = c.Scrape();
  EXPECT_EQ(testing::CheckExposition(text), "");
  EXPECT_EQ(api.latest_calls, 2);
  clock.Advance(seconds(29));
  c.Scrape();
  EXPECT_EQ(api.latest_calls, 2);
  clock.Advance(seconds(1));
  api.status = "FAIL";
  api.run_id = 2;
  text = c.Scrape();
  EXPECT_EQ(api.latest_calls, 4);
  EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_status", {"pipeline_id=\"1\"", "FAIL"}), 1);
  EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_id", {"pipeline_id=\"2\""}), 2);
  EXPECT_EQ(Value(text, "yunxiao_flow_cache_requests_total", {"result=\"hit\""}), 2);
  EXPECT_EQ(Value(text, "yunxiao_flow_cache_requests_total", {"result=\"miss\""}), 4);
  EXPECT_NE(text.find("Cached: fetched at most every 30s."), std::string::npos);
}

TEST_F(CollectorTest, NamesAreLookedUpOnceWhenNotConfigured) {
  Collector c(Options(), api, self, clock);
  c.SetTargets({{"7", ""}});
  std::string text = c.Scrape();
  EXPECT_NE(text.find("pipeline_name=\"name-7\""), std::string::npos);
  clock.Advance(seconds(31));
  c.Scrape();
  EXPECT_EQ(api.name_calls, 1);
  EXPECT_EQ(api.latest_calls, 2);
}

TEST_F(CollectorTest, StaleDataIsServedThenDropped) {
  Collector c(Options(), api, self, clock);
  c.SetTargets({{"1", "one"}});
  c.Scrape();
  api.failing = true;
  clock.Advance(seconds(31));
  std::string text = c.Scrape();
  EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success"), 0);
  EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_status", {"SUCCESS"}), 1);  // stale, kept
  EXPECT_FALSE(std::isnan(Value(text, "yunxiao_flow_fetch_last_success_timestamp_seconds")));
  clock.Advance(seconds(600));
  text = c.Scrape();
  EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success"), 0);
  EXPECT_TRUE(testing::Samples(text, "yunxiao_flow_latest_run_status").empty());
  EXPECT_TRUE(testing::Samples(text, "yunxiao_flow_fetch_last_success_timestamp_seconds").empty());
  api.failing = false;
  text = c.Scrape();
  EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success"), 1);
}

TEST_F(CollectorTest, ConcurrentScrapesShareOneFetch) {
  api.hold = true;
  Collector c(Options(), api, self, clock);
  c.SetTargets({{"1", "one"}, {"2", "two"}, {"3", "three"}});
  std::vector<std::future<std::string>> scrapes;
  for (int i = 0; i < 4; ++i) {
    scrapes.push_back(std::async(std::launch::async, [&] { return c.Scrape(); }));
  }
  ASSERT_TRUE(api.WaitPending(3));
  // Give the other scrapes time to join; they must not start fetches of their own.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  api.ReleaseAll();
  for (auto& s : scrapes) {
    std::string text = s.get();
    EXPECT_EQ(testing::Samples(text, "yunxiao_flow_latest_run_status").size(), 21u);
  }
  EXPECT_EQ(api.latest_calls, 3);
}

TEST_F(CollectorTest, DeadlineReturnsWithoutTheSlowAnswers) {
  api.hold = true;
  auto o = Options();
  o.scrape_deadline = std::chrono::milliseconds(200);
  Collector c(o, api, self, clock);
  c.SetTargets({{"1", "one"}});
  std::string text = c.Scrape();  // nothing answers: returns at the deadline
  EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success"), 0);
  EXPECT_TRUE(testing::Samples(text, "yunxiao_flow_latest_run_status").empty());
  api.hold = false;
  api.ReleaseAll();  // the late answer still fills the cache
  text = c.Scrape();
  EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success"), 1);
  EXPECT_EQ(api.latest_calls, 1);
}

TEST_F(CollectorTest, RemovedTargetsVanish) {
  Collector c(Options(), api, self, clock);
  c.SetTargets({{"1", "one"}, {"2", "two"}});
  c.Scrape();
  c.SetTargets({{"2", "two"}});
  std::string text = c.Scrape();
  EXPECT_EQ(text.find("pipeline_id=\"1\""), std::string::npos);
  EXPECT_NE(text.find("pipeline_id=\"2\""), std::string::npos);
  EXPECT_EQ(api.latest_calls, 2);  // the kept pipeline is still cached
}

TEST_F(CollectorTest, UndecodableBodiesCountAsFailedFetches) {
  Collector c(Options(), api, self, clock);
  api.status = "\"broken";  // makes the JSON invalid
  c.SetTargets({{"1", "one"}});
  std::string text = c.Scrape();
  EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success"), 0);
  EXPECT_EQ(
      Value(text, "yunxiao_flow_api_decode_errors_total", {"endpoint=\"latest_pipeline_run\""}), 1);
}

}  // namespace
}  // namespace yfe::collector
