#include "linkd/store/store.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "linkd/store/key_codec.h"
#include "linkd/store/store_internal.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/sst_file_writer.h"
#include "rocksdb/table.h"
#include "rocksdb/utilities/checkpoint.h"
#include "rocksdb/write_batch.h"
#include "rocksdb/write_buffer_manager.h"

namespace linkd::store {
namespace internal {

absl::Status FromRocksStatus(const rocksdb::Status& s,
                             std::string_view context) {
  if (s.ok()) return absl::OkStatus();
  const std::string msg = absl::StrCat(
      absl::string_view(context.data(), context.size()), ": ", s.ToString());
  if (s.IsBusy() || s.IsTryAgain() || s.IsTimedOut() ||
      s.IsShutdownInProgress()) {
    return absl::UnavailableError(msg);
  }
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(msg);
  if (s.IsNotSupported()) return absl::UnimplementedError(msg);
  if (s.IsAborted()) return absl::AbortedError(msg);
  if (s.IsIOError()) {
    if (s.IsNoSpace()) return absl::ResourceExhaustedError(msg);
    return absl::UnavailableError(msg);
  }
  return absl::InternalError(msg);
}

std::string EncodeCounter(int64_t v) {
  auto u = static_cast<uint64_t>(v);
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<char>(u & 0xff);
    u >>= 8;
  }
  return out;
}

namespace {

bool DecodeCounterRaw(const rocksdb::Slice& s, uint64_t* out) {
  if (s.size() != 8) return false;
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(s[i]);
  *out = v;
  return true;
}

class Int64AddOperator : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& /*key*/,
             const rocksdb::Slice* existing_value, const rocksdb::Slice& value,
             std::string* new_value,
             rocksdb::Logger* /*logger*/) const override {
    uint64_t base = 0;
    if (existing_value != nullptr && !DecodeCounterRaw(*existing_value, &base))
      return false;
    uint64_t delta = 0;
    if (!DecodeCounterRaw(value, &delta)) return false;
    // Unsigned addition wraps, which is two's-complement int64 addition
    // without the undefined behaviour of signed overflow.
    *new_value = EncodeCounter(static_cast<int64_t>(base + delta));
    return true;
  }
  const char* Name() const override { return "linkd.Int64AddOperator"; }
};

}  // namespace

std::shared_ptr<rocksdb::MergeOperator> NewInt64AddOperator() {
  return std::make_shared<Int64AddOperator>();
}

rocksdb::ColumnFamilyOptions CfOptions(Cf cf, const SharedResources& shared) {
  constexpr size_t kMiB = 1024 * 1024;
  rocksdb::ColumnFamilyOptions o;
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = shared.block_cache;
  t.format_version = 5;
  // Index and filter blocks live in the block cache so that memory stays
  // bounded however many SST files there are; L0's stay pinned (hot).
  t.cache_index_and_filter_blocks = true;
  t.cache_index_and_filter_blocks_with_high_priority = true;
  t.pin_l0_filter_and_index_blocks_in_cache = true;

  o.compaction_style = rocksdb::kCompactionStyleLevel;
  o.level_compaction_dynamic_level_bytes = true;
  o.max_write_buffer_number = 4;
  o.level0_file_num_compaction_trigger = 4;
  o.target_file_size_base = 64 * kMiB;
  o.max_bytes_for_level_base = 256 * kMiB;
  o.compression = rocksdb::kLZ4Compression;
  o.bottommost_compression = rocksdb::kZSTD;

  switch (GetCfInfo(cf).access) {
    case CfAccess::kMetadata:
      o.write_buffer_size = 4 * kMiB;
      t.block_size = 4 * 1024;
      break;
    case CfAccess::kCounter:
      o.write_buffer_size = 8 * kMiB;
      t.block_size = 4 * 1024;
      t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
      o.merge_operator = shared.counter_merge;
      break;
    case CfAccess::kPointLookup:
      o.write_buffer_size = 64 * kMiB;
      // Linking a new record reads a few hundred keys at random (candidate
      // records, their links and SUIs), most of them cache misses: a small
      // block keeps each miss cheap.
      t.block_size = 4 * 1024;
      t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
      t.optimize_filters_for_memory = true;
      // Partitioned index and filters: with tens of millions of keys the
      // full filter of an SST file would be megabytes, evicting data.
      t.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
      t.partition_filters = true;
      t.data_block_index_type =
          rocksdb::BlockBasedTableOptions::kDataBlockBinaryAndHash;
      // Most lookups during ingest are for keys not stored yet; a memtable
      // filter answers those without walking the skiplist.
      o.memtable_whole_key_filtering = true;
      o.memtable_prefix_bloom_size_ratio = 0.02;
      break;
    case CfAccess::kPrefixScan:
      o.write_buffer_size = 64 * kMiB;
      // A scan wants the few hundred bytes under one prefix: small blocks
      // keep a cache miss cheap.
      t.block_size = 4 * 1024;
      o.prefix_extractor.reset(
          rocksdb::NewFixedPrefixTransform(GetCfInfo(cf).prefix_bytes));
      t.whole_key_filtering = false;  // no point lookups
      t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
      t.optimize_filters_for_memory = true;
      t.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
      t.partition_filters = true;
      o.memtable_prefix_bloom_size_ratio = 0.02;
      break;
    case CfAccess::kAppendScan:
      // No filter: reads are range scans. Level compaction (not FIFO, which
      // deletes old data: the audit log and history must never lose any);
      // keys written in increasing order are moved down without rewriting.
      o.write_buffer_size = 32 * kMiB;
      t.block_size = 32 * 1024;
      break;
  }
  // Encoded records are mostly uniformly random tokens and Bloom filters:
  // compression costs CPU for nothing there (measured on synthetic tokens,
  // low-cardinality fields repeating: LZ4 saved no space).
  // The blocking index is written mostly in bulk (sorted table files, which
  // take the bottommost compression) and read at random by incremental
  // linking. LZ4 there, not ZSTD: measured on 1M synthetic records
  // (tests/bench/blocking, --bulk-index-only), ZSTD made the files 150 MiB
  // instead of 196 MiB but cost 0.8 s of a 7.4 s bulk index write, and a
  // cache miss decompresses faster.
  if (cf == Cf::kBlocks) o.bottommost_compression = rocksdb::kLZ4Compression;
  if (cf == Cf::kRecords || cf == Cf::kRecordHistory) {
    o.compression = rocksdb::kNoCompression;
    o.bottommost_compression = rocksdb::kNoCompression;
  }
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  return o;
}

}  // namespace internal

