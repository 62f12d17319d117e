#include "sim_config.h"

#include <gtest/gtest.h>

#include <vector>

namespace yfe::sim {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

TEST(ParseDurationTest, GoStyle) {
  EXPECT_EQ(ParseDuration("0"), nanoseconds(0));
  EXPECT_EQ(ParseDuration("50ms"), milliseconds(50));
  EXPECT_EQ(ParseDuration("2s"), milliseconds(2000));
  EXPECT_EQ(ParseDuration("1.5s"), milliseconds(1500));
  EXPECT_EQ(ParseDuration("1m30s"), milliseconds(90000));
  EXPECT_EQ(ParseDuration("10m"), milliseconds(600000));
  EXPECT_EQ(ParseDuration("1h"), milliseconds(3600000));
  EXPECT_EQ(ParseDuration("250us"), nanoseconds(250000));
  EXPECT_EQ(ParseDuration("10ns"), nanoseconds(10));
  EXPECT_FALSE(ParseDuration(""));
  EXPECT_FALSE(ParseDuration("5"));
  EXPECT_FALSE(ParseDuration("ms"));
  EXPECT_FALSE(ParseDuration("5d"));
  EXPECT_FALSE(ParseDuration("-5s"));
}

bool Parse(std::vector<const char*> args, SimConfig* c, std::string* error,
           const char* env = nullptr) {
  args.insert(args.begin(), "flow-simulator");
  bool help = false;
  return ParseArgs(static_cast<int>(args.size()), args.data(), env, c, &help, error);
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

}  // namespace
}  // namespace yfe::sim
