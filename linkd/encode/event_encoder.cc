#include "linkd/encode/event_encoder.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/util/json_util.h"
#include "linkd/encode/proto_convert.h"

namespace linkd::encode {
namespace {

constexpr std::array<std::string_view, kNumEventFields> kEventFieldNames = {
    "event_id",      "type",          "date",        "days",
    "reason_code",   "episode_kind",  "contact_org", "contact_team",
    "contact_phone", "virtual_school"};

absl::Status WriteItem(const v1::IngestItem& item, OutputFormat format,
                       std::string* scratch, std::ostream& out) {
  if (format == OutputFormat::kBinary) {
    const size_t size = item.ByteSizeLong();
    const size_t prefix = google::protobuf::io::CodedOutputStream::VarintSize32(
        static_cast<uint32_t>(size));
    scratch->resize(prefix + size);
    auto* data = reinterpret_cast<uint8_t*>(scratch->data());
    google::protobuf::io::CodedOutputStream::WriteVarint32ToArray(
        static_cast<uint32_t>(size), data);
    item.SerializeWithCachedSizesToArray(data + prefix);
  } else {
    scratch->clear();
    google::protobuf::util::JsonPrintOptions json_options;
    json_options.preserve_proto_field_names = true;
    if (!google::protobuf::util::MessageToJsonString(item, scratch,
                                                     json_options)
             .ok()) {
      return absl::InternalError("failed to convert an event to JSON");
    }
    scratch->push_back('\n');
  }
  out.write(scratch->data(), static_cast<std::streamsize>(scratch->size()));
  if (!out.good()) return absl::UnavailableError("failed writing the output");
  return absl::OkStatus();
}

std::string Normal(std::string_view text) {
  std::string s = absl::AsciiStrToLower(
      absl::StripAsciiWhitespace(absl::string_view(text.data(), text.size())));
  for (char& c : s) {
    if (c == '-' || c == ' ') c = '_';
  }
  return s;
}

}  // namespace

std::string_view EventFieldName(EventField f) {
  return kEventFieldNames[static_cast<size_t>(f)];
}

std::optional<EventField> EventFieldFromName(std::string_view name) {
  for (size_t i = 0; i < kNumEventFields; ++i) {
    if (kEventFieldNames[i] == name) return static_cast<EventField>(i);
  }
  return std::nullopt;
}

absl::StatusOr<MapSpec> ParseEventMapSpec(std::string_view arg) {
  const size_t eq = arg.find('=');
  if (eq == std::string_view::npos || eq + 1 == arg.size()) {
    return absl::InvalidArgumentError(
        "--event-map needs FIELD=COLUMN, e.g. --event-map date=start_date");
  }
  MapSpec spec{std::string(arg.substr(0, eq)), std::string(arg.substr(eq + 1))};
  if (!EventFieldFromName(spec.field).has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--event-map: unknown event field \"", spec.field,
        "\"; expected event_id, type, date, days, reason_code, episode_kind, "
        "contact_org, contact_team, contact_phone or virtual_school"));
  }
  return spec;
}

absl::StatusOr<v1::EventType> ParseEventType(std::string_view text) {
  std::string s = Normal(text);
  if (s.rfind("event_type_", 0) == 0) s = s.substr(11);
  static const std::pair<std::string_view, v1::EventType> kTypes[] = {
      {"suspension", v1::EVENT_TYPE_SUSPENSION},
      {"permanent_exclusion", v1::EVENT_TYPE_PERMANENT_EXCLUSION},
      {"removed_from_roll", v1::EVENT_TYPE_REMOVED_FROM_ROLL},
      {"child_missing_education", v1::EVENT_TYPE_CHILD_MISSING_EDUCATION},
      {"in_year_admission", v1::EVENT_TYPE_IN_YEAR_ADMISSION},
      {"episode_start", v1::EVENT_TYPE_EPISODE_START},
      {"episode_end", v1::EVENT_TYPE_EPISODE_END},
      {"refuge_start", v1::EVENT_TYPE_REFUGE_START},
      {"refuge_end", v1::EVENT_TYPE_REFUGE_END},
  };
  for (const auto& [name, type] : kTypes) {
    if (s == name) return type;
  }
  return absl::InvalidArgumentError("unknown event type");
}