namespace {

using internal::FromRocksStatus;

// Key of the schema version in Cf::kDefault. Tags of metadata keys there.
constexpr uint8_t kMetaSchemaVersion = 1;

std::string SchemaVersionKey() {
  return KeyBuilder().AddU8(kMetaSchemaVersion).key();
}

std::string EncodeU64BigEndian(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return out;
}

std::string Context(std::string_view what, Cf cf) {
  return absl::StrCat(absl::string_view(what.data(), what.size()),
                      " in column family ", std::string(CfName(cf)));
}

bool IsLockError(const rocksdb::Status& s) {
  if (!s.IsIOError()) return false;
  const std::string text = absl::AsciiStrToLower(s.ToString());
  return absl::StrContains(text, "lock");
}

}  // namespace

// ---------------------------------------------------------------------------
// Reps.

namespace internal {

struct StoreRep {
  std::string path;
  rocksdb::DB* db = nullptr;  // owned; deleted in Store::Close()
  std::array<rocksdb::ColumnFamilyHandle*, kNumCfs> handles{};
  SharedResources shared;
  std::shared_ptr<rocksdb::WriteBufferManager> write_buffer_manager;
  std::atomic<int> live_snapshots{0};

  rocksdb::ColumnFamilyHandle* handle(Cf cf) const {
    return handles[static_cast<size_t>(cf)];
  }
};

struct SnapshotRep {
  StoreRep* store = nullptr;
  const rocksdb::Snapshot* snapshot = nullptr;
};

struct WriteBatchRep {
  explicit WriteBatchRep(size_t reserve_bytes) : batch(reserve_bytes) {}
  const StoreRep* store = nullptr;
  rocksdb::WriteBatch batch;
  rocksdb::Status first_error;

  void Note(const rocksdb::Status& s) {
    if (!s.ok() && first_error.ok()) first_error = s;
  }
  rocksdb::ColumnFamilyHandle* handle(Cf cf) const { return store->handle(cf); }
};

struct SortedLoadRep {
  const StoreRep* store = nullptr;
  Cf cf = Cf::kDefault;
  std::string path;
  std::unique_ptr<rocksdb::SstFileWriter> writer;
  uint64_t count = 0;
  bool finished = false;
  bool ingested = false;
  std::string last_key;
  absl::Status error;
};

}  // namespace internal

// ---------------------------------------------------------------------------
// SortedLoad.

SortedLoad::SortedLoad(std::unique_ptr<internal::SortedLoadRep> rep)
    : rep_(std::move(rep)) {}
