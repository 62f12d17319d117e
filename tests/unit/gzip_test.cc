#include "http/gzip.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include "support/test_support.h"

namespace yfe::http {
namespace {

using yfe::testing::Gunzip;

TEST(Gzip, RoundTrips) {
  std::string text;
  for (int i = 0; i < 10000; ++i) text += "yunxiao_flow_up{a=\"" + std::to_string(i) + "\"} 1\n";
  std::string gz = GzipFast(text);
  ASSERT_FALSE(gz.empty());
  EXPECT_LT(gz.size(), text.size() / 5);
  EXPECT_EQ(Gunzip(gz), text);
  EXPECT_EQ(Gunzip(GzipFast("")), "");
}

TEST(Gzip, AcceptEncoding) {
  EXPECT_TRUE(AcceptsGzip("gzip"));
  EXPECT_TRUE(AcceptsGzip("deflate, gzip;q=1.0, *;q=0.5"));
  EXPECT_TRUE(AcceptsGzip("GZIP"));
  EXPECT_TRUE(AcceptsGzip("*"));
  EXPECT_FALSE(AcceptsGzip(""));
  EXPECT_FALSE(AcceptsGzip("identity"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0"));
  EXPECT_FALSE(AcceptsGzip("br, deflate"));
  EXPECT_FALSE(AcceptsGzip("x-gzip2"));
}

}  // namespace
}  // namespace yfe::http
