#include "linkd/server/ingest_service.h"

#include <deque>
#include <memory>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "google/protobuf/arena.h"
#include "linkd/server/grpc_status.h"

namespace linkd::server {
namespace {

constexpr char kMethod[] = "/linkd.v1.IngestService/Ingest";

// A batch parsed into its own arena: its thousands of small strings are
// freed at once with the arena instead of one by one.
struct ArenaBatch {
  ArenaBatch()
      : arena(Options()),
        batch(google::protobuf::Arena::CreateMessage<v1::IngestBatch>(&arena)) {
  }
  static google::protobuf::ArenaOptions Options() {
    google::protobuf::ArenaOptions options;
    options.start_block_size = 64 << 10;
    options.max_block_size = 1 << 20;
    return options;
  }
  google::protobuf::Arena arena;
  v1::IngestBatch* const batch;  // owned by `arena`
};

// One Ingest stream. Up to kMaxInFlight batches are read ahead and queued on
// the pipeline, so that parsing the next batch overlaps committing the
// previous one (and queued batches share a commit); the pipeline applies
// them in order, so acknowledgements are written in batch order, one write
// at a time. Deletes itself once gRPC is done with it (OnDone) and no batch
// of it is still queued.
class IngestReactor final
    : public grpc::ServerBidiReactor<v1::IngestBatch, v1::IngestAck> {
 public:
  IngestReactor(ingest::IngestPipeline* pipeline, const Governance* governance,
                std::shared_ptr<const ingest::Submitter> submitter)
      : pipeline_(pipeline),
        governance_(governance),
        submitter_(std::move(submitter)) {
    absl::MutexLock lock(&mu_);
    StartReadLocked();
  }

  void OnReadDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    reading_ = false;
    if (!ok) {  // the client has finished sending, or the call is over
      reads_done_ = true;
      MaybeFinishLocked();
      return;
    }
    ++in_flight_;
    ++batches_;
    // std::function needs a copyable callback, hence shared ownership.
    std::shared_ptr<const ArenaBatch> batch = std::move(reading_batch_);
    pipeline_->Submit(
        batch->batch,
        [this, batch](absl::StatusOr<v1::IngestAck> ack) {
          OnApplied(std::move(ack));
        },
        submitter_);
    StartReadLocked();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED,
                                "the client stopped receiving"));
      return;
    }
    WriteNextLocked();
    MaybeFinishLocked();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
  }

  void OnDone() override {
    bool last;
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
      last = in_flight_ == 0;
    }
    if (last) delete this;
  }

 private:
  // Enough for the pipeline to stage a group while the one before commits
  // (a group holds up to max_group_items items): with 4, every batch the
  // client could send was in the group being committed, and staging waited.
  static constexpr int kMaxInFlight = 16;

  // Runs on the pipeline's commit thread once a batch is durable (or failed).
  void OnApplied(absl::StatusOr<v1::IngestAck> ack) {
    bool last;
    {
      absl::MutexLock lock(&mu_);
      --in_flight_;
      if (!ack.ok()) {
        FinishLocked(ToGrpcStatus(ack.status()));
      } else if (cancelled_) {
        FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
      } else {
        acks_.push_back(*std::move(ack));
        WriteNextLocked();
        StartReadLocked();
        MaybeFinishLocked();
      }
      last = done_ && in_flight_ == 0;
    }
    if (last) delete this;
  }

  void StartReadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (reading_ || reads_done_ || finished_ || in_flight_ >= kMaxInFlight) {
      return;
    }
    reading_ = true;
    reading_batch_ = std::make_unique<ArenaBatch>();
    StartRead(reading_batch_->batch);
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_ || acks_.empty()) return;
    writing_ = true;
    current_ack_ = std::move(acks_.front());
    acks_.pop_front();
    StartWrite(&current_ack_);
  }

  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (reads_done_ && in_flight_ == 0 && !writing_ && acks_.empty()) {
      FinishLocked(cancelled_
                       ? grpc::Status(grpc::StatusCode::CANCELLED, "cancelled")
                       : grpc::Status::OK);
    }
  }

  void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    // Each batch was audited with its records; a stream that sent none gets
    // its one entry here.
    if (batches_ == 0 && governance_ != nullptr && submitter_ != nullptr) {
      audit::v1::AuditEntry entry = submitter_->entry;
      (*entry.mutable_details())["batches"] = "0";
      const absl::Status recorded = governance_->Close(
          &entry,
          absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                       status.error_message()));
      if (!recorded.ok() && status.ok()) status = ToGrpcStatus(recorded);
    }
    Finish(std::move(status));
  }

  ingest::IngestPipeline* const pipeline_;
  const Governance* const governance_;
  const std::shared_ptr<const ingest::Submitter> submitter_;

  absl::Mutex mu_;
  std::unique_ptr<ArenaBatch> reading_batch_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::IngestAck> acks_ ABSL_GUARDED_BY(mu_);
  v1::IngestAck current_ack_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;    // batches queued on the pipeline
  int64_t batches_ ABSL_GUARDED_BY(mu_) = 0;  // batches submitted
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;  // OnDone has run
};

// A stream refused before it starts: finishes at once.
class RefusedIngest final
    : public grpc::ServerBidiReactor<v1::IngestBatch, v1::IngestAck> {
 public:
  explicit RefusedIngest(const absl::Status& status) {
    Finish(ToGrpcStatus(status));
  }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerBidiReactor<v1::IngestBatch, v1::IngestAck>*
IngestServiceImpl::Ingest(grpc::CallbackServerContext* context) {
  if (governance_ == nullptr) {
    return new IngestReactor(pipeline_, nullptr, nullptr);
  }
  auto submitter = std::make_shared<ingest::Submitter>();
  absl::StatusOr<Caller> caller =
      governance_->Admit(*context, kMethod, &submitter->entry);
  if (!caller.ok()) return new RefusedIngest(caller.status());
  if (!caller->insecure) submitter->sources = caller->sources;
  return new IngestReactor(pipeline_, governance_, std::move(submitter));
}

}  // namespace linkd::server