SortedLoad::SortedLoad(SortedLoad&&) noexcept = default;
SortedLoad& SortedLoad::operator=(SortedLoad&&) noexcept = default;
SortedLoad::~SortedLoad() {
  if (rep_ == nullptr || rep_->ingested) return;
  if (rep_->writer != nullptr && !rep_->finished) {
    rocksdb::Status ignored = rep_->writer->Finish();  // to close the file
    ignored.PermitUncheckedError();
  }
  std::error_code ec;
  std::filesystem::remove(rep_->path, ec);  // best effort
}

absl::Status SortedLoad::Add(std::string_view key, std::string_view value) {
  if (!rep_->error.ok()) return rep_->error;
  if (rep_->count > 0 && key <= std::string_view(rep_->last_key)) {
    rep_->error = absl::InvalidArgumentError(
        "sorted load: keys must be strictly increasing");
    return rep_->error;
  }
  rocksdb::Status s =
      rep_->writer->Put(rocksdb::Slice(key), rocksdb::Slice(value));
  if (!s.ok()) {
    rep_->error = internal::FromRocksStatus(s, "writing a sorted load");
    return rep_->error;
  }
  rep_->last_key.assign(key.data(), key.size());
  ++rep_->count;
  return absl::OkStatus();
}

uint64_t SortedLoad::count() const { return rep_->count; }

// ---------------------------------------------------------------------------
// Snapshot.

Snapshot::Snapshot(std::unique_ptr<internal::SnapshotRep> rep)
    : rep_(std::move(rep)) {}
Snapshot::Snapshot(Snapshot&&) noexcept = default;
Snapshot& Snapshot::operator=(Snapshot&& other) noexcept {
  if (this != &other) {
    Snapshot dying(std::move(*this));  // releases our current snapshot
    rep_ = std::move(other.rep_);
  }
  return *this;
}
Snapshot::~Snapshot() {
  if (rep_ == nullptr || rep_->snapshot == nullptr) return;
  rep_->store->db->ReleaseSnapshot(rep_->snapshot);
  rep_->store->live_snapshots.fetch_sub(1, std::memory_order_relaxed);
}

// ---------------------------------------------------------------------------
// WriteBatch.

WriteBatch::WriteBatch(std::unique_ptr<internal::WriteBatchRep> rep)
    : rep_(std::move(rep)) {}
WriteBatch::WriteBatch(WriteBatch&&) noexcept = default;
WriteBatch& WriteBatch::operator=(WriteBatch&&) noexcept = default;
WriteBatch::~WriteBatch() = default;

void WriteBatch::Put(Cf cf, std::string_view key, std::string_view value) {
  rep_->Note(rep_->batch.Put(rep_->handle(cf), rocksdb::Slice(key),
                             rocksdb::Slice(value)));
}

void WriteBatch::Merge(Cf cf, std::string_view key, std::string_view value) {
  rep_->Note(rep_->batch.Merge(rep_->handle(cf), rocksdb::Slice(key),
                               rocksdb::Slice(value)));
}

void WriteBatch::AddToCounter(Cf cf, std::string_view key, int64_t delta) {
  if (GetCfInfo(cf).access != CfAccess::kCounter) {
    // Programmer error: without the merge operator the operand would make
    // every later read of the key fail.
    std::fprintf(stderr,
                 "linkd::store::WriteBatch::AddToCounter on family %s, which "
                 "is not a counter family\n",
                 std::string(CfName(cf)).c_str());
    std::abort();
  }
  Merge(cf, key, internal::EncodeCounter(delta));
}

void WriteBatch::Delete(Cf cf, std::string_view key) {
  rep_->Note(rep_->batch.Delete(rep_->handle(cf), rocksdb::Slice(key)));
}

void WriteBatch::DeleteRange(Cf cf, std::string_view begin,
                             std::string_view end) {
  rep_->Note(rep_->batch.DeleteRange(rep_->handle(cf), rocksdb::Slice(begin),
                                     rocksdb::Slice(end)));
}

size_t WriteBatch::count() const { return rep_->batch.Count(); }
size_t WriteBatch::ApproximateSize() const { return rep_->batch.GetDataSize(); }
void WriteBatch::Clear() {
  rep_->batch.Clear();
  rep_->first_error = rocksdb::Status::OK();
}

// ---------------------------------------------------------------------------
// Store.

