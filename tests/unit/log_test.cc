#include "util/log.h"

#include <gtest/gtest.h>

namespace yfe::logging {
namespace {

TEST(Log, Logfmt) {
  EXPECT_EQ(FormatLine(Format::kLogfmt, Level::kWarn, "T", "fetch failed",
                       {{"pipeline_id", "12"}, {"err", "HTTP 500: \"x\""}}),
            "ts=T level=warn msg=\"fetch failed\" pipeline_id=12 err=\"HTTP 500: \\\"x\\\"\"\n");
}

TEST(Log, Json) {
  EXPECT_EQ(FormatLine(Format::kJson, Level::kInfo, "T", "m", {{"k", "a\nb"}}),
            "{\"ts\":\"T\",\"level\":\"info\",\"msg\":\"m\",\"k\":\"a\\nb\"}\n");
}

TEST(Log, ParsesLevelsAndFormats) {
  EXPECT_TRUE(ParseLevel("debug").ok());
  EXPECT_FALSE(ParseLevel("verbose").ok());
  EXPECT_TRUE(ParseFormat("json").ok());
  EXPECT_FALSE(ParseFormat("xml").ok());
}

// The replacement text must not be searched again: a secret that is part of the
// placeholder used to loop forever while holding the log mutex (audit finding 11).
TEST(Log, RedactionOfAPlaceholderLikeSecretTerminates) {
  RegisterSecret("redacted");
  RegisterSecret("dacted>");
  std::string out = Redacted("timeout: redacted, again redacted");
  EXPECT_EQ(out.find("timeout: redacted"), std::string::npos) << out;
  EXPECT_NE(out.find("<redacted>"), std::string::npos) << out;
}

// Error messages quote at most 60 or 64 characters: a cut echo of a long token is still
// the token (audit finding 10b).
TEST(Log, TruncatedEchoesAreRedacted) {
  const std::string token = "pt-TRUNCATEDTOKEN-0123456789abcdefghijklmnopqrstuvwxyz0123456789AB";
  RegisterSecret(token);
  std::string echo = "\"api.max_retries\" must be a number, got \"" + token.substr(0, 60) + "\"";
  std::string out = Redacted(echo);
  EXPECT_EQ(out.find(token.substr(0, 8)), std::string::npos) << out;
  EXPECT_NE(out.find("must be a number"), std::string::npos) << out;
}

// A secret with a quote or a backslash is written escaped; that form is caught too.
TEST(Log, EscapedEchoesAreRedacted) {
  const std::string token = "pt-ESC\"APED\\TOKEN-42";
  RegisterSecret(token);
  std::string line = FormatLine(Format::kJson, Level::kInfo, "T", "m", {{"v", token}});
  EXPECT_NE(line.find("ESC\\\"APED"), std::string::npos) << line;  // the escaped form
  std::string out = Redacted(line);
  EXPECT_EQ(out.find("APED"), std::string::npos) << out;
  out = Redacted(FormatLine(Format::kLogfmt, Level::kInfo, "T", "m", {{"v", token}}));
  EXPECT_EQ(out.find("APED"), std::string::npos) << out;
}

}  // namespace
}  // namespace yfe::logging
