#include "linkd/server/notification_service.h"

#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "linkd/server/grpc_status.h"
#include "linkd/util/status_macros.h"

namespace linkd::server {
namespace {

constexpr char kService[] = "/linkd.v1.NotificationService/";
constexpr uint32_t kMaxAckIds = 10000;
constexpr uint32_t kDefaultPendingLimit = 100;
constexpr uint32_t kMaxPendingLimit = 10000;

std::string Method(std::string_view name) {
  return absl::StrCat(kService, std::string(name));
}

// One subscription: the dispatcher delivers into it (Deliver, Stop); gRPC
// reports writes and cancellation back (OnWriteDone, OnCancel), which it
// passes on to the dispatcher without waiting for anything. Deletes itself
// in OnDone.
class SubscribeReactor final
    : public grpc::ServerWriteReactor<v1::SubscribeResponse>,
      public notify::Subscriber {
 public:
  SubscribeReactor(notify::Dispatcher* dispatcher, const std::string& recipient,
                   audit::v1::AuditEntry entry)
      : dispatcher_(dispatcher) {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<uint64_t> handle =
        dispatcher_->Subscribe(recipient, this, std::move(entry));
    if (!handle.ok()) {
      Finish(ToGrpcStatus(handle.status()));
      return;
    }
    handle_ = *handle;
  }

  // notify::Subscriber. Called by the dispatcher holding the write slot.
  void Deliver(v1::SubscribeResponse message) override {
    message_ = std::move(message);
    StartWrite(&message_);
  }
  void Stop(const absl::Status& status) override {
    Finish(ToGrpcStatus(status));
  }

  void OnWriteDone(bool ok) override {
    uint64_t handle;
    bool cancelled;
    {
      absl::MutexLock lock(&mu_);
      handle = handle_;
      cancelled = cancelled_ || !ok;
    }
    if (handle != 0 && dispatcher_->WriteDone(handle, ok)) {
      Finish(cancelled ? grpc::Status(grpc::StatusCode::CANCELLED,
                                      "the client went away")
                       : grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                      "linkd is shutting down; subscribe "
                                      "again"));
    }
  }

  void OnCancel() override {
    uint64_t handle;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      handle = handle_;
    }
    if (handle != 0 && dispatcher_->Cancel(handle)) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
    }
  }

  void OnDone() override {
    uint64_t handle;
    {
      absl::MutexLock lock(&mu_);
      handle = handle_;
    }
    if (handle != 0) dispatcher_->Unsubscribe(handle);
    delete this;
  }

 private:
  notify::Dispatcher* const dispatcher_;
  absl::Mutex mu_;
  uint64_t handle_ ABSL_GUARDED_BY(mu_) = 0;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  // The message being written; only the write-slot holder touches it.
  v1::SubscribeResponse message_;
};

class RefusedSubscribe final
    : public grpc::ServerWriteReactor<v1::SubscribeResponse> {
 public:
  explicit RefusedSubscribe(const absl::Status& status) {
    Finish(ToGrpcStatus(status));
  }
  void OnDone() override { delete this; }
};

}  // namespace

NotificationServiceImpl::NotificationServiceImpl(notify::Outbox* outbox,
                                                 notify::Dispatcher* dispatcher,
                                                 const Governance* governance)
    : outbox_(outbox), dispatcher_(dispatcher), governance_(governance) {}

NotificationServiceImpl::~NotificationServiceImpl() = default;

grpc::ServerWriteReactor<v1::SubscribeResponse>*
NotificationServiceImpl::Subscribe(grpc::CallbackServerContext* context,
                                   const v1::SubscribeRequest*) {
  audit::v1::AuditEntry entry;
  absl::StatusOr<Caller> caller =
      governance_->Admit(*context, Method("Subscribe"), &entry);
  if (!caller.ok()) return new RefusedSubscribe(caller.status());
  // The subscription itself is one entry; every notification it releases
  // gets its own (a copy of this one) before it is sent.
  audit::v1::AuditEntry opened = entry;
  (*opened.mutable_details())["stream"] = "opened";
  opened.set_recipient(caller->org);
  if (absl::Status s = governance_->Close(&opened, absl::OkStatus()); !s.ok()) {
    return new RefusedSubscribe(s);
  }
  entry.set_recipient(caller->org);
  return new SubscribeReactor(dispatcher_, caller->org, std::move(entry));
}

grpc::ServerUnaryReactor* NotificationServiceImpl::Ack(
    grpc::CallbackServerContext* context, const v1::AckRequest* request,
    v1::AckResponse* response) {
  auto entry = std::make_shared<audit::v1::AuditEntry>();
  absl::StatusOr<Caller> caller =
      governance_->Admit(*context, Method("Ack"), entry.get());
  if (!caller.ok()) return FinishUnary(context, caller.status());
  if (request->ids_size() == 0 ||
      request->ids_size() > static_cast<int>(kMaxAckIds)) {
    return FinishUnary(
        context, governance_->Close(
                     entry.get(), absl::InvalidArgumentError(absl::StrCat(
                                      "ids: give 1 to ", kMaxAckIds, " ids"))));
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  std::vector<uint64_t> ids(request->ids().begin(), request->ids().end());
  // The removal and its audit entry are one synced write: on the worker.
  worker_.Post([this, reactor, response, entry, ids = std::move(ids),
                org = caller->org] {
    absl::StatusOr<notify::AckResult> result = outbox_->Ack(org, ids, *entry);
    absl::Status s = result.status();
    if (s.ok()) {
      response->set_acknowledged(result->acknowledged);
      for (uint64_t id : result->unknown_ids) response->add_unknown_ids(id);
    } else {
      s = governance_->Close(entry.get(), s);  // nothing was removed
    }
    reactor->Finish(ToGrpcStatus(s));
  });
  return reactor;
}

grpc::ServerUnaryReactor* NotificationServiceImpl::ListPending(
    grpc::CallbackServerContext* context, const v1::ListPendingRequest* request,
    v1::ListPendingResponse* response) {
  return Governed(
      context, governance_, Method("ListPending"),
      [&](const Caller& caller, audit::v1::AuditEntry* entry) -> absl::Status {
        uint32_t limit =
            request->limit() == 0 ? kDefaultPendingLimit : request->limit();
        limit = std::min(limit, kMaxPendingLimit);
        LINKD_ASSIGN_OR_RETURN(const uint64_t pending,
                               outbox_->CountPending(caller.org));
        LINKD_ASSIGN_OR_RETURN(std::vector<notify::StoredNotification> list,
                               outbox_->Pending(caller.org, 0, limit));
        response->set_pending(pending);
        for (const notify::StoredNotification& n : list) {
          v1::PendingNotification* p = response->add_notifications();
          p->set_id(n.notification().id());
          p->set_kind(n.notification().kind());
          p->set_purpose(n.notification().purpose());
          p->set_created_micros(n.notification().created_micros());
          p->set_expires_micros(n.notification().expires_micros());
        }
        entry->set_recipient(caller.org);
        (*entry->mutable_details())["pending"] = absl::StrCat(pending);
        return absl::OkStatus();
      });
}

}  // namespace linkd::server
