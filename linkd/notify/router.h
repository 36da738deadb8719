// linkd::notify router: turns stored events into notifications, by policy
// (DESIGN.md sections 5 and 6), on its own thread.
//
// The ingest pipeline stores each event with a route-queue entry in the same
// WriteBatch. The router takes queued events in order once linking has
// reached their record (LinkWorker's linked_seq >= the event's link_seq),
// so it sees the child's SUI and every record linked to it, and for each:
//   - updates what it knows from the event (open episodes, looked after, in
//     a refuge, on or off a school's roll; kept per source record, so a
//     child's state is the union over the records of its SUI and follows
//     merges and splits);
//   - decides every candidate notification with the policy engine under its
//     purpose, with SubjectFacts from that state:
//       school event (suspension, exclusion, off roll, missing education,
//         in-year admission) -> each local authority holding an open episode
//         (safeguarding_notification, notification.send), and the Virtual
//         School of a looked-after child;
//       episode start -> the child's current school (has_social_worker_flag,
//         flag.send), with the contact; an in-year admission while an
//         episode is open -> the admitting school too;
//       episode end, when no other episode stays open -> the schools told,
//         and the current one: the flag is withdrawn;
//     where a child in a refuge has the location-revealing fields
//     (reporting_school, current_school) withheld whenever the policy
//     forbids them for that recipient;
//   - writes, in one synced batch for the whole group of events: the route
//     queue removals, the journey entries, the state, each allowed
//     notification in its recipient's outbox with the basis that entitled
//     the recipient, and one audit entry per decision (allowed or denied).
// Crash-safe: a group that is not committed is routed again after restart.
//
// Misdirection: a background sweep re-resolves each kept basis (the event's
// record and the record that entitled the recipient). When the two no longer
// belong to one SUI (a split, a record that moved), the recipient had no
// right to the notification: it is withdrawn if still unacknowledged, and
// the IG team (RouterOptions::ig_organisation) is told, with an audit entry.
#ifndef LINKD_NOTIFY_ROUTER_H_
#define LINKD_NOTIFY_ROUTER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "linkd/audit/audit_log.h"
#include "linkd/consent/consent_store.h"
#include "linkd/events/event_store.h"
#include "linkd/linker/link_worker.h"
#include "linkd/linker/linker.h"
#include "linkd/notify/outbox.h"
#include "linkd/store/record_store.h"
#include "linkd/store/store.h"
#include "linkd/util/clock.h"
#include "policies/engine/reloadable_policy_set.h"

namespace linkd::notify {

struct RouterOptions {
  const util::Clock* clock = util::Clock::Real();
  // The IG team told of misdirected notifications (an organisation id with
  // the ig_officer role, e.g. "la/999-ig"). Empty: misdirections are only
  // audited (and logged as a warning).
  std::string ig_organisation;
  // Events routed in one batch (one synced commit).
  size_t max_events_per_batch = 512;
  // How often expired notifications are dropped.
  absl::Duration expiry_interval = absl::Seconds(30);
  // Misdirection sweep: bases re-checked per second, in the background.
  size_t verify_per_second = 2000;
  // Bases are forgotten this long after their notification was sent.
  absl::Duration basis_retention = absl::Hours(24 * 400);
  // Called (on the router thread, after each commit) with the recipients
  // whose outboxes got new notifications. Must not block.
  std::function<void(const std::vector<std::string>& recipients)> published;
};

// Counts since start, for status and benchmarks.
struct RouterProgress {
  uint64_t committed_seq = 0;  // last event seq the pipeline committed
  uint64_t routed_seq = 0;     // every event up to it is routed
  uint64_t events = 0;
  uint64_t notifications = 0;
  uint64_t denied = 0;
  uint64_t misdirections = 0;
  uint64_t expired = 0;
  std::string last_error;
};

// Thread-safe.
class Router {
 public:
  // Pointers are not owned and must outlive the router (`consents` may be
  // null: no objection notes). Reads the route queue and starts the router
  // thread. Store errors.
  static absl::StatusOr<std::unique_ptr<Router>> Start(
      store::Store* store, const linker::Linker* linker,
      const linker::LinkWorker* linking, policy::ReloadablePolicySet* policies,
      const consent::ConsentStore* consents, audit::AuditLog* audit,
      Outbox* outbox, RouterOptions options);

  // Finishes the group in progress and stops; what is still queued is
  // routed after the next start.
  ~Router();

  // The ingest pipeline committed events up to `seq` (must not block).
  void EventsCommitted(uint64_t seq);

  RouterProgress progress() const;

  // Waits until every event up to `seq` is routed or `timeout` passes;
  // returns whether they are.
  bool WaitRouted(uint64_t seq, absl::Duration timeout) const;

  // Runs a whole misdirection sweep on the router thread now (for instance
  // after a reviewer split a SUI) and returns how many misdirections it
  // reported, or the first error. Blocks the caller until done.
  absl::StatusOr<size_t> VerifyNow();

 private:
  struct Batch;
  struct Child;

  Router(store::Store* store, const linker::Linker* linker,
         const linker::LinkWorker* linking,
         policy::ReloadablePolicySet* policies,
         const consent::ConsentStore* consents, audit::AuditLog* audit,
         Outbox* outbox, RouterOptions options, uint64_t routed_seq);

  void Loop();
  // Routes the ready prefix of the queue (at most max_events_per_batch);
  // sets *blocked_on to the link_seq the next event waits for (0: none).
  absl::Status RouteSome(uint64_t* blocked_on, size_t* routed);
  absl::Status Route(const events::StoredEvent& event, Batch* batch);
  absl::StatusOr<Child> LoadChild(linker::Sui sui, Batch* batch);
  absl::StatusOr<events::RecordEventState*> State(const std::string& key,
                                                  Batch* batch);
  // Decides one candidate notification and stages it if allowed.
  absl::Status Decide(const events::StoredEvent& event, const Child& child,
                      policy::Action action, const std::string& purpose,
                      const std::string& requester,
                      const std::string& recipient,
                      const std::string& basis_record,
                      policy::SubjectFacts facts, v1::Notification note,
                      Batch* batch, bool* allowed);
  // Checks up to `max` bases from the sweep cursor; returns how many
  // misdirections it reported.
  absl::StatusOr<size_t> Verify(size_t max, bool* wrapped);
  absl::Status ReportMisdirection(const NotificationBasis& basis,
                                  linker::Sui event_sui, linker::Sui basis_sui);

  store::Store* const store_;
  const linker::Linker* const linker_;
  const linker::LinkWorker* const linking_;
  policy::ReloadablePolicySet* const policies_;
  const consent::ConsentStore* const consents_;
  audit::AuditLog* const audit_;
  Outbox* const outbox_;
  const RouterOptions options_;
  events::EventStore events_;
  store::RecordStore records_;

  // Router thread only.
  std::string verify_cursor_;
  absl::Time last_expiry_ = absl::InfinitePast();
  absl::Time last_verify_ = absl::InfinitePast();

  mutable absl::Mutex mu_;
  RouterProgress progress_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t verify_requests_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t verify_done_ ABSL_GUARDED_BY(mu_) = 0;
  absl::StatusOr<size_t> verify_result_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace linkd::notify

#endif  // LINKD_NOTIFY_ROUTER_H_
