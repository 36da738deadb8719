// linkd::blocking in memory: for records in arrival order, the earlier
// records each one shares a block with, exactly as incremental linking over
// the RocksDB index (blocking_index.h) would find them if the records
// arrived one by one in that order: record b sees record a < b in a block
// whenever the block held at most `max_block_size` members before b came.
//
// Used by bulk linking (initial loads, re-linking) and by model estimation,
// where reading the RocksDB index record by record would cost a prefix scan
// per key. Blocks are grouped by a 64-bit digest of (rule, hash); the hashes
// are BLAKE2b outputs, so two blocks share a digest with probability about
// 2^-64 per pair of blocks (and would only add candidates, never lose one).
#ifndef LINKD_BLOCKING_EARLIER_CANDIDATES_H_
#define LINKD_BLOCKING_EARLIER_CANDIDATES_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "linkd/blocking/blocking_keys.h"

namespace linkd::blocking {

// Compressed rows of records [first, first + records()): record b's earlier
// candidates are earlier[offsets[b - first] .. offsets[b - first + 1]),
// ascending and unique.
struct EarlierCandidates {
  size_t first = 0;
  std::vector<uint64_t> offsets;  // records() + 1 entries
  std::vector<uint32_t> earlier;
  // (record, block) pairs where the block already held more than
  // max_block_size members, so the record did not read it.
  int64_t oversize_skips = 0;

  size_t records() const { return offsets.empty() ? 0 : offsets.size() - 1; }
  absl::Span<const uint32_t> of(size_t b) const {
    return absl::MakeConstSpan(earlier.data() + offsets[b - first],
                               offsets[b - first + 1] - offsets[b - first]);
  }
};

// The shared blocks of a run of records, from which each record's earlier
// candidates are found a range of records at a time: a bulk run holds the
// blocks (about 4 bytes per key of a block with two or more members) and
// one range's pairs, never all the pairs of a million records. At most
// 2^32 - 1 records and blocks.
class RunBlocks {
 public:
  // `keys[i]` are the blocking keys of record i (any order; duplicates are
  // ignored). At most 2^32 - 1 records. Sorts on up to `threads` threads
  // (>= 1), holding about 16 bytes per key meanwhile.
  RunBlocks(absl::Span<const std::vector<BlockingKey>> keys, int threads);

  size_t records() const { return records_; }
  // The candidates of records [first, last), first <= last <= records().
  // Thread-safe (const).
  EarlierCandidates Earlier(size_t first, size_t last, int64_t max_block_size,
                            int threads) const;

 private:
  size_t records_ = 0;
  // Block k's members ascending: members_[starts_[k] .. starts_[k + 1]).
  std::vector<uint32_t> members_;
  std::vector<uint64_t> starts_;
  // Record r's blocks: record_blocks_[record_starts_[r] ..
  // record_starts_[r + 1]).
  std::vector<uint32_t> record_blocks_;
  std::vector<uint64_t> record_starts_;
};

// All records' candidates at once: RunBlocks(keys, threads).Earlier(0, n,
// ...). Memory: about 16 bytes per key plus 8 per candidate pair.
EarlierCandidates FindEarlierCandidates(
    absl::Span<const std::vector<BlockingKey>> keys, int64_t max_block_size,
    int threads);

}  // namespace linkd::blocking

#endif  // LINKD_BLOCKING_EARLIER_CANDIDATES_H_