absl::StatusOr<std::unique_ptr<Store>> Store::Open(
    const StoreOptions& options) {
  namespace fs = std::filesystem;
  if (options.path.empty()) {
    return absl::InvalidArgumentError("StoreOptions.path is empty");
  }
  const std::string& path = options.path;
  std::error_code ec;
  const bool exists = fs::exists(fs::path(path) / "CURRENT", ec);
  if (!exists && !options.create_if_missing) {
    return absl::NotFoundError(absl::StrCat(
        "data directory ", path,
        " holds no linkd database (and creation was not requested)"));
  }

  auto rep = std::make_unique<internal::StoreRep>();
  rep->path = path;
  rep->shared.block_cache = rocksdb::NewLRUCache(
      options.block_cache_mib * 1024 * 1024, /*num_shard_bits=*/-1,
      /*strict_capacity_limit=*/false, /*high_pri_pool_ratio=*/0.5);
  rep->shared.counter_merge = internal::NewInt64AddOperator();
  rep->write_buffer_manager = std::make_shared<rocksdb::WriteBufferManager>(
      options.memtable_budget_mib * 1024 * 1024);

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = std::max(2, options.max_background_jobs);
  db_options.write_buffer_manager = rep->write_buffer_manager;
  db_options.bytes_per_sync = 1 << 20;
  // Rarely written families would otherwise keep old WAL files alive.
  db_options.max_total_wal_size =
      std::max<uint64_t>(options.memtable_budget_mib, 64) * 4 * 1024 * 1024;
  db_options.keep_log_file_num = 5;
  db_options.max_log_file_size = 16 << 20;

  if (exists) {
    // Refuse a directory with families this build does not know, rather
    // than failing inside RocksDB with a less helpful message.
    std::vector<std::string> names;
    rocksdb::Status s =
        rocksdb::DB::ListColumnFamilies(db_options, path, &names);
    if (s.IsCorruption()) {
      return absl::DataLossError(
          absl::StrCat("data directory ", path, " is corrupt: ", s.ToString()));
    }
    if (!s.ok()) {
      return FromRocksStatus(s, absl::StrCat("reading data directory ", path));
    }
    for (const std::string& name : names) {
      const bool known =
          std::any_of(kCfRegistry.begin(), kCfRegistry.end(),
                      [&](const CfInfo& info) { return info.name == name; });
      if (!known) {
        return absl::FailedPreconditionError(absl::StrCat(
            "data directory ", path, " has column family '", name,
            "' unknown to this linkd (written by a newer version?)"));
      }
    }
  }

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.reserve(kNumCfs);
  for (const CfInfo& info : kCfRegistry) {
    descriptors.emplace_back(std::string(info.name),
                             internal::CfOptions(info.cf, rep->shared));
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::Status s =
      rocksdb::DB::Open(db_options, path, descriptors, &handles, &rep->db);
  if (!s.ok()) {
    if (IsLockError(s)) {
      return absl::FailedPreconditionError(
          absl::StrCat("data directory ", path,
                       " is in use by another process (", s.ToString(), ")"));
    }
    if (s.IsCorruption()) {
      return absl::DataLossError(
          absl::StrCat("data directory ", path, " is corrupt: ", s.ToString()));
    }
    return FromRocksStatus(s, absl::StrCat("opening data directory ", path));
  }
  // DB::Open returns the handles in descriptor order, i.e. registry order.
  for (size_t i = 0; i < kNumCfs; ++i) rep->handles[i] = handles[i];
  std::unique_ptr<Store> store(new Store(std::move(rep)));

  // Schema version: written on first open, checked on every later one.
  absl::StatusOr<std::optional<std::string>> version =
      store->Get(Cf::kDefault, SchemaVersionKey());
  if (!version.ok()) return version.status();
  if (!version->has_value()) {
    WriteBatch batch = store->NewBatch();
    batch.Put(Cf::kDefault, SchemaVersionKey(),
              EncodeU64BigEndian(kSchemaVersion));
    absl::Status st = store->Commit(std::move(batch));
    if (!st.ok()) return st;
    return store;
  }
  const std::string& v = **version;
  if (v.size() != 8) {
    return absl::DataLossError(absl::StrCat("data directory ", path,
                                            " has a malformed schema version"));
  }
  uint64_t found = 0;
  for (char c : v) found = (found << 8) | static_cast<uint8_t>(c);
  if (found > kSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("data directory ", path, " has schema version ", found,
                     ", newer than this linkd's ", kSchemaVersion,
                     "; upgrade linkd or restore a backup"));
  }
  if (found < kSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("data directory ", path, " has schema version ", found,
                     " and no migration to ", kSchemaVersion, " exists"));
  }
  return store;
}

Store::Store(std::unique_ptr<internal::StoreRep> rep) : rep_(std::move(rep)) {}

Store::~Store() {
  if (rep_->db == nullptr) return;
  // A Snapshot outliving its Store is a documented programmer error; close
  // regardless rather than leak the database and its lock.
  rep_->live_snapshots.store(0);
  Close().IgnoreError();
}

