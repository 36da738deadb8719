#include "linkd/store/record_store.h"

#include <algorithm>
#include <array>
#include <map>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/arena.h"
#include "linkd/store/key_codec.h"

namespace linkd::store {
namespace {

using ::linkd::v1::EncodedIdentity;
using ::linkd::v1::EncodedRecord;

// Counter keys in Cf::kStats: (kRecordCounters, source, kind[, field]).
// The leading group byte leaves room for other components' counters.
constexpr uint8_t kRecordCounters = 1;
constexpr uint8_t kKindRecords = 1;
constexpr uint8_t kKindUpdated = 2;
constexpr uint8_t kKindField = 3;

struct CoverageField {
  std::string_view name;
  const std::string& (EncodedIdentity::*get)() const;
};

// Every identity field that a record may or may not carry. Kept in proto
// field order; record_store_test checks it against the descriptor.
constexpr std::array<CoverageField, 16> kCoverageFields = {{
    {"upn", &EncodedIdentity::upn},
    {"nhs_number", &EncodedIdentity::nhs_number},
    {"dob", &EncodedIdentity::dob},
    {"dob_year_month", &EncodedIdentity::dob_year_month},
    {"dob_year_day", &EncodedIdentity::dob_year_day},
    {"dob_month_day", &EncodedIdentity::dob_month_day},
    {"dob_unordered", &EncodedIdentity::dob_unordered},
    {"birth_year", &EncodedIdentity::birth_year},
    {"sex", &EncodedIdentity::sex},
    {"postcode_unit", &EncodedIdentity::postcode_unit},
    {"postcode_sector", &EncodedIdentity::postcode_sector},
    {"postcode_district", &EncodedIdentity::postcode_district},
    {"given_name_bf", &EncodedIdentity::given_name_bf},
    {"family_name_bf", &EncodedIdentity::family_name_bf},
    {"given_name_pc_bf", &EncodedIdentity::given_name_pc_bf},
    {"family_name_pc_bf", &EncodedIdentity::family_name_pc_bf},
}};

std::string CounterKey(std::string_view source, uint8_t kind) {
  return KeyBuilder()
      .AddU8(kRecordCounters)
      .AddString(source)
      .AddU8(kind)
      .key();
}

std::string FieldCounterKey(std::string_view source, std::string_view field) {
  return KeyBuilder()
      .AddU8(kRecordCounters)
      .AddString(source)
      .AddU8(kKindField)
      .AddString(field)
      .key();
}

std::string HistoryKey(std::string_view source, std::string_view record_id,
                       uint64_t revision) {
  return KeyBuilder()
      .AddString(source)
      .AddString(record_id)
      .AddU64(revision)
      .key();
}

// Counter changes of one source within one Stage call.
struct SourceDeltas {
  int64_t records = 0;
  int64_t updated = 0;
  std::array<int64_t, kCoverageFields.size()> fields{};

  void AddFields(const EncodedIdentity& id, int64_t sign) {
    for (size_t f = 0; f < kCoverageFields.size(); ++f) {
      if (!(id.*kCoverageFields[f].get)().empty()) fields[f] += sign;
    }
  }
};

absl::Status Malformed(std::string_view what) {
  // Never include the bytes: values hold tokens.
  return absl::DataLossError(
      absl::StrCat("malformed ", absl::string_view(what.data(), what.size())));
}

// Parses a stored record into `*out` (which may live on an arena).
absl::Status ParseStored(std::string_view bytes, std::string_view family,
                         StoredRecord* out) {
  if (!out->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Malformed(
        absl::StrCat("stored record in column family ",
                     absl::string_view(family.data(), family.size())));
  }
  return absl::OkStatus();
}

absl::StatusOr<StoredRecord> ParseStored(std::string_view bytes,
                                         std::string_view family) {
  StoredRecord r;
  if (absl::Status s = ParseStored(bytes, family, &r); !s.ok()) return s;
  return r;
}

std::string SerializeIdentity(const EncodedIdentity& id) {
  std::string out;
  id.SerializeToString(&out);
  return out;
}

// Attribute maps compare as sets of pairs (map order is unspecified).
bool SameAttributes(const google::protobuf::Map<std::string, std::string>& a,
                    const google::protobuf::Map<std::string, std::string>& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [name, value] : a) {
    auto it = b.find(name);
    if (it == b.end() || it->second != value) return false;
  }
  return true;
}

}  // namespace

std::string_view IngestResultName(IngestResult result) {
  switch (result) {
    case IngestResult::kAccepted:
      return "accepted";
    case IngestResult::kUnchanged:
      return "unchanged";
    case IngestResult::kUpdated:
      return "updated";
  }
  return "unknown";
}

