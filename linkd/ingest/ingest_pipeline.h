// The ingest pipeline: validates batches of encoded items and commits the
// accepted ones durably. linkd has one writer: this pipeline's thread.
#ifndef LINKD_INGEST_INGEST_PIPELINE_H_
#define LINKD_INGEST_INGEST_PIPELINE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
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
  // Called on the writer thread after each commit that stored new events,
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

  // Queues `batch`; `done` runs on the writer thread with the batch's
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
  void WriterLoop();
  // Validates, stages and commits `group` as one WriteBatch; one result per
  // batch. Runs on the writer thread only.
  std::vector<absl::StatusOr<v1::IngestAck>> ApplyGroup(
      absl::Span<const Pending> group);
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
  // Last link-queue sequence number used. Writer thread only.
  uint64_t link_seq_;
  events::EventStore events_;
  // Last event sequence number used. Writer thread only.
  uint64_t event_seq_ = 0;
  const util::Clock* const clock_;
  const PipelineOptions options_;
  // key_version -> key_check of the linkage key that version names. Only
  // the writer thread touches it.
  absl::flat_hash_map<uint32_t, KeyCheck> key_checks_;

  absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread writer_;
};

}  // namespace linkd::ingest

#endif  // LINKD_INGEST_INGEST_PIPELINE_H_
