#include "http/gzip_segments.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace yfe::http {
namespace {

// RFC 1952 header: deflate, no name/time/extra, OS unknown.
constexpr std::array<unsigned char, 10> kGzipHeader = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};

uint32_t Crc(std::string_view text) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // crc32 takes uInt lengths: feed large texts in pieces.
  while (!text.empty()) {
    uInt n = static_cast<uInt>(std::min<size_t>(text.size(), 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(text.data()), n);
    text.remove_prefix(n);
  }
  return static_cast<uint32_t>(crc);
}

uint32_t Combine(uint32_t a, uint32_t b, uint64_t b_size) {
  return static_cast<uint32_t>(crc32_combine(a, b, static_cast<z_off_t>(b_size)));
}

class GzipReader final : public BodyReader {
 public:
  explicit GzipReader(std::shared_ptr<const SegmentedBody> body) : body_(std::move(body)) {
    const uint64_t isize = body_->TextSize();
    const uint32_t crc = body_->Crc();
    for (int i = 0; i < 4; ++i) trailer_[i] = static_cast<char>((crc >> (8 * i)) & 0xff);
    for (int i = 0; i < 4; ++i) trailer_[4 + i] = static_cast<char>((isize >> (8 * i)) & 0xff);
    size_ = body_->GzipSize();
  }
  uint64_t Size() const override { return size_; }
  size_t Read(uint64_t pos, char* buf, size_t max) override {
    if (pos != pos_) Seek(pos);
    size_t done = 0;
    while (done < max) {
      std::string_view p = Piece(piece_);
      if (p.data() == nullptr) break;  // past the trailer
      if (offset_ >= p.size()) {
        ++piece_;
        offset_ = 0;
        continue;
      }
      size_t n = std::min(max - done, p.size() - offset_);
      std::memcpy(buf + done, p.data() + offset_, n);
      done += n;
      offset_ += n;
    }
    pos_ += done;
    return done;
  }

 private:
  // Piece 0 is the header, 1..n the head's segments, n+1 the tail, n+2 the trailer.
  std::string_view Piece(size_t i) const {
    const auto& segs = body_->head()->segments;
    if (i == 0) return {reinterpret_cast<const char*>(kGzipHeader.data()), kGzipHeader.size()};
    if (i <= segs.size()) return segs[i - 1]->deflated;
    if (i == segs.size() + 1) return body_->tail().deflated;
    if (i == segs.size() + 2) return {trailer_, sizeof trailer_};
    return {};
  }
  void Seek(uint64_t pos) {  // not needed for sequential reads; kept correct anyway
    piece_ = 0;
    offset_ = 0;
    pos_ = 0;
    for (std::string_view p = Piece(0); p.data() != nullptr; p = Piece(++piece_)) {
      if (pos - pos_ < p.size()) {
        offset_ = pos - pos_;
        pos_ = pos;
        return;
      }
      pos_ += p.size();
    }
  }

  const std::shared_ptr<const SegmentedBody> body_;
  char trailer_[8];
  uint64_t size_ = 0;
  size_t piece_ = 0;
  size_t offset_ = 0;
  uint64_t pos_ = 0;
};

// Inflates segment after segment straight into the caller's buffer.
class IdentityReader final : public BodyReader {
 public:
  explicit IdentityReader(std::shared_ptr<const SegmentedBody> body) : body_(std::move(body)) {
    ok_ = inflateInit2(&z_, -MAX_WBITS) == Z_OK;
  }
  ~IdentityReader() override {
    if (ok_) inflateEnd(&z_);
  }
  uint64_t Size() const override { return body_->TextSize(); }
  size_t Read(uint64_t pos, char* buf, size_t max) override {
    if (!ok_ || pos != pos_) return 0;  // sequential only: the contract of BodyReader
    size_t done = 0;
    while (done < max && !finished_) {
      if (!open_) {
        const Segment* s = SegmentAt(index_);
        if (s == nullptr) {
          finished_ = true;
          break;
        }
        inflateReset(&z_);
        z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(s->deflated.data()));
        z_.avail_in = static_cast<uInt>(s->deflated.size());
        open_ = true;
      }
      z_.next_out = reinterpret_cast<Bytef*>(buf + done);
      z_.avail_out = static_cast<uInt>(std::min<size_t>(max - done, 1u << 30));
      const uInt before = z_.avail_out;
      int rc = inflate(&z_, Z_SYNC_FLUSH);
      done += before - z_.avail_out;
      if (rc == Z_STREAM_END || (z_.avail_in == 0 && z_.avail_out > 0)) {
        open_ = false;  // this segment is fully out
        ++index_;
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        ok_ = false;  // corrupt: end the body short; the server drops the connection
        break;
      }
    }
    pos_ += done;
    return done;
  }

 private:
  const Segment* SegmentAt(size_t i) const {
    const auto& segs = body_->head()->segments;
    if (i < segs.size()) return segs[i].get();
    if (i == segs.size()) return &body_->tail();
    return nullptr;
  }

  const std::shared_ptr<const SegmentedBody> body_;
  z_stream z_{};
  bool ok_ = false;
  bool open_ = false;
  bool finished_ = false;
  size_t index_ = 0;
  uint64_t pos_ = 0;
};

