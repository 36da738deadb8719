// linkd::linker::LinkWorker: links stored records into SUIs behind ingest.
//
// Ingest stays fast and durable on its own: the ingest pipeline stores each
// new or changed record together with an entry in the link queue, in the
// same WriteBatch, and acknowledges it. This worker consumes the queue in
// order, on its own thread (the linker's single writer), and commits each
// linked batch together with the removal of its queue entries, so every
// queued record is linked exactly once, across crashes and restarts too.
//
// Queue layout in Cf::kLinks: (5, sequence number) -> record key. The
// counter "linked_seq" in Cf::kStats is the watermark: every entry up to it
// is linked.
#ifndef LINKD_LINKER_LINK_WORKER_H_
#define LINKD_LINKER_LINK_WORKER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "linkd/linker/linker.h"
#include "linkd/linker/model_trainer.h"
#include "linkd/store/store.h"
#include "linkd/util/clock.h"

namespace linkd::linker {

struct LinkWorkerOptions {
  // Queue entries linked in one WriteBatch.
  size_t batch_records = 1000;
  // Start paused: records queue up until SetPaused(false) (bulk loads).
  bool paused = false;
  // Where Relink builds its scratch database (a folder of the data
  // directory; required for relinking).
  std::string scratch_dir;
  // A backlog of at least this many new records is linked in bulk
  // (Linker::LinkBulk: the same decisions, in memory on several threads),
  // at most bulk_max_records at a time. 0 turns bulk linking off.
  size_t bulk_min_records = 20000;
  size_t bulk_max_records = 2000000;
  BulkOptions bulk;
  // The block cache's capacity while a bulk run holds its records in memory
  // (restored afterwards): the run reads around the cache, and a million
  // records need the memory.
  size_t bulk_block_cache_mib = 32;
  // Estimate the model from the stored records before linking, while the
  // model has never been estimated and at least auto_estimate_min_records
  // records are stored (tried again when the count has doubled).
  bool auto_estimate = true;
  uint64_t auto_estimate_min_records = 5000;
  TrainerOptions trainer;
};

// Progress of linking: all queue entries up to linked_seq are linked;
// entries up to queued_seq exist.
struct LinkProgress {
  uint64_t queued_seq = 0;
  uint64_t linked_seq = 0;
  bool paused = false;
  // What the worker is doing beyond incremental linking ("" when nothing),
  // e.g. "estimating the model: comparing blocked pairs" or "bulk linking
  // 980000 records".
  std::string activity;
  // Model estimations finished since start, and the last one's error ("" if
  // it succeeded or none ran).
  uint64_t estimations = 0;
  std::string last_estimation_error;
};

// Thread-safe.
class LinkWorker {
 public:
  // Reads the queue's state and starts the worker thread, which links what
  // is already queued (e.g. after a crash). `store`, `linker` and `clock`
  // must outlive the worker. Returns a Store error if the state cannot be
  // read.
  static absl::StatusOr<std::unique_ptr<LinkWorker>> Start(
      store::Store* store, Linker* linker, const util::Clock* clock,
      LinkWorkerOptions options);

  // Finishes the batch in progress and stops (a bulk run, re-link or model
  // estimation stops at its next check; what it committed stays). Entries
  // still queued stay in the queue for the next start.
  ~LinkWorker();

  // Adds a queue entry for `record_key` with sequence number `seq` to
  // `batch` (the ingest pipeline's single writer calls this; sequence
  // numbers must increase). Call Queued(seq) once the batch is committed.
  static void Enqueue(uint64_t seq, std::string_view record_key,
                      store::WriteBatch* batch);

  // The last sequence number used so far (for the ingest pipeline to
  // continue from).
  uint64_t last_queued_seq() const;

  // Tells the worker that entries up to `seq` are committed.
  void Queued(uint64_t seq);

  LinkProgress progress() const;

  // Pauses or resumes linking. While paused, ingest goes on and records
  // wait in the queue (e.g. during an initial bulk load).
  void SetPaused(bool paused);

  // Waits until everything up to `seq` is linked or `timeout` passes;
  // returns the progress then.
  LinkProgress WaitLinked(uint64_t seq, absl::Duration timeout) const;

  // Runs `task` on the worker thread, the linker's single writer, before
  // the next batch (even while paused), and returns at once. Tasks run in
  // the order submitted; tasks still queued at shutdown run before the
  // worker stops. For writes that must not race with linking, such as a
  // reviewer's decision.
  void Submit(std::function<void()> task);

  // Asks the worker to re-estimate the model from the stored records
  // between two batches (even while paused), and then, if `relink`, to
  // re-link every linked record under the new model (Linker::Relink);
  // progress() tells when it is done. FAILED_PRECONDITION if an estimation
  // is already pending.
  absl::Status RequestEstimate(bool relink = false);

 private:
  LinkWorker(store::Store* store, Linker* linker, const util::Clock* clock,
             LinkWorkerOptions options, uint64_t queued, uint64_t linked);
  void Loop();
  // Links up to options_.batch_records queued entries (or a bulk run);
  // returns how many.
  absl::StatusOr<size_t> LinkSome();
  // Links the queue entries `seqs` (keys `keys`) in bulk if a long enough
  // prefix of them is new records; returns how many entries it linked (0:
  // not worth a bulk run).
  // If `estimate_for` is set (the automatic estimation is due, for that
  // many stored records), the model is estimated before linking: from the
  // records the run has read if they are all the stored records, else from
  // the store.
  absl::StatusOr<size_t> LinkBulkPrefix(const std::vector<uint64_t>& seqs,
                                        const std::vector<std::string>& keys,
                                        uint64_t linked_before,
                                        std::optional<uint64_t> estimate_for);
  using EstimateFn = std::function<absl::StatusOr<matcher::Model>(
      const matcher::Model& current, const TrainerOptions& options,
      const TrainerProgress& progress)>;
  // Estimates (from the store, or by `estimate`), saves and installs a new
  // model.
  absl::Status Estimate(const EstimateFn& estimate = nullptr);
  // Re-links every linked record under the current model.
  absl::Status Relink();
  // The number of stored records if the automatic estimation is due: the
  // model was never estimated and enough is stored (and, after a failed
  // try, twice as much as then).
  std::optional<uint64_t> AutoEstimateDue();
  // The automatic estimation for `stored` records, by Estimate(estimate);
  // logged and counted as a try.
  void AutoEstimate(uint64_t stored, const EstimateFn& estimate = nullptr);
  void SetActivity(std::string activity);
  // Runs the queued tasks; true if the worker is stopping.
  bool RunTasks();
  LinkProgress ProgressLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  store::Store* const store_;
  Linker* const linker_;
  const util::Clock* const clock_;
  const LinkWorkerOptions options_;

  mutable absl::Mutex mu_;
  uint64_t queued_seq_ ABSL_GUARDED_BY(mu_);
  uint64_t linked_seq_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool paused_ ABSL_GUARDED_BY(mu_);
  bool estimate_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool relink_requested_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  std::string activity_ ABSL_GUARDED_BY(mu_);
  uint64_t estimations_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_estimation_error_ ABSL_GUARDED_BY(mu_);
  uint64_t auto_estimate_tried_at_ = 0;  // worker thread only
  // Set by the destructor: a bulk run, re-link or estimation in progress
  // stops at its next check instead of running to the end.
  std::atomic<bool> stop_requested_{false};
  std::thread thread_;
};

}  // namespace linkd::linker

#endif  // LINKD_LINKER_LINK_WORKER_H_
