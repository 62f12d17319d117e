#include "http/shared_render.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <string_view>
#include <vector>

namespace yfe::http {
namespace {

// Bytes base[0, prefix) + middle + base[suffix_at, end): a text that shares all but its
// middle with `base`. A flat text is prefix = size, middle empty.
class PatchedText {
 public:
  PatchedText(std::shared_ptr<const std::string> base, size_t prefix, std::string middle,
              size_t suffix_at)
      : base_(std::move(base)),
        prefix_(prefix),
        middle_(std::move(middle)),
        suffix_at_(suffix_at) {}
  uint64_t Size() const { return prefix_ + middle_.size() + (base_->size() - suffix_at_); }
  std::string_view Part(int i) const {
    if (i == 0) return std::string_view(*base_).substr(0, prefix_);
    if (i == 1) return middle_;
    return std::string_view(*base_).substr(suffix_at_);
  }

 private:
  std::shared_ptr<const std::string> base_;
  size_t prefix_;
  std::string middle_;
  size_t suffix_at_;
};

// gzip (level 1, as GzipFast) of the parts, streamed: no contiguous copy of the text.
std::string GzipParts(const PatchedText& t) {
  z_stream z{};
  if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  std::string out(std::max<uint64_t>(4096, t.Size() / 8), '\0');
  auto deflate_some = [&](int flush) {
    if (z.total_out == out.size()) out.resize(out.size() * 2);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + z.total_out);
    z.avail_out = static_cast<uInt>(out.size() - z.total_out);
    return deflate(&z, flush);
  };
  int rc = Z_OK;
  for (int i = 0; i < 3 && rc == Z_OK; ++i) {
    std::string_view part = t.Part(i);
    while (!part.empty() && rc == Z_OK) {
      const size_t chunk = std::min<size_t>(part.size(), 1u << 30);
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(part.data()));
      z.avail_in = static_cast<uInt>(chunk);
      while (z.avail_in > 0 && rc == Z_OK) rc = deflate_some(Z_NO_FLUSH);
      part.remove_prefix(chunk);
    }
  }
  while (rc == Z_OK) rc = deflate_some(Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return rc == Z_STREAM_END ? out : std::string();
}

class BytesReader final : public BodyReader {
 public:
  BytesReader(std::shared_ptr<const Body> owner, const std::string& bytes)
      : owner_(std::move(owner)), bytes_(bytes) {}
  uint64_t Size() const override { return bytes_.size(); }
  size_t Read(uint64_t pos, char* buf, size_t max) override {
    if (pos >= bytes_.size()) return 0;
    size_t n = std::min<size_t>(max, bytes_.size() - pos);
    std::memcpy(buf, bytes_.data() + pos, n);
    return n;
  }

 private:
  std::shared_ptr<const Body> owner_;
  const std::string& bytes_;
};

class PatchedReader final : public BodyReader {
 public:
  PatchedReader(std::shared_ptr<const Body> owner, const PatchedText& text)
      : owner_(std::move(owner)), text_(text) {}
  uint64_t Size() const override { return text_.Size(); }
  size_t Read(uint64_t pos, char* buf, size_t max) override {
    size_t done = 0;
    uint64_t start = 0;
    for (int i = 0; i < 3 && done < max; ++i) {
      std::string_view part = text_.Part(i);
      const uint64_t at = pos + done;
      if (at < start + part.size()) {
        const size_t off = static_cast<size_t>(at - start);
        const size_t n = std::min(max - done, part.size() - off);
        std::memcpy(buf + done, part.data() + off, n);
        done += n;
      }
      start += part.size();
    }
    return done;
  }

 private:
  std::shared_ptr<const Body> owner_;
  const PatchedText& text_;
};

class PatchedBody final : public Body {
 public:
  explicit PatchedBody(PatchedText text) : text_(std::move(text)) {}
  std::unique_ptr<BodyReader> Open(Encoding encoding) const override {
    if (encoding == Encoding::kIdentity) {
      return std::make_unique<PatchedReader>(shared_from_this(), text_);
    }
    std::call_once(gzip_once_, [this] { gzip_ = GzipParts(text_); });
    if (gzip_.empty()) return nullptr;
    return std::make_unique<BytesReader>(shared_from_this(), gzip_);
  }

 private:
  const PatchedText text_;
  mutable std::once_flag gzip_once_;
  mutable std::string gzip_;
};

}  // namespace

std::string BodyText(const Body& body) {
  std::string out;
  auto reader = body.Open(Encoding::kIdentity);
  if (!reader) return out;
  out.resize(reader->Size());
  uint64_t pos = 0;
  while (pos < out.size()) {
    size_t n = reader->Read(pos, out.data() + pos, out.size() - pos);
    if (n == 0) break;
    pos += n;
  }
  out.resize(pos);
  return out;
}

std::shared_ptr<const Body> SharedRender::Make(std::string text) {
  std::shared_ptr<const std::string> base;
  {
    std::lock_guard lock(mu_);
    base = base_.lock();
  }
  if (base) {
    // Longest common prefix and suffix (not overlapping) of the base and the new text.
    const size_t n = std::min(base->size(), text.size());
    const auto [p, q] = std::mismatch(text.begin(), text.begin() + n, base->begin());
    const size_t prefix = static_cast<size_t>(p - text.begin());
    size_t suffix = 0;
    const size_t room = n - prefix;
    while (suffix < room && text[text.size() - 1 - suffix] == (*base)[base->size() - 1 - suffix]) {
      ++suffix;
    }
    const size_t middle = text.size() - prefix - suffix;
    if (middle <= text.size() / 4) {
      return std::make_shared<const PatchedBody>(
          PatchedText(base, prefix, text.substr(prefix, middle), base->size() - suffix));
    }
  }
  auto flat = std::make_shared<const std::string>(std::move(text));
  {
    std::lock_guard lock(mu_);
    base_ = flat;
  }
  return std::make_shared<const PatchedBody>(PatchedText(flat, flat->size(), "", flat->size()));
}

std::shared_ptr<const Body> SharedRender::Get() {
  std::unique_lock lock(mu_);
  if (flight_) {
    auto joined = flight_;
    cv_.wait(lock, [&] { return joined->done; });
    if (joined->error) std::rethrow_exception(joined->error);
    return joined->body;
  }
  auto flight = flight_ = std::make_shared<Flight>();
  ++renders_;
  lock.unlock();
  try {
    std::string text = render_();
    flight->body = text.empty() ? nullptr : Make(std::move(text));
  } catch (...) {
    flight->error = std::current_exception();
  }
  lock.lock();
  flight->done = true;
  flight_.reset();
  cv_.notify_all();
  if (flight->error) std::rethrow_exception(flight->error);
  return flight->body;
}

long SharedRender::Renders() const {
  std::lock_guard lock(mu_);
  return renders_;
}

}  // namespace yfe::http
