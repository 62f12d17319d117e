#include "config/token_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "support/test_support.h"
#include "util/clock.h"
#include "util/log.h"

namespace yfe::config {
namespace {

using namespace std::chrono_literals;

TEST(TokenStore, WithoutAFileTheTokenIsFixedAndRedacted) {
  const std::string token = "pt-FiXeD-0a1b2c3d4e5f6789";
  FakeClock clock;
  TokenStore store({token, "YUNXIAO_TOKEN"}, "", clock);
  EXPECT_EQ(store.Get(), token);
  clock.Advance(1h);
  EXPECT_EQ(store.Get(), token);
  EXPECT_EQ(logging::Redacted("err: " + token).find(token), std::string::npos);
}

TEST(TokenStore, AChangedFileIsReadAtMostOnceASecond) {
  const std::string old_token = "pt-oLd-1111aaaa2222";
  const std::string new_token = "pt-nEw-3333bbbb4444cccc";
  testing::TempDir dir;
  const std::string file = dir.Write("token", old_token + "\n");
  FakeClock clock;
  TokenStore store({old_token, "api.token_file " + file}, file, clock);
  EXPECT_EQ(store.Get(), old_token);

  dir.Write("token", new_token + "\n");
  clock.Advance(999ms);
  EXPECT_EQ(store.Get(), old_token) << "checked again before a second passed";
  clock.Advance(1ms);
  EXPECT_EQ(store.Get(), new_token);
  EXPECT_EQ(logging::Redacted("err: " + new_token).find(new_token), std::string::npos)
      << "the new token is registered for redaction";
  clock.Advance(10s);
  EXPECT_EQ(store.Get(), new_token);
}

TEST(TokenStore, AnUnusableFileKeepsThePreviousTokenUntilItIsFixed) {
  const std::string token = "pt-KePt-5555dddd6666";
  const std::string fixed = "pt-FiXeD-7777eeee8888ffff";
  testing::TempDir dir;
  const std::string file = dir.Write("token", token + "\n");
  FakeClock clock;
  TokenStore store({token, "api.token_file " + file}, file, clock);

  dir.Write("token", "\n");  // empty
  clock.Advance(1s);
  EXPECT_EQ(store.Get(), token);
  dir.Write("token", "pt-\x01-control\n");  // control characters
  clock.Advance(1s);
  EXPECT_EQ(store.Get(), token);
  std::filesystem::remove(file);  // gone (a rotation caught half-way)
  clock.Advance(1s);
  EXPECT_EQ(store.Get(), token);

  dir.Write("token", "  " + fixed + "  \r\n");  // trimmed, as at start-up
  clock.Advance(1s);
  EXPECT_EQ(store.Get(), fixed);
}

TEST(TokenStore, AnUnchangedFileIsNotReadAgain) {
  const std::string token = "pt-SaMe-9999aaaa0000";
  testing::TempDir dir;
  const std::string file = dir.Write("token", token + "\n");
  FakeClock clock;
  // The store holds what the file held at start-up, whatever the source says later: a file
  // whose stamp did not change is not read again.
  TokenStore store({"pt-FrOm-EnV-1234abcd", "api.token_file " + file}, file, clock);
  clock.Advance(5s);
  EXPECT_EQ(store.Get(), "pt-FrOm-EnV-1234abcd");
}

}  // namespace
}  // namespace yfe::config
