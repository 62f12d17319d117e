// README.zh-CN.md stays in step with README.md: both name the same flags and the same
// files, and give the same quick-start commands.
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>

#include "support/test_support.h"

namespace yfe::testing {
namespace {

std::string Source(const std::string& name) {
  return ReadFile(std::string(YFE_SOURCE_DIR) + "/" + name);
}

std::set<std::string> Matches(const std::string& text, const std::regex& re) {
  std::set<std::string> out;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
       ++it) {
    out.insert((*it)[1].str());
  }
  return out;
}

std::set<std::string> Flags(const std::string& text) {
  return Matches(text, std::regex(R"((?:^|[^A-Za-z0-9-])(--[a-z][a-z.-]*[a-z]))"));
}

std::set<std::string> Files(const std::string& text) {
  auto files = Matches(text, std::regex(R"(([A-Za-z0-9_./-]+\.(?:yaml|yml|md|sh|cc|json)))"));
  files.erase("README.md");
  files.erase("README.zh-CN.md");
  return files;
}

// The first ```sh block after `heading`.
std::string CommandsAfter(const std::string& text, const std::string& heading) {
  auto at = text.find(heading);
  if (at == std::string::npos) return "";
  auto open = text.find("```sh\n", at);
  if (open == std::string::npos) return "";
  open += 6;
  return text.substr(open, text.find("```", open) - open);
}

TEST(Readme, BothLanguagesNameTheSameFlagsAndFiles) {
  const std::string en = Source("README.md");
  const std::string zh = Source("README.zh-CN.md");
  ASSERT_FALSE(en.empty());
  ASSERT_FALSE(zh.empty());
  EXPECT_EQ(Flags(en), Flags(zh));
  EXPECT_EQ(Files(en), Files(zh));
  EXPECT_TRUE(Flags(en).contains("--api.check"));
  EXPECT_TRUE(Files(en).contains("config.example.yaml"));
}

TEST(Readme, TheChineseReadmeIsLinkedFromTheTopOfTheEnglishOne) {
  const std::string en = Source("README.md");
  auto link = en.find("(README.zh-CN.md)");
  ASSERT_NE(link, std::string::npos);
  EXPECT_EQ(en.substr(0, link).find("\n## "), std::string::npos)
      << "the link must come before the first section";
}

TEST(Readme, BothGiveTheSameQuickStartCommands) {
  const std::string en = CommandsAfter(Source("README.md"), "## Pointing it at your organization");
  const std::string zh = CommandsAfter(Source("README.zh-CN.md"), "## 快速上手");
  ASSERT_FALSE(en.empty());
  EXPECT_EQ(en, zh);
}

TEST(Readme, TheChineseReadmeNamesThePermissionsAsTheConsoleDoes) {
  const std::string zh = Source("README.zh-CN.md");
  for (const char* p :
       {"流水线 › 流水线运行实例 › 只读", "流水线 › 流水线 › 只读", "流水线分组 › 只读"}) {
    EXPECT_NE(zh.find(p), std::string::npos) << p;
    EXPECT_NE(Source("README.md").find(p), std::string::npos) << p;
    EXPECT_NE(Source("docs/configuration.md").find(p), std::string::npos) << p;
  }
  EXPECT_NE(zh.find("```promql"), std::string::npos);
}

}  // namespace
}  // namespace yfe::testing
