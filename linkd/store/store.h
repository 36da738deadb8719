// linkd's one RocksDB database (DESIGN.md section 10, STYLE.md B7): opening
// and closing with every registered column family, atomic multi-family
// writes (one logical change = one WriteBatch, WAL always on), point and
// batched reads, prefix/range scans, consistent snapshots, int64 counters and
// checkpoints for backups.
//
// No RocksDB type appears here: rocksdb::Status becomes absl::Status at this
// boundary, with these codes:
//   Busy / TryAgain / TimedOut / ShutdownInProgress / other IOError
//                                        -> UNAVAILABLE
//   Corruption                           -> DATA_LOSS
//   IOError: no space                    -> RESOURCE_EXHAUSTED
//   NotFound                             -> NOT_FOUND
//   InvalidArgument                      -> INVALID_ARGUMENT
//   NotSupported                         -> UNIMPLEMENTED
//   Aborted                              -> ABORTED
//   anything else                        -> INTERNAL
// and the opening errors listed on Store::Open. Messages name the data
// directory and the column family, never key or value bytes.
#ifndef LINKD_STORE_STORE_H_
#define LINKD_STORE_STORE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "linkd/store/column_families.h"

namespace linkd::store {

// Version of the data layout (key formats, value schemas, families). Stored
// in Cf::kDefault on first open; a directory with a newer version is refused.
inline constexpr uint64_t kSchemaVersion = 1;

struct StoreOptions {
  // Data directory. Required.
  std::string path;
  // Create the directory and an empty database if none exists. When false, a
  // missing database is NOT_FOUND.
  bool create_if_missing = true;
  // Shared block cache for all families (data, index and filter blocks).
  std::size_t block_cache_mib = 256;
  // Cap on the memory of all memtables together (RocksDB WriteBufferManager);
  // reaching it triggers flushes.
  std::size_t memtable_budget_mib = 256;
  // Flush + compaction threads.
  int max_background_jobs = 2;
};

struct CommitOptions {
  // fsync the WAL before Commit returns. Keep true for anything acknowledged
  // to a client, for consent and for audit (a crash may lose unsynced
  // writes, never corrupt or half-apply a batch).
  bool sync = true;
};

class Store;
namespace internal {
struct StoreRep;
struct SnapshotRep;
struct WriteBatchRep;
struct SortedLoadRep;
}  // namespace internal

// A snapshot of the whole database, for consistent reads across
// families. Created by Store::GetSnapshot(); released on destruction. Must
// be destroyed before its Store is closed or destroyed. Immutable once
// created: safe to use from several threads at once.
class Snapshot {
 public:
  Snapshot(Snapshot&&) noexcept;
  Snapshot& operator=(Snapshot&&) noexcept;
  ~Snapshot();

 private:
  friend class Store;
  explicit Snapshot(std::unique_ptr<internal::SnapshotRep> rep);
  std::unique_ptr<internal::SnapshotRep> rep_;
};

// A set of writes applied atomically, across families, by Store::Commit.
// Created by Store::NewBatch() and committed only to that Store. Operations
// apply in the order they were added (a later Put wins over an earlier one on
// the same key). An operation RocksDB refuses (e.g. a key over its size
// limit) is remembered: Commit then returns that error and writes nothing.
// Not thread-safe: one thread builds a batch.
class WriteBatch {
 public:
  WriteBatch(WriteBatch&&) noexcept;
  WriteBatch& operator=(WriteBatch&&) noexcept;
  ~WriteBatch();

  void Put(Cf cf, std::string_view key, std::string_view value);
  // Raw merge operand; only meaningful on families with a merge operator
  // (Cf::kStats, whose operands are counter deltas: prefer AddToCounter).
  void Merge(Cf cf, std::string_view key, std::string_view value);
  // Adds `delta` (may be negative) to the int64 counter at `key`. `cf` must
  // have CfAccess::kCounter (checked: a programmer error aborts).
  void AddToCounter(Cf cf, std::string_view key, int64_t delta);
  void Delete(Cf cf, std::string_view key);
  // Deletes every key in [begin, end). Cheap to write (one range tombstone);
  // space is reclaimed by compaction, not at once.
  void DeleteRange(Cf cf, std::string_view begin, std::string_view end);

