// The ingest pipeline: validates batches of encoded items and commits the
// accepted ones durably. linkd has one writer of records: this pipeline.
// It runs on two threads, so that staging a group of batches (reading what
// is stored, deciding, building the write) overlaps committing the group
// before it (the WAL write, fsync and memtable inserts): the writer thread
// stages, the commit thread commits in order and acknowledges.
#ifndef LINKD_INGEST_INGEST_PIPELINE_H_
#define LINKD_INGEST_INGEST_PIPELINE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "linkd/audit/audit_log.h"
#include "linkd/audit/v1/audit.pb.h"
#include "linkd/events/event_store.h"
#include "linkd/linker/link_worker.h"
#include "linkd/store/record_store.h"
#include "linkd/store/store.h"
#include "linkd/util/clock.h"
#include "linkd/util/serial_executor.h"
#include "linkd/v1/ingest_service.pb.h"

namespace linkd::ingest {

// Who submits a batch, as the server's governance decided: the sources it
// may submit records as, and the audit entry of its call.
struct Submitter {
  // The sources its records may carry; empty: any source (tests and tools
  // without governance).
  std::vector<std::string> sources;
  // The call's audit entry (organisation, method, policy, request id); each
  // batch gets a copy completed with what the batch did.
  audit::v1::AuditEntry entry;
};

struct PipelineOptions {
  // Batches with more items are refused whole.
  uint32_t max_batch_items = 10000;
  // Queued batches are committed together (one synced write) up to this many
  // items: the cost of an fsync is shared by every batch waiting for it.
  uint32_t max_group_items = 20000;
  // When set, every batch gets an audit entry committed in the same write
  // as the batch's records (audit::AuditLog::AppendAndCommit). Not owned.
  audit::AuditLog* audit = nullptr;
  // Called on the commit thread after each commit that stored new events,
  // with the highest event sequence number stored so far (the notification
  // router's wake-up). Must not block. May be empty.
  std::function<void(uint64_t last_event_seq)> events_committed = nullptr;
};

// Thread-safe. Batches are applied in the order they are submitted.
class IngestPipeline {
 public:
  using Done = std::function<void(absl::StatusOr<v1::IngestAck>)>;

  // `store`, `linking` and `clock` must outlive the pipeline. Reads the key
  // checks seen so far and starts the writer thread. Returns the store's
  // error if the key checks cannot be read.
  static absl::StatusOr<std::unique_ptr<IngestPipeline>> Create(
      store::Store* store, linker::LinkWorker* linking,
      const util::Clock* clock, PipelineOptions options);

  // Applies every batch already submitted, then stops the writer thread.
  ~IngestPipeline();

  // Queues `batch`; `done` runs on the commit thread with the batch's
  // acknowledgement once the batch is durable, or with its error. New and
  // changed records are queued for linking in the same write (the ack's
  // link_seq says when they are linked). `*batch`
  // must stay valid until then. Several queued batches may share one synced
  // commit (group commit); each still gets its own acknowledgement.
  //
  // Every item is validated, here on the caller's thread (a gRPC thread, so
  // that the single writer does not), before it is queued; invalid items are
  // listed in the ack's rejections and nothing of them is stored. An event
  // (IngestItem.event) stores or updates its record like a record item, and the
  // event itself once per (source, event id), queued for routing in the same
  // write: a resubmitted event counts as unchanged, an event id reused for a
  // different event is refused with ALREADY_EXISTS. A record whose key_check
  // differs from the one first seen for its key_version (encoded with
  // another linkage key) is refused with FAILED_PRECONDITION.
  //
  // Errors: INVALID_ARGUMENT if the batch has more than max_batch_items
  // items; the store's error (UNAVAILABLE, DATA_LOSS, INTERNAL) if the commit
  // fails. In both cases nothing of the batch is stored.
  //
  // `submitter` (may be null: any source, no audit detail) says who sends
  // the batch: a record whose source it may not use is refused with
  // PERMISSION_DENIED naming record.source; with options.audit set, the
  // batch's audit entry is built from submitter->entry. Must stay valid
  // until `done` has run.
  void Submit(const v1::IngestBatch* batch, Done done,
              std::shared_ptr<const Submitter> submitter = nullptr);

