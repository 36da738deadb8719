// linkd::matcher Dice kernel: the Dice coefficient of two 1024-bit name Bloom
// filters (crypto/ENCODING.md section 6), computed with popcount on sixteen
// 64-bit words. Uses the POPCNT instruction when the build targets it
// (-march=x86-64-v2, the default; LINKD_X86_64_V2=OFF gives a portable
// bit-twiddling fallback with identical results).
//
// All functions here are pure and thread-safe.
#ifndef LINKD_MATCHER_DICE_H_
#define LINKD_MATCHER_DICE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "crypto/encoder.h"

namespace linkd::matcher {

inline constexpr size_t kFilterWords = crypto::kBloomBits / 64;
static_assert(kFilterWords == 16, "the kernel is unrolled for 1024 bits");

// A 1024-bit Bloom filter in the kernel's layout: bit p of the encoding
// (byte p/8, LSB first) is bit p%64 of words[p/64]. `popcount` caches the
// number of set bits; every function below relies on it being right, so
// build filters with the functions of this header (or call
// UpdatePopcount() after writing `words`).
struct Filter {
  uint64_t words[kFilterWords];
  uint32_t popcount;
};

// Number of set bits of `x`.
inline uint32_t Popcount64(uint64_t x) {
#if defined(__POPCNT__) || defined(__aarch64__)
  return static_cast<uint32_t>(__builtin_popcountll(x));
#else
  // Portable SWAR popcount (no POPCNT in the target instruction set, where
  // __builtin_popcountll would become a libgcc call).
  x = x - ((x >> 1) & 0x5555555555555555ULL);
  x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
  x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
  return static_cast<uint32_t>((x * 0x0101010101010101ULL) >> 56);
#endif
}

// The kernel DiceOneToMany uses on this CPU: "avx512-vpopcntdq" (chosen at
// run time where the CPU has it), else "popcnt" or "portable" as compiled
// (the single-pair functions of this header always use the latter).
const char* DiceKernelName();

// Recomputes filter->popcount from filter->words. `filter` must not be null.
void UpdatePopcount(Filter* filter);

// The filter of a 128-byte encoding (a linkd.v1.EncodedIdentity name field).
// Returns INVALID_ARGUMENT if `bytes` is not exactly 128 bytes long (the
// message names the length, never the content).
absl::StatusOr<Filter> FilterFromBytes(absl::string_view bytes);

// The filter of an encoder's in-memory Bloom filter.
Filter FilterFromBloom(const crypto::BloomFilter& bloom);

// popcount(a AND b).
// Unrolled by hand into four independent sums: -O2 neither unrolls the
// loop nor breaks the serial add chain, which costs a third of throughput.
inline uint32_t AndPopcount(const Filter& a, const Filter& b) {
  const uint64_t* x = a.words;
  const uint64_t* y = b.words;
  const uint32_t n0 = Popcount64(x[0] & y[0]) + Popcount64(x[4] & y[4]) +
                      Popcount64(x[8] & y[8]) + Popcount64(x[12] & y[12]);
  const uint32_t n1 = Popcount64(x[1] & y[1]) + Popcount64(x[5] & y[5]) +
                      Popcount64(x[9] & y[9]) + Popcount64(x[13] & y[13]);
  const uint32_t n2 = Popcount64(x[2] & y[2]) + Popcount64(x[6] & y[6]) +
                      Popcount64(x[10] & y[10]) + Popcount64(x[14] & y[14]);
  const uint32_t n3 = Popcount64(x[3] & y[3]) + Popcount64(x[7] & y[7]) +
                      Popcount64(x[11] & y[11]) + Popcount64(x[15] & y[15]);
  return (n0 + n1) + (n2 + n3);
}

// Dice coefficient 2|A&B| / (|A|+|B|) in [0, 1]; 0 when both are empty.
// Equal to crypto::Dice() on the same encodings.
inline double Dice(const Filter& a, const Filter& b) {
  const uint32_t total = a.popcount + b.popcount;
  if (total == 0) return 0.0;
  return 2.0 * AndPopcount(a, b) / total;
}

// Exactly Dice(a, b) >= threshold (the same floating-point expression, so
// a pair on the threshold is never lost to rounding).
inline bool DiceAtLeast(const Filter& a, const Filter& b, double threshold) {
  return Dice(a, b) >= threshold;
}

// One against many: scores[i] = Dice(query, candidates[i]) for every i,
// rounded to float. `scores` must have room for candidates.size() values.
void DiceOneToMany(const Filter& query, absl::Span<const Filter> candidates,
                   float* scores);

// Appends to `*indices` (not cleared) the index of every candidate with
// Dice(query, candidate) >= threshold, in increasing order, and returns how
// many were appended. `indices` must not be null.
size_t DiceOneToManyAtLeast(const Filter& query,
                            absl::Span<const Filter> candidates,
                            double threshold, std::vector<uint32_t>* indices);

}  // namespace linkd::matcher

#endif  // LINKD_MATCHER_DICE_H_
