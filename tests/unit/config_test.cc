#include "config/config.h"

#include <gtest/gtest.h>

#include "config/flags.h"
#include "support/test_support.h"
#include "util/log.h"

namespace yfe::config {
namespace {

bool HasError(const ConfigLoad& l, const std::string& fragment) {
  for (const auto& e : l.errors) {
    if (e.find(fragment) != std::string::npos) return true;
  }
  return false;
}

TEST(ParseConfig, FullExample) {
  auto l = ParseConfig(R"(
api:
  endpoint: https://openapi-rdc.aliyuncs.com/
  organization_id: "60d54f3daccf2bbd6659f3ad"
  token_file: /run/secrets/t
  timeout: 5s
  max_concurrency: 16
collect:
  stages: true
  jobs: false
  sparse_status: false
  cache_ttl: 1m
pipelines:
  - id: "1234567"
    name: backend-build
  - id: 7654321
)",
                       "c.yaml");
  ASSERT_TRUE(l.ok()) << l.errors[0];
  const Config& c = l.config;
  EXPECT_EQ(c.api.endpoint, "https://openapi-rdc.aliyuncs.com");
  EXPECT_EQ(c.api.edition, Edition::kCentral);
  EXPECT_EQ(c.api.PipelinesPrefix(), "/oapi/v1/flow/organizations/60d54f3daccf2bbd6659f3ad");
  EXPECT_EQ(c.api.timeout, std::chrono::seconds(5));
  EXPECT_EQ(c.api.max_concurrency, 16);
  EXPECT_FALSE(c.collect.jobs);
  EXPECT_FALSE(c.collect.sparse_status);
  EXPECT_EQ(c.collect.cache_ttl, std::chrono::minutes(1));
  ASSERT_EQ(c.pipelines.size(), 2u);
  EXPECT_EQ(c.pipelines[0].name, "backend-build");
  EXPECT_EQ(c.pipelines[1].id, "7654321");
  EXPECT_TRUE(c.pipelines[1].name.empty());
}

TEST(ParseConfig, EditionDefaultsFromTheHost) {
  auto l = ParseConfig("api: {endpoint: 'https://flow.example.com:8443'}\npipelines: [1]", "c");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l.config.api.edition, Edition::kRegion);
  EXPECT_EQ(l.config.api.PipelinesPrefix(), "/oapi/v1/flow");
}

TEST(ParseConfig, PathPrefixReplacesEverythingBeforePipelines) {
  auto l = ParseConfig(
      "api: {endpoint: 'https://x', path_prefix: /oapi/v1/flow/organizations/}\npipelines: [1]",
      "c");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l.config.api.PipelinesPrefix(), "/oapi/v1/flow/organizations");
}

TEST(ParseConfig, ReportsEveryProblemWithItsLine) {
  auto l = ParseConfig(R"(api:
  endpoint: ftp://x
  edition: moon
  timeout: 10 seconds
  max_concurrency: 0
  colour: blue
collect:
  stages: maybe
pipelines:
  - id: "1"
  - id: "1"
  - name: no-id
  - id: "../etc"
extra: 1
)",
                       "c.yaml");
  EXPECT_FALSE(l.ok());
  EXPECT_TRUE(HasError(l, "c.yaml:2: \"api.endpoint\""));
  EXPECT_TRUE(HasError(l, "c.yaml:3: \"api.edition\""));
  EXPECT_TRUE(HasError(l, "c.yaml:4: \"api.timeout\""));
  EXPECT_TRUE(HasError(l, "c.yaml:5: \"api.max_concurrency\""));
  EXPECT_TRUE(HasError(l, "c.yaml:6: unknown key \"api.colour\""));
  EXPECT_TRUE(HasError(l, "c.yaml:8: \"collect.stages\""));
  EXPECT_TRUE(HasError(l, "c.yaml:11: duplicate pipeline id \"1\""));
  EXPECT_TRUE(HasError(l, "c.yaml:12: \"pipelines[2].id\" is required"));
  EXPECT_TRUE(HasError(l, "pipelines[3].id\" must be letters"));
  EXPECT_TRUE(HasError(l, "c.yaml:14: unknown key \"extra\""));
}

TEST(ParseConfig, CentralNeedsAnOrganization) {
  auto l = ParseConfig("api: {endpoint: 'https://openapi-rdc.aliyuncs.com'}\npipelines: [1]", "c");
  EXPECT_TRUE(HasError(l, "api.organization_id\" is required"));
}

TEST(ParseConfig, NeedsPipelinesOrDiscovery) {
  EXPECT_TRUE(HasError(ParseConfig("api: {endpoint: 'https://x'}", "c"), "no pipelines"));
  EXPECT_TRUE(ParseConfig("api: {endpoint: 'https://x'}\ndiscovery: {include: '^a'}", "c").ok());
  EXPECT_TRUE(HasError(ParseConfig("api: {endpoint: 'https://x'}\ndiscovery: {include: '(('}", "c"),
                       "c:2: \"discovery.include\" is not a valid RE2 regular expression"));
}

