#include "linkd/ingest/ingest_pipeline.h"

#include <algorithm>
#include <array>
#include <future>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "linkd/ingest/validate.h"
#include "linkd/store/key_codec.h"
#include "linkd/util/status_macros.h"
#include "linkd/util/thread_name.h"

namespace linkd::ingest {
namespace {

// Metadata keys (Cf::kDefault): ("key_check", key_version) -> key_check.
constexpr std::string_view kKeyCheckTag = "key_check";

std::string KeyCheckKey(uint32_t key_version) {
  return store::KeyBuilder().AddString(kKeyCheckTag).AddU32(key_version).key();
}

std::string KeyCheckPrefix() {
  return store::KeyBuilder().AddString(kKeyCheckTag).key();
}

void Reject(v1::IngestAck* ack, uint32_t index, const absl::Status& status) {
  v1::ItemRejection* r = ack->add_rejections();
  r->set_index(index);
  r->set_code(static_cast<int32_t>(status.code()));
  // Validation messages are "<field>: <reason>".
  const absl::string_view message = status.message();
  const size_t colon = message.find(": ");
  if (colon != absl::string_view::npos) {
    r->set_field(std::string(message.substr(0, colon)));
  }
  r->set_message(std::string(message));
  ack->set_rejected(ack->rejected() + 1);
}

}  // namespace

absl::StatusOr<std::unique_ptr<IngestPipeline>> IngestPipeline::Create(
    store::Store* store, linker::LinkWorker* linking, const util::Clock* clock,
    PipelineOptions options) {
  absl::flat_hash_map<uint32_t, KeyCheck> key_checks;
  LINKD_RETURN_IF_ERROR(store->ScanPrefix(
      store::Cf::kDefault, KeyCheckPrefix(),
      [&](std::string_view key,
          std::string_view value) -> absl::StatusOr<bool> {
        LINKD_ASSIGN_OR_RETURN(store::KeyReader reader,
                               store::KeyReader::Create(key));
        LINKD_RETURN_IF_ERROR(reader.ReadString().status());
        LINKD_ASSIGN_OR_RETURN(uint32_t version, reader.ReadU32());
        key_checks[version] = std::string(value);
        return true;
      }));
  LINKD_ASSIGN_OR_RETURN(const uint64_t event_seq,
                         events::EventStore(store).LastSeq());
  return std::unique_ptr<IngestPipeline>(new IngestPipeline(
      store, linking, clock, options, std::move(key_checks), event_seq));
}

IngestPipeline::IngestPipeline(
    store::Store* store, linker::LinkWorker* linking, const util::Clock* clock,
    PipelineOptions options, absl::flat_hash_map<uint32_t, KeyCheck> key_checks,
    uint64_t event_seq)
    : store_(store),
      records_(store),
      linking_(linking),
      link_seq_(linking->last_queued_seq()),
      events_(store),
      event_seq_(event_seq),
      clock_(clock),
      options_(options),
      key_checks_(std::move(key_checks)) {
  writer_ = std::thread([this] {
    util::NameThisThread("linkd-ingest");
    WriterLoop();
  });
}

IngestPipeline::~IngestPipeline() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  writer_.join();
}

void IngestPipeline::Submit(const v1::IngestBatch* batch, Done done,
                            std::shared_ptr<const Submitter> submitter) {
  std::vector<absl::Status> valid;
  if (batch->items_size() <= static_cast<int>(options_.max_batch_items)) {
    valid.reserve(static_cast<size_t>(batch->items_size()));
    for (const v1::IngestItem& item : batch->items()) {
      valid.push_back(ValidateItem(item));
    }
  }
  absl::MutexLock lock(&mu_);
  queue_.push_back(
      Pending{batch, std::move(done), std::move(submitter), std::move(valid)});
}

absl::StatusOr<v1::IngestAck> IngestPipeline::Apply(
    const v1::IngestBatch& batch) {
  absl::Notification applied;
  absl::StatusOr<v1::IngestAck> result;
  Submit(&batch, [&](absl::StatusOr<v1::IngestAck> ack) {
    result = std::move(ack);
    applied.Notify();
  });
  applied.WaitForNotification();
  return result;
}

std::vector<IngestPipeline::Pending> IngestPipeline::TakeGroup() {
  std::vector<Pending> group;
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](IngestPipeline* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
        return p->stopping_ || !p->queue_.empty();
      },
      this));
  // Take what is queued, up to the group limit (always at least one).
  size_t items = 0;
  while (!queue_.empty() &&
         (group.empty() || items + queue_.front().batch->items_size() <=
                               options_.max_group_items)) {
    items += queue_.front().batch->items_size();
    group.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return group;
}

