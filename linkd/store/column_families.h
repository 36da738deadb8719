// The column-family registry: every RocksDB column family linkd keeps, in one
// place (DESIGN.md section 10, STYLE.md B7). Each family has a stable name and
// an access pattern from which store.cc derives its RocksDB options.
//
// NEVER rename, reorder, renumber or remove an entry: the name is what
// RocksDB stores, and the enum value indexes this registry and may be kept
// by callers. New families are appended at the end; a Store opened on a
// directory holding a family it does not know refuses to start.
#ifndef LINKD_STORE_COLUMN_FAMILIES_H_
#define LINKD_STORE_COLUMN_FAMILIES_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace linkd::store {

// One column family. The numeric value is part of the on-disk format.
enum class Cf : uint8_t {
  kDefault = 0,        // metadata: schema version and other singletons
  kRecords = 1,        // current encoded record by (source, record_id)
  kRecordHistory = 2,  // previous revisions by (source, record_id, revision)
  kStats = 3,          // int64 counters, updated with Merge (AddToCounter)
  kBlocks = 4,         // blocking index: blocking key -> record refs
  kLinks = 5,          // SUI clusters and their history
  kEvents = 6,         // events reported about an identity, under the SUI
  kOutbox = 7,         // durable notification outbox, per recipient
  kConsent = 8,        // consent and objection state per SUI
  kAudit = 9,          // append-only audit log, keyed by sequence number
  kModel = 10,         // linkage model parameters (m/u, thresholds)
};

// How a family is read and written; decides its RocksDB options.
enum class CfAccess : uint8_t {
  // Small, rarely written: tiny memtable, no filter.
  kMetadata,
  // Point lookups by full key dominate: Bloom filter, hash index in blocks.
  kPointLookup,
  // Keys arrive mostly in increasing order and are read by range scans
  // (logs, queues): no Bloom filter, stronger compression.
  kAppendScan,
  // Fixed 8-byte counters combined by the int64-add merge operator.
  kCounter,
  // Read by scans of all the keys sharing a fixed-length prefix (an index
  // of entries under a group key): Bloom filter on the prefix, so a scan
  // skips the files that do not hold it.
  kPrefixScan,
};

struct CfInfo {
  Cf cf;
  std::string_view name;  // RocksDB column-family name; part of the format
  CfAccess access;
  // kPrefixScan: the length of the prefixes scans use. Every key is longer.
  std::size_t prefix_bytes = 0;
};

inline constexpr std::size_t kNumCfs = 11;

// The registry, indexed by the enum value.
inline constexpr std::array<CfInfo, kNumCfs> kCfRegistry = {{
    {Cf::kDefault, "default", CfAccess::kMetadata},
    {Cf::kRecords, "records", CfAccess::kPointLookup},
    {Cf::kRecordHistory, "record_history", CfAccess::kAppendScan},
    {Cf::kStats, "stats", CfAccess::kCounter},
    // Entries (rule, block hash, record key): the prefix is the key codec's
    // version byte, the rule byte and the length-prefixed 16-byte hash
    // (checked by blocking_index.cc).
    {Cf::kBlocks, "blocks", CfAccess::kPrefixScan, 22},
    {Cf::kLinks, "links", CfAccess::kPointLookup},
    {Cf::kEvents, "events", CfAccess::kAppendScan},
    {Cf::kOutbox, "outbox", CfAccess::kAppendScan},
    {Cf::kConsent, "consent", CfAccess::kPointLookup},
    {Cf::kAudit, "audit", CfAccess::kAppendScan},
    {Cf::kModel, "model", CfAccess::kMetadata},
}};

namespace internal {
constexpr bool RegistryIsDense() {
  for (std::size_t i = 0; i < kNumCfs; ++i) {
    if (static_cast<std::size_t>(kCfRegistry[i].cf) != i) return false;
    if (kCfRegistry[i].name.empty()) return false;
  }
  return true;
}
}  // namespace internal
static_assert(internal::RegistryIsDense(),
              "kCfRegistry must list every Cf once, in enum order");
static_assert(kCfRegistry[0].name == "default",
              "RocksDB requires the default family to be called 'default'");

// Registry entry of `cf`. `cf` must be a declared enumerator.
constexpr const CfInfo& GetCfInfo(Cf cf) {
  return kCfRegistry[static_cast<std::size_t>(cf)];
}

// Stable RocksDB name of `cf`, e.g. "records".
constexpr std::string_view CfName(Cf cf) { return GetCfInfo(cf).name; }

}  // namespace linkd::store

#endif  // LINKD_STORE_COLUMN_FAMILIES_H_