std::string RecordKey(std::string_view source, std::string_view record_id) {
  return KeyBuilder().AddString(source).AddString(record_id).key();
}

absl::Status DecodeRecordKey(std::string_view key, std::string_view* source,
                             std::string_view* record_id) {
  absl::StatusOr<KeyReader> reader = KeyReader::Create(key);
  if (!reader.ok()) return reader.status();
  absl::StatusOr<std::string_view> s = reader->ReadString();
  if (!s.ok()) return s.status();
  absl::StatusOr<std::string_view> r = reader->ReadString();
  if (!r.ok()) return r.status();
  if (absl::Status end = reader->ExpectEnd(); !end.ok()) return end;
  *source = *s;
  *record_id = *r;
  return absl::OkStatus();
}

const std::vector<std::string_view>& CoverageFieldNames() {
  static const auto* const kNames = [] {
    auto* names = new std::vector<std::string_view>();
    for (const CoverageField& f : kCoverageFields) names->push_back(f.name);
    return names;
  }();
  return *kNames;
}

RecordStore::RecordStore(Store* store) : store_(store) {}

absl::StatusOr<std::vector<IngestOutcome>> RecordStore::Stage(
    absl::Span<const EncodedRecord* const> records, absl::Time now,
    WriteBatch* batch, const PendingRecords* pending,
    PendingRecords* staged) const {
  if (batch == nullptr) return absl::InvalidArgumentError("batch is null");
  for (size_t i = 0; i < records.size(); ++i) {
    const EncodedRecord* r = records[i];
    if (r == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("records[", i, "] is null"));
    }
    if (r->source().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("records[", i, "].source is empty"));
    }
    if (r->record_id().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("records[", i, "].record_id is empty"));
    }
  }

  // One lookup per distinct key, in one batched MultiGet.
  std::vector<std::string> unique_keys;
  std::vector<size_t> slot(records.size());
  {
    absl::flat_hash_map<std::string, size_t> index;
    index.reserve(records.size());
    for (size_t i = 0; i < records.size(); ++i) {
      std::string key =
          RecordKey(records[i]->source(), records[i]->record_id());
      auto [it, inserted] = index.try_emplace(key, unique_keys.size());
      if (inserted) unique_keys.push_back(std::move(key));
      slot[i] = it->second;
    }
  }
  // The current value of each key: from the pending batch if it wrote the
  // key, else from the store (one batched MultiGet of the rest).
  std::vector<const std::string*> value_of(unique_keys.size(), nullptr);
  std::vector<size_t> to_read;  // indices into unique_keys
  for (size_t u = 0; u < unique_keys.size(); ++u) {
    if (pending != nullptr) {
      if (auto it = pending->find(unique_keys[u]); it != pending->end()) {
        value_of[u] = &it->second;
        continue;
      }
    }
    to_read.push_back(u);
  }
  std::vector<std::string> read_keys;
  const bool read_all = to_read.size() == unique_keys.size();
  if (!read_all) {
    read_keys.reserve(to_read.size());
    for (size_t u : to_read) read_keys.push_back(unique_keys[u]);
  }
  absl::StatusOr<std::vector<std::optional<std::string>>> stored =
      store_->MultiGet(Cf::kRecords, read_all ? unique_keys : read_keys);
  if (!stored.ok()) return stored.status();
  for (size_t k = 0; k < to_read.size(); ++k) {
    if ((*stored)[k].has_value()) value_of[to_read[k]] = &*(*stored)[k];
  }

  // Working copies live on one arena: a batch of records is thousands of
  // small strings, freed here in one go.
  google::protobuf::ArenaOptions arena_options;
  arena_options.start_block_size = 256 << 10;
  arena_options.max_block_size = 4 << 20;
  google::protobuf::Arena arena(arena_options);
  std::vector<StoredRecord*> current(unique_keys.size(), nullptr);
  for (size_t u = 0; u < unique_keys.size(); ++u) {
    if (value_of[u] == nullptr) continue;
    current[u] = google::protobuf::Arena::CreateMessage<StoredRecord>(&arena);
    if (absl::Status s =
            ParseStored(*value_of[u], CfName(Cf::kRecords), current[u]);
        !s.ok()) {
      return s;
    }
  }

  // Decide in order; writes are collected first so that an error above
  // leaves the batch untouched.
  const int64_t now_micros = absl::ToUnixMicros(now);
  std::vector<IngestOutcome> outcomes;
  outcomes.reserve(records.size());
  std::vector<bool> dirty(unique_keys.size(), false);
  std::map<std::string_view, SourceDeltas> deltas;  // few sources per call
  for (size_t i = 0; i < records.size(); ++i) {
    const EncodedRecord& rec = *records[i];
    const size_t u = slot[i];
    StoredRecord*& cur = current[u];
    SourceDeltas& d = deltas[rec.source()];
    if (cur == nullptr) {
      cur = google::protobuf::Arena::CreateMessage<StoredRecord>(&arena);
      *cur->mutable_identity() = rec.identity();
      *cur->mutable_attributes() = rec.attributes();
      cur->set_revision(1);
      cur->set_first_seen_micros(now_micros);
      cur->set_stored_micros(now_micros);
      d.records += 1;
      d.AddFields(rec.identity(), +1);
      dirty[u] = true;
      outcomes.push_back({IngestResult::kAccepted, 1});
      continue;
    }
    // No attributes at all means none were sent (e.g. the record that comes
    // with an event): the stored ones stay.
    const bool attributes_sent = !rec.attributes().empty();
    if (SerializeIdentity(cur->identity()) ==
            SerializeIdentity(rec.identity()) &&
        (!attributes_sent ||
         SameAttributes(cur->attributes(), rec.attributes()))) {
      outcomes.push_back({IngestResult::kUnchanged, cur->revision()});
      continue;
    }
    batch->Put(Cf::kRecordHistory,
               HistoryKey(rec.source(), rec.record_id(), cur->revision()),
               cur->SerializeAsString());
    if (cur->revision() == 1) d.updated += 1;
    d.AddFields(cur->identity(), -1);
    d.AddFields(rec.identity(), +1);
    *cur->mutable_identity() = rec.identity();
    if (attributes_sent) *cur->mutable_attributes() = rec.attributes();
    cur->set_revision(cur->revision() + 1);
    cur->set_stored_micros(now_micros);
    dirty[u] = true;
    outcomes.push_back({IngestResult::kUpdated, cur->revision()});
  }

  // Only the final state of each key goes in (history holds the rest), in
  // key order: consecutive memtable inserts then land next to each other,
  // which makes RocksDB's skiplist insert much cheaper than random order.
  std::vector<size_t> order;
  order.reserve(unique_keys.size());
  for (size_t u = 0; u < unique_keys.size(); ++u) {
    if (dirty[u]) order.push_back(u);
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return unique_keys[a] < unique_keys[b];
  });
  std::string value;
  for (size_t u : order) {
    current[u]->SerializeToString(&value);
    batch->Put(Cf::kRecords, unique_keys[u], value);
    if (staged != nullptr) (*staged)[unique_keys[u]] = value;
  }
  for (const auto& [source, d] : deltas) {
    if (d.records != 0) {
      batch->AddToCounter(Cf::kStats, CounterKey(source, kKindRecords),
                          d.records);
    }
    if (d.updated != 0) {
      batch->AddToCounter(Cf::kStats, CounterKey(source, kKindUpdated),
                          d.updated);
    }
    for (size_t f = 0; f < kCoverageFields.size(); ++f) {
      if (d.fields[f] == 0) continue;
      batch->AddToCounter(Cf::kStats,
                          FieldCounterKey(source, kCoverageFields[f].name),
                          d.fields[f]);
    }
  }
  return outcomes;
}

