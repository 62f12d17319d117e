#include "util/duration.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace yfe {
namespace {

using namespace std::chrono_literals;

TEST(Duration, GoStyle) {
  EXPECT_EQ(*ParseDuration("500ms"), std::chrono::milliseconds(500));
  EXPECT_EQ(*ParseDuration("1m30s"), std::chrono::seconds(90));
  EXPECT_EQ(*ParseDuration("1.5h"), std::chrono::minutes(90));
  EXPECT_EQ(*ParseDuration("0"), std::chrono::seconds(0));
  for (const char* bad : {"", "10", "s", "-1s", "1x", "1e3s", "10 s"}) {
    EXPECT_FALSE(ParseDuration(bad).ok()) << bad;
  }
  EXPECT_EQ(FormatDuration(std::chrono::seconds(90)), "1m30s");
  EXPECT_EQ(FormatDuration(std::chrono::milliseconds(250)), "250ms");
}

TEST(Duration, EveryUnitAndFractions) {
  EXPECT_EQ(*ParseDuration("7ns"), 7ns);
  EXPECT_EQ(*ParseDuration("3us"), 3us);
  EXPECT_EQ(*ParseDuration("3\xC2\xB5s"), 3us);  // µs
  EXPECT_EQ(*ParseDuration("2d"), 48h);
  EXPECT_EQ(*ParseDuration("1w"), 168h);
  EXPECT_EQ(*ParseDuration("0.5s"), 500ms);
  EXPECT_EQ(*ParseDuration("1h2m3s4ms"), 1h + 2min + 3s + 4ms);
  EXPECT_EQ(*ParseDuration("90m"), 90min);  // "m" is minutes, not the start of "ms"
}

TEST(Duration, ErrorsNameTheTextAndTooLargeIsRefused) {
  auto r = ParseDuration("forever");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("\"forever\""), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("use e.g."), std::string::npos) << r.error();
  r = ParseDuration("300000w");  // more nanoseconds than int64_t holds
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("too large"), std::string::npos) << r.error();
}

TEST(Duration, FormatIsReadBackAsTheSameDuration) {
  EXPECT_EQ(FormatDuration(0s), "0s");
  EXPECT_EQ(FormatDuration(2h), "2h");
  EXPECT_EQ(FormatDuration(1h + 30s), "1h30s");
  EXPECT_EQ(FormatDuration(1500us), "1500000ns");
  for (std::chrono::nanoseconds d : {std::chrono::nanoseconds(0s), std::chrono::nanoseconds(250ms),
                                     std::chrono::nanoseconds(3723s), std::chrono::nanoseconds(7ns),
                                     std::chrono::nanoseconds(49h)}) {
    EXPECT_EQ(*ParseDuration(FormatDuration(d)), d) << FormatDuration(d);
  }
}

}  // namespace
}  // namespace yfe
