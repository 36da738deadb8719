#include "linkd/encode/file_encoder.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/util/json_util.h"
#include "linkd/encode/proto_convert.h"
#include "linkd/v1/record.pb.h"

namespace linkd::encode {
namespace {

// How often (in rows) the clock is consulted for progress reports.
constexpr int64_t kProgressCheckRows = 1024;

// Writes `item` to `out` in `format`, using `*scratch` as a reusable buffer.
absl::Status WriteItem(const linkd::v1::IngestItem& item, OutputFormat format,
                       std::string* scratch, std::ostream& out) {
  if (format == OutputFormat::kBinary) {
    const size_t size = item.ByteSizeLong();
    if (size > static_cast<size_t>(INT32_MAX)) {
      return absl::InternalError("encoded record too large");
    }
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
    auto status = google::protobuf::util::MessageToJsonString(item, scratch,
                                                              json_options);
    if (!status.ok()) {
      return absl::InternalError("failed to convert a record to JSON");
    }
    scratch->push_back('\n');
  }
  out.write(scratch->data(), static_cast<std::streamsize>(scratch->size()));
  if (!out.good()) return absl::UnavailableError("failed writing the output");
  return absl::OkStatus();
}

// An attribute and the index of its column.
struct AttrColumn {
  std::string name;
  std::string column;
  size_t index = 0;
};

// Resolves the --attr columns against the header: present once, not mapped
// to the record id or an identity field, not named like an identifier.
absl::StatusOr<std::vector<AttrColumn>> ResolveAttributes(
    const std::vector<AttrSpec>& specs, const std::vector<std::string>& header,
    const FieldMap& map) {
  std::vector<AttrColumn> out;
  for (const AttrSpec& spec : specs) {
    if (!IsAttributeName(spec.name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "attribute \"", spec.name, "\" is not one linkd accepts"));
    }
    for (const AttrColumn& a : out) {
      if (a.name == spec.name) {
        return absl::InvalidArgumentError(
            absl::StrCat("attribute ", spec.name, " is mapped twice"));
      }
    }
    if (ColumnNameLooksIdentifying(spec.column)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "column \"", spec.column, "\" (attribute ", spec.name,
          ") is named like an identifier column (a name, date of birth, NHS "
          "number, UPN, postcode or address); attributes never carry "
          "identifiers"));
    }
    std::optional<size_t> index;
    for (size_t i = 0; i < header.size(); ++i) {
      if (header[i] != spec.column) continue;
      if (index.has_value()) {
        return absl::InvalidArgumentError(
            absl::StrCat("column \"", spec.column, "\" (attribute ", spec.name,
                         ") appears more than once in the CSV header"));
      }
      index = i;
    }
    if (!index.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("column \"", spec.column, "\" (attribute ", spec.name,
                       ") is not in the CSV header"));
    }
    bool identity_column = *index == map.record_id_column();
    for (int f = 0; f < crypto::kNumFields; ++f) {
      identity_column |= map.column(static_cast<crypto::Field>(f)) == *index;
    }
    if (identity_column) {
      return absl::InvalidArgumentError(absl::StrCat(
          "column \"", spec.column, "\" (attribute ", spec.name,
          ") is also mapped to an identity field; attributes never carry "
          "identifiers"));
    }
    out.push_back({spec.name, spec.column, *index});
  }
  return out;
}

