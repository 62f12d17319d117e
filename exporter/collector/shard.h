// Sharding: which replica collects which pipeline. A stable hash (FNV-1a 64) of the
// pipeline id, modulo the number of replicas, so every replica agrees without talking.
#pragma once

#include <cstdint>
#include <string_view>

namespace yfe::collector {

inline uint64_t StableHash(std::string_view s) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

inline bool InShard(std::string_view pipeline_id, int index, int total) {
  if (total <= 1) return true;
  return StableHash(pipeline_id) % static_cast<uint64_t>(total) == static_cast<uint64_t>(index);
}

}  // namespace yfe::collector