const std::string& Store::path() const { return rep_->path; }

absl::Status Store::CheckOpen() const {
  if (rep_->db == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("store ", rep_->path, " is closed"));
  }
  return absl::OkStatus();
}

const internal::SnapshotRep* Store::RepOf(const Snapshot& snapshot) const {
  if (snapshot.rep_ == nullptr || snapshot.rep_->store != rep_.get()) {
    return nullptr;
  }
  return snapshot.rep_.get();
}

namespace {

// Read options at `snapshot` (nullptr: latest). `resolved` is the result of
// Store::RepOf, nullptr when the snapshot is foreign.
absl::Status MakeReadOptions(const Snapshot* snapshot,
                             const internal::SnapshotRep* resolved,
                             rocksdb::ReadOptions* ro) {
  if (snapshot == nullptr) return absl::OkStatus();
  if (resolved == nullptr) {
    return absl::InvalidArgumentError(
        "snapshot was not taken from this store (or was moved from)");
  }
  ro->snapshot = resolved->snapshot;
  return absl::OkStatus();
}

}  // namespace

WriteBatch Store::NewBatch(size_t reserve_bytes) const {
  auto rep = std::make_unique<internal::WriteBatchRep>(reserve_bytes);
  rep->store = rep_.get();
  return WriteBatch(std::move(rep));
}

namespace {

// Large batches are applied in key order. RocksDB's memtable skiplist keeps
// its search path between consecutive inserts, so keys in order insert
// several times faster than keys in random order (measured on bulk linking,
// where blocking-index keys are random hashes). Reordering is safe: a stable
// sort by (family, key) keeps the order of the operations on each key, and
// operations on different keys commute. Range deletions do not commute with
// the keys they cover, so a batch holding one keeps its order.
constexpr uint32_t kSortBatchesFrom = 1024;

class OpCollector : public rocksdb::WriteBatch::Handler {
 public:
  enum class Type : uint8_t { kPut, kDelete, kSingleDelete, kMerge };
  struct Op {
    uint32_t cf;
    Type type;
    rocksdb::Slice key;
    rocksdb::Slice value;
  };

  rocksdb::Status PutCF(uint32_t cf, const rocksdb::Slice& key,
                        const rocksdb::Slice& value) override {
    ops.push_back({cf, Type::kPut, key, value});
    return rocksdb::Status::OK();
  }
  rocksdb::Status DeleteCF(uint32_t cf, const rocksdb::Slice& key) override {
    ops.push_back({cf, Type::kDelete, key, {}});
    return rocksdb::Status::OK();
  }
  rocksdb::Status SingleDeleteCF(uint32_t cf,
                                 const rocksdb::Slice& key) override {
    ops.push_back({cf, Type::kSingleDelete, key, {}});
    return rocksdb::Status::OK();
  }
  rocksdb::Status MergeCF(uint32_t cf, const rocksdb::Slice& key,
                          const rocksdb::Slice& value) override {
    ops.push_back({cf, Type::kMerge, key, value});
    return rocksdb::Status::OK();
  }
  rocksdb::Status DeleteRangeCF(uint32_t, const rocksdb::Slice&,
                                const rocksdb::Slice&) override {
    keep_order = true;
    return rocksdb::Status::OK();
  }
  void LogData(const rocksdb::Slice&) override { keep_order = true; }

  std::vector<Op> ops;
  bool keep_order = false;
};

// Rewrites `batch` in (family, key) order if that is safe and worth it.
rocksdb::Status SortBatch(const internal::StoreRep& store,
                          rocksdb::WriteBatch* batch) {
  if (batch->Count() < kSortBatchesFrom) return rocksdb::Status::OK();
  OpCollector ops;
  ops.ops.reserve(batch->Count());
  rocksdb::Status s = batch->Iterate(&ops);
  if (!s.ok() || ops.keep_order) return s;
  std::stable_sort(ops.ops.begin(), ops.ops.end(),
                   [](const OpCollector::Op& a, const OpCollector::Op& b) {
                     if (a.cf != b.cf) return a.cf < b.cf;
                     return a.key.compare(b.key) < 0;
                   });
  auto handle = [&](uint32_t id) -> rocksdb::ColumnFamilyHandle* {
    for (rocksdb::ColumnFamilyHandle* h : store.handles) {
      if (h != nullptr && h->GetID() == id) return h;
    }
    return nullptr;
  };
  rocksdb::WriteBatch sorted(batch->GetDataSize());
  rocksdb::ColumnFamilyHandle* h = nullptr;
  uint32_t h_id = UINT32_MAX;
  for (const OpCollector::Op& op : ops.ops) {
    if (op.cf != h_id) {
      h = handle(op.cf);
      h_id = op.cf;
      if (h == nullptr) return rocksdb::Status::OK();  // unknown: as it was
    }
    switch (op.type) {
      case OpCollector::Type::kPut:
        s = sorted.Put(h, op.key, op.value);
        break;
      case OpCollector::Type::kDelete:
        s = sorted.Delete(h, op.key);
        break;
      case OpCollector::Type::kSingleDelete:
        s = sorted.SingleDelete(h, op.key);
        break;
      case OpCollector::Type::kMerge:
        s = sorted.Merge(h, op.key, op.value);
        break;
    }
    if (!s.ok()) return s;
  }
  *batch = std::move(sorted);
  return rocksdb::Status::OK();
}

}  // namespace