// Copies the row's attribute values into `record` unchanged. A value that
// is not a code of its attribute is dropped (and counted); one that looks
// like an identifier stops the run.
absl::Status AddAttributes(const std::vector<AttrColumn>& attrs,
                           const std::vector<std::string>& row, int64_t row_no,
                           EncodeSummary* summary,
                           linkd::v1::EncodedRecord* record) {
  for (const AttrColumn& a : attrs) {
    if (a.index >= row.size()) continue;
    const absl::string_view trimmed = absl::StripAsciiWhitespace(row[a.index]);
    const std::string_view value(trimmed.data(), trimmed.size());
    if (value.empty()) continue;
    const absl::Status check = CheckAttributeValue(a.name, value);
    if (check.ok()) {
      (*record->mutable_attributes())[a.name] = std::string(value);
      continue;
    }
    const IdentifierLike like = ClassifyValue(value);
    if (like != IdentifierLike::kNone) {
      return absl::InvalidArgumentError(absl::StrCat(
          "row ", row_no, ": column \"", a.column, "\" (attribute ", a.name,
          ") holds what looks like ", std::string(IdentifierLikeName(like)),
          ", not a code of the attribute; attributes never carry identifiers: "
          "check the --attr "
          "mapping (nothing of this row was written)"));
    }
    ++summary->dropped_fields[{a.name, std::string(check.message())}];
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<OutputFormat> ParseOutputFormat(std::string_view name) {
  if (name == "binary") return OutputFormat::kBinary;
  if (name == "jsonl") return OutputFormat::kJsonl;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown output format \"", std::string(name),
                   "\"; expected binary or jsonl"));
}

bool LooksLikeIdentifier(std::string_view record_id,
                         const crypto::DateFormat& date_format) {
  // Cheap, conservative pre-checks by digit count (every row goes through
  // here): an NHS number has 10 digits, a UPN at least 11, and a date at
  // least 6 (YYYY plus a one- or two-digit day and month).
  int digits = 0;
  for (char c : record_id) digits += (c >= '0' && c <= '9') ? 1 : 0;
  if (digits < 6) return false;
  if (digits == 10 && crypto::NormalizeNhsNumber(record_id).ok()) return true;
  if (digits >= 11 && crypto::NormalizeUpn(record_id).ok()) return true;
  return crypto::DateFormat::Auto().Parse(record_id).ok() ||
         date_format.Parse(record_id).ok();
}

bool HasIdentifyingField(const crypto::EncodedIdentity& identity) {
  return identity.upn.has_value() || identity.nhs_number.has_value() ||
         identity.dob.has_value() || identity.given_name_bf.has_value() ||
         identity.family_name_bf.has_value() ||
         identity.given_name_pc_bf.has_value() ||
         identity.family_name_pc_bf.has_value();
}

FileEncoder::FileEncoder(const crypto::Encoder* encoder,
                         FileEncoderOptions options)
    : encoder_(encoder), options_(std::move(options)) {}

