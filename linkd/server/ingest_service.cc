#include "linkd/server/ingest_service.h"

#include <deque>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "linkd/server/grpc_status.h"

namespace linkd::server {
namespace {

// One Ingest stream. Deletes itself in OnDone(). At most one batch is being
// applied and at most one acknowledgement is being written at any time.
class IngestReactor final
    : public grpc::ServerBidiReactor<v1::IngestBatch, v1::IngestAck> {
 public:
  IngestReactor(ingest::IngestPipeline* pipeline, Executor* executor)
      : pipeline_(pipeline), executor_(executor) {
    StartRead(&batch_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client has finished sending, or the call is over
      absl::MutexLock lock(&mu_);
      reads_done_ = true;
      MaybeFinishLocked();
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      applying_ = true;
    }
    executor_->Submit([this] { Apply(); });
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

  void OnDone() override { delete this; }

 private:
  // Runs on the executor: commits the batch, then queues its ack and asks
  // for the next batch.
  void Apply() {
    absl::StatusOr<v1::IngestAck> ack = pipeline_->Apply(batch_);
    absl::MutexLock lock(&mu_);
    applying_ = false;
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
    if (!finished_) StartRead(&batch_);
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_ || acks_.empty()) return;
    writing_ = true;
    current_ack_ = std::move(acks_.front());
    acks_.pop_front();
    StartWrite(&current_ack_);
  }

  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (reads_done_ && !applying_ && !writing_ && acks_.empty()) {
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
  v1::IngestBatch batch_;  // owned by the read or by Apply(), never both

  absl::Mutex mu_;
  std::deque<v1::IngestAck> acks_ ABSL_GUARDED_BY(mu_);
  v1::IngestAck current_ack_ ABSL_GUARDED_BY(mu_);
  bool applying_ ABSL_GUARDED_BY(mu_) = false;
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