absl::Status Store::Commit(WriteBatch&& batch, const CommitOptions& options) {
  WriteBatch consumed(std::move(batch));
  if (consumed.rep_ == nullptr || consumed.rep_->store != rep_.get()) {
    return absl::InvalidArgumentError(
        "write batch was not created by this store (or was moved from)");
  }
  if (!consumed.rep_->first_error.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("write batch holds a refused operation: ",
                     consumed.rep_->first_error.ToString()));
  }
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  if (consumed.rep_->batch.Count() == 0) return absl::OkStatus();
  if (rocksdb::Status s = SortBatch(*rep_, &consumed.rep_->batch); !s.ok()) {
    return FromRocksStatus(s,
                           absl::StrCat("preparing a batch for ", rep_->path));
  }
  rocksdb::WriteOptions wo;
  wo.sync = options.sync;
  wo.disableWAL = false;  // never: a batch must survive a crash whole
  return FromRocksStatus(rep_->db->Write(wo, &consumed.rep_->batch),
                         absl::StrCat("committing to ", rep_->path));
}

absl::StatusOr<std::optional<std::string>> Store::Get(
    Cf cf, std::string_view key, const Snapshot* snapshot) const {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  rocksdb::ReadOptions ro;
  if (absl::Status s =
          MakeReadOptions(snapshot, snapshot ? RepOf(*snapshot) : nullptr, &ro);
      !s.ok()) {
    return s;
  }
  rocksdb::PinnableSlice value;
  rocksdb::Status s =
      rep_->db->Get(ro, rep_->handle(cf), rocksdb::Slice(key), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return FromRocksStatus(s, Context("get", cf));
  return std::optional<std::string>(value.ToString());
}

absl::StatusOr<std::vector<std::optional<std::string>>> Store::MultiGet(
    Cf cf, absl::Span<const std::string> keys, const Snapshot* snapshot,
    bool fill_cache) const {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  rocksdb::ReadOptions ro;
  if (absl::Status s =
          MakeReadOptions(snapshot, snapshot ? RepOf(*snapshot) : nullptr, &ro);
      !s.ok()) {
    return s;
  }
  ro.fill_cache = fill_cache;
  std::vector<std::optional<std::string>> out(keys.size());
  if (keys.empty()) return out;
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  rep_->db->MultiGet(ro, rep_->handle(cf), keys.size(), slices.data(),
                     values.data(), statuses.data(), /*sorted_input=*/false);
  for (size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].IsNotFound()) continue;
    if (!statuses[i].ok()) {
      return FromRocksStatus(statuses[i], Context("multi-get", cf));
    }
    out[i] = values[i].ToString();
  }
  return out;
}

absl::Status Store::ScanPrefix(Cf cf, std::string_view prefix, ScanCallback fn,
                               const ScanOptions& options) const {
  return ScanRange(cf, prefix, PrefixSuccessor(prefix), fn, options);
}

namespace {

// Read options of a scan (bounds are the caller's). A family with a prefix
// extractor (kPrefixScan) uses its prefix filters when both bounds share one
// prefix, and reads in total order otherwise.
// `resolved`: Store::RepOf(*options.snapshot), if there is a snapshot.
absl::Status ScanReadOptions(const ScanOptions& options,
                             const internal::SnapshotRep* resolved,
                             rocksdb::ReadOptions* ro) {
  if (absl::Status s = MakeReadOptions(options.snapshot, resolved, ro);
      !s.ok()) {
    return s;
  }
  ro->fill_cache = options.fill_cache;
  ro->auto_prefix_mode = true;
  return absl::OkStatus();
}

}  // namespace

