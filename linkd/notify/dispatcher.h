// linkd::notify dispatcher: live delivery of outboxes to connected
// subscribers (NotificationService.Subscribe), on its own thread.
//
// Each subscription reads its recipient's outbox from the start, so that a
// reconnecting subscriber gets everything not yet acknowledged, then follows
// it as the router publishes. Each release is audited before it is sent:
// the dispatcher gathers what every ready subscription is due, appends one
// audit entry per notification for all of them in one synced commit, and
// only then starts the writes. A subscription has at most one write in
// flight; the stream's reactor reports its completion (WriteDone), so no
// gRPC reaction ever waits for the store or the audit log.
#ifndef LINKD_NOTIFY_DISPATCHER_H_
#define LINKD_NOTIFY_DISPATCHER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "linkd/audit/audit_log.h"
#include "linkd/audit/v1/audit.pb.h"
#include "linkd/notify/outbox.h"
#include "linkd/util/clock.h"
#include "linkd/v1/notification_service.pb.h"

namespace linkd::notify {

// The sending end of one subscription (the gRPC stream's reactor). The
// dispatcher calls Deliver or Stop only while it holds the subscription's
// write slot, so at most one of them is ever in progress, and after Stop it
// calls neither again.
class Subscriber {
 public:
  virtual ~Subscriber() = default;
  // Starts writing `message` (already audited as released); the reactor
  // calls Dispatcher::WriteDone when the write completes. Must not block.
  virtual void Deliver(v1::SubscribeResponse message) = 0;
  // Ends the stream with `status`. Must not block.
  virtual void Stop(const absl::Status& status) = 0;
};

struct DispatcherOptions {
  // Most notifications in one stream message.
  size_t max_per_message = 256;
  const util::Clock* clock = util::Clock::Real();
};

// Thread-safe.
class Dispatcher {
 public:
  // `store` (the outbox's), `outbox` and `audit` are not owned and must
  // outlive the dispatcher. Starts the dispatcher thread.
  Dispatcher(store::Store* store, const Outbox* outbox, audit::AuditLog* audit,
             DispatcherOptions options);
  // Stops every subscription (as StopAll) and joins the thread.
  ~Dispatcher();

  // Registers `subscriber` (not owned; it must stay valid until
  // Unsubscribe) for `recipient`'s outbox. `entry` is the Subscribe call's
  // audit entry: each release is audited as a copy of it. Returns the
  // subscription's handle, or UNAVAILABLE once StopAll has run.
  absl::StatusOr<uint64_t> Subscribe(const std::string& recipient,
                                     Subscriber* subscriber,
                                     audit::v1::AuditEntry entry);
  // The write started by Deliver finished (ok: sent). Returns true if the
  // caller must now end the stream (it was cancelled, failed, or linkd is
  // stopping); it then calls Finish itself.
  bool WriteDone(uint64_t handle, bool ok);
  // The client cancelled. Returns true if the caller must end the stream
  // now (no write in flight); otherwise the pending WriteDone will say so.
  bool Cancel(uint64_t handle);
  // Forgets the subscription (from the reactor's OnDone). After it returns
  // the dispatcher never touches the subscriber again.
  void Unsubscribe(uint64_t handle);

  // New notifications were committed to these recipients' outboxes.
  void Published(const std::vector<std::string>& recipients);

  // Ends every subscription (UNAVAILABLE: linkd is stopping) and refuses new
  // ones. Idempotent.
  void StopAll();

  // Live subscriptions (for status and tests).
  size_t subscriptions() const;

 private:
  struct Sub {
    std::string recipient;
    Subscriber* subscriber;
    audit::v1::AuditEntry entry;
    uint64_t cursor = 0;  // last id sent
    bool dirty = true;    // may have unsent notifications
    uint64_t generation = 0;
    bool writing = false;  // the write slot is held
    bool cancelled = false;
    bool finished = false;  // Stop or Finish has been or is being called
    bool queued = false;    // in ready_
  };
  struct Work {
    uint64_t handle;
    Subscriber* subscriber;
    std::string recipient;
    uint64_t cursor;
    uint64_t generation;
    audit::v1::AuditEntry entry;
    v1::SubscribeResponse message;
    uint64_t last_id = 0;
    bool more = false;
  };

  void Loop();
  // Queues `sub` for the dispatcher if it has something to send and its
  // write slot is free.
  void MarkReadyLocked(uint64_t handle, Sub* sub)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  store::Store* const store_;
  const Outbox* const outbox_;
  audit::AuditLog* const audit_;
  const DispatcherOptions options_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, Sub> subs_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::vector<uint64_t>> by_recipient_
      ABSL_GUARDED_BY(mu_);
  // Subscriptions with something to send and a free write slot, so that
  // one publish costs its recipient's subscriptions, not all of them.
  std::deque<uint64_t> ready_ ABSL_GUARDED_BY(mu_);
  uint64_t next_handle_ ABSL_GUARDED_BY(mu_) = 1;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool exit_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace linkd::notify

#endif  // LINKD_NOTIFY_DISPATCHER_H_
