#include "collector/collector.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <deque>
#include <future>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "http/gzip_segments.h"
#include "metrics/exposition.h"
#include "model/decode.h"
#include "support/exposition_check.h"
#include "support/test_support.h"
#include "util/duration.h"

namespace yfe::collector {
namespace {

using std::chrono::seconds;
using testing::Value;

using yfe::testing::Gunzip;

// The exposition as an identity (uncompressed) scrape receives it.
std::string ScrapeText(Collector& c) {
  auto body = c.Scrape();
  return body ? http::ReadAll(*body, http::Encoding::kIdentity) : std::string();
}

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
  bool ApiUp(Clock::Steady) const override { return true; }

  flowapi::ApiResult Answer(const std::string& id) {
    flowapi::ApiResult r;
    if (failing) {
      r.status = 500;
      r.error = "HTTP 500";
      return r;
    }
    r.ok = true;
    r.status = 200;
    auto own = status_of.find(id);
    r.body = R"({"status":")" + (own == status_of.end() ? status : own->second) +
             R"(","pipelineRunId":)" + std::to_string(run_id) +
             R"(,"createTime":1700000000000,"pipelineId":)" + id + extra_fields + "}";
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
  std::map<std::string, std::string> status_of;  // per pipeline, over `status`
  int run_id = 1;
  std::string extra_fields;  // appended to the run's JSON object
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
  std::string text = ScrapeText(c);
  EXPECT_EQ(testing::CheckExposition(text), "");
  EXPECT_EQ(api.latest_calls, 2);
  clock.Advance(seconds(29));
  ScrapeText(c);
  EXPECT_EQ(api.latest_calls, 2);
  clock.Advance(seconds(1));
  api.status = "FAIL";
  api.run_id = 2;
  text = ScrapeText(c);
  EXPECT_EQ(api.latest_calls, 4);
  EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_status", {"pipeline_id=\"1\"", "FAIL"}), 1);
  EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_id", {"pipeline_id=\"2\""}), 2);
  EXPECT_EQ(Value(text, "yunxiao_flow_cache_requests_total", {"result=\"hit\""}), 2);
  EXPECT_EQ(Value(text, "yunxiao_flow_cache_requests_total", {"result=\"miss\""}), 4);
  EXPECT_NE(text.find("Cached: fetched at most every 30s."), std::string::npos);
}

// The per-pipeline part of the exposition, assembled independently of the collector:
// each run family's header, then that family's lines of every target in order.
std::string ExpectedRunFamilies(FakeApi& api, const std::vector<Target>& targets,
                                const CollectorOptions& o) {
  std::vector<metrics::RunFragments> frags;
  const bool failing = std::exchange(api.failing, false);  // stale data: the last good run
  for (const auto& t : targets) {
    auto run = model::DecodePipelineRun(api.Answer(t.id).body);
    EXPECT_TRUE(run.ok());
    frags.push_back(metrics::RenderRun({t.id, t.name}, *run, o.render));
  }
  api.failing = failing;
  std::string out;
  for (size_t f = 0; f < metrics::kRunMetricCount; ++f) {
    std::string lines;
    for (const auto& fr : frags) lines += fr.text[f];
    if (lines.empty()) continue;
    metrics::AppendHeader(out, metrics::kPipelineMetrics[f],
                          " Cached: fetched at most every " + FormatDuration(o.cache_ttl) + ".");
    out += lines;
  }
  return out;
}