void IngestPipeline::WriterLoop() {
  // At most one group is being committed while the next is staged. What
  // the writer state was after the last group known to be committed, and
  // after the one in flight.
  std::future<absl::Status> in_flight;
  WriterState committed{key_checks_, link_seq_, event_seq_};
  WriterState after_in_flight = committed;
  for (;;) {
    std::vector<Pending> group = TakeGroup();
    if (group.empty()) break;  // stopping, and nothing left
    Prepared p = Prepare(std::move(group));
    if (in_flight.valid()) {
      if (in_flight.get().ok()) {
        committed = after_in_flight;
      } else {
        // Nothing of the group before was written: stage this one again,
        // against the store alone.
        key_checks_ = committed.key_checks;
        link_seq_ = committed.link_seq;
        event_seq_ = committed.event_seq;
        pending_records_.clear();
        pending_events_.clear();
        p = Prepare(std::move(p.group));
      }
    }
    after_in_flight = WriterState{key_checks_, link_seq_, event_seq_};
    pending_records_ = std::move(p.records);
    pending_events_ = std::move(p.events);
    auto done = std::make_shared<std::promise<absl::Status>>();
    in_flight = done->get_future();
    commit_.Post([this, done, p = std::make_shared<Prepared>(std::move(p))] {
      done->set_value(CommitPrepared(*p));
    });
  }
  // Its batches have their acknowledgement (or error) already.
  if (in_flight.valid()) in_flight.get().IgnoreError();
}

absl::Status IngestPipeline::CommitPrepared(Prepared& p) {
  absl::Status committed;
  if (p.write.has_value()) {
    committed =
        options_.audit != nullptr
            ? options_.audit->AppendAndCommit(std::move(*p.write), p.entries)
                  .status()
            : store_->Commit(std::move(*p.write));
    if (committed.ok()) {
      linking_->Queued(p.link_seq);
      if (p.new_events && options_.events_committed) {
        options_.events_committed(p.event_seq);
      }
    } else {
      for (absl::StatusOr<v1::IngestAck>& r : p.results) {
        if (r.ok()) r = committed;
      }
    }
  }
  for (size_t i = 0; i < p.group.size(); ++i) {
    p.group[i].done(std::move(p.results[i]));
  }
  return committed;
}

std::vector<audit::v1::AuditEntry> IngestPipeline::AuditEntries(
    absl::Span<const Pending> group,
    const std::vector<absl::StatusOr<v1::IngestAck>>& results,
    const std::vector<const v1::EncodedRecord*>& records,
    const std::vector<size_t>& record_batch,
    const std::vector<store::IngestOutcome>& outcomes) {
  std::vector<audit::v1::AuditEntry> entries(group.size());
  std::vector<std::array<int64_t, 3>> counts(group.size(), {0, 0, 0});
  for (size_t i = 0; i < outcomes.size(); ++i) {
    const size_t b = record_batch[i];
    ++counts[b][static_cast<int>(outcomes[i].result)];
    if (outcomes[i].result == store::IngestResult::kUnchanged) continue;
    audit::v1::RecordRef* ref = entries[b].add_records();
    ref->set_source(records[i]->source());
    ref->set_record_id(records[i]->record_id());
  }
  for (size_t b = 0; b < group.size(); ++b) {
    audit::v1::AuditEntry& e = entries[b];
    if (group[b].submitter != nullptr) {
      audit::v1::AuditEntry records_only;
      records_only.mutable_records()->Swap(e.mutable_records());
      e = group[b].submitter->entry;
      e.mutable_records()->Swap(records_only.mutable_records());
    } else {
      e.set_organisation("unidentified");
      e.set_method("/linkd.v1.IngestService/Ingest");
    }
    auto& d = *e.mutable_details();
    d["batch_seq"] = absl::StrCat(group[b].batch->batch_seq());
    d["items"] = absl::StrCat(group[b].batch->items_size());
    if (!results[b].ok()) {
      e.set_decision(audit::v1::DECISION_ERROR);
      e.set_status_code(static_cast<int32_t>(results[b].status().code()));
      e.set_reason(std::string(results[b].status().message()));
      continue;
    }
    e.set_decision(audit::v1::DECISION_ALLOWED);
    e.set_status_code(0);
    d["accepted"] = absl::StrCat(counts[b][0]);
    d["unchanged"] = absl::StrCat(counts[b][1]);
    d["updated"] = absl::StrCat(counts[b][2]);
    d["rejected"] = absl::StrCat(results[b]->rejected());
    if (results[b]->rejected() > 0) {
      e.set_reason(absl::StrCat(results[b]->rejected(),
                                " items refused (listed in the ack)"));
    }
  }
  return entries;
}

