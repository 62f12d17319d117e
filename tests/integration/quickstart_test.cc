// The first five minutes: README.md's quick-start commands, followed literally, one by one,
// against the simulator. A new step in the README that this test cannot follow fails it.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "support/harness.h"

namespace yfe::testing {
namespace {

constexpr const char* kBinary = "build/exporter/yunxiao-flow-exporter";

// The first ```sh block after `heading`, one command per line.
std::vector<std::string> CommandsAfter(const std::string& text, const std::string& heading) {
  std::vector<std::string> out;
  auto at = text.find(heading);
  if (at == std::string::npos) return out;
  auto open = text.find("```sh\n", at);
  if (open == std::string::npos) return out;
  open += 6;
  std::istringstream block(text.substr(open, text.find("```", open) - open));
  for (std::string line; std::getline(block, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// Step 2's edits, as README says: the organization id, the pipelines to watch and, for a
// region edition, api.endpoint (the simulator plays one).
std::string EditAsTheReadmeSays(std::string config, const std::string& endpoint) {
  auto replace = [&config](const std::string& from, const std::string& to) {
    auto at = config.find(from);
    EXPECT_NE(at, std::string::npos) << "config.example.yaml no longer has: " << from;
    if (at != std::string::npos) config.replace(at, from.size(), to);
  };
  replace("endpoint: https://openapi-rdc.aliyuncs.com", "endpoint: " + endpoint);
  replace("organization_id: \"60d54f3daccf2bbd6659f3ad\"", "organization_id: \"sim-org\"");
  replace("id: \"1234567\"", "id: \"1000001\"");
  replace("id: \"2345678\"", "id: \"1000002\"");
  return config;
}

TEST(QuickStart, FollowingTheReadmeLiterallyWorks) {
  const std::string readme = ReadFile(std::string(YFE_SOURCE_DIR) + "/README.md");
  const auto commands = CommandsAfter(readme, "## Pointing it at your organization");
  ASSERT_FALSE(commands.empty()) << "README.md has no quick-start command block";

  Simulator sim({.pipelines = 3, .frozen = true});
  TempDir work;
  std::string env;  // the exported variables, for the commands that follow
  std::map<std::string, std::string> env_map;
  std::vector<std::string> done;
  std::unique_ptr<Process> exporter;
  for (const std::string& command : commands) {
    SCOPED_TRACE(command);
    if (command.starts_with("export YUNXIAO_TOKEN=")) {
      // The user's own token stands where the README has its placeholder.
      env = "YUNXIAO_TOKEN='" + std::string(kSimToken) + "' ";
      env_map["YUNXIAO_TOKEN"] = kSimToken;
      done.push_back("token");
    } else if (command == "cp config.example.yaml config.yaml") {
      std::string out;
      ASSERT_EQ(RunCommand("cp '" + std::string(YFE_SOURCE_DIR) + "/config.example.yaml' '" +
                               work.path() + "/config.yaml'",
                           &out),
                0)
          << out;
      const std::string copied = ReadFile(work.path() + "/config.yaml");
      work.Write("config.yaml", EditAsTheReadmeSays(copied, sim.Endpoint()));
      done.push_back("config");
    } else if (command.starts_with(kBinary)) {
      const std::string args = command.substr(std::string(kBinary).size());
      if (args.find("--config.check") != std::string::npos ||
          args.find("--api.check") != std::string::npos) {
        std::string out;
        const int code = RunCommand("cd '" + work.path() + "' && env -u YUNXIAO_TOKEN " + env +
                                        "timeout 60 " + YFE_EXPORTER_BIN + args,
                                    &out);
        EXPECT_EQ(code, 0) << out;
        EXPECT_EQ(out.find(kSimToken), std::string::npos) << out;
        done.push_back(args.find("--api.check") != std::string::npos ? "api.check"
                                                                     : "config.check");
      } else {
        // Run it. Only the listen address differs: :9847 may be taken on a test machine.
        ASSERT_EQ(args, " --config.file=config.yaml");
        exporter = std::make_unique<Process>(
            std::vector<std::string>{YFE_EXPORTER_BIN,
                                     "--config.file=" + work.path() + "/config.yaml",
                                     "--web.listen-address=127.0.0.1:0"},
            env_map);
        done.push_back("run");
      }
    } else {
      ADD_FAILURE() << "this test does not know how to follow the README step: " << command;
    }
  }
  EXPECT_EQ(done,
            (std::vector<std::string>{"token", "config", "config.check", "api.check", "run"}));
  ASSERT_TRUE(exporter);
  const int port = exporter->WaitForPort("listening on 127.0.0.1:");
  ASSERT_GT(port, 0) << exporter->Stderr();
  HttpResult scraped;
  EXPECT_TRUE(Eventually(
      [&] {
        scraped = HttpGet("127.0.0.1", port, "/metrics");
        return Sum(scraped.body, "yunxiao_flow_fetch_success") == 2;
      },
      std::chrono::seconds(30), std::chrono::milliseconds(200)))
      << scraped.body << exporter->Stderr();
  ASSERT_EQ(scraped.status, 200);
  for (const char* id : {"1000001", "1000002"}) {
    EXPECT_EQ(
        Value(scraped.body, "yunxiao_flow_fetch_success", {"pipeline_id=\"" + std::string(id)}), 1)
        << id;
  }
  EXPECT_EQ(scraped.body.find(kSimToken), std::string::npos);
}

}  // namespace
}  // namespace yfe::testing
