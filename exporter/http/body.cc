#include "http/body.h"

#include <algorithm>
#include <cstring>
#include <mutex>

#include "http/gzip.h"

namespace yfe::http {
namespace {

class StringReader final : public BodyReader {
 public:
  StringReader(std::shared_ptr<const Body> owner, const std::string& bytes)
      : owner_(std::move(owner)), bytes_(bytes) {}
  uint64_t Size() const override { return bytes_.size(); }
  size_t Read(uint64_t pos, char* buf, size_t max) override {
    if (pos >= bytes_.size()) return 0;
    size_t n = std::min<size_t>(max, bytes_.size() - pos);
    std::memcpy(buf, bytes_.data() + pos, n);
    return n;
  }

 private:
  std::shared_ptr<const Body> owner_;  // keeps bytes_ alive
  const std::string& bytes_;
};

class StringBody final : public Body {
 public:
  explicit StringBody(std::string text) : text_(std::move(text)) {}
  std::unique_ptr<BodyReader> Open(Encoding encoding) const override {
    if (encoding == Encoding::kIdentity) {
      return std::make_unique<StringReader>(shared_from_this(), text_);
    }
    std::call_once(gzip_once_, [this] { gzip_ = GzipFast(text_); });
    if (gzip_.empty()) return nullptr;
    return std::make_unique<StringReader>(shared_from_this(), gzip_);
  }

 private:
  const std::string text_;
  mutable std::once_flag gzip_once_;
  mutable std::string gzip_;
};

}  // namespace

std::shared_ptr<const Body> MakeStringBody(std::string text) {
  return std::make_shared<const StringBody>(std::move(text));
}

}  // namespace yfe::http
