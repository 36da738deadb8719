// linkd.v1.NotificationService: recipients read their own outbox
// (linkd/notify), as the organisation their certificate names.
#ifndef LINKD_SERVER_NOTIFICATION_SERVICE_H_
#define LINKD_SERVER_NOTIFICATION_SERVICE_H_

#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "linkd/notify/dispatcher.h"
#include "linkd/notify/outbox.h"
#include "linkd/server/governance.h"
#include "linkd/util/serial_executor.h"
#include "linkd/v1/notification_service.grpc.pb.h"

namespace linkd::server {

// Thread-safe. Subscribe streams from the dispatcher's thread; Ack commits
// on the service's own worker thread (a synced write), so no reaction
// waits for the disk; ListPending answers from one key scan.
class NotificationServiceImpl final
    : public v1::NotificationService::CallbackService {
 public:
  // Pointers are not owned and must outlive the service. `governance` is
  // required: every call acts as the calling organisation.
  NotificationServiceImpl(notify::Outbox* outbox,
                          notify::Dispatcher* dispatcher,
                          const Governance* governance);
  // Runs the acknowledgements still queued, then stops the worker.
  ~NotificationServiceImpl();

  grpc::ServerWriteReactor<v1::SubscribeResponse>* Subscribe(
      grpc::CallbackServerContext* context,
      const v1::SubscribeRequest* request) override;
  grpc::ServerUnaryReactor* Ack(grpc::CallbackServerContext* context,
                                const v1::AckRequest* request,
                                v1::AckResponse* response) override;
  grpc::ServerUnaryReactor* ListPending(
      grpc::CallbackServerContext* context,
      const v1::ListPendingRequest* request,
      v1::ListPendingResponse* response) override;

 private:
  notify::Outbox* const outbox_;
  notify::Dispatcher* const dispatcher_;
  const Governance* const governance_;

  // Declared last: destroyed first, so its tasks finish while everything
  // above is still alive.
  util::SerialExecutor worker_{"linkd-notify-rpc"};
};

}  // namespace linkd::server

#endif  // LINKD_SERVER_NOTIFICATION_SERVICE_H_
