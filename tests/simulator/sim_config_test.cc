#include "sim_config.h"

#include <gtest/gtest.h>

#include <vector>

namespace yfe::sim {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

// Every problem, one a line ("" when none).
bool Parse(std::vector<const char*> args, SimConfig* c, std::string* error,
           const char* env = nullptr) {
  args.insert(args.begin(), "flow-simulator");
  bool help = false;
  std::vector<std::string> errors;
  const bool ok = ParseArgs(static_cast<int>(args.size()), args.data(), env, c, &help, &errors);
  error->clear();
  for (const auto& e : errors) *error += e + "\n";
  return ok;
}

TEST(ParseArgsTest, Defaults) {
  SimConfig c;
  std::string error;
  ASSERT_TRUE(Parse({}, &c, &error)) << error;
  EXPECT_EQ(c.listen_host, "127.0.0.1");
  EXPECT_EQ(c.listen_port, 9848);
  EXPECT_EQ(c.token, "sim-token");
  EXPECT_EQ(c.world.organization_id, "sim-org");
  EXPECT_EQ(c.world.pipelines, 12);
  EXPECT_EQ(c.world.stages, 5);
  EXPECT_EQ(c.world.jobs_per_stage, 4);
  EXPECT_EQ(c.world.seed, 1u);
  EXPECT_EQ(c.world.run_duration_ms, 600000);
  EXPECT_EQ(c.world.run_gap_ms, 300000);
  EXPECT_DOUBLE_EQ(c.world.fail_ratio, 0.2);
  EXPECT_FALSE(c.frozen_clock_ms);
  EXPECT_EQ(c.threads, 64);
  EXPECT_EQ(c.list_style, ListStyle::kToday);
  EXPECT_EQ(c.max_per_page, 30);
  EXPECT_TRUE(c.paging_headers);
  EXPECT_EQ(c.world.never_run, 0);
  EXPECT_EQ(c.faults.retry_after_seconds, 1);
  EXPECT_EQ(c.faults.latency.count(), 0);
}

TEST(ParseArgsTest, AllFlags) {
  SimConfig c;
  std::string error;
  ASSERT_TRUE(Parse({"--web.listen-address=0.0.0.0:0",
                     "--token=abc",
                     "--organization-id=org-1",
                     "--pipelines=3",
                     "--stages=2",
                     "--jobs-per-stage=7",
                     "--seed=42",
                     "--latency=50ms",
                     "--latency-jitter=10ms",
                     "--run-duration=2m",
                     "--run-gap=30s",
                     "--fail-ratio=0.5",
                     "--clock=frozen:1700000000",
                     "--threads=8",
                     "--list-style=2025",
                     "--never-run=2",
                     "--max-per-page=20",
                     "--paging-headers=false",
                     "--fault-5xx=0.1",
                     "--fault-429=0.2",
                     "--retry-after=3",
                     "--fault-malformed=0.3",
                     "--fault-oversized=0.4",
                     "--fault-slow-body=0.5",
                     "--fault-reset=0.6"},
                    &c, &error))
      << error;
  EXPECT_EQ(c.listen_host, "0.0.0.0");
  EXPECT_EQ(c.listen_port, 0);
  EXPECT_EQ(c.token, "abc");
  EXPECT_EQ(c.world.organization_id, "org-1");
  EXPECT_EQ(c.world.pipelines, 3);
  EXPECT_EQ(c.world.stages, 2);
  EXPECT_EQ(c.world.jobs_per_stage, 7);
  EXPECT_EQ(c.world.seed, 42u);
  EXPECT_EQ(c.faults.latency, milliseconds(50));
  EXPECT_EQ(c.faults.latency_jitter, milliseconds(10));
  EXPECT_EQ(c.world.run_duration_ms, 120000);
  EXPECT_EQ(c.world.run_gap_ms, 30000);
  EXPECT_DOUBLE_EQ(c.world.fail_ratio, 0.5);
  EXPECT_EQ(c.frozen_clock_ms, 1700000000000);
  EXPECT_EQ(c.threads, 8);
  EXPECT_EQ(c.list_style, ListStyle::k2025);
  EXPECT_EQ(c.world.never_run, 2);
  EXPECT_EQ(c.max_per_page, 20);
  EXPECT_FALSE(c.paging_headers);
  EXPECT_DOUBLE_EQ(c.faults.status5xx, 0.1);
  EXPECT_DOUBLE_EQ(c.faults.status429, 0.2);
  EXPECT_EQ(c.faults.retry_after_seconds, 3);
  EXPECT_DOUBLE_EQ(c.faults.malformed, 0.3);
  EXPECT_DOUBLE_EQ(c.faults.oversized, 0.4);
  EXPECT_DOUBLE_EQ(c.faults.slow_body, 0.5);
  EXPECT_DOUBLE_EQ(c.faults.reset, 0.6);
}

TEST(ParseArgsTest, TokenFromEnvironmentUnlessFlag) {
  SimConfig c;
  std::string error;
  ASSERT_TRUE(Parse({}, &c, &error, "env-token"));
  EXPECT_EQ(c.token, "env-token");
  ASSERT_TRUE(Parse({"--token=flag-token"}, &c, &error, "env-token"));
  EXPECT_EQ(c.token, "flag-token");
}

TEST(ParseArgsTest, RejectsBadInput) {
  SimConfig c;
  std::string error;
  for (const char* bad :
       {"--nope=1", "--pipelines", "pipelines=3", "--pipelines=x", "--stages=0", "--stages=99",
        "--fail-ratio=1.5", "--fault-5xx=-0.1", "--latency=fast", "--clock=frozen:x",
        "--clock=wall", "--list-style=other", "--web.listen-address=nohost",
        "--web.listen-address=127.0.0.1:70000", "--threads=0", "--token="}) {
    EXPECT_FALSE(Parse({bad}, &c, &error)) << bad;
    EXPECT_FALSE(error.empty());
  }
}

// Durations are read by the exporter's ParseDuration: the same Go-style forms.
TEST(ParseArgsTest, DurationsAreGoStyle) {
  SimConfig c;
  std::string error;
  ASSERT_TRUE(Parse({"--latency=1.5s", "--run-gap=1m30s", "--history=2w"}, &c, &error)) << error;
  EXPECT_EQ(c.faults.latency, milliseconds(1500));
  EXPECT_EQ(c.world.run_gap_ms, 90000);
  EXPECT_EQ(c.world.history_ms, 14 * 86400 * 1000LL);
  EXPECT_FALSE(Parse({"--latency=2h"}, &c, &error));         // at most 1h
  EXPECT_FALSE(Parse({"--run-duration=50ms"}, &c, &error));  // at least 100ms
}

// Every problem of the command line is reported, each naming its flag in the exporter's
// format, not only the first; the config is left as it was.
TEST(ParseArgsTest, ReportsEveryProblem) {
  SimConfig c;
  c.threads = 7;
  std::string error;
  EXPECT_FALSE(
      Parse({"--stages=99", "--pipelines=3", "--nope=1", "--latency=fast", "stray"}, &c, &error));
  EXPECT_EQ(error,
            "flag --stages: needs a whole number from 1 to 20, got \"99\"\n"
            "unknown flag --nope (see --help)\n"
            "flag --latency: invalid duration \"fast\": expected a number (use e.g. 500ms, 10s, "
            "5m, 1h30m)\n"
            "expected --name=value, got \"stray\"\n");
  EXPECT_EQ(c.threads, 7);
}

// --help lists every flag the parser takes.
TEST(ParseArgsTest, UsageListsEveryFlag) {
  const std::string usage = Usage();
  for (const char* flag : {"--web.listen-address=", "--token=", "--pipelines=", "--history=",
                           "--clock=", "--list-style=", "--fault-reset=", "--retry-after="}) {
    EXPECT_NE(usage.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace yfe::sim