// The include/exclude regexes are RE2: what RE2 cannot run in linear time (backreferences,
// lookaround) is refused with the key and the line, not accepted and backtracked.
TEST(ParseConfig, DiscoveryRegexesAreRe2) {
  const std::string head = "api: {endpoint: 'https://x'}\ndiscovery:\n";
  EXPECT_TRUE(ParseConfig(head + "  include: '^([a-z]+-?)+$'\n", "c").ok());
  EXPECT_TRUE(HasError(ParseConfig(head + "  include: '^a'\n  exclude: '(a)\\1'\n", "c"),
                       "c:4: \"discovery.exclude\" is not a valid RE2 regular expression"));
  EXPECT_TRUE(HasError(ParseConfig(head + "  include: 'a(?=b)'\n", "c"),
                       "c:3: \"discovery.include\" is not a valid RE2"));
}

TEST(ParseConfig, BrokenYamlAndEmptyFiles) {
  EXPECT_TRUE(HasError(ParseConfig("api: [", "c"), "invalid YAML"));
  EXPECT_TRUE(HasError(ParseConfig("", "c"), "empty"));
  EXPECT_TRUE(HasError(ParseConfig("- 1", "c"), "top level must be a mapping"));
  EXPECT_TRUE(HasError(ParseConfig("api: 5\npipelines: [1]", "c"), "\"api\" must be a mapping"));
}

TEST(ParseConfig, LiteralTokenIsWarnedAbout) {
  auto l = ParseConfig("api: {endpoint: 'https://x', token: pt-abc}\npipelines: [1]", "c");
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l.warnings.size(), 1u);
  EXPECT_NE(l.warnings[0].find("api.token"), std::string::npos);
  EXPECT_EQ(l.warnings[0].find("pt-abc"), std::string::npos);
}

// Audit finding 13: NaN passed the range check and switched rate limiting off; +Inf as a
// history bucket duplicated the implicit le="+Inf" series; 292-year durations overflowed
// now + d.
TEST(ParseConfig, NonFiniteNumbersAndHugeDurationsAreRejected) {
  const std::string head = "pipelines: [1]\napi: {endpoint: 'https://x'";
  for (const char* v : {".nan", ".NaN", ".inf", "-.inf", "1e400"}) {
    auto l = ParseConfig(head + ", max_requests_per_second: " + v + "}", "c");
    EXPECT_TRUE(HasError(l, "\"api.max_requests_per_second\" must be")) << v;
  }
  EXPECT_TRUE(ParseConfig(head + ", max_requests_per_second: 0.5}", "c").ok());
  for (const char* v : {"[10, .inf]", "[.nan]", "[10, 1e400]"}) {
    auto l = ParseConfig(head + "}\ncollect: {history_buckets: " + v + "}", "c");
    EXPECT_TRUE(HasError(l, "positive finite numbers")) << v;
  }
  const std::pair<const char*, const char*> too_long[] = {
      {"api: {endpoint: 'https://x', timeout: 11m}", "\"api.timeout\" must be at most 10m"},
      {"collect: {cache_ttl: 25h}", "\"collect.cache_ttl\" must be at most 24h"},
      {"collect: {scrape_deadline: 2562047h}", "\"collect.scrape_deadline\" must be at most"},
      {"collect: {max_stale: 9999w}", "\"collect.max_stale\" must be at most 720h"},
      {"collect: {history_interval: 2d}", "\"collect.history_interval\" must be at most"},
      {"discovery: {refresh_interval: 100000h}", "\"discovery.refresh_interval\" must be at"},
  };
  for (const auto& [yaml, error] : too_long) {
    EXPECT_TRUE(HasError(ParseConfig(std::string("pipelines: [1]\n") + yaml, "c"), error)) << yaml;
  }
  EXPECT_TRUE(
      ParseConfig("pipelines: [1]\napi: {endpoint: 'https://x'}\ncollect: {max_stale: 720h}", "c")
          .ok());
}

