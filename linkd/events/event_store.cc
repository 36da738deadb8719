#include "linkd/events/event_store.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/time/time.h"
#include "google/protobuf/util/message_differencer.h"
#include "linkd/store/key_codec.h"
#include "linkd/store/record_store.h"
#include "linkd/util/status_macros.h"

namespace linkd::events {
namespace {

constexpr uint8_t kIdTag = 1;
constexpr uint8_t kEventTag = 2;
constexpr uint8_t kQueueTag = 3;
constexpr uint8_t kJourneyTag = 4;
constexpr uint8_t kRecordTag = 5;
constexpr uint8_t kStateTag = 6;

std::string IdKey(std::string_view source, std::string_view event_id) {
  return store::KeyBuilder()
      .AddU8(kIdTag)
      .AddString(source)
      .AddString(event_id)
      .key();
}

std::string EventKey(uint64_t seq) {
  return store::KeyBuilder().AddU8(kEventTag).AddU64(seq).key();
}

std::string QueueKey(uint64_t seq) {
  return store::KeyBuilder().AddU8(kQueueTag).AddU64(seq).key();
}

std::string RecordKeyOf(const StoredEvent& e) {
  return store::RecordKey(e.source(), e.record_id());
}

std::string U64Value(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return out;
}

absl::StatusOr<uint64_t> ParseU64(std::string_view v) {
  if (v.size() != 8) return absl::DataLossError("events: malformed sequence");
  uint64_t out = 0;
  for (char c : v) out = (out << 8) | static_cast<uint8_t>(c);
  return out;
}

absl::StatusOr<StoredEvent> ParseEvent(std::string_view value) {
  StoredEvent e;
  if (!e.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return absl::DataLossError("events: a stored event does not parse");
  }
  return e;
}

// The trailing seq of a (tag, ..., seq) key.
absl::StatusOr<uint64_t> TrailingSeq(std::string_view key) {
  if (key.size() < 8) return absl::DataLossError("events: malformed key");
  return ParseU64(key.substr(key.size() - 8));
}

}  // namespace

bool ToCivilDay(const v1::Date& date, absl::CivilDay* day) {
  if (date.year() < 1900 || date.year() > 2100 || date.month() < 1 ||
      date.month() > 12 || date.day() < 1 || date.day() > 31) {
    return false;
  }
  const absl::CivilDay d(date.year(), date.month(), date.day());
  // CivilDay normalises 31 April to 1 May: a valid date survives unchanged.
  if (d.year() != date.year() || d.month() != date.month() ||
      d.day() != date.day()) {
    return false;
  }
  *day = d;
  return true;
}

int64_t EventTimeMicros(const v1::Event& event) {
  absl::CivilDay day;
  if (!ToCivilDay(event.date(), &day)) return 0;
  return absl::ToUnixMicros(absl::FromCivil(day, absl::UTCTimeZone()));
}

bool SameEvent(const StoredEvent& stored, const v1::EncodedEvent& event) {
  return stored.record_id() == event.record().record_id() &&
         google::protobuf::util::MessageDifferencer::Equals(stored.event(),
                                                            event.event());
}

absl::StatusOr<uint64_t> EventStore::LastSeq() const {
  uint64_t last = 0;
  store::ScanOptions reverse;
  reverse.reverse = true;
  LINKD_RETURN_IF_ERROR(store_->ScanPrefix(
      store::Cf::kEvents, store::KeyBuilder().AddU8(kEventTag).key(),
      [&](std::string_view key, std::string_view) -> absl::StatusOr<bool> {
        LINKD_ASSIGN_OR_RETURN(last, TrailingSeq(key));
        return false;
      },
      reverse));
  return last;
}

absl::Status EventStore::ForEachEvent(
    absl::FunctionRef<absl::StatusOr<bool>(const StoredEvent& event)> fn,
    const store::Snapshot* snapshot) const {
  store::ScanOptions options;
  options.snapshot = snapshot;
  options.fill_cache = false;
  StoredEvent event;
  return store_->ScanPrefix(
      store::Cf::kEvents, store::KeyBuilder().AddU8(kEventTag).key(),
      [&](std::string_view, std::string_view value) -> absl::StatusOr<bool> {
        if (!event.ParseFromArray(value.data(),
                                  static_cast<int>(value.size()))) {
          return absl::DataLossError("events: a stored event does not parse");
        }
        return fn(event);
      },
      options);
}

absl::StatusOr<std::optional<StoredEvent>> EventStore::Find(
    std::string_view source, std::string_view event_id) const {
  LINKD_ASSIGN_OR_RETURN(
      std::optional<std::string> seq,
      store_->Get(store::Cf::kEvents, IdKey(source, event_id)));
  if (!seq.has_value()) return std::nullopt;
  LINKD_ASSIGN_OR_RETURN(uint64_t s, ParseU64(*seq));
  LINKD_ASSIGN_OR_RETURN(std::optional<StoredEvent> e, Get(s));
  if (!e.has_value()) {
    return absl::DataLossError("events: an event id names no stored event");
  }
  return e;
}

absl::StatusOr<std::optional<StoredEvent>> EventStore::Get(uint64_t seq) const {
  LINKD_ASSIGN_OR_RETURN(std::optional<std::string> v,
                         store_->Get(store::Cf::kEvents, EventKey(seq)));
  if (!v.has_value()) return std::nullopt;
  LINKD_ASSIGN_OR_RETURN(StoredEvent e, ParseEvent(*v));
  return std::optional<StoredEvent>(std::move(e));
}

void EventStore::Add(const StoredEvent& event, store::WriteBatch* batch) {
  batch->Put(store::Cf::kEvents,
             IdKey(event.source(), event.event().event_id()),
             U64Value(event.seq()));
  batch->Put(store::Cf::kEvents, EventKey(event.seq()),
             event.SerializeAsString());
  batch->Put(store::Cf::kEvents, QueueKey(event.seq()),
             U64Value(event.link_seq()));
  batch->Put(store::Cf::kEvents,
             store::KeyBuilder()
                 .AddU8(kRecordTag)
                 .AddString(RecordKeyOf(event))
                 .AddU64(event.seq())
                 .key(),
             "");
}

absl::Status EventStore::ForEachQueued(
    uint64_t after_seq,
    absl::FunctionRef<absl::StatusOr<bool>(uint64_t seq, uint64_t link_seq)> fn)
    const {
  const std::string prefix = store::KeyBuilder().AddU8(kQueueTag).key();
  return store_->ScanRange(
      store::Cf::kEvents, QueueKey(after_seq + 1),
      store::PrefixSuccessor(prefix),
      [&](std::string_view key,
          std::string_view value) -> absl::StatusOr<bool> {
        LINKD_ASSIGN_OR_RETURN(uint64_t seq, TrailingSeq(key));
        LINKD_ASSIGN_OR_RETURN(uint64_t link_seq, ParseU64(value));
        return fn(seq, link_seq);
      });
}

void EventStore::MarkRouted(const StoredEvent& event, uint64_t sui,
                            store::WriteBatch* batch) {
  batch->Delete(store::Cf::kEvents, QueueKey(event.seq()));
  if (sui == 0) return;
  batch->Put(store::Cf::kEvents,
             store::KeyBuilder()
                 .AddU8(kJourneyTag)
                 .AddU64(sui)
                 .AddI64(EventTimeMicros(event.event()))
                 .AddU64(event.seq())
                 .key(),
             "");
}

absl::StatusOr<RecordEventState> EventStore::GetState(
    std::string_view record_key) const {
  LINKD_ASSIGN_OR_RETURN(
      std::optional<std::string> v,
      store_->Get(
          store::Cf::kEvents,
          store::KeyBuilder().AddU8(kStateTag).AddString(record_key).key()));
  RecordEventState state;
  if (v.has_value() &&
      !state.ParseFromArray(v->data(), static_cast<int>(v->size()))) {
    return absl::DataLossError("events: a record's event state does not parse");
  }
  return state;
}

void EventStore::PutState(std::string_view record_key,
                          const RecordEventState& state,
                          store::WriteBatch* batch) {
  batch->Put(store::Cf::kEvents,
             store::KeyBuilder().AddU8(kStateTag).AddString(record_key).key(),
             state.SerializeAsString());
}

absl::StatusOr<std::vector<StoredEvent>> EventStore::Journey(
    absl::Span<const uint64_t> lineage, absl::Span<const std::string> members,
    size_t limit) const {
  const std::set<std::string_view> member_set(members.begin(), members.end());
  std::set<uint64_t> seqs;
  for (uint64_t sui : lineage) {
    LINKD_RETURN_IF_ERROR(store_->ScanPrefix(
        store::Cf::kEvents,
        store::KeyBuilder().AddU8(kJourneyTag).AddU64(sui).key(),
        [&](std::string_view key, std::string_view) -> absl::StatusOr<bool> {
          LINKD_ASSIGN_OR_RETURN(uint64_t seq, TrailingSeq(key));
          seqs.insert(seq);
          return true;
        }));
  }
  for (const std::string& record : members) {
    LINKD_RETURN_IF_ERROR(store_->ScanPrefix(
        store::Cf::kEvents,
        store::KeyBuilder().AddU8(kRecordTag).AddString(record).key(),
        [&](std::string_view key, std::string_view) -> absl::StatusOr<bool> {
          LINKD_ASSIGN_OR_RETURN(uint64_t seq, TrailingSeq(key));
          seqs.insert(seq);
          return true;
        }));
  }
  std::vector<StoredEvent> out;
  for (uint64_t seq : seqs) {
    LINKD_ASSIGN_OR_RETURN(std::optional<StoredEvent> e, Get(seq));
    if (!e.has_value()) continue;  // routed under a SUI, body gone: skip
    // Filed under the lineage but its record has left the SUI (a split):
    // it is another child's now.
    if (member_set.count(RecordKeyOf(*e)) == 0) continue;
    out.push_back(*std::move(e));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const StoredEvent& a, const StoredEvent& b) {
                     const int64_t ta = EventTimeMicros(a.event());
                     const int64_t tb = EventTimeMicros(b.event());
                     return ta != tb ? ta < tb : a.seq() < b.seq();
                   });
  if (out.size() > limit) out.resize(limit);
  return out;
}

}  // namespace linkd::events
