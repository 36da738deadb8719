// Coarsening of released values as an IG officer approves it: dates to a
// granularity (day, month, quarter, year, England's academic year) and
// categories to groups by a declared mapping (ethnicity codes to major
// groups, year groups to key stages, ...).
//
// Unmapped categories: a mapping either declares an "other" group, which
// every value outside the mapping goes to, or has none, and then an unmapped
// value is refused (INVALID_ARGUMENT) so that the release stops instead of
// silently filing a new code somewhere. The built-in DfE mappings refuse:
// their code lists are closed, and a new code should be looked at by a
// person before it is released.
#ifndef LINKD_EXTRACT_COARSEN_H_
#define LINKD_EXTRACT_COARSEN_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "linkd/extract/v1/extract.pb.h"

namespace linkd::extract {

using DateGranularity = ::linkd::extract::v1::DateGranularity;

// Parses "day", "month", "quarter", "year" or "academic_year" (as policy
// files and linkctl spell them). INVALID_ARGUMENT otherwise. Thread-safe.
absl::StatusOr<DateGranularity> ParseDateGranularity(std::string_view name);
// The spelling ParseDateGranularity accepts; "unspecified" for
// DATE_GRANULARITY_UNSPECIFIED or an unknown value. Thread-safe.
std::string_view DateGranularityName(DateGranularity granularity);

// Coarsens the ISO date `iso_date` ("YYYY-MM-DD", a real calendar date of
// years 1000 to 9999) to `granularity`:
//   day "2024-03-07", month "2024-03", quarter "2024-Q1", year "2024",
//   academic year "2023/24" (1 September 2023 to 31 August 2024; "1999/00"
//   for 1999-09-01 to 2000-08-31).
// Returns INVALID_ARGUMENT for a malformed or impossible date (the message
// never echoes the value) or an unspecified granularity. Thread-safe.
absl::StatusOr<std::string> CoarsenDate(std::string_view iso_date,
                                        DateGranularity granularity);

// A named mapping of category values to groups. Immutable after Create, so
// thread-safe.
class CategoryMap {
 public:
  // `groups`: (value, group) pairs. `other_group`: where unmapped values go,
  // or nullopt to refuse them. Returns INVALID_ARGUMENT if `name` is empty,
  // a value is mapped twice (even to the same group), or a value or group is
  // empty.
  static absl::StatusOr<CategoryMap> Create(
      std::string name, std::vector<std::pair<std::string, std::string>> groups,
      std::optional<std::string> other_group);

  // The group of `value`: its mapped group, else the other group. Returns
  // INVALID_ARGUMENT naming the mapping (not the value) if `value` is
  // unmapped and the mapping has no other group.
  absl::StatusOr<std::string_view> Map(std::string_view value) const;

  const std::string& name() const { return name_; }
  const std::optional<std::string>& other_group() const { return other_; }
  // BLAKE2b-256 of the canonical form (name, sorted pairs, other group), for
  // the manifest's FieldCoarsening.category_mapping_digest.
  const std::string& digest() const { return digest_; }

 private:
  CategoryMap() = default;
  std::string name_;
  absl::flat_hash_map<std::string, std::string> groups_;
  std::optional<std::string> other_;
  std::string digest_;
};

// DfE ethnicity main codes (school and children-in-need census) to the
// major groups "White", "Mixed", "Asian", "Black", "Chinese", "Any other
// ethnic group" and "Unclassified" (refused, REFU, and information not yet
// obtained, NOBT). Name "ethnicity_major_group"; refuses unmapped codes.
const CategoryMap& EthnicityMajorGroups();

// National curriculum year groups (census NCyearActual: "N1", "N2", "R",
// "1" to "14", "X") to "EYFS" (N1, N2, R), "KS1" (1-2), "KS2" (3-6), "KS3"
// (7-9), "KS4" (10-11), "KS5" (12-14) and "Not followed" (X). Name
// "year_group_key_stage"; refuses unmapped codes.
const CategoryMap& YearGroupKeyStages();

}  // namespace linkd::extract

#endif  // LINKD_EXTRACT_COARSEN_H_
