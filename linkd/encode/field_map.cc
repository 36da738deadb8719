#include "linkd/encode/field_map.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace linkd::encode {
namespace {

bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
         c == '\v';
}

// `s` without surrounding ASCII whitespace.
std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsAsciiSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsAsciiSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Every field name accepted by --map, for messages.
std::string KnownFields() {
  std::vector<std::string> names = {std::string(kRecordIdField)};
  for (int i = 0; i < crypto::kNumFields; ++i) {
    names.emplace_back(crypto::FieldName(static_cast<crypto::Field>(i)));
  }
  return absl::StrJoin(names, ", ");
}

bool IsKnownField(std::string_view name) {
  return name == kRecordIdField || FieldFromName(name).has_value();
}

// Index of `column` in `header`; INVALID_ARGUMENT if absent or repeated.
absl::StatusOr<size_t> FindColumn(const std::vector<std::string>& header,
                                  const std::string& column,
                                  const std::string& field) {
  std::optional<size_t> found;
  for (size_t i = 0; i < header.size(); ++i) {
    if (header[i] != column) continue;
    if (found.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("column \"", column, "\" (mapped to ", field,
                       ") appears more than once in the CSV header"));
    }
    found = i;
  }
  if (!found.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("column \"", column, "\" (mapped to ", field,
                     ") is not in the CSV header"));
  }
  return *found;
}

}  // namespace

std::optional<crypto::Field> FieldFromName(std::string_view name) {
  for (int i = 0; i < crypto::kNumFields; ++i) {
    const auto field = static_cast<crypto::Field>(i);
    if (crypto::FieldName(field) == name) return field;
  }
  return std::nullopt;
}

absl::StatusOr<MapSpec> ParseMapSpec(std::string_view arg) {
  const size_t eq = arg.find('=');
  if (eq == std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--map \"", std::string(arg), "\": expected FIELD=COLUMN"));
  }
  MapSpec spec{std::string(arg.substr(0, eq)), std::string(arg.substr(eq + 1))};
  if (!IsKnownField(spec.field)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--map: unknown field \"", spec.field,
                     "\"; known fields: ", KnownFields()));
  }
  if (spec.column.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--map ", spec.field, "=: the column name is empty"));
  }
  return spec;
}

absl::StatusOr<FieldMap> FieldMap::Resolve(
    const std::vector<MapSpec>& specs, const std::vector<std::string>& header) {
  std::vector<MapSpec> effective = specs;
  if (effective.empty()) {
    // Default: map every field whose name is exactly a header column.
    for (const std::string& column : header) {
      if (IsKnownField(column)) effective.push_back({column, column});
    }
  }
  FieldMap map;
  bool have_record_id = false;
  for (const MapSpec& spec : effective) {
    if (!IsKnownField(spec.field)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown field \"", spec.field, "\"; known fields: ", KnownFields()));
    }
    absl::StatusOr<size_t> index = FindColumn(header, spec.column, spec.field);
    if (!index.ok()) return index.status();
    if (spec.field == kRecordIdField) {
      if (have_record_id) {
        return absl::InvalidArgumentError("field record_id is mapped twice");
      }
      have_record_id = true;
      map.record_id_column_ = *index;
      continue;
    }
    const size_t slot = static_cast<size_t>(*FieldFromName(spec.field));
    if (map.columns_[slot].has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("field ", spec.field, " is mapped twice"));
    }
    map.columns_[slot] = *index;
  }
  if (!have_record_id) {
    return absl::InvalidArgumentError(
        specs.empty() ? "the CSV header has no record_id column; use --map "
                        "record_id=COLUMN"
                      : "record_id is not mapped; add --map record_id=COLUMN");
  }
  return map;
}

void FieldMap::Extract(const std::vector<std::string>& row,
                       crypto::ClearIdentity* out) const {
  auto get = [&](crypto::Field field) -> std::string {
    const std::optional<size_t>& column = columns_[static_cast<size_t>(field)];
    if (!column.has_value() || *column >= row.size()) return std::string();
    return std::string(Trim(row[*column]));
  };
  out->given_name = get(crypto::Field::kGivenName);
  out->family_name = get(crypto::Field::kFamilyName);
  out->dob = get(crypto::Field::kDob);
  out->sex = get(crypto::Field::kSex);
  out->postcode = get(crypto::Field::kPostcode);
  out->upn = get(crypto::Field::kUpn);
  out->nhs_number = get(crypto::Field::kNhsNumber);
}

std::string_view FieldMap::RecordId(const std::vector<std::string>& row) const {
  if (record_id_column_ >= row.size()) return std::string_view();
  return Trim(row[record_id_column_]);
}

}  // namespace linkd::encode