  // Number of operations added.
  std::size_t count() const;
  // Approximate serialized size in bytes.
  std::size_t ApproximateSize() const;
  // Drops every operation and any remembered error.
  void Clear();

 private:
  friend class Store;
  explicit WriteBatch(std::unique_ptr<internal::WriteBatchRep> rep);
  std::unique_ptr<internal::WriteBatchRep> rep_;
};

// Keys for one family, in increasing order, written straight to a table
// file that Store::Ingest then adds to the database: the bulk-load path for
// millions of new keys, which skips the memtable and the write-ahead log.
// Created by Store::NewSortedLoad(). Not thread-safe, but several loads may
// be filled on different threads at once.
class SortedLoad {
 public:
  SortedLoad(SortedLoad&&) noexcept;
  SortedLoad& operator=(SortedLoad&&) noexcept;
  // Deletes the file if it was never ingested.
  ~SortedLoad();

  // Appends a key; keys must be strictly increasing in bytewise order.
  // Returns INVALID_ARGUMENT otherwise (the load is then unusable), or a
  // mapped I/O error.
  absl::Status Add(std::string_view key, std::string_view value);
  // Keys added so far.
  uint64_t count() const;

 private:
  friend class Store;
  explicit SortedLoad(std::unique_ptr<internal::SortedLoadRep> rep);
  std::unique_ptr<internal::SortedLoadRep> rep_;
};

// Controls a scan. Defaults: forward, latest data, blocks cached.
struct ScanOptions {
  // Read at this snapshot (from the same Store) instead of the latest data.
  const Snapshot* snapshot = nullptr;
  // Visit keys in decreasing order (e.g. the last entry of a log).
  bool reverse = false;
  // False for one-off bulk scans, so they do not evict the working set.
  bool fill_cache = true;
};

// Called for each key/value of a scan, in key order. The views are valid only
// during the call. Return true to continue, false to stop early, or an error
// to abort the scan: the error is returned by the scan unchanged.
using ScanCallback = absl::FunctionRef<absl::StatusOr<bool>(
    std::string_view key, std::string_view value)>;

// The database. Thread-safe: every method except Close may be called from any
// number of threads at once; Close must not race with anything and no
// Snapshot may outlive it.
class Store {
 public:
  // Opens (or creates) the database at options.path with every registered
  // column family, and checks the schema version. Returns
  //   INVALID_ARGUMENT    if options.path is empty;
  //   NOT_FOUND           if there is no database and create_if_missing is
  //                       false;
  //   FAILED_PRECONDITION if the directory is locked by another process (or
  //                       another Store in this one) ("data directory ... is
  //                       in use by another process"), holds a column family
  //                       this build does not know, or has a newer (or
  //                       unmigratable older) schema version;
  //   DATA_LOSS           if the database is corrupt (naming the directory);
  //   other codes as mapped above.
  static absl::StatusOr<std::unique_ptr<Store>> Open(
      const StoreOptions& options);

  // Closes the database (as Close()) if still open.
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const std::string& path() const;

  // A new empty batch for this Store, with room for `reserve_bytes` of
  // operations before it has to grow (a hint; any size works).
  WriteBatch NewBatch(std::size_t reserve_bytes = 0) const;

  // Applies `batch` atomically and durably (WAL on; fsync'd if
  // options.sync). An empty batch is a no-op. Returns INVALID_ARGUMENT if
  // the batch belongs to another Store or recorded a refused operation,
  // FAILED_PRECONDITION if the store is closed, or a mapped RocksDB error;
  // on error nothing of the batch is applied.
  absl::Status Commit(WriteBatch&& batch, const CommitOptions& options = {});

  // The value at `key`, or nullopt if absent. Reads `snapshot` if given.
  absl::StatusOr<std::optional<std::string>> Get(
      Cf cf, std::string_view key, const Snapshot* snapshot = nullptr) const;

