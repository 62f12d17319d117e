// Body: what /metrics serves. Made once per cache generation by the collector and shared,
// immutable, by every request that serves it, so concurrent scrapes of an unchanged cache
// cost neither a copy nor a compression each. A Body offers its bytes in one or more
// encodings; the server opens a BodyReader per response and reads it front to back.
//
// Thread-safe: a Body is immutable; each BodyReader belongs to one response (one thread at
// a time) and keeps its Body alive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace yfe::http {

enum class Encoding { kIdentity, kGzip };

class BodyReader {
 public:
  virtual ~BodyReader() = default;
  // The exact number of bytes Read() will deliver in total.
  virtual uint64_t Size() const = 0;
  // Copies up to `max` bytes starting at `pos` into `buf`; returns how many (0 at the end).
  // Calls come in order: `pos` is the sum of what earlier calls returned.
  virtual size_t Read(uint64_t pos, char* buf, size_t max) = 0;
};

class Body : public std::enable_shared_from_this<Body> {
 public:
  virtual ~Body() = default;
  // A reader of the body in `encoding`, or nullptr when this body does not offer it (the
  // server then falls back to identity). Never throws.
  virtual std::unique_ptr<BodyReader> Open(Encoding encoding) const = 0;
};

// A body held as one string: identity as is, gzip compressed once, on first demand.
std::shared_ptr<const Body> MakeStringBody(std::string text);

}  // namespace yfe::http
