// Internals of linkd::store shared by store.cc, record_store.cc and their
// tests. Not part of the public API: RocksDB types are allowed here, and
// anything may change without notice.
#ifndef LINKD_STORE_STORE_INTERNAL_H_
#define LINKD_STORE_STORE_INTERNAL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "linkd/store/column_families.h"
#include "rocksdb/merge_operator.h"
#include "rocksdb/options.h"
#include "rocksdb/status.h"

namespace linkd::store::internal {

// Converts a RocksDB status to the canonical code listed in store.h.
// `context` says what was being done (e.g. "get from family records") and
// leads the message. Never includes key or value bytes (RocksDB statuses
// carry file names and reasons, not data).
absl::Status FromRocksStatus(const rocksdb::Status& s,
                             std::string_view context);

// Counter values and merge operands: 8-byte little-endian two's complement.
std::string EncodeCounter(int64_t v);

// The merge operator of CfAccess::kCounter families: adds int64 operands,
// wrapping on overflow. A malformed operand or base value fails the merge,
// which RocksDB reports as Corruption. Its name is persisted in the OPTIONS
// file and must never change.
std::shared_ptr<rocksdb::MergeOperator> NewInt64AddOperator();

// Shared resources referenced by every family's options.
struct SharedResources {
  std::shared_ptr<rocksdb::Cache> block_cache;
  std::shared_ptr<rocksdb::MergeOperator> counter_merge;
};

// The RocksDB options of `cf`, derived from its CfAccess.
rocksdb::ColumnFamilyOptions CfOptions(Cf cf, const SharedResources& shared);

}  // namespace linkd::store::internal

#endif  // LINKD_STORE_STORE_INTERNAL_H_