absl::Status Store::ScanPrefixes(
    Cf cf, absl::Span<const std::string> prefixes,
    absl::FunctionRef<absl::StatusOr<bool>(size_t i, std::string_view key,
                                           std::string_view value)>
        fn,
    const ScanOptions& options) const {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  if (options.reverse) {
    return absl::InvalidArgumentError("ScanPrefixes scans forward only");
  }
  if (prefixes.empty()) return absl::OkStatus();
  rocksdb::ReadOptions ro;
  if (absl::Status s = ScanReadOptions(
          options, options.snapshot ? RepOf(*options.snapshot) : nullptr, &ro);
      !s.ok()) {
    return s;
  }
  // The iterator keeps pointers to the bounds; their contents change before
  // each seek, which RocksDB supports (the bounds are read from then on).
  std::string upper_key;
  rocksdb::Slice lower, upper;
  ro.iterate_lower_bound = &lower;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(
      rep_->db->NewIterator(ro, rep_->handle(cf)));
  for (size_t i = 0; i < prefixes.size(); ++i) {
    const std::string& prefix = prefixes[i];
    upper_key = PrefixSuccessor(prefix);
    if (upper_key.empty()) {  // no successor ("" or all 0xff): unbounded
      absl::Status s = ScanPrefix(
          cf, prefix,
          [&](std::string_view k, std::string_view v) { return fn(i, k, v); },
          options);
      if (!s.ok()) return s;
      continue;
    }
    lower = rocksdb::Slice(prefix);
    upper = rocksdb::Slice(upper_key);
    for (it->Seek(lower); it->Valid(); it->Next()) {
      const rocksdb::Slice k = it->key();
      if (!k.starts_with(lower)) break;  // defensive: the bound ends it
      const rocksdb::Slice v = it->value();
      absl::StatusOr<bool> more = fn(i, std::string_view(k.data(), k.size()),
                                     std::string_view(v.data(), v.size()));
      if (!more.ok()) return more.status();
      if (!*more) break;
    }
    if (!it->status().ok()) {
      return FromRocksStatus(it->status(), Context("scan", cf));
    }
  }
  return absl::OkStatus();
}

absl::Status Store::ScanRange(Cf cf, std::string_view begin,
                              std::string_view end, ScanCallback fn,
                              const ScanOptions& options) const {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  rocksdb::ReadOptions ro;
  if (absl::Status s = ScanReadOptions(
          options, options.snapshot ? RepOf(*options.snapshot) : nullptr, &ro);
      !s.ok()) {
    return s;
  }
  // Bounds let RocksDB skip whole files and tombstones outside the range.
  // The slices must outlive the iterator.
  const rocksdb::Slice lower(begin);
  const rocksdb::Slice upper(end);
  ro.iterate_lower_bound = &lower;
  if (!end.empty()) ro.iterate_upper_bound = &upper;

  std::unique_ptr<rocksdb::Iterator> it(
      rep_->db->NewIterator(ro, rep_->handle(cf)));
  if (options.reverse) {
    it->SeekToLast();  // honours iterate_upper_bound
  } else {
    it->SeekToFirst();  // honours iterate_lower_bound
  }
  for (; it->Valid(); options.reverse ? it->Prev() : it->Next()) {
    const rocksdb::Slice k = it->key();
    const rocksdb::Slice v = it->value();
    absl::StatusOr<bool> more = fn(std::string_view(k.data(), k.size()),
                                   std::string_view(v.data(), v.size()));
    if (!more.ok()) return more.status();
    if (!*more) return absl::OkStatus();
  }
  return FromRocksStatus(it->status(), Context("scan", cf));
}

absl::StatusOr<int64_t> Store::GetCounter(Cf cf, std::string_view key,
                                          const Snapshot* snapshot) const {
  absl::StatusOr<std::optional<std::string>> v = Get(cf, key, snapshot);
  if (!v.ok()) return v.status();
  if (!v->has_value()) return 0;
  return DecodeCounter(**v);
}

Snapshot Store::GetSnapshot() const {
  auto rep = std::make_unique<internal::SnapshotRep>();
  rep->store = rep_.get();
  if (rep_->db != nullptr) {
    rep->snapshot = rep_->db->GetSnapshot();
    rep_->live_snapshots.fetch_add(1, std::memory_order_relaxed);
  }
  return Snapshot(std::move(rep));
}

absl::Status Store::Checkpoint(const std::string& dir) const {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) {
    return absl::AlreadyExistsError(
        absl::StrCat("checkpoint directory ", dir, " already exists"));
  }
  rocksdb::Checkpoint* raw = nullptr;
  rocksdb::Status s = rocksdb::Checkpoint::Create(rep_->db, &raw);
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  if (!s.ok()) return FromRocksStatus(s, "creating checkpoint");
  return FromRocksStatus(checkpoint->CreateCheckpoint(dir),
                         absl::StrCat("writing checkpoint to ", dir));
}