IngestPipeline::Prepared IngestPipeline::Prepare(std::vector<Pending> batches) {
  Prepared prepared;
  prepared.group = std::move(batches);
  const std::vector<Pending>& group = prepared.group;
  std::vector<absl::StatusOr<v1::IngestAck>>& results = prepared.results;
  results.resize(group.size());
  size_t bytes = 0;
  for (const Pending& p : group) bytes += p.batch->ByteSizeLong();
  // Stored records are about as large as their encoding plus keys.
  store::WriteBatch write = store_->NewBatch(bytes * 5 / 4);
  // Key checks first seen in this group; remembered once it is staged.
  absl::flat_hash_map<uint32_t, KeyCheck> new_key_checks;
  std::vector<const v1::EncodedRecord*> records;
  std::vector<size_t> record_batch;  // records[i] came from group[...]
  // For records that came with an event: the event, and whether it is a
  // resubmission of a stored one (nullptr for plain records).
  std::vector<const v1::EncodedEvent*> record_event;
  std::vector<bool> event_duplicate;
  // Events of this group by (source, event id), for duplicates within it.
  absl::flat_hash_map<std::string, const v1::EncodedEvent*> group_events;
  for (size_t b = 0; b < group.size(); ++b) {
    const v1::IngestBatch& batch = *group[b].batch;
    const Submitter* submitter = group[b].submitter.get();
    if (batch.items_size() > static_cast<int>(options_.max_batch_items)) {
      results[b] = absl::InvalidArgumentError(
          absl::StrCat("batch: ", batch.items_size(), " items; the limit is ",
                       options_.max_batch_items));
      continue;
    }
    v1::IngestAck& ack = results[b].emplace();
    ack.set_batch_seq(batch.batch_seq());
    for (int i = 0; i < batch.items_size(); ++i) {
      const v1::IngestItem& item = batch.items(i);
      if (const absl::Status& s = group[b].valid[static_cast<size_t>(i)];
          !s.ok()) {
        Reject(&ack, i, s);
        continue;
      }
      const v1::EncodedEvent* event =
          item.has_event() ? &item.event() : nullptr;
      const v1::EncodedRecord& record =
          event != nullptr ? event->record() : item.record();
      if (submitter != nullptr && !submitter->sources.empty() &&
          std::find(submitter->sources.begin(), submitter->sources.end(),
                    record.source()) == submitter->sources.end()) {
        Reject(&ack, i,
               absl::PermissionDeniedError(absl::StrCat(
                   event != nullptr ? "event.record.source" : "record.source",
                   ": organisation ", submitter->entry.organisation(),
                   " may not submit records as source ", record.source())));
        continue;
      }
      bool duplicate = false;
      std::string id_key;
      if (event != nullptr) {
        // Idempotent by (source, event id): the same event again is a
        // resubmission; the id of another event is refused.
        id_key = store::RecordKey(record.source(), event->event().event_id());
        bool same = true;
        if (auto it = group_events.find(id_key); it != group_events.end()) {
          duplicate = true;
          same = it->second->record().record_id() == record.record_id() &&
                 it->second->event().SerializeAsString() ==
                     event->event().SerializeAsString();
        } else if (auto pit = pending_events_.find(id_key);
                   pit != pending_events_.end()) {
          duplicate = true;  // stored by the group being committed
          same = events::SameEvent(pit->second, *event);
        } else {
          absl::StatusOr<std::optional<events::StoredEvent>> stored =
              events_.Find(record.source(), event->event().event_id());
          if (!stored.ok()) {
            Reject(&ack, i, stored.status());
            continue;
          }
          if (stored->has_value()) {
            duplicate = true;
            same = events::SameEvent(**stored, *event);
          }
        }
        if (!same) {
          Reject(&ack, i,
                 absl::AlreadyExistsError(
                     "event.event.event_id: this source already sent a "
                     "different event with this id; give each event its own "
                     "id"));
          continue;
        }
      }
      const v1::EncodedIdentity& id = record.identity();
      const KeyCheck* known = nullptr;
      if (auto it = key_checks_.find(id.key_version());
          it != key_checks_.end()) {
        known = &it->second;
      } else if (auto nit = new_key_checks.find(id.key_version());
                 nit != new_key_checks.end()) {
        known = &nit->second;
      }
      if (known == nullptr) {
        new_key_checks[id.key_version()] = id.key_check();
        write.Put(store::Cf::kDefault, KeyCheckKey(id.key_version()),
                  id.key_check());
      } else if (*known != id.key_check()) {
        Reject(&ack, i,
               absl::FailedPreconditionError(absl::StrCat(
                   "record.identity.key_check: encoded with a different "
                   "linkage key than earlier records of key version ",
                   id.key_version(),
                   "; check the provider's key file with the key custodian")));
        continue;
      }
      if (event != nullptr && !duplicate) group_events.emplace(id_key, event);
      records.push_back(&record);
      record_batch.push_back(b);
      record_event.push_back(event);
      event_duplicate.push_back(duplicate);
    }
  }

  const absl::Time now = clock_->Now();
  absl::StatusOr<std::vector<store::IngestOutcome>> outcomes = records_.Stage(
      records, now, &write, &pending_records_, &prepared.records);
  if (!outcomes.ok()) {
    for (absl::StatusOr<v1::IngestAck>& r : results) {
      if (r.ok()) r = outcomes.status();
    }
    prepared.records.clear();
    return prepared;
  }
  // New and changed records join the link queue in the same batch, so a
  // stored record is never left unlinked, even across a crash.
  uint64_t seq = link_seq_;
  std::vector<uint64_t> batch_link_seq(group.size(), 0);
  uint64_t event_seq = event_seq_;
  std::vector<int64_t> batch_events(group.size(), 0);
  for (size_t i = 0; i < outcomes->size(); ++i) {
    if ((*outcomes)[i].result != store::IngestResult::kUnchanged) {
      linker::LinkWorker::Enqueue(
          ++seq,
          store::RecordKey(records[i]->source(), records[i]->record_id()),
          &write);
      batch_link_seq[record_batch[i]] = seq;
    }
    if (record_event[i] == nullptr || event_duplicate[i]) continue;
    // The event is routed once its record is linked: once linking has
    // reached this record's entry, or, for a record that did not change,
    // every entry queued before it (one of which may be its own).
    events::StoredEvent e;
    e.set_seq(++event_seq);
    e.set_source(records[i]->source());
    e.set_record_id(records[i]->record_id());
    *e.mutable_event() = record_event[i]->event();
    e.set_received_micros(absl::ToUnixMicros(now));
    e.set_link_seq(seq);
    events::EventStore::Add(e, &write);
    ++batch_events[record_batch[i]];
    prepared.events.emplace(store::RecordKey(e.source(), e.event().event_id()),
                            std::move(e));
  }
  if (options_.audit != nullptr) {
    prepared.entries =
        AuditEntries(group, results, records, record_batch, *outcomes);
    for (size_t b = 0; b < group.size(); ++b) {
      if (batch_events[b] > 0) {
        (*prepared.entries[b].mutable_details())["events"] =
            absl::StrCat(batch_events[b]);
      }
    }
  }
  prepared.write.emplace(std::move(write));
  // The writer state moves past this group now; if its commit fails,
  // WriterLoop puts it back.
  for (auto& [version, check] : new_key_checks) {
    key_checks_[version] = std::move(check);
  }
  prepared.link_seq = link_seq_ = seq;
  prepared.new_events = event_seq != event_seq_;
  prepared.event_seq = event_seq_ = event_seq;
  for (size_t b = 0; b < group.size(); ++b) {
    if (results[b].ok()) results[b]->set_link_seq(batch_link_seq[b]);
  }
  for (size_t i = 0; i < outcomes->size(); ++i) {
    v1::IngestAck& ack = *results[record_batch[i]];
    if (record_event[i] != nullptr) {
      // An event item counts as the event: new, or a resubmission.
      if (event_duplicate[i]) {
        ack.set_unchanged(ack.unchanged() + 1);
      } else {
        ack.set_accepted(ack.accepted() + 1);
      }
      continue;
    }
    switch ((*outcomes)[i].result) {
      case store::IngestResult::kAccepted:
        ack.set_accepted(ack.accepted() + 1);
        break;
      case store::IngestResult::kUnchanged:
        ack.set_unchanged(ack.unchanged() + 1);
        break;
      case store::IngestResult::kUpdated:
        ack.set_updated(ack.updated() + 1);
        break;
    }
  }
  return prepared;
}

}  // namespace linkd::ingest
