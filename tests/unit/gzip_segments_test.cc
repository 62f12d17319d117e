#include "http/gzip_segments.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <random>

#include "support/test_support.h"

namespace yfe::http {
namespace {

using yfe::testing::Gunzip;

std::string Lines(std::mt19937& rng, size_t n) {
  std::string text;
  for (size_t i = 0; i < n; ++i) {
    text += "yunxiao_flow_job_duration_seconds{pipeline_id=\"" + std::to_string(rng() % 100000) +
            "\",stage=\"s" + std::to_string(rng() % 5) + "\"} " + std::to_string(rng() % 1000) +
            "\n";
  }
  return text;
}

// Reads like the server does, in chunks of `chunk` bytes.
std::string ReadChunked(const Body& body, Encoding e, size_t chunk) {
  auto r = body.Open(e);
  std::string out;
  std::string buf(chunk, '\0');
  while (true) {
    size_t n = r->Read(out.size(), buf.data(), chunk);
    if (n == 0) break;
    out.append(buf, 0, n);
  }
  EXPECT_EQ(out.size(), r->Size());
  return out;
}

TEST(GzipSegments, RandomSubsetsJoinIntoOneGzipStream) {
  std::mt19937 rng(11);
  std::vector<std::string> texts;
  std::vector<std::shared_ptr<const Segment>> segs;
  for (int i = 0; i < 40; ++i) {
    // Sizes from empty to well over the 32 KiB window, so back-references would cross
    // segment starts if segments were not independent.
    texts.push_back(Lines(rng, i % 7 == 0 ? 0 : rng() % 900));
    segs.push_back(std::make_shared<const Segment>(DeflateSegment(texts.back(), 1 + i % 9)));
  }
  for (int trial = 0; trial < 25; ++trial) {
    auto list = std::make_shared<SegmentList>();
    std::string want;
    size_t n = rng() % segs.size();
    for (size_t k = 0; k < n; ++k) {
      size_t i = rng() % segs.size();  // repeats allowed: any order, any subset
      list->Append(segs[i]);
      want += texts[i];
    }
    std::string tail_text = trial % 5 == 0 ? "" : Lines(rng, 3);
    want += tail_text;
    auto body = MakeSegmentedBody(list, DeflateSegment(tail_text, 1, true));
    std::string gz = ReadAll(*body, Encoding::kGzip);
    ASSERT_EQ(gz.size(), body->GzipSize());
    EXPECT_EQ(Gunzip(gz), want) << "trial " << trial;
    EXPECT_EQ(ReadAll(*body, Encoding::kIdentity), want) << "trial " << trial;
    EXPECT_EQ(body->Crc(), crc32(0, reinterpret_cast<const Bytef*>(want.data()),
                                 static_cast<uInt>(want.size())));
    EXPECT_EQ(ReadChunked(*body, Encoding::kGzip, 1 + trial * 37), gz);
    EXPECT_EQ(ReadChunked(*body, Encoding::kIdentity, 1 + trial * 53), want);
  }
}

TEST(GzipSegments, EmptyBody) {
  auto body = MakeSegmentedBody(std::make_shared<SegmentList>(), DeflateSegment("", 1, true));
  EXPECT_EQ(Gunzip(ReadAll(*body, Encoding::kGzip)), "");
  EXPECT_EQ(ReadAll(*body, Encoding::kIdentity), "");
}

TEST(GzipSegments, LargeSegment) {
  std::mt19937 rng(3);
  std::string text = Lines(rng, 200000);  // about 15 MB
  auto list = std::make_shared<SegmentList>();
  list->Append(std::make_shared<const Segment>(DeflateSegment(text, 1)));
  auto body = MakeSegmentedBody(list, DeflateSegment("x 1\n", 1, true));
  EXPECT_EQ(Gunzip(ReadAll(*body, Encoding::kGzip)), text + "x 1\n");
  EXPECT_LT(body->GzipSize(), text.size() / 3);
}

TEST(GzipSegments, InflateSegmentChecksItsSize) {
  Segment s = DeflateSegment("abc abc abc\n", 6);
  std::string out = "keep:";
  ASSERT_TRUE(InflateSegment(s, out));
  EXPECT_EQ(out, "keep:abc abc abc\n");
  Segment longer = s;
  longer.size += 1;
  EXPECT_FALSE(InflateSegment(longer, out));
  Segment shorter = s;
  shorter.size -= 1;
  EXPECT_FALSE(InflateSegment(shorter, out));
  Segment garbage = s;
  garbage.deflated = "\xff\xff\xff\xff";
  EXPECT_FALSE(InflateSegment(garbage, out));
  EXPECT_EQ(out, "keep:abc abc abc\n");
}

}  // namespace
}  // namespace yfe::http
