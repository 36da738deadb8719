// linkd::encode field map: which CSV column feeds which encoder field.
//
// Parses `--map FIELD=COLUMN` arguments, where FIELD is one of record_id,
// given_name, family_name, dob, sex, postcode, upn, nhs_number and COLUMN is
// a header name, and resolves them against a CSV header. Column names are not
// identifiers, so messages may name them; messages never contain cell values.
#ifndef LINKD_ENCODE_FIELD_MAP_H_
#define LINKD_ENCODE_FIELD_MAP_H_

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto/encoder.h"

namespace linkd::encode {

// The name of the record reference field.
inline constexpr std::string_view kRecordIdField = "record_id";

// One parsed `--map FIELD=COLUMN` argument.
struct MapSpec {
  std::string field;
  std::string column;
};

// Parses "FIELD=COLUMN" (split at the first '='). Returns INVALID_ARGUMENT
// naming the argument if there is no '=', FIELD is not a known field, or
// COLUMN is empty.
absl::StatusOr<MapSpec> ParseMapSpec(std::string_view arg);

// Looks up an encoder field by its command-line name ("given_name", ...).
// Returns std::nullopt for "record_id" and for unknown names.
std::optional<crypto::Field> FieldFromName(std::string_view name);

// Column indexes for the record id and each encoder field. Immutable and
// thread-safe once built.
class FieldMap {
 public:
  // Resolves `specs` against `header`. With no specs, every field whose name
  // equals a header column exactly is mapped. Returns INVALID_ARGUMENT naming
  // the field or column if a field is unknown or mapped twice, a column is
  // missing from the header or appears in it more than once, or record_id is
  // not mapped.
  static absl::StatusOr<FieldMap> Resolve(
      const std::vector<MapSpec>& specs,
      const std::vector<std::string>& header);

  // Index of the record_id column.
  size_t record_id_column() const { return record_id_column_; }
  // Index of the column mapped to `field`, if any.
  std::optional<size_t> column(crypto::Field field) const {
    return columns_[static_cast<size_t>(field)];
  }

  // Fills `*out` from one row that has as many columns as the header.
  // Surrounding ASCII whitespace is trimmed; unmapped fields are empty.
  void Extract(const std::vector<std::string>& row,
               crypto::ClearIdentity* out) const;
  // The trimmed record_id of one row.
  std::string_view RecordId(const std::vector<std::string>& row) const;

 private:
  FieldMap() = default;
  size_t record_id_column_ = 0;
  std::array<std::optional<size_t>, crypto::kNumFields> columns_;
};

}  // namespace linkd::encode

#endif  // LINKD_ENCODE_FIELD_MAP_H_
