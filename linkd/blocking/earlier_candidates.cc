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

RunBlocks::RunBlocks(absl::Span<const std::vector<BlockingKey>> keys,
                     int threads)
    : records_(keys.size()) {
  size_t total = 0;
  for (const auto& k : keys) total += k.size();
  std::vector<Entry> entries;
  entries.reserve(total);
  for (size_t r = 0; r < records_; ++r) {
    for (const BlockingKey& k : keys[r]) {
      entries.push_back(Entry{BlockDigest(k), static_cast<uint32_t>(r)});
    }
  }
  util::ParallelSort(&entries, threads);
  // A record holding two keys of one digest is one member of that block.
  entries.erase(std::unique(entries.begin(), entries.end(),
                            [](const Entry& a, const Entry& b) {
                              return a.block == b.block && a.record == b.record;
                            }),
                entries.end());
  // Blocks of one member pair with nothing: left out.
  size_t kept = 0;
  for (size_t s = 0; s < entries.size();) {
    size_t e = s + 1;
    while (e < entries.size() && entries[e].block == entries[s].block) ++e;
    if (e - s > 1) kept += e - s;
    s = e;
  }
  members_.reserve(kept);
  starts_.push_back(0);
  std::vector<uint64_t> count(records_ + 1, 0);
  for (size_t s = 0; s < entries.size();) {
    size_t e = s + 1;
    while (e < entries.size() && entries[e].block == entries[s].block) ++e;
    if (e - s > 1) {
      for (size_t i = s; i < e; ++i) {
        members_.push_back(entries[i].record);
        ++count[entries[i].record + 1];
      }
      starts_.push_back(members_.size());
    }
    s = e;
  }
  std::vector<Entry>().swap(entries);
  // Each record's blocks, by counting.
  for (size_t r = 0; r < records_; ++r) count[r + 1] += count[r];
  record_starts_ = count;
  record_blocks_.resize(members_.size());
  for (size_t k = 0; k + 1 < starts_.size(); ++k) {
    for (uint64_t m = starts_[k]; m < starts_[k + 1]; ++m) {
      record_blocks_[count[members_[m]]++] = static_cast<uint32_t>(k);
    }
  }
}

EarlierCandidates RunBlocks::Earlier(size_t first, size_t last,
                                     int64_t max_block_size,
                                     int threads) const {
  EarlierCandidates out;
  out.first = first;
  const size_t n = last - first;
  // A member that finds k earlier members reads the block if k <= cap
  // (blocking_index.cc skips blocks with more than the cap), and then
  // pairs with all of them. Each slice of records gathers its rows, and the
  // slices are joined in order.
  const auto cap = static_cast<size_t>(std::max<int64_t>(max_block_size, 0));
  struct Slice {
    size_t begin = 0;
    std::vector<uint64_t> lengths;
    std::vector<uint32_t> earlier;
    int64_t skips = 0;
  };
  const size_t slices = std::max<size_t>(
      1, std::min<size_t>(static_cast<size_t>(std::max(threads, 1)),
                          n / 1000 + 1));
  std::vector<Slice> parts(slices);
  // Slices of about equal work: a record's blocks hold, on average, a
  // number of earlier members growing with its position.
  std::vector<uint64_t> work(n + 1, 0);
  for (size_t i = 0; i < n; ++i) {
    const size_t r = first + i;
    work[i + 1] =
        work[i] + (record_starts_[r + 1] - record_starts_[r]) * (r + 1);
  }
  util::ParallelForWeighted(
      work, static_cast<int>(slices), [&](size_t b, size_t e, size_t slice) {
        Slice& part = parts[slice];
        part.begin = b;
        part.lengths.reserve(e - b);
        for (size_t r = first + b; r < first + e; ++r) {
          const size_t at = part.earlier.size();
          for (uint64_t j = record_starts_[r]; j < record_starts_[r + 1]; ++j) {
            const uint64_t k = record_blocks_[j];
            const uint32_t* s = members_.data() + starts_[k];
            const uint32_t* e_ = members_.data() + starts_[k + 1];
            const uint32_t* me =
                std::lower_bound(s, e_, static_cast<uint32_t>(r));
            const auto before = static_cast<size_t>(me - s);
            if (before > cap) {
              ++part.skips;
            } else {
              part.earlier.insert(part.earlier.end(), s, me);
            }
          }
          // A pair sharing several blocks is one candidate.
          auto row = part.earlier.begin() + static_cast<std::ptrdiff_t>(at);
          std::sort(row, part.earlier.end());
          part.earlier.erase(std::unique(row, part.earlier.end()),
                             part.earlier.end());
          part.lengths.push_back(part.earlier.size() - at);
        }
      });
  std::sort(parts.begin(), parts.end(),
            [](const Slice& a, const Slice& b) { return a.begin < b.begin; });
  out.offsets.assign(n + 1, 0);
  size_t total = 0;
  for (const Slice& part : parts) total += part.earlier.size();
  out.earlier.reserve(total);
  size_t r = 0;
  for (Slice& part : parts) {
    for (uint64_t length : part.lengths) {
      out.offsets[r + 1] = out.offsets[r] + length;
      ++r;
    }
    out.earlier.insert(out.earlier.end(), part.earlier.begin(),
                       part.earlier.end());
    out.oversize_skips += part.skips;
    std::vector<uint32_t>().swap(part.earlier);
  }
  return out;
}

EarlierCandidates FindEarlierCandidates(
    absl::Span<const std::vector<BlockingKey>> keys, int64_t max_block_size,
    int threads) {
  return RunBlocks(keys, threads)
      .Earlier(0, keys.size(), max_block_size, threads);
}

}  // namespace linkd::blocking