  // Submit, then wait for the result.
  absl::StatusOr<v1::IngestAck> Apply(const v1::IngestBatch& batch);

 private:
  using KeyCheck = std::string;
  struct Pending {
    const v1::IngestBatch* batch;
    Done done;
    std::shared_ptr<const Submitter> submitter;
    // ValidateItem of each item (empty for a batch over max_batch_items,
    // which is refused whole).
    std::vector<absl::Status> valid;
  };

  IngestPipeline(store::Store* store, linker::LinkWorker* linking,
                 const util::Clock* clock, PipelineOptions options,
                 absl::flat_hash_map<uint32_t, KeyCheck> key_checks,
                 uint64_t event_seq);
  // A group staged and ready to commit as one WriteBatch.
  struct Prepared {
    std::vector<Pending> group;
    // One per batch; final unless the commit fails.
    std::vector<absl::StatusOr<v1::IngestAck>> results;
    // nullopt: nothing to commit (staging failed: every result is an error).
    std::optional<store::WriteBatch> write;
    std::vector<audit::v1::AuditEntry> entries;  // with options.audit
    uint64_t link_seq = 0;    // last link-queue entry once committed
    uint64_t event_seq = 0;   // last event once committed
    bool new_events = false;  // the group stores events
    // What the group writes that the next group must see before it is
    // committed: records, and events by RecordKey(source, event id).
    store::PendingRecords records;
    absl::flat_hash_map<std::string, events::StoredEvent> events;
  };
  // Writer state that a commit makes permanent.
  struct WriterState {
    absl::flat_hash_map<uint32_t, KeyCheck> key_checks;
    uint64_t link_seq = 0;
    uint64_t event_seq = 0;
  };

  void WriterLoop();
  // Takes the next group of queued batches; empty once stopping with nothing
  // queued.
  std::vector<Pending> TakeGroup();
  // Validates and stages `group` as if every group before it were committed
  // (the one still being committed is read from pending_records_ and
  // pending_events_), and advances the writer state past it. Writer thread.
  Prepared Prepare(std::vector<Pending> group);
  // Commits `p` and runs its batches' callbacks in order; returns the
  // commit's status. Commit thread.
  absl::Status CommitPrepared(Prepared& p);
  // One audit entry per batch of `group`, with the records it stored.
  static std::vector<audit::v1::AuditEntry> AuditEntries(
      absl::Span<const Pending> group,
      const std::vector<absl::StatusOr<v1::IngestAck>>& results,
      const std::vector<const v1::EncodedRecord*>& records,
      const std::vector<size_t>& record_batch,
      const std::vector<store::IngestOutcome>& outcomes);

  store::Store* const store_;
  store::RecordStore records_;
  linker::LinkWorker* const linking_;
  // The writer thread's own state: link_seq_, event_seq_, key_checks_ and
  // the pending_ writes. Last link-queue sequence number used by the groups
  // staged so far.
  uint64_t link_seq_;
  events::EventStore events_;
  // Last event sequence number used by the groups staged so far.
  uint64_t event_seq_ = 0;
  const util::Clock* const clock_;
  const PipelineOptions options_;
  // key_version -> key_check of the linkage key that version names, as of
  // the groups staged so far.
  absl::flat_hash_map<uint32_t, KeyCheck> key_checks_;
  // The writes of the group being committed.
  store::PendingRecords pending_records_;
  absl::flat_hash_map<std::string, events::StoredEvent> pending_events_;

  absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread writer_;
  // Runs CommitPrepared, one group at a time, in order. Declared last: it
  // must stop before anything its tasks use.
  util::SerialExecutor commit_{"linkd-commit"};
};

}  // namespace linkd::ingest

#endif  // LINKD_INGEST_INGEST_PIPELINE_H_
