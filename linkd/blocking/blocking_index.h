// linkd::blocking index: the blocking keys of every indexed record, kept in
// RocksDB, and candidate generation from it (DESIGN.md section 4).
//
// Layout (keys from linkd/store/key_codec.h):
//   Cf::kBlocks  (rule u8, block hash, record key)        -> "" (empty)
// so the members of a block are one prefix scan. The record key is
// store::RecordKey(source, record_id). Entries are written into the caller's
// WriteBatch, so the index changes atomically with the record it describes.
// There are no per-block counters: a block's size is found by reading it,
// at most one member past the cap, which costs less than writing a counter
// with every entry (an index write is the hot path of bulk linking).
//
// Oversize blocks: Candidates skips (and counts) every block with more than
// CandidateLimits::max_block_size members besides the query; their members
// are still indexed, so raising the cap later needs no re-index.
#ifndef LINKD_BLOCKING_BLOCKING_INDEX_H_
#define LINKD_BLOCKING_BLOCKING_INDEX_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "linkd/blocking/blocking_keys.h"
#include "linkd/store/store.h"
#include "linkd/v1/record.pb.h"

namespace linkd::blocking {

struct CandidateLimits {
  // Blocks with more members than this are skipped (and reported). Must be
  // >= 1.
  int64_t max_block_size = 1000;
  // Stop after this many distinct candidates (0: no limit); the result is
  // then marked truncated. Blocks are read rule by rule in Rule order, so
  // identifier rules come first.
  size_t max_candidates = 0;
};

// One candidate record and the rules under which it shares a block with the
// query.
struct Candidate {
  std::string record_key;  // store::RecordKey(source, record_id)
  RuleMask rules = 0;
};

struct CandidateResult {
  // Sorted by record_key; never contains the excluded key.
  std::vector<Candidate> candidates;
  int blocks_read = 0;          // non-empty blocks scanned
  int blocks_oversize = 0;      // blocks skipped for exceeding the cap
  RuleMask oversize_rules = 0;  // rules of the skipped blocks
  bool truncated = false;       // max_candidates reached
};

// Per-rule statistics of the index (never reveals which block is which).
struct RuleStats {
  int64_t blocks = 0;            // blocks with at least one member
  int64_t entries = 0;           // sum of members over blocks
  int64_t largest_block = 0;     // members of the largest block
  int64_t oversize_blocks = 0;   // blocks over the cap passed to Stats
  int64_t oversize_entries = 0;  // members of those blocks
};
struct IndexStats {
  // Indexed by Rule value (index 0 unused).
  std::array<RuleStats, kMaxRule + 1> rules{};
  RuleStats total;
};

// The blocking index over a Store.
//
// Thread-safety: Candidates and Stats are thread-safe and may run alongside
// writers. Add/Remove/Update only add operations to the caller's batch; they
// read nothing, and are thread-safe as long as each batch is built by one
// thread. The index stays right only if every record is added once, and
// removed or updated from exactly the identity it was indexed with: the
// caller (the linker's single writer) guarantees that.
class BlockingIndex {
 public:
  // Neither pointer is owned; both must outlive this object.
  BlockingIndex(store::Store* store, const KeyGenerator* keys);

  // Adds the index entries of a record not yet indexed.
  // Returns INVALID_ARGUMENT if `batch` is null or `record_key` is empty.
  absl::Status Add(std::string_view record_key,
                   const linkd::v1::EncodedIdentity& identity,
                   store::WriteBatch* batch) const;

  // Add, for keys already derived with keys()->Keys(identity). `batch`
  // must not be null.
  void AddKeys(std::string_view record_key,
               const std::vector<BlockingKey>& keys,
               store::WriteBatch* batch) const {
    ApplyKeys(record_key, keys, +1, batch);
  }

  // Adds the entries of many records not yet indexed, as AddKeys would for
  // each (keys[i] are those of record_keys[i]), but written as sorted table
  // files on up to `threads` threads and ingested (Store::Ingest): the bulk
  // path, several times faster than batches for millions of entries. Not
  // atomic with any batch: call it before committing what refers to the
  // entries. Entries of records that are never linked are harmless (a
  // candidate without a link is skipped). Sorts at most about
  // `held_entries` entries at a time (24 bytes each), in passes over key
  // ranges. Returns a Store error.
  absl::Status BulkAdd(absl::Span<const std::string_view> record_keys,
                       absl::Span<const std::vector<BlockingKey>> keys,
                       int threads,
                       size_t held_entries = size_t{2} << 20) const;

  // Removes the entries of a record indexed with `identity`. Same errors as
  // Add.
  absl::Status Remove(std::string_view record_key,
                      const linkd::v1::EncodedIdentity& identity,
                      store::WriteBatch* batch) const;

  // Re-indexes a record from `old_identity` (as indexed) to `new_identity`,
  // touching only the keys that differ. Same errors as Add.
  absl::Status Update(std::string_view record_key,
                      const linkd::v1::EncodedIdentity& old_identity,
                      const linkd::v1::EncodedIdentity& new_identity,
                      store::WriteBatch* batch) const;

  // Unique candidate records sharing at least one non-oversize block with
  // `identity`, with the rules that produced each; `exclude_record_key`
  // (typically the query's own key) is left out. Reads `snapshot` if given,
  // else one snapshot taken here. Returns INVALID_ARGUMENT for a bad limit,
  // DATA_LOSS for a malformed index entry, or a Store error.
  absl::StatusOr<CandidateResult> Candidates(
      const linkd::v1::EncodedIdentity& identity, const CandidateLimits& limits,
      std::string_view exclude_record_key = {},
      const store::Snapshot* snapshot = nullptr) const;

  // Same, for precomputed keys (from keys()->Keys); `keys` must be sorted.
  absl::StatusOr<CandidateResult> CandidatesForKeys(
      const std::vector<BlockingKey>& keys, const CandidateLimits& limits,
      std::string_view exclude_record_key = {},
      const store::Snapshot* snapshot = nullptr) const;

  // Blocks, entries and largest/oversize blocks per rule
  // (one scan of the whole index; an admin and benchmark operation, not for
  // the hot path). `oversize_threshold` as CandidateLimits::max_block_size.
  // Returns DATA_LOSS for a malformed entry, or a Store error.
  absl::StatusOr<IndexStats> Stats(int64_t oversize_threshold) const;

  const KeyGenerator* keys() const { return keys_; }

  // Key layout, for tools and tests.
  static std::string EntryKey(const BlockingKey& key,
                              std::string_view record_key);
  static std::string BlockPrefix(const BlockingKey& key);

 private:
  void ApplyKeys(std::string_view record_key,
                 const std::vector<BlockingKey>& keys, int64_t delta,
                 store::WriteBatch* batch) const;

  store::Store* store_;
  const KeyGenerator* keys_;
};

}  // namespace linkd::blocking

#endif  // LINKD_BLOCKING_BLOCKING_INDEX_H_
