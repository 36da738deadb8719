#include "linkd/notify/outbox.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "linkd/store/key_codec.h"
#include "linkd/util/status_macros.h"

namespace linkd::notify {
namespace {

constexpr uint8_t kPendingTag = 1;
constexpr uint8_t kExpiryTag = 2;
constexpr uint8_t kBasisTag = 3;
constexpr uint8_t kLastIdTag = 4;
constexpr size_t kMaxAckIds = 10000;
// Ids listed in an audit entry's details (the count is always there).
constexpr size_t kMaxListedIds = 100;

std::string PendingKey(std::string_view recipient, uint64_t id) {
  return store::KeyBuilder()
      .AddU8(kPendingTag)
      .AddString(recipient)
      .AddU64(id)
      .key();
}

std::string ExpiryKey(int64_t expires, std::string_view recipient,
                      uint64_t id) {
  return store::KeyBuilder()
      .AddU8(kExpiryTag)
      .AddI64(expires)
      .AddString(recipient)
      .AddU64(id)
      .key();
}

std::string BasisKey(std::string_view recipient, uint64_t id) {
  return store::KeyBuilder()
      .AddU8(kBasisTag)
      .AddString(recipient)
      .AddU64(id)
      .key();
}

std::string LastIdKey(std::string_view recipient) {
  return store::KeyBuilder().AddU8(kLastIdTag).AddString(recipient).key();
}

std::string U64Value(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return out;
}

template <typename Message>
absl::StatusOr<Message> Parse(std::string_view value, std::string_view what) {
  Message m;
  if (!m.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return absl::DataLossError(absl::StrCat(
        "outbox: a stored ", std::string(what), " does not parse"));
  }
  return m;
}

void AddRefs(const StoredNotification& n, audit::v1::AuditEntry* entry) {
  for (const v1::ChildRef& r : n.records()) {
    audit::v1::RecordRef* ref = entry->add_records();
    ref->set_source(r.source());
    ref->set_record_id(r.record_id());
  }
}

}  // namespace

Outbox::Outbox(store::Store* store, audit::AuditLog* audit,
               const util::Clock* clock)
    : store_(store), audit_(audit), clock_(clock) {}

absl::StatusOr<uint64_t> Outbox::NextId(const std::string& recipient) {
  auto it = last_id_.find(recipient);
  if (it == last_id_.end()) {
    LINKD_ASSIGN_OR_RETURN(
        std::optional<std::string> v,
        store_->Get(store::Cf::kOutbox, LastIdKey(recipient)));
    uint64_t last = 0;
    if (v.has_value()) {
      if (v->size() != 8)
        return absl::DataLossError("outbox: malformed last id");
      for (char c : *v) last = (last << 8) | static_cast<uint8_t>(c);
    }
    it = last_id_.emplace(recipient, last).first;
  }
  return ++it->second;
}

absl::Status Outbox::Stage(StoredNotification* n, NotificationBasis* basis,
                           store::WriteBatch* batch) {
  v1::Notification& note = *n->mutable_notification();
  const std::string recipient = note.recipient();
  uint64_t id;
  {
    absl::MutexLock lock(&ids_mu_);
    LINKD_ASSIGN_OR_RETURN(id, NextId(recipient));
  }
  note.set_id(id);
  batch->Put(store::Cf::kOutbox, LastIdKey(recipient), U64Value(id));
  batch->Put(store::Cf::kOutbox, PendingKey(recipient, id),
             n->SerializeAsString());
  if (note.expires_micros() > 0) {
    batch->Put(store::Cf::kOutbox,
               ExpiryKey(note.expires_micros(), recipient, id), "");
  }
  if (basis != nullptr) {
    basis->set_recipient(recipient);
    basis->set_id(id);
    batch->Put(store::Cf::kOutbox, BasisKey(recipient, id),
               basis->SerializeAsString());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<StoredNotification>> Outbox::Pending(
    std::string_view recipient, uint64_t after_id, size_t limit) const {
  std::vector<StoredNotification> out;
  if (limit == 0) return out;
  const std::string prefix =
      store::KeyBuilder().AddU8(kPendingTag).AddString(recipient).key();
  LINKD_RETURN_IF_ERROR(store_->ScanRange(
      store::Cf::kOutbox, PendingKey(recipient, after_id + 1),
      store::PrefixSuccessor(prefix),
      [&](std::string_view, std::string_view value) -> absl::StatusOr<bool> {
        LINKD_ASSIGN_OR_RETURN(
            StoredNotification n,
            Parse<StoredNotification>(value, "notification"));
        out.push_back(std::move(n));
        return out.size() < limit;
      }));
  return out;
}

absl::StatusOr<uint64_t> Outbox::CountPending(
    std::string_view recipient) const {
  uint64_t count = 0;
  LINKD_RETURN_IF_ERROR(store_->ScanPrefix(
      store::Cf::kOutbox,
      store::KeyBuilder().AddU8(kPendingTag).AddString(recipient).key(),
      [&](std::string_view, std::string_view) -> absl::StatusOr<bool> {
        ++count;
        return true;
      }));
  return count;
}

absl::StatusOr<AckResult> Outbox::Ack(std::string_view recipient,
                                      absl::Span<const uint64_t> ids,
                                      audit::v1::AuditEntry entry) {
  if (ids.size() > kMaxAckIds) {
    return absl::InvalidArgumentError(
        absl::StrCat("ids: at most ", kMaxAckIds, " per call"));
  }
  absl::MutexLock lock(&removal_mu_);
  AckResult result;
  std::vector<std::string> keys;
  keys.reserve(ids.size());
  for (uint64_t id : ids) keys.push_back(PendingKey(recipient, id));
  LINKD_ASSIGN_OR_RETURN(std::vector<std::optional<std::string>> values,
                         store_->MultiGet(store::Cf::kOutbox, keys));
  store::WriteBatch batch = store_->NewBatch();
  std::set<uint64_t> done;
  std::set<std::string> suis;
  std::vector<std::string> listed;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!values[i].has_value() || done.count(ids[i]) > 0) {
      if (!values[i].has_value()) result.unknown_ids.push_back(ids[i]);
      continue;
    }
    LINKD_ASSIGN_OR_RETURN(
        StoredNotification n,
        Parse<StoredNotification>(*values[i], "notification"));
    done.insert(ids[i]);
    batch.Delete(store::Cf::kOutbox, keys[i]);
    if (n.notification().expires_micros() > 0) {
      batch.Delete(
          store::Cf::kOutbox,
          ExpiryKey(n.notification().expires_micros(), recipient, ids[i]));
    }
    if (!n.sui().empty()) suis.insert(n.sui());
    AddRefs(n, &entry);
    if (listed.size() < kMaxListedIds) listed.push_back(absl::StrCat(ids[i]));
  }
  result.acknowledged = static_cast<uint32_t>(done.size());
  for (const std::string& s : suis) entry.add_suis(s);
  entry.set_recipient(std::string(recipient));
  auto& d = *entry.mutable_details();
  d["acknowledged"] = absl::StrCat(result.acknowledged);
  d["unknown"] = absl::StrCat(result.unknown_ids.size());
  if (!listed.empty()) d["notification_ids"] = absl::StrJoin(listed, ",");
  entry.set_decision(audit::v1::DECISION_ALLOWED);
  entry.set_status_code(0);
  LINKD_RETURN_IF_ERROR(
      audit_->AppendAndCommit(std::move(batch), entry).status());
  return result;
}

absl::StatusOr<size_t> Outbox::ExpireDue(size_t max) {
  absl::MutexLock lock(&removal_mu_);
  const int64_t now = absl::ToUnixMicros(clock_->Now());
  const std::string prefix = store::KeyBuilder().AddU8(kExpiryTag).key();
  struct Due {
    std::string expiry_key;
    std::string recipient;
    uint64_t id;
  };
  std::vector<Due> due;
  LINKD_RETURN_IF_ERROR(store_->ScanRange(
      store::Cf::kOutbox, prefix,
      store::KeyBuilder().AddU8(kExpiryTag).AddI64(now + 1).key(),
      [&](std::string_view key, std::string_view) -> absl::StatusOr<bool> {
        LINKD_ASSIGN_OR_RETURN(store::KeyReader r,
                               store::KeyReader::Create(key));
        LINKD_RETURN_IF_ERROR(r.ReadU8().status());
        LINKD_RETURN_IF_ERROR(r.ReadI64().status());
        LINKD_ASSIGN_OR_RETURN(std::string_view recipient, r.ReadString());
        LINKD_ASSIGN_OR_RETURN(uint64_t id, r.ReadU64());
        due.push_back({std::string(key), std::string(recipient), id});
        return due.size() < max;
      }));
  if (due.empty()) return 0;
  store::WriteBatch batch = store_->NewBatch();
  std::vector<audit::v1::AuditEntry> entries;
  for (const Due& d : due) {
    batch.Delete(store::Cf::kOutbox, d.expiry_key);
    const std::string key = PendingKey(d.recipient, d.id);
    LINKD_ASSIGN_OR_RETURN(std::optional<std::string> v,
                           store_->Get(store::Cf::kOutbox, key));
    if (!v.has_value()) continue;  // acknowledged meanwhile
    LINKD_ASSIGN_OR_RETURN(StoredNotification n,
                           Parse<StoredNotification>(*v, "notification"));
    batch.Delete(store::Cf::kOutbox, key);
    audit::v1::AuditEntry& e = entries.emplace_back();
    e.set_organisation("linkd");
    e.set_method("linkd/notifications/expire");
    e.set_purpose(n.notification().purpose());
    e.set_lawful_basis(n.notification().lawful_basis());
    e.set_policy_version(n.notification().policy_version());
    e.set_decision(audit::v1::DECISION_ALLOWED);
    e.set_reason(
        "dropped unacknowledged: its purpose's notification_expiry_days "
        "passed");
    e.set_recipient(d.recipient);
    if (!n.sui().empty()) e.add_suis(n.sui());
    AddRefs(n, &e);
    (*e.mutable_details())["notification_id"] = absl::StrCat(d.id);
  }
  if (entries.empty()) {
    LINKD_RETURN_IF_ERROR(store_->Commit(std::move(batch)));
    return 0;
  }
  LINKD_RETURN_IF_ERROR(
      audit_->AppendAndCommit(std::move(batch), entries).status());
  return entries.size();
}

absl::StatusOr<bool> Outbox::ReportMisdirected(NotificationBasis basis,
                                               StoredNotification* report,
                                               audit::v1::AuditEntry entry) {
  absl::MutexLock lock(&removal_mu_);
  store::WriteBatch batch = store_->NewBatch();
  const std::string key = PendingKey(basis.recipient(), basis.id());
  LINKD_ASSIGN_OR_RETURN(std::optional<std::string> v,
                         store_->Get(store::Cf::kOutbox, key));
  const bool withdrawn = v.has_value();
  if (withdrawn) {
    LINKD_ASSIGN_OR_RETURN(StoredNotification n,
                           Parse<StoredNotification>(*v, "notification"));
    batch.Delete(store::Cf::kOutbox, key);
    if (n.notification().expires_micros() > 0) {
      batch.Delete(store::Cf::kOutbox,
                   ExpiryKey(n.notification().expires_micros(),
                             basis.recipient(), basis.id()));
    }
  }
  basis.set_reported(true);
  batch.Put(store::Cf::kOutbox, BasisKey(basis.recipient(), basis.id()),
            basis.SerializeAsString());
  (*entry.mutable_details())["withdrawn"] = withdrawn ? "true" : "false";
  if (report != nullptr) {
    report->mutable_notification()->mutable_misdirection()->set_withdrawn(
        withdrawn);
    LINKD_RETURN_IF_ERROR(Stage(report, nullptr, &batch));
    (*entry.mutable_details())["report_id"] =
        absl::StrCat(report->notification().id());
  }
  LINKD_RETURN_IF_ERROR(
      audit_->AppendAndCommit(std::move(batch), entry).status());
  return withdrawn;
}

absl::Status Outbox::ForEachBasis(
    std::string_view after_key,
    absl::FunctionRef<absl::StatusOr<bool>(std::string_view key,
                                           const NotificationBasis& basis)>
        fn) const {
  const std::string prefix = store::KeyBuilder().AddU8(kBasisTag).key();
  // The smallest key after `after_key`: itself plus a zero byte.
  const std::string begin = after_key.empty()
                                ? prefix
                                : std::string(after_key) + std::string(1, '\0');
  return store_->ScanRange(
      store::Cf::kOutbox, begin, store::PrefixSuccessor(prefix),
      [&](std::string_view key,
          std::string_view value) -> absl::StatusOr<bool> {
        LINKD_ASSIGN_OR_RETURN(NotificationBasis b,
                               Parse<NotificationBasis>(value, "basis"));
        return fn(key, b);
      });
}

void Outbox::DeleteBasis(std::string_view key, store::WriteBatch* batch) {
  batch->Delete(store::Cf::kOutbox, key);
}

}  // namespace linkd::notify