absl::StatusOr<v1::EpisodeKind> ParseEpisodeKind(std::string_view text) {
  std::string s = Normal(text);
  if (s.rfind("episode_kind_", 0) == 0) s = s.substr(13);
  if (s == "cin" || s == "child_in_need" || s == "child_in_need_plan") {
    return v1::EPISODE_KIND_CHILD_IN_NEED_PLAN;
  }
  if (s == "cp" || s == "cpp" || s == "child_protection" ||
      s == "child_protection_plan") {
    return v1::EPISODE_KIND_CHILD_PROTECTION_PLAN;
  }
  if (s == "lac" || s == "cla" || s == "looked_after") {
    return v1::EPISODE_KIND_LOOKED_AFTER;
  }
  return absl::InvalidArgumentError("unknown episode kind");
}

EventFileEncoder::EventFileEncoder(const crypto::Encoder* encoder,
                                   EventEncoderOptions options)
    : encoder_(encoder), options_(std::move(options)) {}

absl::Status EventFileEncoder::Run(std::istream& in, std::ostream& out,
                                   EncodeSummary* summary) {
  *summary = EncodeSummary();
  if (options_.source.empty()) {
    return absl::InvalidArgumentError("the source name is empty");
  }
  CsvReader reader(&in, options_.csv);
  if (absl::Status s = reader.ReadHeader(); !s.ok()) return s;
  absl::StatusOr<FieldMap> map =
      FieldMap::Resolve(options_.maps, reader.header());
  if (!map.ok()) return map.status();

  // Event columns: mapped, else named like the field.
  std::array<std::optional<size_t>, kNumEventFields> columns;
  auto find_column = [&](std::string_view name) -> std::optional<size_t> {
    std::optional<size_t> found;
    for (size_t i = 0; i < reader.header().size(); ++i) {
      if (reader.header()[i] == name) {
        if (found.has_value()) return std::nullopt;
        found = i;
      }
    }
    return found;
  };
  for (const MapSpec& spec : options_.event_maps) {
    const EventField f = *EventFieldFromName(spec.field);
    if (columns[static_cast<size_t>(f)].has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--event-map: field ", spec.field, " mapped twice"));
    }
    std::optional<size_t> c = find_column(spec.column);
    if (!c.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--event-map: column \"", spec.column,
                       "\" is not in the header exactly once"));
    }
    columns[static_cast<size_t>(f)] = c;
  }
  if (options_.event_maps.empty()) {
    for (size_t f = 0; f < kNumEventFields; ++f) {
      columns[f] = find_column(kEventFieldNames[f]);
    }
  }
  for (EventField f :
       {EventField::kEventId, EventField::kType, EventField::kDate}) {
    if (!columns[static_cast<size_t>(f)].has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the event field ", std::string(EventFieldName(f)),
                       " has no column: add --event-map ",
                       std::string(EventFieldName(f)), "=COLUMN"));
    }
  }

  auto reject = [summary](int64_t row, std::string_view category,
                          std::string_view detail) {
    ++summary->rows_rejected;
    ++summary->rejects_by_reason[std::string(category)];
    if (summary->listed_rejects.size() < kMaxListedRejects) {
      summary->listed_rejects.push_back({row, std::string(detail)});
    }
  };
  absl::flat_hash_set<uint64_t> seen_ids;
  const absl::Hash<std::string_view> fingerprint;
  std::vector<std::string> row;
  crypto::ClearIdentity clear;
  std::vector<crypto::FieldIssue> issues;
  v1::IngestItem record_item;
  v1::IngestItem item;
  std::string scratch;

  for (;;) {
    absl::StatusOr<bool> next = reader.Next(&row);
    if (!next.ok()) {
      if (next.status().code() == absl::StatusCode::kInvalidArgument) {
        ++summary->rows_read;
        reject(reader.row(), kMalformedRowReason, kMalformedRowReason);
        continue;
      }
      if (next.status().code() == absl::StatusCode::kDataLoss) {
        ++summary->rows_read;
      }
      return next.status();
    }
    if (!*next) break;
    ++summary->rows_read;
    const int64_t n = reader.row();
    auto cell = [&](EventField f) -> std::string {
      const std::optional<size_t>& c = columns[static_cast<size_t>(f)];
      if (!c.has_value()) return "";
      return std::string(absl::StripAsciiWhitespace(row[*c]));
    };

    const std::string_view record_id = map->RecordId(row);
    if (record_id.empty()) {
      reject(n, kEmptyRecordIdReason, kEmptyRecordIdReason);
      continue;
    }
    if (LooksLikeIdentifier(record_id, options_.date_format)) {
      reject(n, kRecordIdIdentifierReason, kRecordIdIdentifierReason);
      continue;
    }
    const std::string event_id = cell(EventField::kEventId);
    if (event_id.empty()) {
      reject(n, kEmptyEventIdReason, kEmptyEventIdReason);
      continue;
    }
    if (LooksLikeIdentifier(event_id, options_.date_format)) {
      reject(n, kEventIdIdentifierReason, kEventIdIdentifierReason);
      continue;
    }
    const uint64_t id_fingerprint = fingerprint(event_id);
    if (seen_ids.contains(id_fingerprint)) {
      reject(n, kDuplicateEventIdReason, kDuplicateEventIdReason);
      continue;
    }
    absl::StatusOr<v1::EventType> type =
        ParseEventType(cell(EventField::kType));
    if (!type.ok()) {
      reject(n, kBadEventTypeReason, kBadEventTypeReason);
      continue;
    }
    absl::StatusOr<crypto::Date> date =
        options_.date_format.Parse(cell(EventField::kDate));
    if (!date.ok()) {
      reject(n, kBadEventDateReason, kBadEventDateReason);
      continue;
    }
    v1::Event event;
    event.set_event_id(event_id);
    event.set_type(*type);
    event.mutable_date()->set_year(date->year);
    event.mutable_date()->set_month(date->month);
    event.mutable_date()->set_day(date->day);
    std::string bad;  // the field whose value is unusable
    if (const std::string days = cell(EventField::kDays); !days.empty()) {
      uint32_t d = 0;
      if (absl::SimpleAtoi(days, &d)) {
        event.set_days(d);
      } else {
        bad = "days";
      }
    }
    event.set_reason_code(cell(EventField::kReasonCode));
    if (const std::string kind = cell(EventField::kEpisodeKind);
        !kind.empty() && bad.empty()) {
      absl::StatusOr<v1::EpisodeKind> k = ParseEpisodeKind(kind);
      if (k.ok()) {
        event.set_episode_kind(*k);
      } else {
        bad = "episode_kind";
      }
    }
    if (const std::string org = cell(EventField::kContactOrg); !org.empty()) {
      event.mutable_contact()->set_organisation(org);
      event.mutable_contact()->set_team(cell(EventField::kContactTeam));
      event.mutable_contact()->set_phone(cell(EventField::kContactPhone));
    }
    event.set_virtual_school(cell(EventField::kVirtualSchool));
    if (!bad.empty()) {
      reject(n, kBadEventDetailReason,
             absl::StrCat(std::string(kBadEventDetailReason), ": ", bad));
      continue;
    }

    map->Extract(row, &clear);
    issues.clear();
    const crypto::EncodedIdentity encoded = encoder_->Encode(clear, &issues);
    for (const crypto::FieldIssue& issue : issues) {
      ++summary->dropped_fields[{std::string(crypto::FieldName(issue.field)),
                                 issue.reason}];
    }
    if (!HasIdentifyingField(encoded)) {
      reject(n, kNoIdentifyingFieldReason, kNoIdentifyingFieldReason);
      continue;
    }
    seen_ids.insert(id_fingerprint);
    MakeIngestItem(options_.source, record_id, encoded, &record_item);
    item.Clear();
    *item.mutable_event()->mutable_record() =
        std::move(*record_item.mutable_record());
    *item.mutable_event()->mutable_event() = std::move(event);
    if (absl::Status s = WriteItem(item, options_.format, &scratch, out);
        !s.ok()) {
      return s;
    }
    ++summary->records_written;
  }
  out.flush();
  if (!out.good()) return absl::UnavailableError("failed writing the output");
  return absl::OkStatus();
}

}  // namespace linkd::encode