// A long fetch compresses the groups whose pipelines have all answered while it waits for
// the rest, and the render at its end uses them: the same exposition, less work after the
// last answer (docs/performance.md, cold scrape).
TEST_F(CollectorTest, GroupsThatLandedAreCompressedWhileTheFetchRuns) {
  auto o = Options();
  Collector c(o, api, self, clock);
  std::vector<Target> targets;
  for (int i = 0; i < 200; ++i) {  // groups of 64: 64, 64, 64, 8
    const std::string id = std::to_string(5000 + i);
    targets.push_back({id, "n-" + id});
    if (i % 5 == 0) api.status_of[id] = "FAILED";
  }
  c.SetTargets(targets);
  api.hold = true;
  auto scrape = std::async(std::launch::async, [&] { return ScrapeText(c); });
  ASSERT_TRUE(api.WaitPending(200));
  std::deque<FakeApi::Pending> first;
  {
    std::lock_guard lock(api.mu);
    for (int i = 0; i < 130; ++i) {  // groups 0 and 1 complete, group 2 not
      first.push_back(std::move(api.pending.front()));
      api.pending.pop_front();
    }
  }
  for (auto& p : first) p.done(api.Answer(p.id));
  EXPECT_TRUE(yfe::testing::Eventually([&] { return c.PrebuiltGroups() == 2; },
                                       std::chrono::seconds(5), std::chrono::milliseconds(10)));
  EXPECT_EQ(scrape.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout)
      << "group 2 was prebuilt with members in flight, or the scrape did not wait";
  EXPECT_EQ(c.PrebuiltGroups(), 2u);
  api.ReleaseAll();
  const std::string text = scrape.get();
  EXPECT_EQ(c.PrebuiltGroups(), 0u);  // used and dropped by the render
  const std::string want = ExpectedRunFamilies(api, targets, o);
  EXPECT_EQ(text.substr(0, want.size()), want);
  EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success", {"pipeline_id=\"5199\""}), 1);
  EXPECT_EQ(testing::CheckExposition(text), "");
}

TEST_F(CollectorTest, GzipBodyInflatesToTheIdentityExpositionForRandomSubsets) {
  auto o = Options();
  Collector c(o, api, self, clock);
  std::mt19937 rng(11);
  std::vector<std::string> ids;
  for (int i = 0; i < 400; ++i) {
    ids.push_back(std::to_string(1000 + i));
    if (i % 3 == 0) api.status_of[ids.back()] = "FAILED";
    if (i % 7 == 0) api.status_of[ids.back()] = "RUNNING";
  }
  std::vector<Target> targets;
  for (int round = 0; round < 8; ++round) {
    if (round != 6) {  // round 6: the same pipelines, all failing (their stale data served)
      targets.clear();
      for (const auto& id : ids) {
        if (rng() % 3 == 0) targets.push_back({id, "n-" + id});
      }
      std::shuffle(targets.begin(), targets.end(), rng);  // moves pipelines between groups
    }
    if (round == 5) {  // every run changes: every group is compressed again
      api.status = "CANCELED";
      api.status_of.clear();
      clock.Advance(seconds(31));
    }
    if (round == 6) api.failing = true, clock.Advance(seconds(31));  // stale: served, success 0
    if (round == 7) clock.Advance(seconds(31));  // past the failure backoff: fetched again
    c.SetTargets(targets);
    auto body = c.Scrape();
    ASSERT_TRUE(body);
    const std::string text = http::ReadAll(*body, http::Encoding::kIdentity);
    const std::string gz = http::ReadAll(*body, http::Encoding::kGzip);
    EXPECT_EQ(Gunzip(gz), text) << "round " << round;
    EXPECT_LT(gz.size(), text.size() / 4);
    const std::string want = ExpectedRunFamilies(api, targets, o);
    ASSERT_GE(text.size(), want.size()) << "round " << round;
    EXPECT_EQ(text.substr(0, want.size()), want) << "round " << round;
    EXPECT_EQ(text.compare(want.size(), 34, "# HELP yunxiao_flow_fetch_success "), 0);
    EXPECT_EQ(testing::Samples(text, "yunxiao_flow_fetch_success").size(), targets.size());
    EXPECT_EQ(testing::Sum(text, "yunxiao_flow_fetch_success"), round == 6 ? 0 : targets.size());
    EXPECT_EQ(testing::CheckExposition(text), "") << "round " << round;
    api.failing = false;
  }
}

