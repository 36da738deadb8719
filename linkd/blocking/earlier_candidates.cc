#include "linkd/blocking/earlier_candidates.h"

#include <algorithm>
#include <cstring>

#include "linkd/util/parallel.h"

namespace linkd::blocking {
namespace {

struct Entry {
  uint64_t block;
  uint32_t record;
  friend bool operator<(const Entry& a, const Entry& b) {
    return a.block != b.block ? a.block < b.block : a.record < b.record;
  }
};

uint64_t BlockDigest(const BlockingKey& key) {
  uint64_t h;
  std::memcpy(&h, key.hash.data(), sizeof(h));
  return h ^ (static_cast<uint64_t>(key.rule) * 0x9E3779B97F4A7C15ull);
}

}  // namespace

EarlierCandidates FindEarlierCandidates(
    absl::Span<const std::vector<BlockingKey>> keys, int64_t max_block_size,
    int threads) {
  EarlierCandidates out;
  const size_t n = keys.size();
  out.offsets.assign(n + 1, 0);

  size_t total = 0;
  for (const auto& k : keys) total += k.size();
  std::vector<Entry> entries;
  entries.reserve(total);
  for (size_t r = 0; r < n; ++r) {
    for (const BlockingKey& k : keys[r]) {
      entries.push_back(Entry{BlockDigest(k), static_cast<uint32_t>(r)});
    }
  }
  util::ParallelSort(&entries, threads);

  // A member that finds k earlier members reads the block if k <= cap
  // (blocking_index.cc skips blocks with more than the cap), and then
  // pairs with all of them.
  std::vector<uint64_t> pairs;  // (later << 32) | earlier
  for (size_t s = 0; s < entries.size();) {
    size_t e = s + 1;
    while (e < entries.size() && entries[e].block == entries[s].block) ++e;
    int64_t before = 0;
    for (size_t i = s; i < e; ++i) {
      if (i > s && entries[i].record == entries[i - 1].record) continue;
      if (before > max_block_size) {
        ++out.oversize_skips;
      } else {
        for (size_t j = s; j < i; ++j) {
          if (j > s && entries[j].record == entries[j - 1].record) continue;
          pairs.push_back(static_cast<uint64_t>(entries[i].record) << 32 |
                          entries[j].record);
        }
      }
      ++before;
    }
    s = e;
  }
  std::vector<Entry>().swap(entries);

  util::ParallelSort(&pairs, threads);
  pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
  out.earlier.resize(pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) {
    out.earlier[i] = static_cast<uint32_t>(pairs[i]);
    ++out.offsets[(pairs[i] >> 32) + 1];
  }
  for (size_t b = 0; b < n; ++b) out.offsets[b + 1] += out.offsets[b];
  return out;
}

}  // namespace linkd::blocking
