// linkd::events: events reported about children (DESIGN.md section 5), as
// stored: idempotent by (source, event id), queued for routing in the same
// WriteBatch as the ingest that stores them, and kept as each child's
// time-ordered journey under the SUI.
//
// Layout in Cf::kEvents (keys from linkd/store/key_codec.h; the first
// component is a u8 tag):
//   (1, source, event_id)         -> seq (u64, big-endian)   idempotency
//   (2, seq)                      -> linkd.store.v1.StoredEvent
//   (3, seq)                      -> link_seq (u64)   route queue: written
//                                    with the event, deleted in the batch
//                                    that routes it
//   (4, sui, event time, seq)     -> ""   the journey under the SUI the
//                                    event was routed to (time: the event's
//                                    date, micros at UTC midnight)
//   (5, record key, seq)          -> ""   events per source record
//   (6, record key)               -> linkd.store.v1.RecordEventState, the
//                                    router's state of that record
// A child's journey is read under its SUI's lineage (merges) and checked
// against the records linked to it now (splits): see Journey().
#ifndef LINKD_EVENTS_EVENT_STORE_H_
#define LINKD_EVENTS_EVENT_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/types/span.h"
#include "linkd/store/store.h"
#include "linkd/store/v1/notify.pb.h"
#include "linkd/v1/record.pb.h"

namespace linkd::events {

using StoredEvent = ::linkd::store::v1::StoredEvent;
using RecordEventState = ::linkd::store::v1::RecordEventState;

// The event's date as micros since the epoch at UTC midnight (0 if unset).
int64_t EventTimeMicros(const v1::Event& event);
// A date as an absl::CivilDay; false if it is not a valid calendar date.
bool ToCivilDay(const v1::Date& date, absl::CivilDay* day);

// True if the two submissions are the same event (same record id, same
// event fields): a resubmission, not a conflicting reuse of the id.
bool SameEvent(const StoredEvent& stored, const v1::EncodedEvent& event);

// Thread-safety: reads are thread-safe and may run alongside writes. The
// Add*/Put*/Dequeue functions only add to the caller's batch; their caller
// serialises writers (the ingest pipeline adds events, the router routes
// them).
class EventStore {
 public:
  // `store` is not owned and must outlive this object.
  explicit EventStore(store::Store* store) : store_(store) {}

  // The highest event sequence number stored (0 if none). Store errors.
  absl::StatusOr<uint64_t> LastSeq() const;

  // The stored event with this (source, event_id), or nullopt. DATA_LOSS if
  // it is malformed.
  absl::StatusOr<std::optional<StoredEvent>> Find(
      std::string_view source, std::string_view event_id) const;
  // The event with sequence number `seq`, or nullopt.
  absl::StatusOr<std::optional<StoredEvent>> Get(uint64_t seq) const;
  // Visits every stored event in seq order, at `snapshot` when not null
  // (bulk readers such as a research release; without filling the block
  // cache). Return true to go on, false to stop, or an error to abort.
  // DATA_LOSS for a malformed event.
  absl::Status ForEachEvent(
      absl::FunctionRef<absl::StatusOr<bool>(const StoredEvent& event)> fn,
      const store::Snapshot* snapshot = nullptr) const;

  // Adds a new event (its seq set) to `batch`: its body, the idempotency
  // and per-record indexes and its route-queue entry.
  static void Add(const StoredEvent& event, store::WriteBatch* batch);

  // Visits the route queue in seq order from `after_seq` + 1: (seq,
  // link_seq). Return true to go on, false to stop, or an error to abort.
  absl::Status ForEachQueued(
      uint64_t after_seq,
      absl::FunctionRef<absl::StatusOr<bool>(uint64_t seq, uint64_t link_seq)>
          fn) const;
  // Removes the event from the route queue and files it in the journey of
  // `sui` (0: routed while its record was not linked; no journey entry).
  static void MarkRouted(const StoredEvent& event, uint64_t sui,
                         store::WriteBatch* batch);

  // The router's state of a record (empty if none), by store::RecordKey.
  absl::StatusOr<RecordEventState> GetState(std::string_view record_key) const;
  static void PutState(std::string_view record_key,
                       const RecordEventState& state, store::WriteBatch* batch);

  // A child's journey, oldest first (by event date, then seq): the events
  // filed under the SUIs of `lineage` (the SUI and those merged into it)
  // whose records are among `members` (the records linked to it now), and
  // every event of those records that was filed elsewhere (records that
  // moved in). At most `limit` events. DATA_LOSS for malformed entries.
  absl::StatusOr<std::vector<StoredEvent>> Journey(
      absl::Span<const uint64_t> lineage, absl::Span<const std::string> members,
      size_t limit = 10000) const;

 private:
  store::Store* const store_;
};

}  // namespace linkd::events

#endif  // LINKD_EVENTS_EVENT_STORE_H_