TEST_F(CollectorTest, ConcurrentScrapesOfAnUnchangedCacheShareOneBody) {
  Collector c(Options(), api, self, clock);
  std::vector<Target> targets;
  for (int i = 0; i < 300; ++i) targets.push_back({std::to_string(i), "p" + std::to_string(i)});
  c.SetTargets(targets);
  auto first = std::dynamic_pointer_cast<const http::SegmentedBody>(c.Scrape());
  ASSERT_TRUE(first);
  std::vector<std::future<std::shared_ptr<const http::Body>>> scrapes;
  for (int i = 0; i < 8; ++i) {
    scrapes.push_back(std::async(std::launch::async, [&] { return c.Scrape(); }));
  }
  std::vector<std::shared_ptr<const http::Body>> bodies;
  for (auto& s : scrapes) bodies.push_back(s.get());
  for (const auto& b : bodies) {
    auto seg = std::dynamic_pointer_cast<const http::SegmentedBody>(b);
    ASSERT_TRUE(seg);
    // The pipelines' compressed exposition is one object for all nine scrapes; each
    // scrape owns only its tail (scrape duration, self metrics).
    EXPECT_EQ(seg->head().get(), first->head().get());
    EXPECT_LT(seg->tail().deflated.size() * 4, seg->head()->deflated);
  }
  EXPECT_EQ(first->head().use_count(), 1 + 1 + 8);  // the collector's, `first`'s, 8 bodies
  EXPECT_EQ(api.latest_calls, 300);

  // A changed run makes a new generation; the unchanged groups' segments are reused.
  api.status_of["7"] = "FAILED";
  clock.Advance(seconds(31));
  auto next = std::dynamic_pointer_cast<const http::SegmentedBody>(c.Scrape());
  ASSERT_TRUE(next);
  EXPECT_NE(next->head().get(), first->head().get());
  std::set<const http::Segment*> before;
  for (const auto& s : first->head()->segments) before.insert(s.get());
  size_t reused = 0;
  for (const auto& s : next->head()->segments) reused += before.count(s.get());
  // 300 targets = 10 groups; only group 0 has a new run text (the fetch-state segments
  // of every group carry new timestamps, and headers are small).
  EXPECT_GE(reused, (300 / Collector::kGroupSize) * 2u);
  EXPECT_EQ(Value(http::ReadAll(*next, http::Encoding::kIdentity), "yunxiao_flow_latest_run_status",
                  {"pipeline_id=\"7\"", "FAILED"}),
            1);
}

TEST_F(CollectorTest, NamesAreLookedUpOnceWhenNotConfigured) {
  Collector c(Options(), api, self, clock);
  c.SetTargets({{"7", ""}});
  std::string text = ScrapeText(c);
  EXPECT_NE(text.find("pipeline_name=\"name-7\""), std::string::npos);
  clock.Advance(seconds(31));
  ScrapeText(c);
  EXPECT_EQ(api.name_calls, 1);
  EXPECT_EQ(api.latest_calls, 2);
}

TEST_F(CollectorTest, StaleDataIsServedThenDropped) {
  Collector c(Options(), api, self, clock);
  c.SetTargets({{"1", "one"}});
  ScrapeText(c);
  api.failing = true;
  clock.Advance(seconds(31));
  std::string text = ScrapeText(c);
  EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success"), 0);
  EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_status", {"SUCCESS"}), 1);  // stale, kept
  EXPECT_FALSE(std::isnan(Value(text, "yunxiao_flow_fetch_last_success_timestamp_seconds")));
  clock.Advance(seconds(600));
  text = ScrapeText(c);
  EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success"), 0);
  EXPECT_TRUE(testing::Samples(text, "yunxiao_flow_latest_run_status").empty());
  EXPECT_TRUE(testing::Samples(text, "yunxiao_flow_fetch_last_success_timestamp_seconds").empty());
  api.failing = false;
  clock.Advance(seconds(60));  // the failure backoff (2nd failure: 2 x cache_ttl)
  text = ScrapeText(c);
  EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success"), 1);
}

