#include "linkd/matcher/dice.h"

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
  for (size_t i = 0; i < kFilterWords; ++i) f.words[i] = LoadWord(bytes + 8 * i);
  UpdatePopcount(&f);
  return f;
}

}  // namespace

const char* DiceKernelName() {
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
  const uint32_t qp = query.popcount;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const Filter& c = candidates[i];
    const uint32_t total = qp + c.popcount;
    const uint32_t common = AndPopcount(query, c);
    scores[i] = total == 0 ? 0.0f
                           : static_cast<float>(2.0 * common / total);
  }
}

size_t DiceOneToManyAtLeast(const Filter& query,
                            absl::Span<const Filter> candidates,
                            double threshold, std::vector<uint32_t>* indices) {
  const size_t before = indices->size();
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (DiceAtLeast(query, candidates[i], threshold)) {
      indices->push_back(static_cast<uint32_t>(i));
    }
  }
  return indices->size() - before;
}

}  // namespace linkd::matcher
