#include "http/body.h"

#include <gtest/gtest.h>

#include <string>

#include "support/test_support.h"

namespace yfe::http {
namespace {

std::string ReadAll(BodyReader& r, size_t chunk) {
  std::string out;
  std::string buf(chunk, '\0');
  for (size_t n; (n = r.Read(out.size(), buf.data(), chunk)) > 0;) out.append(buf, 0, n);
  return out;
}

TEST(StringBody, IdentityReadsTheTextInAnyChunkSize) {
  const std::string text = "yunxiao_flow_up 1\n" + std::string(10000, 'x');
  auto body = MakeStringBody(text);
  auto reader = body->Open(Encoding::kIdentity);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(reader->Size(), text.size());
  EXPECT_EQ(ReadAll(*reader, 7), text);
  EXPECT_EQ(ReadAll(*reader, 1 << 16), text);
  char c = 0;
  EXPECT_EQ(reader->Read(text.size(), &c, 1), 0u);
  EXPECT_EQ(reader->Read(text.size() + 100, &c, 1), 0u);
}

TEST(StringBody, GzipIsAValidMemberOfTheSameText) {
  const std::string text = "yunxiao_flow_up 1\n" + std::string(10000, 'y');
  auto body = MakeStringBody(text);
  auto gz = body->Open(Encoding::kGzip);
  ASSERT_NE(gz, nullptr);
  EXPECT_LT(gz->Size(), text.size());
  const std::string bytes = ReadAll(*gz, 333);
  EXPECT_EQ(bytes.size(), gz->Size());
  EXPECT_EQ(testing::Gunzip(bytes), text);
  // Compressed once: a second reader sees the same bytes.
  EXPECT_EQ(ReadAll(*body->Open(Encoding::kGzip), 4096), bytes);
}

TEST(StringBody, AReaderKeepsTheBodyAlive) {
  auto body = MakeStringBody("kept alive\n");
  auto reader = body->Open(Encoding::kIdentity);
  body.reset();  // the last handle besides the reader's own
  EXPECT_EQ(ReadAll(*reader, 4), "kept alive\n");
}

}  // namespace
}  // namespace yfe::http
