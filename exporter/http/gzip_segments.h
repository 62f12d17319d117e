// Segmented gzip: a gzip member assembled from independently compressed pieces, as pigz
// does. Each Segment is a raw deflate stream of its own text that ends byte-aligned with a
// sync flush (no final block), so segments joined in any order form one valid deflate
// stream; the last piece ends with the final block. The gzip header is fixed and the trailer
// (CRC-32 and length) is computed from the pieces' CRCs with crc32_combine, never from the
// text. The result is one ordinary gzip stream for any decoder (Go, curl, Python, zlib).
//
//   auto head = std::make_shared<SegmentList>();
//   head->Append(std::make_shared<const Segment>(DeflateSegment("a 1\n", 6)));
//   head->Append(std::make_shared<const Segment>(DeflateSegment("b 2\n", 6)));
//   auto body = MakeSegmentedBody(head, DeflateSegment("c 3\n", 6, /*last=*/true));
//   // body->Open(kGzip) reads the gzip of "a 1\nb 2\nc 3\n"; Open(kIdentity) inflates it.
//
// Thread-safe: Segments and SegmentLists are immutable once shared; a body's readers each
// keep the body alive.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/body.h"

namespace yfe::http {

struct Segment {
  std::string deflated;  // raw deflate; a sync flush at the end, or the final block if last
  uint32_t crc = 0;      // CRC-32 of the text
  uint64_t size = 0;     // bytes of text
};

// Compresses `text` as an independent segment (it refers to nothing before its start).
// `last`: end with the final block; such a segment can only close a stream. Never throws
// except std::bad_alloc.
Segment DeflateSegment(std::string_view text, int level, bool last = false);

// Appends the text of one segment to `out`; false if the data is not a valid segment.
bool InflateSegment(const Segment& segment, std::string& out);

// Segments in output order with their combined CRC and sizes. Build, then share as const.
struct SegmentList {
  std::vector<std::shared_ptr<const Segment>> segments;
  uint32_t crc = 0;
  uint64_t size = 0;      // text bytes
  uint64_t deflated = 0;  // compressed bytes

  void Append(std::shared_ptr<const Segment> s);
};

// A Body whose gzip encoding is `head`'s segments then `tail` (which must end with the
// final block: DeflateSegment(..., last = true)) between a computed header and trailer.
// Its identity encoding inflates the same segments as it goes: no second copy of the text.
// `head` is shared (one per cache generation); `tail` is this body's own (e.g. the scrape
// duration).
class SegmentedBody final : public Body {
 public:
  SegmentedBody(std::shared_ptr<const SegmentList> head, Segment tail);
  std::unique_ptr<BodyReader> Open(Encoding encoding) const override;

  const std::shared_ptr<const SegmentList>& head() const { return head_; }
  const Segment& tail() const { return tail_; }
  uint64_t TextSize() const { return head_->size + tail_.size; }
  uint64_t GzipSize() const;
  uint32_t Crc() const { return crc_; }

 private:
  const std::shared_ptr<const SegmentList> head_;
  const Segment tail_;
  const uint32_t crc_;
};

std::shared_ptr<const SegmentedBody> MakeSegmentedBody(std::shared_ptr<const SegmentList> head,
                                                       Segment tail);

// Everything a reader of `body` in `encoding` delivers ("" if the encoding is not offered).
std::string ReadAll(const Body& body, Encoding encoding);

}  // namespace yfe::http
