// config/schema.h: one declaration per key parses it, finds the unknown keys and lists it.
#include "config/schema.h"

#include <gtest/gtest.h>

#include <map>

namespace yfe::config {
namespace {

// A made-up section shaped like the ones still to come: a list of objects, each with a
// nested mapping and a mapping whose keys are data.
struct Target {
  std::string url;
  int weight = 1;
  bool gzip = true;
  std::chrono::nanoseconds timeout = std::chrono::seconds(5);
  std::map<std::string, std::string> headers;
};
struct Doc {
  std::string mode = "push";
  std::vector<Target> targets;
};

void Declare(Section& root, Doc& doc) {
  root.Choice("mode", doc.mode, {"push", "pull", "both"}, "how");
  root.Objects("targets", "a list of mappings", [&](Section& item) {
    Target t;
    item.String("url", t.url, "where to");
    item.Number("weight", t.weight, 1, 10, "share");
    Section tls = item.Map("options");
    tls.Bool("gzip", t.gzip, "compress");
    tls.Duration("timeout", t.timeout, false, std::chrono::minutes(1), "per request");
    item.Entries(
        "headers", "a mapping of header names to values", "extra headers",
        [&](const YAML::Node& k, const YAML::Node& v) { t.headers[k.Scalar()] = v.Scalar(); });
    if (item.present()) doc.targets.push_back(t);
  });
}

struct Parsed {
  Doc doc;
  std::vector<std::string> errors, warnings;
};

Parsed Parse(const std::string& yaml) {
  Parsed p;
  Checker c("d.yaml", p.errors, p.warnings);
  const YAML::Node root = YAML::Load(yaml);
  {
    Section r = c.Root(root);
    Declare(r, p.doc);
  }  // r reports its unknown keys here
  return p;
}

std::string All(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& e : v) s += e + "\n";
  return s;
}

TEST(Schema, ReadsNestedSectionsAndListsOfObjects) {
  Parsed p = Parse(R"(mode: pull
targets:
  - url: https://a
    weight: 3
    options: {gzip: false, timeout: 2s}
    headers: {X-A: "1", X-B: "2"}
  - url: https://b
)");
  ASSERT_TRUE(p.errors.empty()) << All(p.errors);
  EXPECT_EQ(p.doc.mode, "pull");
  ASSERT_EQ(p.doc.targets.size(), 2u);
  EXPECT_EQ(p.doc.targets[0].weight, 3);
  EXPECT_FALSE(p.doc.targets[0].gzip);
  EXPECT_EQ(p.doc.targets[0].timeout, std::chrono::seconds(2));
  EXPECT_EQ(p.doc.targets[0].headers.size(), 2u);
  EXPECT_EQ(p.doc.targets[1].weight, 1);  // the default
  EXPECT_TRUE(p.doc.targets[1].gzip);
}

TEST(Schema, ReportsEveryProblemWithItsPathAndLine) {
  Parsed p = Parse(R"(mode: sideways
targets:
  - url: https://a
    weight: 11
    options:
      gzip: maybe
      colour: red
    headers: [a]
  - surprise: 1
extra: 1
)");
  const std::string all = All(p.errors);
  EXPECT_EQ(p.errors.size(), 7u) << all;
  for (const char* e : {
           "d.yaml:1: \"mode\" must be push, pull or both, got \"sideways\"",
           "d.yaml:4: \"targets[0].weight\" must be between 1 and 10, got 11",
           "d.yaml:6: \"targets[0].options.gzip\" must be true or false, got \"maybe\"",
           "d.yaml:7: unknown key \"targets[0].options.colour\" (known keys here: gzip, timeout)",
           "d.yaml:8: \"targets[0].headers\" must be a mapping of header names to values",
           "d.yaml:9: unknown key \"targets[1].surprise\" (known keys here: url, weight, options, "
           "headers)",
           "d.yaml:10: unknown key \"extra\" (known keys here: mode, targets)",
       }) {
    EXPECT_NE(all.find(e), std::string::npos) << e << "\n" << all;
  }
}

TEST(Schema, TheRootReportsItsUnknownKeysWhenItGoesOutOfScope) {
  std::vector<std::string> errors, warnings;
  Checker c("d.yaml", errors, warnings);
  Doc doc;
  {
    Section r = c.Root(YAML::Load("mode: push\nextra: 1\n"));
    Declare(r, doc);
    EXPECT_TRUE(errors.empty());
  }
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "d.yaml:2: unknown key \"extra\" (known keys here: mode, targets)");
}

TEST(Schema, ListsTheDeclaredKeysWithoutADocument) {
  std::vector<std::string> sink;
  Checker c = Checker::Schema(sink);
  Doc doc;
  {
    Section r = c.Root(YAML::Node());
    Declare(r, doc);
  }
  std::vector<std::string> paths;
  for (const auto& k : c.keys()) paths.push_back(k.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"mode", "targets[].url", "targets[].weight",
                                             "targets[].options.gzip", "targets[].options.timeout",
                                             "targets[].headers"}));
  EXPECT_TRUE(sink.empty());
  EXPECT_TRUE(doc.targets.empty());
  const KeyInfo& weight = c.keys()[2];
  EXPECT_EQ(weight.type, "number");
  EXPECT_EQ(weight.default_value, "1");
  EXPECT_EQ(weight.range, "1–10");
  EXPECT_EQ(weight.help, "share");
  EXPECT_EQ(c.keys()[4].default_value, "5s");
  EXPECT_EQ(c.keys()[0].range, "push, pull or both");
}

TEST(Schema, NoEchoKeepsValuesOutOfMessages) {
  std::vector<std::string> errors, warnings;
  Checker c("d", errors, warnings);
  {
    Section r = c.Root(YAML::Load("s: {n: pt-SECRET, d: pt-SECRET, b: pt-SECRET}"));
    Section s = r.Map("s");
    s.NoEcho("it may hold a secret");
    int n = 0;
    bool b = false;
    std::chrono::nanoseconds d{};
    s.Number("n", n, 0, 1, "");
    s.Duration("d", d, true, std::chrono::hours(1), "");
    s.Bool("b", b, "");
  }
  ASSERT_EQ(errors.size(), 3u);
  for (const auto& e : errors) EXPECT_EQ(e.find("SECRET"), std::string::npos) << e;
  EXPECT_NE(errors[0].find("(the value is not shown: it may hold a secret)"), std::string::npos);
}

}  // namespace
}  // namespace yfe::config
