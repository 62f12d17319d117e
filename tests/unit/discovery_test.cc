#include "collector/discovery.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "collector/collector.h"

namespace yfe::collector {
namespace {

using flowapi::ApiResult;
using flowapi::PageHeaders;

// Items of today's ListPipelines shape (and the per-group list's): no groupId.
std::string TodayItems(int first, int count) {
  std::string s = "[";
  for (int i = 0; i < count; ++i) {
    if (i) s += ",";
    const std::string id = std::to_string(first + i);
    s += R"({"pipelineId":)" + id + R"(,"pipelineName":"p-)" + id +
         R"(","createAccountId":"acc","createTime":1700000000000})";
  }
  return s + "]";
}

ApiResult Page(std::string body, PageHeaders h = {}) {
  ApiResult r;
  r.ok = true;
  r.status = 200;
  r.body = std::move(body);
  r.paging = h;
  return r;
}

PageHeaders Headers(int page, int total_pages, int total) {
  PageHeaders h;
  h.page = page;
  h.total_pages = total_pages;
  h.total = total;
  h.next_page_sent = true;
  if (page < total_pages) h.next_page = page + 1;
  return h;
}

// Answers list requests from functions of the page (and group).
class ListApi : public flowapi::Api {
 public:
  std::function<ApiResult(int page)> list;
  std::function<ApiResult(int64_t group, int page)> group_list;
  int list_calls = 0;
  std::map<int64_t, int> group_calls;
  std::vector<int> per_page_asked;

  void GetLatestRun(std::string_view, Clock::Steady, Callback) override {}
  void GetPipeline(std::string_view, Clock::Steady, Callback) override {}
  void ListRuns(std::string_view, int, int, Clock::Steady, Callback) override {}
  void ListPipelines(int page, int per_page, Clock::Steady, Callback done) override {
    ++list_calls;
    per_page_asked.push_back(per_page);
    done(list(page));
  }
  void ListGroupPipelines(int64_t group, int page, int per_page, Clock::Steady,
                          Callback done) override {
    ++group_calls[group];
    per_page_asked.push_back(per_page);
    done(group_list(group, page));
  }
  bool ApiUp(Clock::Steady) const override { return true; }
};

const Clock::Steady kDeadline{};

TEST(NextPage, HeadersDecideAndShortPagesOnlyWithoutThem) {
  struct Case {
    const char* name;
    int page;
    size_t items, seen;
    PageHeaders h;
    std::optional<int> want;
  };
  PageHeaders none;
  PageHeaders last_by_next;
  last_by_next.next_page_sent = true;  // sent empty on the last page
  PageHeaders more_by_next = last_by_next;
  more_by_next.next_page = 3;
  PageHeaders total_only;
  total_only.total = 50;
  const Case cases[] = {
      {"short page without headers is the last", 1, 20, 20, none, std::nullopt},
      {"full page without headers: read on", 1, 30, 30, none, 2},
      {"short page but x-total-pages says more", 1, 20, 20, Headers(1, 3, 50), 2},
      {"x-total-pages reached", 3, 10, 50, Headers(3, 3, 50), std::nullopt},
      {"full page but x-total-pages reached", 2, 30, 60, Headers(2, 2, 60), std::nullopt},
      {"x-next-page sent empty", 2, 30, 60, last_by_next, std::nullopt},
      {"x-next-page names the next", 2, 20, 40, more_by_next, 3},
      {"x-total not reached", 2, 20, 40, total_only, 3},
      {"x-total reached", 3, 10, 50, total_only, std::nullopt},
      {"an empty page always ends", 2, 0, 30, Headers(2, 9, 300), std::nullopt},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(NextPage(c.page, 30, c.items, c.seen, c.h), c.want) << c.name;
  }
}

TEST(Discovery, ShortPagesWithHeadersAreReadToTheEnd) {
  // A server that sends 20 items when 30 were asked, and says so in its headers.
  ListApi api;
  api.list = [](int page) {
    if (page > 3) return Page("[]");
    return Page(TodayItems(page * 100, 20), Headers(page, 3, 60));
  };
  config::DiscoveryConfig cfg;
  Discovery d(cfg, api);
  auto found = d.List(kDeadline);
  ASSERT_TRUE(found.ok()) << found.error();
  EXPECT_EQ(found->size(), 60u);
  EXPECT_EQ(api.list_calls, 3);
  EXPECT_EQ(api.per_page_asked.front(), Discovery::kPerPage);
}

