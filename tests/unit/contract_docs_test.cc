// The documented contract (docs/metrics.md, docs/configuration.md) and the code agree.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "config/config.h"
#include "metrics/catalog.h"
#include "support/test_support.h"

namespace yfe {
namespace {

std::set<std::string> Matches(const std::string& text, const std::string& pattern) {
  std::set<std::string> out;
  std::regex re(pattern);
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
       ++it) {
    out.insert((*it)[1]);
  }
  return out;
}

TEST(Contract, MetricsDocListsExactlyTheCatalog) {
  std::string doc = testing::ReadFile(std::string(YFE_SOURCE_DIR) + "/docs/metrics.md");
  ASSERT_FALSE(doc.empty());
  std::set<std::string> in_tables = Matches(doc, "\\| `(yunxiao_flow_[a-z_]+)` \\|");
  std::set<std::string> in_code;
  for (const metrics::MetricDef* d : metrics::AllMetrics()) in_code.insert(std::string(d->name));
  EXPECT_EQ(in_tables, in_code);
}

TEST(Contract, CatalogNamesFollowPrometheusConventions) {
  for (const metrics::MetricDef* d : metrics::AllMetrics()) {
    std::string n(d->name);
    EXPECT_EQ(n.rfind("yunxiao_flow_", 0), 0u) << n;
    bool total = n.size() > 6 && n.compare(n.size() - 6, 6, "_total") == 0;
    EXPECT_EQ(total, d->type == metrics::Type::kCounter) << n;  // _total only on counters
    EXPECT_FALSE(d->help.empty()) << n;
    for (size_t i = 0; i < d->LabelCount(); ++i) {
      EXPECT_TRUE(std::regex_match(std::string(d->labels[i]), std::regex("[a-z_]+"))) << n;
    }
  }
}

TEST(Contract, ConfigurationDocListsExactlyTheKeys) {
  std::string doc = testing::ReadFile(std::string(YFE_SOURCE_DIR) + "/docs/configuration.md");
  std::set<std::string> documented =
      Matches(doc, "\\| `((?:api|collect|discovery)\\.[a-z_]+)` \\|");
  for (const char* k : {"pipelines[].id", "pipelines[].name"}) {
    if (doc.find(std::string("`") + k + "`") != std::string::npos) documented.insert(k);
  }
  for (const auto& k : Matches(doc, "\\| `(delivery\\.deployments\\[\\]\\.[a-z_.]+)` \\|")) {
    documented.insert(k);
  }
  std::set<std::string> code;
  for (const auto& k : config::AllKeys()) code.insert(k);
  EXPECT_EQ(documented, code);
}

TEST(Contract, ExampleConfigIsValid) {
  auto load = config::LoadConfigFile(std::string(YFE_SOURCE_DIR) + "/config.example.yaml");
  EXPECT_TRUE(load.ok()) << (load.errors.empty() ? "" : load.errors[0]);
}

}  // namespace
}  // namespace yfe
