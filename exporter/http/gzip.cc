#include "http/gzip.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>

namespace yfe::http {

std::string GzipFast(std::string_view data) {
  z_stream z{};
  // windowBits 15 + 16: gzip wrapper.
  if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  // Expositions compress about 15:1: start small and grow, rather than reserving
  // deflateBound() (more than the input) for every scrape.
  std::string out(std::max<size_t>(4096, data.size() / 8), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    if (z.total_out == out.size()) out.resize(out.size() * 2);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + z.total_out);
    z.avail_out = static_cast<uInt>(out.size() - z.total_out);
    rc = deflate(&z, Z_FINISH);
  }
  out.resize(z.total_out);
  deflateEnd(&z);
  return rc == Z_STREAM_END ? out : std::string();
}

bool AcceptsGzip(std::string_view header) {
  size_t pos = 0;
  while (pos <= header.size()) {
    size_t end = header.find(',', pos);
    if (end == std::string_view::npos) end = header.size();
    std::string_view item = header.substr(pos, end - pos);
    pos = end + 1;
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    std::string_view coding = item.substr(0, item.find(';'));
    while (!coding.empty() && coding.back() == ' ') coding.remove_suffix(1);
    std::string lower;
    for (char c : coding) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower != "gzip" && lower != "*") continue;
    auto q = item.find("q=");
    if (q != std::string_view::npos) {
      std::string_view v = item.substr(q + 2);
      if (v.starts_with('0') && v.find_first_not_of("0.") == std::string_view::npos) continue;
    }
    return true;
  }
  return false;
}

}  // namespace yfe::http