// Audit finding 10: a value in the api section is never quoted back (a token pasted into
// the wrong key would be), not even cut short; the message names the key and the line.
TEST(ParseConfig, ApiValuesAreNeverEchoed) {
  const std::string token = "pt-PASTEDTOKEN-0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEF";
  for (const char* key : {"max_retries", "timeout", "edition", "endpoint", "max_concurrency"}) {
    auto l = ParseConfig(
        "pipelines: [1]\napi:\n  " + std::string(key) + ": " + token + "\n  path_prefix: /x\n",
        "c");
    ASSERT_FALSE(l.ok()) << key;
    for (const auto& e : l.errors) {
      EXPECT_EQ(e.find("PASTEDTOKEN"), std::string::npos) << e;
      EXPECT_NE(e.find("c:3: \"api." + std::string(key) + "\""), std::string::npos) << e;
    }
  }
  auto l = ParseConfig("pipelines: [1]\napi: {endpoint: 'https://user:pw-SECRET@host/x'}", "c");
  ASSERT_TRUE(HasError(l, "\"api.endpoint\""));
  EXPECT_FALSE(HasError(l, "pw-SECRET"));
  // Keys elsewhere still say what they got: no secret belongs there.
  EXPECT_TRUE(
      HasError(ParseConfig("pipelines: [1]\ncollect: {stages: maybe}", "c"), "got \"maybe\""));
}

// Audit finding 10a: the api.token_file token is known to the redaction before any error
// is printed, even one that quotes it from another key.
TEST(LoadConfigFile, TheTokenFileIsRegisteredBeforeErrorsArePrinted) {
  testing::TempDir dir;
  const std::string token = "pt-FILETOKEN1234567890";
  std::string file = dir.Write("token", token + "\n");
  std::string config =
      dir.Write("c.yaml", "api:\n  path_prefix: /x\n  token_file: " + file +
                              "\npipelines: [1]\ncollect:\n  cache_ttl: " + token +
                              "\n  history_interval: " + token.substr(0, 12) + "\n");
  auto l = LoadConfigFile(config);
  ASSERT_EQ(l.errors.size(), 2u);
  for (const auto& e : l.errors) {
    EXPECT_NE(e.find("pt-FILET"), std::string::npos) << "the raw error quotes it: " << e;
    std::string printed = logging::Redacted(e);
    EXPECT_EQ(printed.find("pt-FILET"), std::string::npos) << printed;
    EXPECT_NE(printed.find("<redacted>"), std::string::npos) << printed;
  }
}

TEST(ResolveToken, FileThenEnvironmentThenLiteral) {
  testing::TempDir dir;
  ApiConfig api;
  api.token = "literal-token";
  EXPECT_EQ(ResolveToken(api, nullptr)->token, "literal-token");
  EXPECT_EQ(ResolveToken(api, "env-token")->token, "env-token");
  api.token_file = dir.Write("t", "  file-token \n second line");
  EXPECT_EQ(ResolveToken(api, "env-token")->token, "file-token");
  api.token_file = dir.path() + "/missing";
  auto r = ResolveToken(api, "env-token");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("cannot read"), std::string::npos);
  api.token_file = dir.Write("empty", "\n");
  EXPECT_FALSE(ResolveToken(api, nullptr).ok());
  api.token_file.clear();
  api.token.clear();
  r = ResolveToken(api, "");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("YUNXIAO_TOKEN"), std::string::npos);
  // A token that would inject a header is refused, without echoing it.
  r = ResolveToken(api, "pt-abc\r\nX-Evil: 1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().find("pt-abc"), std::string::npos);
  EXPECT_NE(r.error().find("control characters"), std::string::npos);
}

// The exporter's start and --config.check load the same way: the token's problem is one
// more error of the load.
TEST(LoadForRun, TheTokenIsPartOfTheLoad) {
  testing::TempDir dir;
  const std::string path = dir.Write("c.yaml", "api: {endpoint: 'https://x'}\npipelines: [1]\n");
  auto loaded = LoadForRun(path, "pt-env-token-123");
  ASSERT_TRUE(loaded.load.ok());
  EXPECT_EQ(loaded.token.origin, "YUNXIAO_TOKEN");
  loaded = LoadForRun(path, nullptr);
  ASSERT_EQ(loaded.load.errors.size(), 1u);
  EXPECT_NE(loaded.load.errors[0].find("no API token"), std::string::npos);
  loaded = LoadForRun(dir.Write("bad.yaml", "api: {timeout: x}\n"), "pt-env-token-123");
  EXPECT_FALSE(loaded.load.ok());
  EXPECT_TRUE(loaded.token.token.empty());
}

TEST(Flags, DefaultsAndValues) {
  auto f = ParseFlags({});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->config_file, "config.yaml");
  EXPECT_EQ(f->listen_address, ":9847");
  EXPECT_EQ(f->telemetry_path, "/metrics");
  f = ParseFlags({"--config.file=x.yaml", "--web.listen-address", "127.0.0.1:0",
                  "--log.level=debug", "--log.format=json", "--config.check", "--shard.index=1",
                  "--shard.total=3"});
  ASSERT_TRUE(f.ok()) << f.error();
  EXPECT_EQ(f->config_file, "x.yaml");
  EXPECT_EQ(f->listen_address, "127.0.0.1:0");
  EXPECT_TRUE(f->config_check);
  EXPECT_EQ(f->shard_index, 1);
  for (auto bad : std::vector<std::vector<std::string>>{{"--nope"},
                                                        {"--log.level=loud"},
                                                        {"--web.listen-address=9847"},
                                                        {"--shard.index=3", "--shard.total=3"},
                                                        {"--web.telemetry-path=metrics"},
                                                        {"positional"}}) {
    EXPECT_FALSE(ParseFlags(bad).ok()) << bad[0];
  }
}

