// linkd::encode file encoder: a provider's CSV of clear identifiers in, a
// stream of encoded linkd.v1.IngestItem messages out. This is the body of the
// `linkd-encode` command, kept out of main() so that tests can drive it.
//
// Streaming: one row is held at a time, so memory does not grow with the
// input, except for the bounded duplicate-record_id check (see
// FileEncoderOptions::max_tracked_record_ids).
//
// Privacy: the summary, the progress reports and every error name rows,
// fields, columns and fixed reasons, never a value from the input.
#ifndef LINKD_ENCODE_FILE_ENCODER_H_
#define LINKD_ENCODE_FILE_ENCODER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <istream>
#include <map>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "crypto/encoder.h"
#include "crypto/normalize.h"
#include "linkd/encode/attributes.h"
#include "linkd/encode/csv_reader.h"
#include "linkd/encode/field_map.h"
#include "linkd/util/clock.h"

namespace linkd::encode {

// How encoded records are written.
enum class OutputFormat {
  // Length-delimited linkd.v1.IngestItem messages (varint length, then the
  // message), as read by google::protobuf::util::ParseDelimitedFromZeroCopy
  // Stream and written by SerializeDelimitedToOstream.
  kBinary,
  // One protobuf-JSON object per line (bytes fields in base64, proto field
  // names), for inspection.
  kJsonl,
};

// Parses "binary" or "jsonl"; INVALID_ARGUMENT otherwise.
absl::StatusOr<OutputFormat> ParseOutputFormat(std::string_view name);

// Fixed reasons for rejecting a row.
inline constexpr std::string_view kEmptyRecordIdReason = "empty record_id";
inline constexpr std::string_view kRecordIdIdentifierReason =
    "record_id looks like an identifier";
inline constexpr std::string_view kDuplicateRecordIdReason =
    "duplicate record_id";
inline constexpr std::string_view kNoIdentifyingFieldReason =
    "no usable identifying field";
inline constexpr std::string_view kMalformedRowReason = "malformed CSV row";

// Number of rejected rows listed individually in the summary.
inline constexpr size_t kMaxListedRejects = 20;

struct RejectedRow {
  int64_t row = 0;     // data row number (1 = first row after the header)
  std::string reason;  // fixed phrase or CSV structure detail; no value
};

// What one run did. Contains no value from the input.
struct EncodeSummary {
  int64_t rows_read = 0;
  int64_t records_written = 0;
  int64_t rows_rejected = 0;
  // The first kMaxListedRejects rejected rows, in input order.
  std::vector<RejectedRow> listed_rejects;
  // Rejected rows by reason (one of the k*Reason constants above).
  std::map<std::string, int64_t> rejects_by_reason;
  // Fields dropped from written and rejected rows, by (field name, reason).
  std::map<std::pair<std::string, std::string>, int64_t> dropped_fields;
  // True if more distinct record ids arrived than the duplicate check
  // tracks; later duplicates were then not detected by this run.
  bool duplicate_check_saturated = false;
  size_t duplicate_check_limit = 0;
};

// A progress report, delivered during a run.
struct EncodeProgress {
  int64_t rows_read = 0;
  int64_t records_written = 0;
  int64_t rows_rejected = 0;
};

struct FileEncoderOptions {
  // The providing source written into every record. Required.
  std::string source;
  // Column mapping; empty means "fields named like header columns".
  std::vector<MapSpec> maps;
  // Attribute columns passed through unchanged (attributes.h): each must be
  // in the header once, not mapped to an identity field, and not named like
  // an identifier column. A value that is not a code of its attribute is
  // dropped from its row (counted in dropped_fields); one that looks like
  // an identifier stops the run (INVALID_ARGUMENT): the column is wrong.
  std::vector<AttrSpec> attrs;
  OutputFormat format = OutputFormat::kBinary;
  // The input's date format. Used, together with DateFormat::Auto(), to
  // refuse a record_id that parses as a date. (The Encoder has its own copy
  // for the dob field.)
  crypto::DateFormat date_format = crypto::DateFormat::Auto();
  // Duplicate record_id detection keeps a 64-bit fingerprint of every
  // written record id in a hash set of at most this many entries. That is
  // memory proportional to the input, so it is capped: at the default the
  // set is about 38 MB (9 bytes a slot, 4.2M slots; ~57 MB while growing),
  // and 500k rows cost ~9 MB. The cap covers any realistic single provider
  // file (a whole local authority's school census is a few hundred thousand
  // rows). Past the cap new ids are no longer tracked, the summary says so,
  // and linkd's ingest, idempotent by (source, record_id), treats a later
  // duplicate as an update of the earlier record. A fingerprint collision
  // would wrongly reject a row; at 3M ids its probability is about 2.4e-7
  // per file. Only ids of written rows are tracked, so a row rejected for
  // another reason does not make a later row with its id a duplicate.
  size_t max_tracked_record_ids = 3'000'000;
  CsvReaderOptions csv;
  // Called about every `progress_interval` while rows are being read (and
  // not at all for short inputs). May be empty.
  std::function<void(const EncodeProgress&)> progress;
  absl::Duration progress_interval = absl::Seconds(1);
  // Time source for progress; not owned, must outlive the encoder.
  const util::Clock* clock = util::Clock::Real();
};

// Encodes CSV files with one crypto::Encoder. Not thread-safe: use one
// FileEncoder per thread (the Encoder itself may be shared).
class FileEncoder {
 public:
  // `encoder` is not owned and must outlive this object.
  FileEncoder(const crypto::Encoder* encoder, FileEncoderOptions options);

  // Reads a CSV (header row first) from `in` and writes one IngestItem per
  // accepted row to `out`. Rows that are malformed or unusable are counted
  // in `*summary` and skipped. `*summary` is reset first and is filled even
  // when an error is returned, so a caller can report how far it got.
  // Returns:
  //  - INVALID_ARGUMENT if the source is empty, the header is unusable,
  //    the field map or an attribute column does not resolve against it
  //    (message names the column or field), or an attribute column holds a
  //    value that looks like an identifier (message names the row, column,
  //    attribute and kind of identifier, never the value);
  //  - DATA_LOSS if the CSV is structurally broken (a quote left open at
  //    the end of the input);
  //  - UNAVAILABLE if reading `in` or writing `out` fails;
  //  - OK otherwise, even if rows were rejected (see summary->rows_rejected).
  absl::Status Run(std::istream& in, std::ostream& out, EncodeSummary* summary);

 private:
  const crypto::Encoder* encoder_;
  FileEncoderOptions options_;
};

// True if `record_id` could be a clear identifier: it passes the NHS number
// or UPN check, or parses as a date in `date_format` or DateFormat::Auto().
bool LooksLikeIdentifier(std::string_view record_id,
                         const crypto::DateFormat& date_format);

// True if `identity` carries at least one identifying field: a UPN or NHS
// number token, the full date of birth, or a name filter of either salt
// family. A name counts only through a filter: a row whose names have
// neither a valid date of birth nor a valid postcode (so no filter,
// crypto/ENCODING.md section 6) and no identifier is unusable. Sex and
// postcode tokens alone do not identify anyone.
bool HasIdentifyingField(const crypto::EncodedIdentity& identity);

// A human-readable multi-line summary for stderr. Names no input value.
std::string FormatSummary(const EncodeSummary& summary);

}  // namespace linkd::encode

#endif  // LINKD_ENCODE_FILE_ENCODER_H_