absl::StatusOr<SortedLoad> Store::NewSortedLoad(Cf cf) const {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  static std::atomic<uint64_t> next_file{0};
  auto rep = std::make_unique<internal::SortedLoadRep>();
  rep->store = rep_.get();
  rep->cf = cf;
  const std::string dir = rep_->path + "/bulk-load";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot create ", dir, ": ", ec.message()));
  }
  rep->path =
      absl::StrCat(dir, "/", ::getpid(), "-",
                   next_file.fetch_add(1, std::memory_order_relaxed), ".sst");
  rocksdb::Options options(rocksdb::DBOptions(),
                           internal::CfOptions(cf, rep_->shared));
  rep->writer = std::make_unique<rocksdb::SstFileWriter>(
      rocksdb::EnvOptions(), options, rep_->handle(cf));
  if (rocksdb::Status s = rep->writer->Open(rep->path); !s.ok()) {
    return FromRocksStatus(s, absl::StrCat("creating ", rep->path));
  }
  return SortedLoad(std::move(rep));
}

absl::Status Store::Ingest(std::vector<SortedLoad> loads) {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  std::vector<std::string> files;
  std::optional<Cf> cf;
  for (SortedLoad& load : loads) {
    internal::SortedLoadRep* r = load.rep_.get();
    if (r == nullptr || r->store != rep_.get()) {
      return absl::InvalidArgumentError(
          "sorted load was not created by this store (or was moved from)");
    }
    if (cf.has_value() && *cf != r->cf) {
      return absl::InvalidArgumentError(
          "sorted loads of one Ingest call must share a column family");
    }
    cf = r->cf;
    if (!r->error.ok()) return r->error;
    if (r->count == 0) continue;
    if (!r->finished) {
      rocksdb::Status s = r->writer->Finish();
      r->finished = true;
      if (!s.ok()) return FromRocksStatus(s, "finishing a sorted load");
    }
    files.push_back(r->path);
  }
  if (files.empty()) return absl::OkStatus();
  rocksdb::IngestExternalFileOptions options;
  options.move_files = true;  // hard links: no copy
  options.snapshot_consistency = true;
  options.allow_global_seqno = true;
  options.allow_blocking_flush = true;
  rocksdb::Status s =
      rep_->db->IngestExternalFile(rep_->handle(*cf), files, options);
  if (!s.ok()) {
    return FromRocksStatus(s, absl::StrCat("ingesting sorted loads into ",
                                           std::string(CfName(*cf))));
  }
  for (SortedLoad& load : loads) load.rep_->ingested = true;
  for (const std::string& f : files) {
    std::error_code ec;
    std::filesystem::remove(f, ec);  // moved files leave their old link
  }
  return absl::OkStatus();
}

std::size_t Store::block_cache_capacity() const {
  return rep_->shared.block_cache->GetCapacity();
}

void Store::SetBlockCacheCapacity(std::size_t bytes) {
  rep_->shared.block_cache->SetCapacity(bytes);
}

absl::Status Store::Flush() {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  rocksdb::FlushOptions fo;
  fo.wait = true;
  std::vector<rocksdb::ColumnFamilyHandle*> all(rep_->handles.begin(),
                                                rep_->handles.end());
  return FromRocksStatus(rep_->db->Flush(fo, all),
                         absl::StrCat("flushing ", rep_->path));
}

absl::Status Store::Close() {
  if (rep_->db == nullptr) return absl::OkStatus();
  if (rep_->live_snapshots.load() > 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot close store ", rep_->path, ": snapshots are still alive"));
  }
  // Handles must go before the DB that created them.
  rocksdb::Status first;
  for (rocksdb::ColumnFamilyHandle*& h : rep_->handles) {
    if (h == nullptr) continue;
    rocksdb::Status s = rep_->db->DestroyColumnFamilyHandle(h);
    if (first.ok()) first = s;
    h = nullptr;
  }
  rocksdb::Status s = rep_->db->Close();
  if (first.ok()) first = s;
  delete rep_->db;
  rep_->db = nullptr;
  return FromRocksStatus(first, absl::StrCat("closing ", rep_->path));
}

absl::StatusOr<int64_t> DecodeCounter(std::string_view value) {
  if (value.size() != 8) {
    return absl::DataLossError(
        absl::StrCat("counter value has ", value.size(), " bytes, expected 8"));
  }
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(value[i]);
  return static_cast<int64_t>(v);
}

}  // namespace linkd::store
