// linkd::notify outbox: each recipient organisation's durable outbox of
// notifications (DESIGN.md section 5), in Cf::kOutbox.
//
// A notification enters its outbox in the router's WriteBatch, together with
// the audit entry of the decision that sent it, and leaves it only in the
// batch of its acknowledgement (Ack), of its expiry (ExpireDue) or of its
// withdrawal after a misdirection (ReportMisdirected), each with its own
// audit entry. So nothing is lost across a restart or a kill -9, and nothing
// acknowledged is ever read again.
//
// Layout in Cf::kOutbox (keys from linkd/store/key_codec.h; the first
// component is a u8 tag):
//   (1, recipient, id)                  -> linkd.store.v1.StoredNotification
//   (2, expires micros, recipient, id)  -> ""   expiry index
//   (3, recipient, id)                  -> linkd.store.v1.NotificationBasis,
//                                          kept after delivery, until the
//                                          basis retention ends
//   (4, recipient)                      -> last id used (u64)
// Ids are per recipient and increase, so an outbox reads in creation order
// and an id reveals nothing about other recipients' notifications.
#ifndef LINKD_NOTIFY_OUTBOX_H_
#define LINKD_NOTIFY_OUTBOX_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "linkd/audit/audit_log.h"
#include "linkd/audit/v1/audit.pb.h"
#include "linkd/store/store.h"
#include "linkd/store/v1/notify.pb.h"
#include "linkd/util/clock.h"

namespace linkd::notify {

using StoredNotification = ::linkd::store::v1::StoredNotification;
using NotificationBasis = ::linkd::store::v1::NotificationBasis;

struct AckResult {
  uint32_t acknowledged = 0;
  std::vector<uint64_t> unknown_ids;
};

// Thread-safe. Stage is for the router's thread (one stager at a time);
// the removals (Ack, ExpireDue, ReportMisdirected) are serialised among
// themselves, each reading what is pending and committing its removal under
// one lock, so that one notification is never both acknowledged and expired.
class Outbox {
 public:
  // `store`, `audit` and `clock` are not owned and must outlive the outbox.
  Outbox(store::Store* store, audit::AuditLog* audit, const util::Clock* clock);

  // Gives `n` the next id of its recipient (n->notification().recipient())
  // and adds it, its expiry entry and, when `basis` is not null, its basis
  // (recipient and id filled in) to `batch`. Ids skipped by a batch that is
  // never committed are not reused. Store errors reading the last id.
  absl::Status Stage(StoredNotification* n, NotificationBasis* basis,
                     store::WriteBatch* batch);

  // Up to `limit` notifications pending for `recipient` with id > after_id,
  // oldest first. DATA_LOSS for a malformed entry.
  absl::StatusOr<std::vector<StoredNotification>> Pending(
      std::string_view recipient, uint64_t after_id, size_t limit) const;
  // How many are pending for `recipient` (a key scan).
  absl::StatusOr<uint64_t> CountPending(std::string_view recipient) const;

  // Removes `ids` from `recipient`'s outbox and commits the removal with
  // `entry` (the Ack call's audit entry, completed here with the count, the
  // SUIs and records of the removed notifications) in one synced batch. Ids
  // not pending for `recipient` (someone else's, already acknowledged,
  // expired) are listed as unknown and touch nothing. INVALID_ARGUMENT for
  // more than 10000 ids; audit or store errors (nothing removed then).
  absl::StatusOr<AckResult> Ack(std::string_view recipient,
                                absl::Span<const uint64_t> ids,
                                audit::v1::AuditEntry entry);

  // Drops up to `max` notifications whose expiry time has passed, each with
  // an audit entry (organisation "linkd", the notification's purpose and
  // recipient), in one batch. Returns how many were dropped.
  absl::StatusOr<size_t> ExpireDue(size_t max);

  // A misdirection found by the router: withdraws the basis's notification
  // if it is still pending, marks the basis reported, and stages `report`
  // (the IG team's notification; may be null) -- with `entry`, in one
  // batch. Sets report->misdirection().withdrawn and the entry's
  // "withdrawn" detail. Returns whether the notification was withdrawn.
  absl::StatusOr<bool> ReportMisdirected(NotificationBasis basis,
                                         StoredNotification* report,
                                         audit::v1::AuditEntry entry);

  // Visits bases in key order after `after_key` (from the first if empty):
  // fn(key, basis). Return true to go on, false to stop.
  absl::Status ForEachBasis(
      std::string_view after_key,
      absl::FunctionRef<absl::StatusOr<bool>(std::string_view key,
                                             const NotificationBasis& basis)>
          fn) const;
  // Adds the deletion of basis `key` (as visited) to `batch`.
  static void DeleteBasis(std::string_view key, store::WriteBatch* batch);

 private:
  absl::StatusOr<uint64_t> NextId(const std::string& recipient)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(ids_mu_);

  store::Store* const store_;
  audit::AuditLog* const audit_;
  const util::Clock* const clock_;

  absl::Mutex ids_mu_;
  // Last id used per recipient, loaded on first use.
  absl::flat_hash_map<std::string, uint64_t> last_id_ ABSL_GUARDED_BY(ids_mu_);
  // Serialises removals (see the class comment).
  absl::Mutex removal_mu_;
};

}  // namespace linkd::notify

#endif  // LINKD_NOTIFY_OUTBOX_H_
