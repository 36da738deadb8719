#include "linkd/matcher/dice.h"

#include <algorithm>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define LINKD_DICE_HAVE_AVX512 1
#endif

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace linkd::matcher {
namespace {

// Little-endian assembly, whatever the host byte order: bit p of the
// encoding is byte p/8, LSB first.
uint64_t LoadWord(const uint8_t* p) {
  uint64_t w = 0;
  for (int i = 7; i >= 0; --i) w = (w << 8) | p[i];
  return w;
}

Filter FromRaw(const uint8_t* bytes) {
  Filter f;
  for (size_t i = 0; i < kFilterWords; ++i)
    f.words[i] = LoadWord(bytes + 8 * i);
  UpdatePopcount(&f);
  return f;
}

// The kernels compute popcount(query AND candidate) for a chunk; the
// public functions turn counts into scores exactly as Dice() does.
void CommonScalar(const Filter& query, const Filter* candidates, size_t n,
                  uint32_t* common) {
  for (size_t i = 0; i < n; ++i) common[i] = AndPopcount(query, candidates[i]);
}

#ifdef LINKD_DICE_HAVE_AVX512
// GCC 12's AVX-512 intrinsics start from _mm256_undefined_si256() and trip
// -Wmaybe-uninitialized (a false positive in the system header).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// One query against many with AVX-512 VPOPCNTDQ (Ice Lake, Zen 4 and
// later): a 1024-bit filter is two zmm registers, so the query stays in
// registers and each candidate costs two loads, two ANDs, two vector
// popcounts and one reduction. Chosen at run time, so the binary still runs
// on any x86-64-v2 CPU.
__attribute__((target("avx512f,avx512vpopcntdq"))) void CommonAvx512(
    const Filter& query, const Filter* candidates, size_t n, uint32_t* common) {
  const __m512i q0 = _mm512_loadu_si512(query.words);
  const __m512i q1 = _mm512_loadu_si512(query.words + 8);
  for (size_t i = 0; i < n; ++i) {
    const __m512i a = _mm512_popcnt_epi64(
        _mm512_and_si512(q0, _mm512_loadu_si512(candidates[i].words)));
    const __m512i b = _mm512_popcnt_epi64(
        _mm512_and_si512(q1, _mm512_loadu_si512(candidates[i].words + 8)));
    common[i] =
        static_cast<uint32_t>(_mm512_reduce_add_epi64(_mm512_add_epi64(a, b)));
  }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

bool HaveAvx512Popcount() {
  static const bool have = __builtin_cpu_supports("avx512f") &&
                           __builtin_cpu_supports("avx512vpopcntdq");
  return have;
}
#endif

void Common(const Filter& query, const Filter* candidates, size_t n,
            uint32_t* common) {
#ifdef LINKD_DICE_HAVE_AVX512
  if (HaveAvx512Popcount()) {
    CommonAvx512(query, candidates, n, common);
    return;
  }
#endif
  CommonScalar(query, candidates, n, common);
}

constexpr size_t kChunk = 256;

}  // namespace

const char* DiceKernelName() {
#ifdef LINKD_DICE_HAVE_AVX512
  if (HaveAvx512Popcount()) return "avx512-vpopcntdq";
#endif
#if defined(__POPCNT__) || defined(__aarch64__)
  return "popcnt";
#else
  return "portable";
#endif
}

void UpdatePopcount(Filter* filter) {
  uint32_t n = 0;
  for (size_t i = 0; i < kFilterWords; ++i) n += Popcount64(filter->words[i]);
  filter->popcount = n;
}

absl::StatusOr<Filter> FilterFromBytes(absl::string_view bytes) {
  if (bytes.size() != crypto::kBloomBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("name filter: expected ", crypto::kBloomBytes,
                     " bytes, got ", bytes.size()));
  }
  return FromRaw(reinterpret_cast<const uint8_t*>(bytes.data()));
}

Filter FilterFromBloom(const crypto::BloomFilter& bloom) {
  return FromRaw(bloom.data());
}

void DiceOneToMany(const Filter& query, absl::Span<const Filter> candidates,
                   float* scores) {
  uint32_t common[kChunk];
  for (size_t base = 0; base < candidates.size(); base += kChunk) {
    const size_t n = std::min(kChunk, candidates.size() - base);
    const Filter* c = candidates.data() + base;
    Common(query, c, n, common);
    for (size_t i = 0; i < n; ++i) {
      const uint32_t total = query.popcount + c[i].popcount;
      // Single precision: the scores are floats, and divss is faster.
      scores[base + i] = total == 0 ? 0.0f
                                    : 2.0f * static_cast<float>(common[i]) /
                                          static_cast<float>(total);
    }
  }
}

size_t DiceOneToManyAtLeast(const Filter& query,
                            absl::Span<const Filter> candidates,
                            double threshold, std::vector<uint32_t>* indices) {
  const size_t before = indices->size();
  uint32_t common[kChunk];
  for (size_t base = 0; base < candidates.size(); base += kChunk) {
    const size_t n = std::min(kChunk, candidates.size() - base);
    const Filter* c = candidates.data() + base;
    Common(query, c, n, common);
    for (size_t i = 0; i < n; ++i) {
      const uint32_t total = query.popcount + c[i].popcount;
      // The expression of Dice(), so the result equals DiceAtLeast().
      const double dice = total == 0 ? 0.0 : 2.0 * common[i] / total;
      if (dice >= threshold)
        indices->push_back(static_cast<uint32_t>(base + i));
    }
  }
  return indices->size() - before;
}

}  // namespace linkd::matcher
