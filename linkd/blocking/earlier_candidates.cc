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
  // A record holding two keys of one digest is one member of that block.
  entries.erase(std::unique(entries.begin(), entries.end(),
                            [](const Entry& a, const Entry& b) {
                              return a.block == b.block && a.record == b.record;
                            }),
                entries.end());

  // A member that finds k earlier members reads the block if k <= cap
  // (blocking_index.cc skips blocks with more than the cap), and then
  // pairs with all of them. Pairs are laid out by their later record in two
  // passes over the blocks (count, then fill), each on `threads` threads
  // over whole blocks, so no global sort of the pairs is needed.
  const size_t slices = std::max<size_t>(
      1, std::min<size_t>(static_cast<size_t>(std::max(threads, 1)),
                          entries.size() / 100000 + 1));
  std::vector<size_t> cut(slices + 1, entries.size());
  cut[0] = 0;
  for (size_t t = 1; t < slices; ++t) {
    size_t pos = std::max(cut[t - 1], entries.size() * t / slices);
    while (pos > 0 && pos < entries.size() &&
           entries[pos].block == entries[pos - 1].block) {
      ++pos;
    }
    cut[t] = pos;
  }
  const auto cap = static_cast<size_t>(std::max<int64_t>(max_block_size, 0));
  // Calls emit(later record, first earlier entry, end) for every member
  // that reads its block, in the slice's blocks; returns the skips.
  auto each_member = [&](size_t slice, auto&& emit) {
    int64_t skips = 0;
    for (size_t s = cut[slice]; s < cut[slice + 1];) {
      size_t e = s + 1;
      while (e < cut[slice + 1] && entries[e].block == entries[s].block) ++e;
      for (size_t i = s + 1; i < e; ++i) {
        if (i - s > cap) {
          skips += static_cast<int64_t>(e - i);
          break;
        }
        emit(entries[i].record, s, i);
      }
      s = e;
    }
    return skips;
  };
  // Pass 1: pairs per later record, per slice.
  std::vector<std::vector<uint64_t>> cursor(slices);
  std::vector<int64_t> skips(slices, 0);
  util::ParallelFor(
      slices, static_cast<int>(slices), [&](size_t b, size_t e, size_t) {
        for (size_t t = b; t < e; ++t) {
          cursor[t].assign(n, 0);
          skips[t] =
              each_member(t, [&](uint32_t later, size_t first, size_t end) {
                cursor[t][later] += end - first;
              });
        }
      });
  for (int64_t k : skips) out.oversize_skips += k;
  // Each record's pairs start at raw_offsets[r]; slice t writes after the
  // slices before it.
  std::vector<uint64_t> raw_offsets(n + 1, 0);
  for (size_t r = 0; r < n; ++r) {
    uint64_t at = raw_offsets[r];
    for (size_t t = 0; t < slices; ++t) {
      const uint64_t count = cursor[t][r];
      cursor[t][r] = at;
      at += count;
    }
    raw_offsets[r + 1] = at;
  }
  // Pass 2: fill.
  std::vector<uint32_t> raw(raw_offsets[n]);
  util::ParallelFor(
      slices, static_cast<int>(slices), [&](size_t b, size_t e, size_t) {
        for (size_t t = b; t < e; ++t) {
          each_member(t, [&](uint32_t later, size_t first, size_t end) {
            uint64_t& at = cursor[t][later];
            for (size_t j = first; j < end; ++j) {
              raw[at++] = entries[j].record;
            }
          });
        }
      });
  std::vector<std::vector<uint64_t>>().swap(cursor);
  std::vector<Entry>().swap(entries);

  // Each record's candidates ascending and unique (a pair shares several
  // blocks), then packed.
  std::vector<uint32_t> unique(n, 0);
  util::ParallelForWeighted(
      raw_offsets, threads, [&](size_t b, size_t e, size_t) {
        for (size_t r = b; r < e; ++r) {
          auto first = raw.begin() + raw_offsets[r];
          auto last = raw.begin() + raw_offsets[r + 1];
          std::sort(first, last);
          unique[r] = static_cast<uint32_t>(std::unique(first, last) - first);
        }
      });
  for (size_t r = 0; r < n; ++r)
    out.offsets[r + 1] = out.offsets[r] + unique[r];
  out.earlier.resize(out.offsets[n]);
  for (size_t r = 0; r < n; ++r) {
    std::copy_n(raw.begin() + raw_offsets[r], unique[r],
                out.earlier.begin() + out.offsets[r]);
  }
  return out;
}

}  // namespace linkd::blocking