TEST(Discovery, TodaysAndThe2025ShapesAreBothRead) {
  ListApi api;
  api.list = [](int) {
    return Page(R"([{"pipelineId":11,"pipelineName":"today","createAccountId":"a","createTime":1},)"
                R"({"name":"old","owner":null,"pipelineConfig":null,"id":12,"createTime":1,)"
                R"("modifierAccountId":null,"creatorAccountId":"a","updateTime":null,"groupId":0,)"
                R"("envName":null,"envId":null,"tagList":null,"pipelineConfigId":null,)"
                R"("creator":{"id":"a","username":null},"modifier":null}])");
  };
  config::DiscoveryConfig cfg;
  Discovery d(cfg, api);
  auto found = d.List(kDeadline);
  ASSERT_TRUE(found.ok()) << found.error();
  ASSERT_EQ(found->size(), 2u);
  EXPECT_EQ((*found)[0].id, "11");
  EXPECT_EQ((*found)[0].name, "today");
  EXPECT_EQ((*found)[1].id, "12");
  EXPECT_EQ((*found)[1].name, "old");
}

TEST(Discovery, GroupMembershipComesFromThePerGroupEndpoint) {
  // Today's ListPipelines items carry no groupId: filtering them by group found nothing.
  ListApi api;
  api.list = [](int) { return Page(TodayItems(1, 10)); };
  api.group_list = [](int64_t group, int page) {
    if (group == 7) {  // 35 members over two pages, 20 per page
      return page == 1 ? Page(TodayItems(700, 20), Headers(1, 2, 35))
                       : Page(TodayItems(720, 15), Headers(2, 2, 35));
    }
    return Page(R"([{"gmtCreate":1700000000000,"pipelineId":900,"pipelineName":"nine"}])",
                Headers(1, 1, 1));
  };
  config::DiscoveryConfig cfg;
  cfg.group_ids = {7, 9};
  Discovery d(cfg, api);
  auto found = d.List(kDeadline);
  ASSERT_TRUE(found.ok()) << found.error();
  EXPECT_EQ(found->size(), 36u);
  EXPECT_EQ(api.group_calls[7], 2);
  EXPECT_EQ(api.group_calls[9], 1);
  EXPECT_EQ(api.list_calls, 0);  // ListPipelines has no group filter: not needed
  for (const auto& p : *found) {
    ASSERT_TRUE(p.group_id.has_value());
    EXPECT_EQ(*p.group_id, p.id == "900" ? 9 : 7);
  }
}

TEST(Discovery, AFailingGroupPageFailsTheRefresh) {
  ListApi api;
  api.group_list = [](int64_t, int) {
    ApiResult r;
    r.status = 403;
    r.error = "HTTP 403 Forbidden";
    return r;
  };
  config::DiscoveryConfig cfg;
  cfg.group_ids = {3};
  Discovery d(cfg, api);
  auto found = d.List(kDeadline);
  ASSERT_FALSE(found.ok());
  EXPECT_NE(found.error().find("pipeline group 3 page 1: HTTP 403"), std::string::npos)
      << found.error();
}

TEST(Discovery, PagingHasAHardCapWithAClearError) {
  ListApi api;  // a server whose headers always promise another page
  api.list = [](int page) { return Page(TodayItems(page * 100, 30), Headers(page, 99999, 0)); };
  config::DiscoveryConfig cfg;
  Discovery d(cfg, api);
  auto found = d.List(kDeadline);
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(api.list_calls, Discovery::kMaxPages);
  EXPECT_NE(found.error().find("stopped after 2000 pages"), std::string::npos) << found.error();
  EXPECT_NE(found.error().find("x-total-pages 99999"), std::string::npos) << found.error();
}