absl::StatusOr<std::optional<StoredRecord>> RecordStore::Get(
    std::string_view source, std::string_view record_id,
    const Snapshot* snapshot) const {
  absl::StatusOr<std::optional<std::string>> v =
      store_->Get(Cf::kRecords, RecordKey(source, record_id), snapshot);
  if (!v.ok()) return v.status();
  if (!v->has_value()) return std::nullopt;
  absl::StatusOr<StoredRecord> r = ParseStored(**v, CfName(Cf::kRecords));
  if (!r.ok()) return r.status();
  return std::optional<StoredRecord>(*std::move(r));
}

absl::StatusOr<std::optional<StoredRecord>> RecordStore::GetRevision(
    std::string_view source, std::string_view record_id, uint64_t revision,
    const Snapshot* snapshot) const {
  absl::StatusOr<std::optional<StoredRecord>> current =
      Get(source, record_id, snapshot);
  if (!current.ok() || !current->has_value() ||
      (*current)->revision() == revision) {
    return current;
  }
  absl::StatusOr<std::optional<std::string>> v = store_->Get(
      Cf::kRecordHistory, HistoryKey(source, record_id, revision), snapshot);
  if (!v.ok()) return v.status();
  if (!v->has_value()) return std::optional<StoredRecord>();
  absl::StatusOr<StoredRecord> parsed =
      ParseStored(**v, CfName(Cf::kRecordHistory));
  if (!parsed.ok()) return parsed.status();
  return std::optional<StoredRecord>(*std::move(parsed));
}

