#include "support/exposition_check.h"

#include <gtest/gtest.h>

namespace yfe::testing {
namespace {

TEST(CheckExposition, AcceptsValidText) {
  EXPECT_EQ(CheckExposition("# HELP m help\n# TYPE m gauge\nm{a=\"x\\\"\\n\\\\\"} 1\nm 2.5\n"
                            "n +Inf\n"),
            "");
}

TEST(CheckExposition, FindsEachKindOfProblem) {
  EXPECT_NE(CheckExposition("m{a=\"x\"} 1\nm{a=\"x\"} 2\n"), "");  // duplicate series
  EXPECT_NE(CheckExposition("m{a=\"x\\t\"} 1\n"), "");             // bad escape
  EXPECT_NE(CheckExposition("m{a=\"x} 1\n"), "");                  // unterminated
  EXPECT_NE(CheckExposition("1m 1\n"), "");                        // bad name
  EXPECT_NE(CheckExposition("m{a-b=\"x\"} 1\n"), "");              // bad label name
  EXPECT_NE(CheckExposition("m one\n"), "");                       // bad value
  EXPECT_NE(CheckExposition("m{a=\"\xff\"} 1\n"), "");             // not UTF-8
  EXPECT_NE(CheckExposition("m 1"), "");                           // no final newline
  EXPECT_NE(CheckExposition("# TYPE m gauge\n# TYPE m gauge\n"), "");
  EXPECT_NE(CheckExposition("m{a=\"1\",a=\"2\"} 1\n"), "");
}

}  // namespace
}  // namespace yfe::testing
