// The documented contract (docs/metrics.md, docs/configuration.md) and the code agree.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "config/config.h"
#include "config/flags.h"
#include "config/schema.h"
#include "http/web_config.h"
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
    EXPECT_TRUE(n.starts_with("yunxiao_flow_")) << n;
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

// The web configuration file's section names every key its parser declares.
TEST(Contract, WebConfigDocNamesEveryKey) {
  const std::string doc = testing::ReadFile(std::string(YFE_SOURCE_DIR) + "/docs/configuration.md");
  const auto at = doc.find("## Web configuration file");
  ASSERT_NE(at, std::string::npos);
  const std::string section = doc.substr(at);
  for (const config::KeyInfo& k : http::WebConfigKeys()) {
    const std::string leaf = k.path.substr(k.path.rfind('.') + 1);
    EXPECT_NE(section.find(leaf), std::string::npos) << k.path;
  }
}

// The default a key's declaration takes from its struct field is the one its docs row shows.
TEST(Contract, ConfigurationDocShowsTheDeclaredDefaults) {
  std::string doc = testing::ReadFile(std::string(YFE_SOURCE_DIR) + "/docs/configuration.md");
  for (const config::KeyInfo& k : config::Keys()) {
    EXPECT_FALSE(k.help.empty()) << k.path;
    if (k.default_value.empty()) continue;
    const std::string row = "| `" + k.path + "` | ";
    auto at = doc.find(row);
    if (at == std::string::npos) continue;  // ConfigurationDocListsExactlyTheKeys says so
    const std::string cell =
        doc.substr(at + row.size(), doc.find(" | ", at + row.size()) - at - row.size());
    EXPECT_NE(cell.find("`" + k.default_value + "`"), std::string::npos)
        << k.path << ": declared default " << k.default_value << ", documented " << cell;
  }
}

// The flag table (flags.cc) is the one declaration of the flags: the docs' flag table names
// exactly them, --help shows each, and the README names no other.
TEST(Contract, FlagsDocListsExactlyTheFlags) {
  std::string doc = testing::ReadFile(std::string(YFE_SOURCE_DIR) + "/docs/configuration.md");
  std::set<std::string> documented = Matches(doc, "\\| `--([a-z][a-z.-]*)` \\|");
  std::set<std::string> code;
  const std::string usage = config::Usage();
  for (const config::FlagDef& f : config::AllFlags()) {
    code.insert(std::string(f.name));
    EXPECT_NE(usage.find("  --" + std::string(f.name)), std::string::npos) << f.name;
    EXPECT_FALSE(f.help.empty()) << f.name;
  }
  EXPECT_EQ(documented, code);
  for (const char* readme : {"/README.md", "/README.zh-CN.md"}) {
    std::string text = testing::ReadFile(std::string(YFE_SOURCE_DIR) + readme);
    for (const auto& flag : Matches(text, "(?:^|[^A-Za-z0-9-])--([a-z][a-z.-]*[a-z])")) {
      EXPECT_TRUE(code.count(flag)) << readme << " names --" << flag << ", which is no flag";
    }
  }
}

// --help shows each flag's default as Flags{} has it.
TEST(Contract, UsageShowsTheDefaultsOfFlags) {
  const std::string usage = config::Usage();
  EXPECT_NE(usage.find("--web.listen-address=ADDR   address to listen on (default \":9847\")"),
            std::string::npos)
      << usage;
  EXPECT_NE(usage.find("(default 2048)"), std::string::npos) << usage;
  EXPECT_NE(usage.find("(default \"info\")"), std::string::npos) << usage;
}

TEST(Contract, ExampleConfigIsValid) {
  auto load = config::LoadConfigFile(std::string(YFE_SOURCE_DIR) + "/config.example.yaml");
  EXPECT_TRUE(load.ok()) << (load.errors.empty() ? "" : load.errors[0]);
}

}  // namespace
}  // namespace yfe