TEST_F(CollectorTest, ConcurrentScrapesShareOneFetch) {
  api.hold = true;
  Collector c(Options(), api, self, clock);
  c.SetTargets({{"1", "one"}, {"2", "two"}, {"3", "three"}});
  std::vector<std::future<std::string>> scrapes;
  for (int i = 0; i < 4; ++i) {
    scrapes.push_back(std::async(std::launch::async, [&] { return ScrapeText(c); }));
  }
  ASSERT_TRUE(api.WaitPending(3));
  // Give the other scrapes time to join; they must not start fetches of their own.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  api.ReleaseAll();
  for (auto& s : scrapes) {
    std::string text = s.get();
    EXPECT_EQ(testing::Samples(text, "yunxiao_flow_latest_run_status").size(), 24u);
  }
  EXPECT_EQ(api.latest_calls, 3);
}

TEST_F(CollectorTest, DeadlineReturnsWithoutTheSlowAnswers) {
  api.hold = true;
  auto o = Options();
  o.scrape_deadline = std::chrono::milliseconds(200);
  Collector c(o, api, self, clock);
  c.SetTargets({{"1", "one"}});
  std::string text = ScrapeText(c);  // nothing answers: returns at the deadline
  EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success"), 0);
  EXPECT_TRUE(testing::Samples(text, "yunxiao_flow_latest_run_status").empty());
  api.hold = false;
  api.ReleaseAll();  // the late answer still fills the cache
  text = ScrapeText(c);
  EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success"), 1);
  EXPECT_EQ(api.latest_calls, 1);
}

TEST_F(CollectorTest, RemovedTargetsVanish) {
  Collector c(Options(), api, self, clock);
  c.SetTargets({{"1", "one"}, {"2", "two"}});
  ScrapeText(c);
  c.SetTargets({{"2", "two"}});
  std::string text = ScrapeText(c);
  EXPECT_EQ(text.find("pipeline_id=\"1\""), std::string::npos);
  EXPECT_NE(text.find("pipeline_id=\"2\""), std::string::npos);
  EXPECT_EQ(api.latest_calls, 2);  // the kept pipeline is still cached
}

TEST_F(CollectorTest, UndecodableBodiesCountAsFailedFetches) {
  Collector c(Options(), api, self, clock);
  api.status = "\"broken";  // makes the JSON invalid
  c.SetTargets({{"1", "one"}});
  std::string text = ScrapeText(c);
  EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success"), 0);
  EXPECT_EQ(
      Value(text, "yunxiao_flow_api_decode_errors_total", {"endpoint=\"latest_pipeline_run\""}), 1);
}

// Audit finding 16: a failing pipeline was fetched (and logged) again on every scrape.
// Now: cache_ttl, 2x, 4x (the cap), reset by a success; fetch_success stays 0 and the last
// good data is served meanwhile.
TEST_F(CollectorTest, FailingPipelinesBackOffExponentially) {
  Collector c(Options(), api, self, clock);
  c.SetTargets({{"1", "one"}, {"2", "two"}});
  ScrapeText(c);
  EXPECT_EQ(api.latest_calls, 2);
  api.failing = true;
  clock.Advance(seconds(30));
  ScrapeText(c);  // both fail: next attempt in 30s
  EXPECT_EQ(api.latest_calls, 4);
  struct Step {
    int advance;
    int calls;
  };
  // 10 scrapes per interval, as HA Prometheus pairs with short intervals would.
  const Step steps[] = {{29, 4},  {1, 6} /* 2nd failure: 60s */, {59, 6},   {1, 8} /* 120s */,
                        {119, 8}, {1, 10} /* capped: 120s */,    {119, 10}, {1, 12}};
  for (const auto& step : steps) {
    clock.Advance(seconds(step.advance));
    std::string text;
    for (int i = 0; i < 10; ++i) text = ScrapeText(c);
    EXPECT_EQ(api.latest_calls, step.calls) << "after +" << step.advance << "s";
    EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success", {"pipeline_id=\"1\""}), 0);
    EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_status", {"pipeline_id=\"1\"", "SUCCESS"}), 1);
  }
  api.failing = false;
  clock.Advance(seconds(120));
  std::string text = ScrapeText(c);
  EXPECT_EQ(api.latest_calls, 14);
  EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success", {"pipeline_id=\"1\""}), 1);
  // Reset: a later failure starts again at one cache_ttl.
  api.failing = true;
  clock.Advance(seconds(30));
  ScrapeText(c);
  EXPECT_EQ(api.latest_calls, 16);
  clock.Advance(seconds(30));
  ScrapeText(c);
  EXPECT_EQ(api.latest_calls, 18);
}

