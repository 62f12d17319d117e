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

}  // namespace
}  // namespace yfe::logging
