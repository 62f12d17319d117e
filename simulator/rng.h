// Deterministic hashing and pseudo-random numbers for the simulated world.
//
// Everything the simulator generates is a pure function of (seed, pipeline, run
// number, ...), so the same inputs always give byte-identical responses.
#pragma once

#include <cstdint>
#include <string_view>

namespace yfe::sim {

inline constexpr uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

inline constexpr uint64_t HashCombine(uint64_t a, uint64_t b) {
  return SplitMix64(a ^ (SplitMix64(b) + 0x632be59bd9b4e019ULL + (a << 6) + (a >> 2)));
}

// Hash of any number of integers (order matters).
template <typename... Rest>
constexpr uint64_t Hash(uint64_t first, Rest... rest) {
  uint64_t h = SplitMix64(first);
  ((h = HashCombine(h, static_cast<uint64_t>(rest))), ...);
  return h;
}

// FNV-1a; used to turn short tags and request targets into hash inputs.
inline constexpr uint64_t HashString(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

// Small deterministic generator (SplitMix64 stream).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, 1).
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

  // Uniform integer in [0, n); 0 when n <= 0.
  int64_t Below(int64_t n) {
    return n <= 0 ? 0 : static_cast<int64_t>(Next() % static_cast<uint64_t>(n));
  }

 private:
  uint64_t state_;
};

}  // namespace yfe::sim
