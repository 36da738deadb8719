// linkd::encode event encoder: a provider's CSV of events (the child's
// identity columns plus event columns) in, a stream of encoded
// linkd.v1.IngestItem events out (`linkd-encode events`). The identity is
// encoded exactly as FileEncoder encodes a record; the event columns become
// a linkd.v1.Event (proto/linkd/v1/event.proto), dates structured.
//
// Streaming: one row is held at a time (plus a fingerprint per event id, to
// refuse duplicates within the file).
//
// Privacy: the summary and every error name rows, fields, columns and fixed
// reasons, never a value from the input.
#ifndef LINKD_ENCODE_EVENT_ENCODER_H_
#define LINKD_ENCODE_EVENT_ENCODER_H_

#include <array>
#include <istream>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto/encoder.h"
#include "crypto/normalize.h"
#include "linkd/encode/csv_reader.h"
#include "linkd/encode/field_map.h"
#include "linkd/encode/file_encoder.h"
#include "linkd/v1/record.pb.h"

namespace linkd::encode {

// The event columns, by their --event-map names.
enum class EventField {
  kEventId,        // the source's own event reference (required)
  kType,           // suspension, permanent_exclusion, removed_from_roll,
                   // child_missing_education, in_year_admission,
                   // episode_start, episode_end, refuge_start, refuge_end
                   // (required)
  kDate,           // in --date-format (required)
  kDays,           // suspension: number of school days
  kReasonCode,     // removed_from_roll: DfE reason code
  kEpisodeKind,    // episode_start/end: cin, cp or lac (or their long names)
  kContactOrg,     // contact organisation id, e.g. la/999
  kContactTeam,    // contact team name
  kContactPhone,   // contact phone number
  kVirtualSchool,  // lac episode_start: the Virtual School's organisation id
};
inline constexpr size_t kNumEventFields = 10;

// "event_id", "type", ...
std::string_view EventFieldName(EventField f);
std::optional<EventField> EventFieldFromName(std::string_view name);

// Parses "FIELD=COLUMN" with FIELD an event field; INVALID_ARGUMENT naming
// the argument otherwise.
absl::StatusOr<MapSpec> ParseEventMapSpec(std::string_view arg);

// Parses an event type or episode kind as written in a CSV (case-insensitive
// names above, with or without the proto prefix). INVALID_ARGUMENT (no
// value echoed) if unknown.
absl::StatusOr<v1::EventType> ParseEventType(std::string_view text);
absl::StatusOr<v1::EpisodeKind> ParseEpisodeKind(std::string_view text);

// Fixed reasons for rejecting an event row (beside file_encoder.h's).
inline constexpr std::string_view kEmptyEventIdReason = "empty event_id";
inline constexpr std::string_view kEventIdIdentifierReason =
    "event_id looks like an identifier";
inline constexpr std::string_view kDuplicateEventIdReason =
    "duplicate event_id";
inline constexpr std::string_view kBadEventTypeReason = "unknown event type";
inline constexpr std::string_view kBadEventDateReason = "invalid event date";
inline constexpr std::string_view kBadEventDetailReason =
    "invalid event detail";

struct EventEncoderOptions {
  // The reporting source, sent with every event: the provider's own
  // organisation id (school/<URN> or la/<code>). Required.
  std::string source;
  // Identity columns, as FileEncoderOptions::maps.
  std::vector<MapSpec> maps;
  // Event columns; empty: columns named exactly as the event fields.
  std::vector<MapSpec> event_maps;
  OutputFormat format = OutputFormat::kBinary;
  // How event dates (and the identity's dob, in the Encoder) are written.
  crypto::DateFormat date_format = crypto::DateFormat::Auto();
  CsvReaderOptions csv;
};

// Not thread-safe: one per thread (the Encoder may be shared).
class EventFileEncoder {
 public:
  // `encoder` is not owned and must outlive this object.
  EventFileEncoder(const crypto::Encoder* encoder, EventEncoderOptions options);

  // Reads the CSV from `in` and writes one event IngestItem per accepted
  // row to `out`; rejected rows are counted in `*summary` (reset first).
  // Returns INVALID_ARGUMENT if the source is empty or the header lacks a
  // mapped column (naming it) or a required event field (event_id, type,
  // date); DATA_LOSS for a structurally broken CSV; UNAVAILABLE for I/O
  // errors; OK otherwise, even if rows were rejected.
  absl::Status Run(std::istream& in, std::ostream& out, EncodeSummary* summary);

 private:
  const crypto::Encoder* encoder_;
  EventEncoderOptions options_;
};

}  // namespace linkd::encode

#endif  // LINKD_ENCODE_EVENT_ENCODER_H_