// A deflate state per thread and level, reset between segments: deflateInit2 allocates
// about 270 KB, above the mmap threshold, so a fresh state per segment would cost an mmap,
// page faults and an munmap each time (thousands per scrape that changes many pipelines).
z_stream& Deflater(int level) {
  struct States {
    std::array<z_stream, 10> z{};
    std::array<bool, 10> ready{};
    ~States() {
      for (size_t i = 0; i < z.size(); ++i) {
        if (ready[i]) deflateEnd(&z[i]);
      }
    }
  };
  thread_local States states;
  level = std::clamp(level, 0, 9);
  z_stream& z = states.z[level];
  if (!states.ready[level]) {
    // windowBits -15: raw deflate, no zlib or gzip wrapper.
    if (deflateInit2(&z, level, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      throw std::bad_alloc();
    }
    states.ready[level] = true;
  } else {
    deflateReset(&z);
  }
  return z;
}

}  // namespace

Segment DeflateSegment(std::string_view text, int level, bool last) {
  Segment s;
  s.crc = Crc(text);
  s.size = text.size();
  z_stream& z = Deflater(level);
  s.deflated.resize(deflateBound(&z, static_cast<uLong>(std::min<size_t>(text.size(), 1u << 30))) +
                    16);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  int rc = Z_OK;
  size_t fed = 0;
  while (true) {
    if (z.avail_in == 0 && fed < text.size()) {
      uInt n = static_cast<uInt>(std::min<size_t>(text.size() - fed, 1u << 30));
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data() + fed));
      z.avail_in = n;
      fed += n;
    }
    if (z.total_out + 64 > s.deflated.size()) s.deflated.resize(s.deflated.size() * 2);
    z.next_out = reinterpret_cast<Bytef*>(s.deflated.data() + z.total_out);
    z.avail_out = static_cast<uInt>(std::min<size_t>(s.deflated.size() - z.total_out, 1u << 30));
    const bool all_in = fed == text.size();
    rc = deflate(&z, all_in ? (last ? Z_FINISH : Z_SYNC_FLUSH) : Z_NO_FLUSH);
    if (last && rc == Z_STREAM_END) break;
    if (!last && all_in && z.avail_in == 0 && z.avail_out > 0 && rc == Z_OK) break;
    if (rc != Z_OK && rc != Z_BUF_ERROR) break;
  }
  s.deflated.resize(z.total_out);
  s.deflated.shrink_to_fit();
  return s;
}

bool InflateSegment(const Segment& segment, std::string& out) {
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) return false;
  const size_t start = out.size();
  // One spare byte: a segment that inflates to more than it claims is refused.
  out.resize(start + segment.size + 1);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(segment.deflated.data()));
  z.avail_in = static_cast<uInt>(segment.deflated.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data() + start);
  z.avail_out = static_cast<uInt>(segment.size + 1);
  int rc = inflate(&z, Z_SYNC_FLUSH);
  const bool ok = (rc == Z_OK || rc == Z_STREAM_END) && z.avail_in == 0 && z.avail_out == 1;
  inflateEnd(&z);
  out.resize(ok ? start + segment.size : start);
  return ok;
}

void SegmentList::Append(std::shared_ptr<const Segment> s) {
  crc = segments.empty() && size == 0 ? s->crc : Combine(crc, s->crc, s->size);
  size += s->size;
  deflated += s->deflated.size();
  segments.push_back(std::move(s));
}

SegmentedBody::SegmentedBody(std::shared_ptr<const SegmentList> head, Segment tail)
    : head_(std::move(head)),
      tail_(std::move(tail)),
      crc_(head_->size == 0 ? tail_.crc : Combine(head_->crc, tail_.crc, tail_.size)) {}

uint64_t SegmentedBody::GzipSize() const {
  return kGzipHeader.size() + head_->deflated + tail_.deflated.size() + 8;
}

std::unique_ptr<BodyReader> SegmentedBody::Open(Encoding encoding) const {
  auto self = std::static_pointer_cast<const SegmentedBody>(shared_from_this());
  if (encoding == Encoding::kGzip) return std::make_unique<GzipReader>(std::move(self));
  return std::make_unique<IdentityReader>(std::move(self));
}

std::shared_ptr<const SegmentedBody> MakeSegmentedBody(std::shared_ptr<const SegmentList> head,
                                                       Segment tail) {
  return std::make_shared<const SegmentedBody>(std::move(head), std::move(tail));
}

std::string ReadAll(const Body& body, Encoding encoding) {
  auto reader = body.Open(encoding);
  if (!reader) return {};
  std::string out(reader->Size(), '\0');
  uint64_t pos = 0;
  while (pos < out.size()) {
    size_t n = reader->Read(pos, out.data() + pos, out.size() - pos);
    if (n == 0) break;
    pos += n;
  }
  out.resize(pos);
  return out;
}

}  // namespace yfe::http