  // Get for many keys of one family in one call (RocksDB batched MultiGet);
  // result i is for keys[i]. Duplicate keys are allowed. Fails as a whole if
  // any lookup fails with anything but "not found". `fill_cache` false for
  // one-off bulk reads, so they do not evict the working set.
  absl::StatusOr<std::vector<std::optional<std::string>>> MultiGet(
      Cf cf, absl::Span<const std::string> keys,
      const Snapshot* snapshot = nullptr, bool fill_cache = true) const;

  // Visits every key starting with `prefix` (all keys if empty).
  absl::Status ScanPrefix(Cf cf, std::string_view prefix, ScanCallback fn,
                          const ScanOptions& options = {}) const;
  // ScanPrefix for each of `prefixes` in turn, through one iterator (one
  // view of the data, and a seek per prefix instead of a new iterator):
  // fn(i, key, value) for the keys of prefixes[i]; returning false moves on
  // to the next prefix. A prefix with no successor (empty, or all 0xff
  // bytes) gets an iterator of its own. Reverse scans are not supported
  // (INVALID_ARGUMENT).
  absl::Status ScanPrefixes(
      Cf cf, absl::Span<const std::string> prefixes,
      absl::FunctionRef<absl::StatusOr<bool>(size_t i, std::string_view key,
                                             std::string_view value)>
          fn,
      const ScanOptions& options = {}) const;
  // Visits every key in [begin, end); an empty `end` means no upper bound.
  absl::Status ScanRange(Cf cf, std::string_view begin, std::string_view end,
                         ScanCallback fn,
                         const ScanOptions& options = {}) const;

  // The int64 counter at `key` in a kCounter family; 0 if absent. Returns
  // DATA_LOSS if the stored value is not a counter.
  absl::StatusOr<int64_t> GetCounter(Cf cf, std::string_view key,
                                     const Snapshot* snapshot = nullptr) const;

  // A consistent view of all families as of now.
  Snapshot GetSnapshot() const;

  // Writes an openable copy of the database to `dir` (hard links where
  // possible), e.g. for backups. `dir` must not exist; its parent must.
  // Returns ALREADY_EXISTS if `dir` exists, or a mapped RocksDB error.
  absl::Status Checkpoint(const std::string& dir) const;

  // A new, empty sorted load into `cf` (see SortedLoad). Returns a mapped
  // I/O error if its file cannot be created.
  absl::StatusOr<SortedLoad> NewSortedLoad(Cf cf) const;

  // Adds the keys of `loads` (all for one family; their key ranges may
  // overlap) to the database, durably, as of now: later writes win over
  // them, and they win over earlier writes of the same keys. Not atomic with
  // any WriteBatch; meant for derived state that can be rebuilt (e.g. the
  // blocking index of a bulk link). Empty loads are skipped. Returns
  // INVALID_ARGUMENT for loads of different families or of another Store,
  // or a mapped RocksDB error (nothing of a failed call is visible).
  absl::Status Ingest(std::vector<SortedLoad> loads);

  // The block cache's capacity in bytes (initially
  // StoreOptions::block_cache_mib), and a new one: entries beyond it are
  // evicted (pinned ones stay). For a bulk run, which reads without filling
  // the cache and needs its memory. Thread-safe.
  std::size_t block_cache_capacity() const;
  void SetBlockCacheCapacity(std::size_t bytes);

  // Flushes every memtable to SST files and waits. Not needed for
  // durability (the WAL provides it); shortens the next recovery.
  absl::Status Flush();

  // Closes the database. Idempotent. Returns FAILED_PRECONDITION (and stays
  // open) while a Snapshot is alive; afterwards every other method returns
  // FAILED_PRECONDITION. Must not be called concurrently with other methods.
  absl::Status Close();

 private:
  explicit Store(std::unique_ptr<internal::StoreRep> rep);
  // The snapshot's rep if `snapshot` belongs to this store, else nullptr.
  const internal::SnapshotRep* RepOf(const Snapshot& snapshot) const;
  absl::Status CheckOpen() const;

  std::unique_ptr<internal::StoreRep> rep_;
};

// Decodes a counter value as read by Get or a scan of a kCounter family.
// Returns DATA_LOSS if `value` is not an 8-byte counter.
absl::StatusOr<int64_t> DecodeCounter(std::string_view value);

}  // namespace linkd::store

#endif  // LINKD_STORE_STORE_H_