absl::Status FileEncoder::Run(std::istream& in, std::ostream& out,
                              EncodeSummary* summary) {
  *summary = EncodeSummary();
  summary->duplicate_check_limit = options_.max_tracked_record_ids;
  if (options_.source.empty()) {
    return absl::InvalidArgumentError("the source name is empty");
  }

  CsvReader reader(&in, options_.csv);
  absl::Status status = reader.ReadHeader();
  if (!status.ok()) return status;
  absl::StatusOr<FieldMap> map =
      FieldMap::Resolve(options_.maps, reader.header());
  if (!map.ok()) return map.status();
  absl::StatusOr<std::vector<AttrColumn>> attrs =
      ResolveAttributes(options_.attrs, reader.header(), *map);
  if (!attrs.ok()) return attrs.status();

  auto reject = [summary](int64_t row, std::string_view category,
                          std::string_view detail) {
    ++summary->rows_rejected;
    ++summary->rejects_by_reason[std::string(category)];
    if (summary->listed_rejects.size() < kMaxListedRejects) {
      summary->listed_rejects.push_back({row, std::string(detail)});
    }
  };

  // See FileEncoderOptions::max_tracked_record_ids for the trade-off.
  absl::flat_hash_set<uint64_t> seen_ids;
  const absl::Hash<std::string_view> fingerprint;

  std::vector<std::string> row;
  crypto::ClearIdentity clear;
  std::vector<crypto::FieldIssue> issues;
  linkd::v1::IngestItem item;
  std::string scratch;
  absl::Time last_progress = options_.clock->Now();

  while (true) {
    if (options_.progress && summary->rows_read > 0 &&
        summary->rows_read % kProgressCheckRows == 0) {
      const absl::Time now = options_.clock->Now();
      if (now - last_progress >= options_.progress_interval) {
        last_progress = now;
        options_.progress({summary->rows_read, summary->records_written,
                           summary->rows_rejected});
      }
    }

    absl::StatusOr<bool> next = reader.Next(&row);
    if (!next.ok()) {
      if (next.status().code() == absl::StatusCode::kInvalidArgument) {
        // A malformed row: reported, skipped, the run goes on. The detail
        // names the structure problem only, never the content.
        ++summary->rows_read;
        absl::string_view detail = next.status().message();
        const std::string prefix = absl::StrCat("row ", reader.row(), ": ");
        if (detail.substr(0, prefix.size()) == prefix) {
          detail.remove_prefix(prefix.size());
        }
        reject(reader.row(), kMalformedRowReason,
               absl::StrCat(std::string(kMalformedRowReason), ": ", detail));
        continue;
      }
      if (next.status().code() == absl::StatusCode::kDataLoss) {
        ++summary->rows_read;
      }
      return next.status();
    }
    if (!*next) break;
    ++summary->rows_read;
    const int64_t row_number = reader.row();

    const std::string_view record_id = map->RecordId(row);
    if (record_id.empty()) {
      reject(row_number, kEmptyRecordIdReason, kEmptyRecordIdReason);
      continue;
    }
    if (LooksLikeIdentifier(record_id, options_.date_format)) {
      reject(row_number, kRecordIdIdentifierReason, kRecordIdIdentifierReason);
      continue;
    }
    const uint64_t id_fingerprint = fingerprint(record_id);
    if (seen_ids.contains(id_fingerprint)) {
      reject(row_number, kDuplicateRecordIdReason, kDuplicateRecordIdReason);
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
      reject(row_number, kNoIdentifyingFieldReason, kNoIdentifyingFieldReason);
      continue;
    }

    if (seen_ids.size() < options_.max_tracked_record_ids) {
      seen_ids.insert(id_fingerprint);
    } else {
      summary->duplicate_check_saturated = true;
    }
    MakeIngestItem(options_.source, record_id, encoded, &item);
    status =
        AddAttributes(*attrs, row, row_number, summary, item.mutable_record());
    if (!status.ok()) return status;
    status = WriteItem(item, options_.format, &scratch, out);
    if (!status.ok()) return status;
    ++summary->records_written;
  }
  out.flush();
  if (!out.good()) return absl::UnavailableError("failed writing the output");
  return absl::OkStatus();
}

std::string FormatSummary(const EncodeSummary& summary) {
  std::string text = "linkd-encode summary\n";
  absl::StrAppend(&text, "  rows read:       ", summary.rows_read, "\n");
  absl::StrAppend(&text, "  records written: ", summary.records_written, "\n");
  absl::StrAppend(&text, "  rows rejected:   ", summary.rows_rejected, "\n");
  for (const RejectedRow& reject : summary.listed_rejects) {
    absl::StrAppend(&text, "    row ", reject.row, ": ", reject.reason, "\n");
  }
  if (summary.rows_rejected >
      static_cast<int64_t>(summary.listed_rejects.size())) {
    absl::StrAppend(&text, "    and ",
                    summary.rows_rejected -
                        static_cast<int64_t>(summary.listed_rejects.size()),
                    " more\n");
  }
  if (!summary.rejects_by_reason.empty()) {
    absl::StrAppend(&text, "  rejected rows by reason:\n");
    for (const auto& [reason, count] : summary.rejects_by_reason) {
      absl::StrAppend(&text, "    ", reason, ": ", count, "\n");
    }
  }
  if (!summary.dropped_fields.empty()) {
    absl::StrAppend(&text, "  fields dropped (field: reason: count):\n");
    for (const auto& [key, count] : summary.dropped_fields) {
      absl::StrAppend(&text, "    ", key.first, ": ", key.second, ": ", count,
                      "\n");
    }
  }
  if (summary.duplicate_check_saturated) {
    absl::StrAppend(&text,
                    "  note: duplicate record_id check covered the first ",
                    summary.duplicate_check_limit,
                    " record ids only; linkd treats later duplicates as "
                    "updates\n");
  }
  return text;
}

}  // namespace linkd::encode
