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

std::string Gunzip(const std::string& in) {
  z_stream z{};
  inflateInit2(&z, 15 + 16);
  std::string out;
  char buf[1 << 14];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
    if (rc == Z_BUF_ERROR && z.avail_in == 0) break;
  }
  const bool whole = rc == Z_STREAM_END && z.avail_in == 0;
  inflateEnd(&z);
  return whole ? out : "<error " + std::to_string(rc) + ">";
}

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
  std::map<std::string, std::string> status_of;  // per pipeline, over `status`
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
    done(existing.count(std::string(id)) ? Answer(200, R"({"name":"api-)" + std::string(id) + "\"}")
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
