// Encoded source records in the store: idempotent ingest by (source,
// record_id) with revision history, and per-source counters kept up to date
// in the same WriteBatch as the records they count.
//
// Layout (all keys from key_codec.h):
//   Cf::kRecords        (source, record_id)            -> StoredRecord
//   Cf::kRecordHistory  (source, record_id, revision)  -> StoredRecord
//   Cf::kStats          (kRecordCounters, source, kind[, field]) -> counter
// StoredRecord is linkd.store.v1.StoredRecord (proto/linkd/store/v1).
#ifndef LINKD_STORE_RECORD_STORE_H_
#define LINKD_STORE_RECORD_STORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "linkd/store/store.h"
#include "linkd/store/v1/storage.pb.h"
#include "linkd/v1/admin_service.pb.h"
#include "linkd/v1/record.pb.h"

namespace linkd::store {

using StoredRecord = ::linkd::store::v1::StoredRecord;

// What Stage decided for one record.
enum class IngestResult : uint8_t {
  kAccepted,   // first time this (source, record_id) was seen: revision 1
  kUnchanged,  // identity and attributes identical to the stored ones:
               // nothing written
  kUpdated,    // identity or attributes differ: previous revision moved to
               // history. A record sent without any attribute keeps the
               // stored ones (none were sent, e.g. with an event); one with
               // attributes replaces the whole set.
};

struct IngestOutcome {
  IngestResult result;
  // The revision current for the key after this record (1 for kAccepted).
  uint64_t revision;
};

// Current values (serialized StoredRecord) of Cf::kRecords keys written by a
// staged batch that is not committed yet, by key.
using PendingRecords = absl::flat_hash_map<std::string, std::string>;

// Name of an IngestResult ("accepted", "unchanged", "updated").
std::string_view IngestResultName(IngestResult result);

// Key of (source, record_id) in Cf::kRecords; other components refer to a
// record by it (e.g. the blocking index).
std::string RecordKey(std::string_view source, std::string_view record_id);
// Inverse of RecordKey. Returns INVALID_ARGUMENT for a malformed key; the
// views point into `key`.
absl::Status DecodeRecordKey(std::string_view key, std::string_view* source,
                             std::string_view* record_id);

// Names of the EncodedIdentity fields counted for coverage, in proto field
// order (e.g. "upn", "given_name_bf"). Every bytes field except key_check.
const std::vector<std::string_view>& CoverageFieldNames();

// Records over a Store. Thread-safety: reads (Get, History, ForEachRecord,
// Stats) are thread-safe and may run alongside writes. Stage reads the
// committed state to decide, so the caller (one writer: the ingest pipeline)
// must serialise Stage calls, and commit their batches in the order staged;
// a batch may be staged while the one before it commits if that batch's
// writes are passed as `pending`. At most one Stage call may contribute to a
// batch.
class RecordStore {
 public:
  // `store` is not owned and must outlive this object.
  explicit RecordStore(Store* store);

  // Decides, for each record in order, whether it is accepted, unchanged or
  // an update, and adds the resulting writes (records, history, counters) to
  // `batch`; nothing is visible until the caller commits the batch. The same
  // key may occur several times: later occurrences see the earlier ones.
  // Records must already be validated by the caller; `now` stamps new
  // revisions. Returns one outcome per record, or
  //   INVALID_ARGUMENT if `batch` or a record is null, or a record has an
  //                    empty source or record_id (naming its index);
  //   DATA_LOSS        if a stored record cannot be parsed;
  //   a Store read error.
  // On error `batch` is left unchanged.
  //
  // `pending` (may be null): the records of the batch staged before this one
  // and not committed yet; they count as stored. `staged` (may be null):
  // receives the records this call writes, to pass as `pending` to the next
  // Stage while this batch commits.
  absl::StatusOr<std::vector<IngestOutcome>> Stage(
      absl::Span<const linkd::v1::EncodedRecord* const> records, absl::Time now,
      WriteBatch* batch, const PendingRecords* pending = nullptr,
      PendingRecords* staged = nullptr) const;

  // The current revision of (source, record_id), or nullopt if never stored.
  // DATA_LOSS if the stored value is malformed.
  absl::StatusOr<std::optional<StoredRecord>> Get(
      std::string_view source, std::string_view record_id,
      const Snapshot* snapshot = nullptr) const;

  // Revision `revision` of (source, record_id), current or from history;
  // nullopt if there is no such revision. DATA_LOSS if malformed.
  absl::StatusOr<std::optional<StoredRecord>> GetRevision(
      std::string_view source, std::string_view record_id, uint64_t revision,
      const Snapshot* snapshot = nullptr) const;

  // Previous revisions of (source, record_id), oldest first, without the
  // current one (empty if never updated or never stored).
  absl::StatusOr<std::vector<StoredRecord>> History(
      std::string_view source, std::string_view record_id,
      const Snapshot* snapshot = nullptr) const;

  // Visits the current revision of every record of `source` (every source if
  // nullopt), in key order. Return true to continue, false to stop, or an
  // error to abort (returned unchanged). Records for which `want` (if set)
  // returns false are skipped without being parsed. Does not fill the block
  // cache.
  using RecordCallback = absl::FunctionRef<absl::StatusOr<bool>(
      std::string_view source, std::string_view record_id,
      const StoredRecord& record)>;
  using RecordFilter =
      std::function<bool(std::string_view source, std::string_view record_id)>;
  absl::Status ForEachRecord(std::optional<std::string> source,
                             RecordCallback fn,
                             const Snapshot* snapshot = nullptr,
                             const RecordFilter& want = nullptr) const;

  // Record counts per source (sorted by source), records updated at least
  // once, field coverage (fields with at least one record, in
  // CoverageFieldNames() order), and the total. Read from the counters in
  // one consistent pass, not by scanning records. DATA_LOSS if a counter key
  // or value is malformed.
  absl::StatusOr<linkd::v1::GetStatsResponse> Stats() const;

 private:
  Store* store_;
};

}  // namespace linkd::store

#endif  // LINKD_STORE_RECORD_STORE_H_