TEST(Flags, TelemetryPathIsALiteralPath) {
  for (const std::string good : {"/metrics", "/prom.metrics", "/a/b_c-d~e/1.2", "/x"}) {
    auto f = ParseFlags({"--web.telemetry-path=" + good});
    ASSERT_TRUE(f.ok()) << good << ": " << f.error();
    EXPECT_EQ(f->telemetry_path, good);
  }
  for (const std::string bad : {"metrics", "/", "/-/metrics", "/metrics(", "/x|/-/healthy", "/a b",
                                "/a?b", "/a#b", "/m*", "/%2e", "/m\\d", ""}) {
    auto f = ParseFlags({"--web.telemetry-path=" + bad});
    ASSERT_FALSE(f.ok()) << bad;
    EXPECT_NE(f.error().find("--web.telemetry-path"), std::string::npos) << f.error();
  }
}

TEST(Flags, ServerLimitsAndLifecycle) {
  auto f = ParseFlags({});
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(f->web_enable_lifecycle);
  EXPECT_EQ(f->web_max_connections, 2048);
  EXPECT_EQ(f->web_max_requests_in_flight, 40);
  f = ParseFlags({"--web.enable-lifecycle", "--web.max-connections=5000",
                  "--web.max-requests-in-flight", "2"});
  ASSERT_TRUE(f.ok()) << f.error();
  EXPECT_TRUE(f->web_enable_lifecycle);
  EXPECT_EQ(f->web_max_connections, 5000);
  EXPECT_EQ(f->web_max_requests_in_flight, 2);
  for (auto bad : std::vector<std::string>{"--web.max-connections=0", "--web.max-connections=x",
                                           "--web.max-requests-in-flight=-1",
                                           "--web.enable-lifecycle=maybe"}) {
    EXPECT_FALSE(ParseFlags({bad}).ok()) << bad;
  }
}

TEST(Flags, CoreDumpsAreOffUnlessAllowed) {
  EXPECT_FALSE(ParseFlags({})->allow_core_dumps);
  EXPECT_TRUE(ParseFlags({"--debug.allow-core-dumps"})->allow_core_dumps);
  EXPECT_FALSE(ParseFlags({"--debug.allow-core-dumps=false"})->allow_core_dumps);
  EXPECT_NE(Usage().find("--debug.allow-core-dumps"), std::string::npos);
}

// Every flag of the table parses the default --help shows for it, and --help is generated
// from the table: one line per flag, in the table's order.
TEST(Flags, TheTableDrivesParsingAndHelp) {
  const std::string usage = Usage();
  size_t last = 0;
  for (const FlagDef& f : AllFlags()) {
    const size_t at = usage.find("  --" + std::string(f.name) + (f.value.empty() ? " " : "="));
    ASSERT_NE(at, std::string::npos) << f.name;
    EXPECT_GT(at, last) << f.name;
    last = at;
    std::string def = f.show ? f.show(Flags{}) : "";
    if (def.size() >= 2 && def.front() == '"') def = def.substr(1, def.size() - 2);
    if (f.value.empty() || def.empty()) continue;
    auto parsed = ParseFlags({"--" + std::string(f.name) + "=" + def});
    EXPECT_TRUE(parsed.ok()) << f.name << ": " << parsed.error();
  }
  EXPECT_EQ(ParseFlags({"--web.enable-lifecycle=maybe"}).error(),
            "flag --web.enable-lifecycle takes true or false");
  EXPECT_EQ(ParseFlags({"--config.file"}).error(), "flag --config.file needs a value");
  EXPECT_EQ(ParseFlags({"--nope"}).error(), "unknown flag --nope (see --help)");
  EXPECT_EQ(ParseFlags({"nope"}).error(), "unexpected argument \"nope\" (see --help)");
  EXPECT_EQ(ParseFlags({"--shard.index", "x"}).error(),
            "flag --shard.index needs a whole number, got \"x\"");
  EXPECT_TRUE(ParseFlags({"-h"}).ok() == false);
  EXPECT_TRUE(ParseFlags({"--h"})->help);
}

TEST(Flags, ListenAddress) {
  EXPECT_EQ(ParseListenAddress(":9847")->port, 9847);
  EXPECT_EQ(ParseListenAddress("[::1]:80")->host, "::1");
  EXPECT_FALSE(ParseListenAddress("host:99999").ok());
}

}  // namespace
}  // namespace yfe::config