TEST(Discovery, PagesLongerThanAskedAreBoundedToo) {
  ListApi api;  // 1,000 items a page when 30 were asked, and always more
  api.list = [](int page) { return Page(TodayItems(page * 1000, 1000), Headers(page, 99999, 0)); };
  config::DiscoveryConfig cfg;
  Discovery d(cfg, api);
  auto found = d.List(kDeadline);
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(api.list_calls, 61);
  EXPECT_NE(found.error().find("more than 60000 items"), std::string::npos) << found.error();
}

TEST(Discovery, AnEmptyResultIsAWarningNamingTheFilters) {
  ListApi api;
  bool empty = true;
  api.list = [&](int) { return Page(empty ? "[]" : TodayItems(1, 3)); };
  config::DiscoveryConfig cfg;
  cfg.include = "^backend-";
  Discovery d(cfg, api);

  ::testing::internal::CaptureStderr();
  auto first = d.List(kDeadline);  // empty first result
  std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->empty());
  EXPECT_NE(log.find("discovery found no pipeline to watch"), std::string::npos) << log;
  EXPECT_NE(log.find("include=^backend-"), std::string::npos) << log;
  EXPECT_NE(log.find("previous=none"), std::string::npos) << log;

  ::testing::internal::CaptureStderr();
  (void)d.List(kDeadline);  // still empty: said once, not every refresh
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");

  cfg.include.clear();
  Discovery d2(cfg, api);
  empty = false;
  ASSERT_EQ(d2.List(kDeadline)->size(), 3u);
  empty = true;
  ::testing::internal::CaptureStderr();
  auto after = d2.List(kDeadline);  // empty after a non-empty result
  log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(after.ok());
  EXPECT_NE(log.find("discovery found no pipeline to watch"), std::string::npos) << log;
  EXPECT_NE(log.find("previous=3"), std::string::npos) << log;
}

TEST(MergeTargets, DiscoveredPipelinesAreMarkedListed) {
  std::vector<config::PipelineConfig> configured = {{"5", "five"}, {"6", ""}};
  std::vector<model::Pipeline> discovered = {{"6", "six", {}}, {"8", "eight", {}}};
  auto targets = MergeTargets(configured, discovered, 0, 1);
  ASSERT_EQ(targets.size(), 3u);
  EXPECT_FALSE(targets[0].listed);  // configured only: existence unknown
  EXPECT_TRUE(targets[1].listed);
  EXPECT_EQ(targets[1].name, "six");
  EXPECT_TRUE(targets[2].listed);
}

// The discovery loop's rules: not ready and retried within 15 s until the first success
// (watching the configured pipelines meanwhile); later failures keep the list and wait the
// refresh interval.
TEST(DiscoveryRefresher, TheFirstSuccessMakesReadyAndFailuresKeepTheList) {
  using namespace std::chrono_literals;
  ListApi api;
  bool fail = true;
  api.list = [&](int) {
    if (!fail) return Page(TodayItems(1, 2));
    ApiResult r;
    r.error = "upstream down";
    return r;
  };
  config::Config cfg;
  cfg.discovery.enabled = true;
  cfg.discovery.refresh_interval = 5min;
  cfg.pipelines = {{"99", "configured"}};
  metrics::SelfMetrics metrics;
  Collector collector(CollectorOptions{}, api, metrics);
  DiscoveryRefresher refresher(cfg, 0, 1, api, collector, metrics);
  const auto not_stopping = [] { return false; };

  auto o = refresher.Refresh(not_stopping);
  EXPECT_FALSE(o.first_success);
  EXPECT_EQ(o.next, 15s);
  EXPECT_EQ(collector.TargetCount(), 1u);

  fail = false;
  o = refresher.Refresh(not_stopping);
  EXPECT_TRUE(o.first_success);
  EXPECT_EQ(o.next, 5min);
  EXPECT_EQ(collector.TargetCount(), 3u);
  EXPECT_FALSE(refresher.Refresh(not_stopping).first_success);

  fail = true;
  o = refresher.Refresh(not_stopping);
  EXPECT_FALSE(o.first_success);
  EXPECT_EQ(o.next, 5min);
  EXPECT_EQ(collector.TargetCount(), 3u);  // the previous list stays
  // A failure while stopping is not counted as a discovery error.
  const std::string before = metrics.Render();
  refresher.Refresh([] { return true; });
  EXPECT_EQ(metrics.Render(), before);
}