TEST_F(CollectorTest, AFailureIsLoggedOncePerStreakNotPerScrape) {
  Collector c(Options(), api, self, clock);
  c.SetTargets({{"1", "one"}});
  api.failing = true;
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 40; ++i) {
    ScrapeText(c);
    clock.Advance(seconds(15));
  }
  std::string log = ::testing::internal::GetCapturedStderr();
  size_t count = 0;
  for (size_t p = log.find("fetch failed"); p != std::string::npos;
       p = log.find("fetch failed", p + 1)) {
    ++count;
  }
  // 600 s of scrapes: attempts at 0, 30, 90, 210, 330, 450, 570 s; the same error is
  // repeated once per backoff cap (120 s).
  EXPECT_LE(count, 6u) << log;
  EXPECT_GE(count, 1u);
  EXPECT_EQ(api.latest_calls, 7);
}

// Audit finding 18: a rename used to reset fetched_at, so a failure right after dropped
// every series of the pipeline at once instead of serving them up to max_stale.
TEST_F(CollectorTest, ARenameKeepsServingTheDataWhileItRefetches) {
  Collector c(Options(), api, self, clock);
  c.SetTargets({{"1", "one"}});
  ScrapeText(c);
  c.SetTargets({{"1", "uno"}});
  api.failing = true;
  std::string text = ScrapeText(c);
  EXPECT_EQ(api.latest_calls, 2) << "a rename fetches again at once";
  EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_status", {"pipeline_id=\"1\"", "SUCCESS"}), 1);
  api.failing = false;
  clock.Advance(seconds(30));
  text = ScrapeText(c);
  EXPECT_NE(text.find("pipeline_name=\"uno\""), std::string::npos);
  EXPECT_EQ(text.find("pipeline_name=\"one\""), std::string::npos);
}

// Audit finding 19: fetch_success reported 0 while a fetch was in flight, although the
// last fetch had succeeded.
TEST_F(CollectorTest, FetchSuccessReportsTheLastFinishedFetch) {
  auto o = Options();
  o.scrape_deadline = std::chrono::milliseconds(100);
  Collector c(o, api, self, clock);
  c.SetTargets({{"1", "one"}});
  EXPECT_EQ(Value(ScrapeText(c), "yunxiao_flow_fetch_success"), 1);
  clock.Advance(seconds(31));
  api.hold = true;
  std::string text = ScrapeText(c);  // the fetch is still in flight at the deadline
  EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success"), 1);
  api.hold = false;
  api.ReleaseAll();
}

// A reload builds a new collector: it takes over the cache of the one it replaces, so it
// fetches nothing still fresh (audit finding 3), and keeps a failing pipeline's backoff.
TEST_F(CollectorTest, SeedCarriesTheCacheAcrossAReload) {
  Collector old(Options(), api, self, clock);
  old.SetTargets({{"1", "one"}, {"2", "two"}, {"3", ""}});
  ScrapeText(old);
  EXPECT_EQ(api.latest_calls, 3);
  EXPECT_EQ(api.name_calls, 1);
  clock.Advance(seconds(10));
  Collector next(Options(), api, self, clock);
  next.Seed(old);
  next.SetTargets({{"2", "two"}, {"3", ""}, {"4", "four"}});
  std::string text = ScrapeText(next);
  EXPECT_EQ(api.latest_calls, 4) << "only the new pipeline is fetched";
  EXPECT_EQ(api.name_calls, 1);
  EXPECT_NE(text.find("pipeline_name=\"name-3\""), std::string::npos);
  EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success", {"pipeline_id=\"2\""}), 1);
  EXPECT_EQ(text.find("pipeline_id=\"1\""), std::string::npos);
  clock.Advance(seconds(20));
  ScrapeText(next);
  EXPECT_EQ(api.latest_calls, 6) << "the seeded entries expire on their own schedule";

  // Other render options: the rendered text cannot be reused.
  auto o = Options();
  o.render.sparse_status = false;
  Collector other(o, api, self, clock);
  other.Seed(next);
  other.SetTargets({{"2", "two"}});
  other.Scrape();
  EXPECT_EQ(api.latest_calls, 7);
}

