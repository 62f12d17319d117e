#include <gtest/gtest.h>

#include <string>

#include "collector/discovery.h"

namespace yfe::collector {
namespace {

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
