// segment_bench: how the exporter's segmented gzip compares with compressing the whole
// exposition, by group size and zlib level (docs/performance.md, "Segments"). Reads an
// exposition saved by `scrape_bench --save-exposition=FILE`; splits it into metric families
// and, within each family, into the lines of each pipeline (by pipeline_id, in order of
// appearance), then compresses groups of G consecutive pipelines per family as the
// collector does.
//
//   build/bench/segment_bench FILE
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "http/gzip.h"
#include "http/gzip_segments.h"

using Clock = std::chrono::steady_clock;

namespace {

struct Family {
  std::string header;
  std::vector<std::string> per_pipeline;  // indexed by pipeline order; "" if none
  std::string other;                      // lines without pipeline_id
};

std::string PipelineId(const std::string& line) {
  auto p = line.find("pipeline_id=\"");
  if (p == std::string::npos) return "";
  p += 13;
  return line.substr(p, line.find('"', p) - p);
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: segment_bench EXPOSITION_FILE\n");
    return 2;
  }
  std::ifstream in(argv[1]);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  std::vector<Family> families;
  std::map<std::string, size_t> order;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    line += '\n';
    if (line.rfind("# HELP", 0) == 0) families.emplace_back();
    if (families.empty()) families.emplace_back();
    auto& f = families.back();
    if (line[0] == '#') {
      f.header += line;
      continue;
    }
    std::string id = PipelineId(line);
    if (id.empty()) {
      f.other += line;
      continue;
    }
    size_t i = order.emplace(id, order.size()).first->second;
    if (f.per_pipeline.size() <= i) f.per_pipeline.resize(i + 1);
    f.per_pipeline[i] += line;
  }
  const size_t n = order.size();
  std::printf("# %zu bytes, %zu families, %zu pipelines\n", text.size(), families.size(), n);
  for (int level : {1, 6}) {
    auto t = Clock::now();
    std::string gz = level == 1 ? yfe::http::GzipFast(text) : "";
    if (level == 1) {
      std::printf("whole level=1 bytes=%zu ratio=%.1f ms=%.1f\n", gz.size(),
                  static_cast<double>(text.size()) / gz.size(), Ms(Clock::now() - t));
    }
    t = Clock::now();
    auto whole = yfe::http::DeflateSegment(text, level, true);
    std::printf("whole-raw level=%d bytes=%zu ratio=%.1f ms=%.1f\n", level, whole.deflated.size(),
                static_cast<double>(text.size()) / whole.deflated.size(), Ms(Clock::now() - t));
  }
  for (int level : {1, 3, 4, 6, 9}) {
    for (size_t g : {size_t{1}, size_t{8}, size_t{32}, size_t{64}, size_t{128}, size_t{1024}}) {
      size_t bytes = 0, segments = 0;
      auto t = Clock::now();
      for (const auto& f : families) {
        for (size_t first = 0; first < f.per_pipeline.size(); first += g) {
          std::string s;
          for (size_t i = first; i < std::min(f.per_pipeline.size(), first + g); ++i) {
            s += f.per_pipeline[i];
          }
          if (s.empty()) continue;
          bytes += yfe::http::DeflateSegment(s, level).deflated.size();
          ++segments;
        }
      }
      std::printf("group=%zu level=%d segments=%zu bytes=%zu ratio=%.1f ms=%.1f\n", g, level,
                  segments, bytes, static_cast<double>(text.size()) / bytes, Ms(Clock::now() - t));
    }
  }
  // The per-pipeline stored text (all of one pipeline's run families, level 1).
  size_t stored = 0;
  auto t = Clock::now();
  for (size_t i = 0; i < n; ++i) {
    std::string s;
    for (const auto& f : families) {
      if (i < f.per_pipeline.size()) s += f.per_pipeline[i];
    }
    stored += yfe::http::DeflateSegment(s, 1).deflated.size();
  }
  std::printf("stored-per-pipeline level=1 bytes=%zu ratio=%.1f ms=%.1f\n", stored,
              static_cast<double>(text.size()) / stored, Ms(Clock::now() - t));
  return 0;
}