TEST_F(CollectorTest, SeedKeepsTheFailureBackoff) {
  Collector old(Options(), api, self, clock);
  old.SetTargets({{"1", "one"}});
  api.failing = true;
  ScrapeText(old);
  EXPECT_EQ(api.latest_calls, 1);
  Collector next(Options(), api, self, clock);
  next.Seed(old);
  next.SetTargets({{"1", "one"}});
  EXPECT_EQ(Value(ScrapeText(next), "yunxiao_flow_fetch_success"), 0);
  EXPECT_EQ(api.latest_calls, 1) << "a reload does not retry a failing pipeline early";
}

// Audit finding 8: the cap is applied when a run is rendered, counted and warned about
// once, not on every scrape.
TEST_F(CollectorTest, ARunCutByTheCapsIsCountedOnce) {
  auto o = Options();
  o.render.max_stages = 1;
  Collector c(o, api, self, clock);
  c.SetTargets({{"1", "one"}});
  api.extra_fields = R"(,"stages":[{"index":"a","name":"a","stageInfo":{"status":"SUCCESS"}},)"
                     R"({"index":"b","name":"b","stageInfo":{"status":"SUCCESS"}}])";
  ::testing::internal::CaptureStderr();
  std::string text = ScrapeText(c);
  clock.Advance(seconds(30));
  ScrapeText(c);  // same body: not rendered again
  clock.Advance(seconds(30));
  api.run_id = 2;
  text = ScrapeText(c);  // a new run, cut again: counted, not logged again within the hour
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(testing::Samples(text, "yunxiao_flow_latest_run_stage_status").size(), 1u);
  EXPECT_EQ(Value(text, "yunxiao_flow_runs_truncated_total", {"limit=\"stages\""}), 2);
  EXPECT_EQ(log.find("too large"), log.rfind("too large")) << log;
  EXPECT_NE(log.find("too large"), std::string::npos) << log;
}

// The latest run of a pipeline that never ran, in each style the API might use, and
// GetPipeline's answer for pipelines that exist.
class NoRunApi : public flowapi::Api {
 public:
  std::map<std::string, flowapi::ApiResult> latest;  // by pipeline id
  std::set<std::string> existing;
  std::atomic<int> name_calls{0};

  static flowapi::ApiResult Answer(long status, std::string body) {
    flowapi::ApiResult r;
    r.status = status;
    r.ok = status >= 200 && status < 300;
    if (r.ok) {
      r.body = std::move(body);
    } else {
      r.error = "HTTP " + std::to_string(status) + " NotFound - check the pipeline id";
    }
    return r;
  }
  void GetLatestRun(std::string_view id, Clock::Steady, Callback done) override {
    done(latest.at(std::string(id)));
  }
  void GetPipeline(std::string_view id, Clock::Steady, Callback done) override {
    ++name_calls;
    done(existing.contains(std::string(id))
             ? Answer(200, R"({"name":"api-)" + std::string(id) + "\"}")
             : Answer(404, ""));
  }
  void ListPipelines(int, int, Clock::Steady, Callback) override {}
  void ListRuns(std::string_view, int, int, Clock::Steady, Callback) override {}
  bool ApiUp(Clock::Steady) const override { return true; }
};