absl::StatusOr<std::vector<StoredRecord>> RecordStore::History(
    std::string_view source, std::string_view record_id,
    const Snapshot* snapshot) const {
  std::vector<StoredRecord> out;
  ScanOptions options;
  options.snapshot = snapshot;
  absl::Status s = store_->ScanPrefix(
      Cf::kRecordHistory, RecordKey(source, record_id),
      [&](std::string_view, std::string_view value) -> absl::StatusOr<bool> {
        absl::StatusOr<StoredRecord> r =
            ParseStored(value, CfName(Cf::kRecordHistory));
        if (!r.ok()) return r.status();
        out.push_back(*std::move(r));
        return true;
      },
      options);
  if (!s.ok()) return s;
  return out;
}

absl::Status RecordStore::ForEachRecord(std::optional<std::string> source,
                                        RecordCallback fn,
                                        const Snapshot* snapshot,
                                        const RecordFilter& want) const {
  KeyBuilder prefix;
  if (source.has_value()) prefix.AddString(*source);
  ScanOptions options;
  options.snapshot = snapshot;
  options.fill_cache = false;
  StoredRecord record;
  return store_->ScanPrefix(
      Cf::kRecords, prefix.key(),
      [&](std::string_view key,
          std::string_view value) -> absl::StatusOr<bool> {
        std::string_view src, rid;
        if (!DecodeRecordKey(key, &src, &rid).ok()) {
          return Malformed("record key in column family records");
        }
        if (want && !want(src, rid)) return true;
        if (!record.ParseFromArray(value.data(),
                                   static_cast<int>(value.size()))) {
          return Malformed("stored record in column family records");
        }
        return fn(src, rid, record);
      },
      options);
}

absl::StatusOr<linkd::v1::GetStatsResponse> RecordStore::Stats() const {
  struct Counts {
    int64_t records = 0;
    int64_t updated = 0;
    std::array<int64_t, kCoverageFields.size()> fields{};
  };
  std::map<std::string, Counts> by_source;  // sorted by source name
  const std::string prefix = KeyBuilder().AddU8(kRecordCounters).key();
  absl::Status s = store_->ScanPrefix(
      Cf::kStats, prefix,
      [&](std::string_view key,
          std::string_view value) -> absl::StatusOr<bool> {
        absl::StatusOr<int64_t> count = DecodeCounter(value);
        if (!count.ok()) return count.status();
        absl::StatusOr<KeyReader> reader = KeyReader::Create(key);
        if (!reader.ok()) return Malformed("counter key");
        absl::StatusOr<uint8_t> group = reader->ReadU8();
        absl::StatusOr<std::string_view> src = reader->ReadString();
        absl::StatusOr<uint8_t> kind = reader->ReadU8();
        if (!group.ok() || !src.ok() || !kind.ok()) {
          return Malformed("counter key");
        }
        Counts& c = by_source[std::string(*src)];
        switch (*kind) {
          case kKindRecords:
            c.records = *count;
            break;
          case kKindUpdated:
            c.updated = *count;
            break;
          case kKindField: {
            absl::StatusOr<std::string_view> field = reader->ReadString();
            if (!field.ok()) return Malformed("field counter key");
            // Fields unknown to this build (none yet) are skipped.
            for (size_t f = 0; f < kCoverageFields.size(); ++f) {
              if (kCoverageFields[f].name == *field) c.fields[f] = *count;
            }
            break;
          }
          default:
            break;  // a kind added by a newer build: not ours to report
        }
        return true;
      });
  if (!s.ok()) return s;

  linkd::v1::GetStatsResponse response;
  uint64_t total = 0;
  for (const auto& [source, c] : by_source) {
    if (c.records < 0 || c.updated < 0) {
      return Malformed("record counters (negative count)");
    }
    if (c.records == 0) continue;
    linkd::v1::SourceStats* ss = response.add_sources();
    ss->set_source(source);
    ss->set_records(static_cast<uint64_t>(c.records));
    ss->set_updated_records(static_cast<uint64_t>(c.updated));
    for (size_t f = 0; f < kCoverageFields.size(); ++f) {
      if (c.fields[f] <= 0) continue;
      linkd::v1::FieldCoverage* fc = ss->add_fields();
      fc->set_field(std::string(kCoverageFields[f].name));
      fc->set_records(static_cast<uint64_t>(c.fields[f]));
    }
    total += static_cast<uint64_t>(c.records);
  }
  response.set_total_records(total);
  return response;
}

}  // namespace linkd::store