TEST(MergeTargets, ConfiguredFirstAndTheirNamesWin) {
  std::vector<config::PipelineConfig> configured = {{"9", "mine"}, {"5", ""}};
  std::vector<model::Pipeline> found = {
      {"5", "five", 1}, {"9", "nine", 1}, {"10", "ten", 2}, {"2", "two", 2}};
  auto t = MergeTargets(configured, found, 0, 1);
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[0].id, "9");
  EXPECT_EQ(t[0].name, "mine");
  EXPECT_EQ(t[1].name, "five");
  EXPECT_EQ(t[2].id, "2");
  EXPECT_EQ(t[3].id, "10");
}

TEST(MergeTargets, ShardsPartitionThePipelines) {
  std::vector<model::Pipeline> found;
  for (int i = 0; i < 300; ++i) found.push_back({std::to_string(1000000 + i), "p", 1});
  size_t total = 0;
  std::set<std::string> seen;
  for (int s = 0; s < 3; ++s) {
    auto t = MergeTargets({}, found, s, 3);
    EXPECT_GT(t.size(), 60u);  // roughly even
    total += t.size();
    for (auto& x : t) seen.insert(x.id);
  }
  EXPECT_EQ(total, 300u);
  EXPECT_EQ(seen.size(), 300u);
}

class NoApi : public flowapi::Api {
 public:
  void GetLatestRun(std::string_view, Clock::Steady, Callback) override {}
  void GetPipeline(std::string_view, Clock::Steady, Callback) override {}
  void ListPipelines(int, int, Clock::Steady, Callback) override {}
  void ListRuns(std::string_view, int, int, Clock::Steady, Callback) override {}
  bool ApiUp(Clock::Steady) const override { return true; }
};

model::Pipeline Named(std::string name) {
  model::Pipeline p;
  p.id = "1";
  p.name = std::move(name);
  return p;
}

// Audit finding 5: with std::regex this pattern backtracks exponentially on a name a user
// chose (hours at 40 characters). RE2 answers at once; a hang would time the test out.
TEST(DiscoveryMatches, NestedQuantifiersOnAHostileNameAnswer) {
  NoApi api;
  config::DiscoveryConfig cfg;
  cfg.enabled = true;
  cfg.include = "^([a-z]+-?)+$";
  cfg.exclude = "(\\w+\\s?)*$x";
  Discovery d(cfg, api);
  const std::string hostile = std::string(40, 'a') + "!";
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(d.Matches(Named(hostile)));
  EXPECT_TRUE(d.Matches(Named("backend-api-prod")));
  EXPECT_TRUE(d.Matches(Named(std::string(256, 'a'))));
}

// Unanchored search, as before: "api" matches anywhere; ^ and $ anchor.
TEST(DiscoveryMatches, IncludeAndExcludeAreUnanchoredSearches) {
  NoApi api;
  config::DiscoveryConfig cfg;
  cfg.enabled = true;
  cfg.include = "api";
  cfg.exclude = "-tmp$";
  Discovery d(cfg, api);
  EXPECT_TRUE(d.Matches(Named("web-api-prod")));
  EXPECT_FALSE(d.Matches(Named("web-api-tmp")));
  EXPECT_FALSE(d.Matches(Named("web-tmp-api-x-tmp")));
  EXPECT_TRUE(d.Matches(Named("web-tmp-api")));
  EXPECT_FALSE(d.Matches(Named("frontend")));
  cfg.include = "^api$";
  Discovery anchored(cfg, api);
  EXPECT_FALSE(anchored.Matches(Named("web-api")));
  EXPECT_TRUE(anchored.Matches(Named("api")));
}

// Names are UTF-8; RE2 matches characters, not bytes.
TEST(DiscoveryMatches, Utf8Names) {
  NoApi api;
  config::DiscoveryConfig cfg;
  cfg.enabled = true;
  cfg.include = "^构建.$";
  Discovery d(cfg, api);
  EXPECT_TRUE(d.Matches(Named("构建一")));
  EXPECT_FALSE(d.Matches(Named("构建")));
}

}  // namespace
}  // namespace yfe::collector