TEST_F(CollectorTest, PipelinesThatNeverRanAreFetchedWithoutARun) {
  NoRunApi api;
  api.latest = {{"1", NoRunApi::Answer(404, "")},     {"2", NoRunApi::Answer(200, "")},
                {"3", NoRunApi::Answer(200, "null")}, {"4", NoRunApi::Answer(200, " {} ")},
                {"5", NoRunApi::Answer(404, "")},     {"6", NoRunApi::Answer(200, "{}")}};
  api.existing = {"1", "2", "3", "4"};
  Collector c(Options(), api, self, clock);
  // 1-3 configured with a name (GetPipeline is asked), 4 by id only, 5 and 6 listed by
  // discovery (known to exist: nothing to ask).
  c.SetTargets({{"1", "one"},
                {"2", "two"},
                {"3", "three"},
                {"4", ""},
                {"5", "five", true},
                {"6", "six", true}});
  ::testing::internal::CaptureStderr();
  std::string text = ScrapeText(c);
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(testing::CheckExposition(text), "");
  for (const char* id : {"1", "2", "3", "4", "5", "6"}) {
    const std::string pid = std::string("pipeline_id=\"") + id + "\"";
    EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success", {pid}), 1) << id;
    EXPECT_EQ(Value(text, "yunxiao_flow_pipeline_info", {pid}), 1) << id;
  }
  EXPECT_TRUE(testing::Samples(text, "yunxiao_flow_latest_run_status").empty());
  EXPECT_TRUE(testing::Samples(text, "yunxiao_flow_latest_run_id").empty());
  EXPECT_NE(text.find("pipeline_name=\"api-4\""), std::string::npos);
  EXPECT_TRUE(std::isnan(Value(text, "yunxiao_flow_api_decode_errors_total")));
  EXPECT_EQ(log.find("fetch failed"), std::string::npos) << log;
  EXPECT_EQ(api.name_calls, 4);  // one existence check for each of 1-4

  // Later scrapes neither warn nor ask GetPipeline again.
  clock.Advance(seconds(31));
  ::testing::internal::CaptureStderr();
  text = ScrapeText(c);
  log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(log, "");
  EXPECT_EQ(api.name_calls, 4);
  EXPECT_EQ(testing::Sum(text, "yunxiao_flow_fetch_success"), 6);
}

TEST_F(CollectorTest, AMissingPipelineStaysAFailedFetch) {
  NoRunApi api;
  api.latest = {{"8", NoRunApi::Answer(404, "")}, {"9", NoRunApi::Answer(200, "")}};
  Collector c(Options(), api, self, clock);
  c.SetTargets({{"8", "eight"}, {"9", "nine"}});
  ::testing::internal::CaptureStderr();
  std::string text = ScrapeText(c);
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success", {"pipeline_id=\"8\""}), 0);
  EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success", {"pipeline_id=\"9\""}), 0);
  EXPECT_TRUE(testing::Samples(text, "yunxiao_flow_pipeline_info").empty());
  EXPECT_NE(log.find("check the pipeline id"), std::string::npos) << log;
  EXPECT_NE(log.find("not known to exist"), std::string::npos) << log;
}

TEST_F(CollectorTest, APipelineThatHadRunsAndNowAnswers404IsCheckedAgain) {
  NoRunApi api;
  api.latest = {
      {"1", NoRunApi::Answer(
                200, R"({"status":"SUCCESS","pipelineRunId":4,"createTime":1700000000000})")}};
  api.existing = {"1"};
  Collector c(Options(), api, self, clock);
  c.SetTargets({{"1", ""}});
  EXPECT_EQ(Value(ScrapeText(c), "yunxiao_flow_latest_run_id"), 4);
  EXPECT_EQ(api.name_calls, 1);
  // Deleted: the latest run and GetPipeline both answer 404.
  api.latest["1"] = NoRunApi::Answer(404, "");
  api.existing.clear();
  clock.Advance(seconds(31));
  std::string text = ScrapeText(c);
  EXPECT_EQ(api.name_calls, 2);
  EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success"), 0);
}

}  // namespace
}  // namespace yfe::collector
