#include "http/gzip.h"

#include <gtest/gtest.h>
#include <zlib.h>

namespace yfe::http {
namespace {

std::string Gunzip(const std::string& in) {
  z_stream z{};
  inflateInit2(&z, 15 + 16);
  std::string out(in.size() * 50 + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = inflate(&z, Z_FINISH);
  out.resize(z.total_out);
  inflateEnd(&z);
  return rc == Z_STREAM_END ? out : "<error>";
}

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
