#include "linkd/server/ingest_service.h"

#include <deque>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "linkd/server/grpc_status.h"

namespace linkd::server {
namespace {

// One Ingest stream. Deletes itself in OnDone(). Up to kMaxInFlight batches
// are read ahead and queued on the executor, so that parsing the next batch
// overlaps committing the previous one; the executor applies them in order,
// so acknowledgements are written in batch order, one write at a time.
class IngestReactor final
    : public grpc::ServerBidiReactor<v1::IngestBatch, v1::IngestAck> {
 public:
  IngestReactor(ingest::IngestPipeline* pipeline, Executor* executor)
      : pipeline_(pipeline), executor_(executor) {
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
    executor_->Submit([this, batch = std::move(reading_batch_)] {
      Apply(*batch);
    });
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
    // gRPC calls OnDone only after Finish and after every started read and
    // write has completed; batches still queued on the executor hold `this`,
    // so wait for them (they finish quickly once the call is over).
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](int* n) { return *n == 0; }, &in_flight_));
    }
    delete this;
  }

 private:
  static constexpr int kMaxInFlight = 4;

  // Runs on the executor: commits one batch, then queues its ack.
  void Apply(const v1::IngestBatch& batch) {
    absl::StatusOr<v1::IngestAck> ack;
    {
      absl::MutexLock lock(&mu_);
      if (finished_) {  // an earlier batch failed: apply nothing more
        --in_flight_;
        return;
      }
    }
    ack = pipeline_->Apply(batch);
    absl::MutexLock lock(&mu_);
    --in_flight_;
    if (!ack.ok()) {
      FinishLocked(ToGrpcStatus(ack.status()));
      return;
    }
    if (cancelled_) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
      return;
    }
    acks_.push_back(*std::move(ack));
    WriteNextLocked();
    StartReadLocked();
    MaybeFinishLocked();
  }

  void StartReadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (reading_ || reads_done_ || finished_ || in_flight_ >= kMaxInFlight) {
      return;
    }
    reading_ = true;
    reading_batch_ = std::make_unique<v1::IngestBatch>();
    StartRead(reading_batch_.get());
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
      FinishLocked(cancelled_ ? grpc::Status(grpc::StatusCode::CANCELLED,
                                             "cancelled")
                              : grpc::Status::OK);
    }
  }

  void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(std::move(status));
  }

  ingest::IngestPipeline* const pipeline_;
  Executor* const executor_;

  absl::Mutex mu_;
  std::unique_ptr<v1::IngestBatch> reading_batch_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::IngestAck> acks_ ABSL_GUARDED_BY(mu_);
  v1::IngestAck current_ack_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;  // batches queued or applying
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

grpc::ServerBidiReactor<v1::IngestBatch, v1::IngestAck>*
IngestServiceImpl::Ingest(grpc::CallbackServerContext* /*context*/) {
  return new IngestReactor(pipeline_, executor_);
}

}  // namespace linkd::server
