// linkd::encode attributes: the non-identifying attributes a provider may
// send beside an encoded identity (EncodedRecord.attributes), for research
// extracts (DESIGN.md section 8).
//
// The names form a closed list, the research fields of the policy
// vocabulary that describe a child rather than an event (policies/engine/
// vocabulary.h IsKnownField; the research_extract purpose's
// disclosed_fields): year_group, sen_status, fsm_eligible, ethnicity_code,
// la_code and birth_month. Each has a closed set of codes (DfE census
// spellings), so that nothing else can travel in an attribute:
//   year_group      N1, N2, R, 1 .. 14, X            (NCyearActual)
//   sen_status      N, K, E, and the legacy A, P, S  (SEN provision)
//   fsm_eligible    true, false, 1, 0                (FSMeligible)
//   ethnicity_code  the DfE main codes, e.g. WBRI    (ethnicity, 4 letters)
//   la_code         three digits, e.g. 999           (LA number)
//   birth_month     YYYY-MM                          (never a full date)
// Values pass through unchanged: linkd-encode checks them, never rewrites
// them. A value that looks like an identifier (a name, an NHS number, a
// UPN, a full date, a postcode) shows that the column was mapped wrongly,
// and linkd-encode refuses the whole file for it.
//
// Messages name attributes, columns and fixed reasons, never a value.
// Everything here is thread-safe.
#ifndef LINKD_ENCODE_ATTRIBUTES_H_
#define LINKD_ENCODE_ATTRIBUTES_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace linkd::encode {

// Every attribute name, sorted.
const std::vector<std::string_view>& AttributeNames();
// True if `name` is one of AttributeNames().
bool IsAttributeName(std::string_view name);

// What an attribute value that is not a code resembles.
enum class IdentifierLike {
  kNone,       // nothing identifying: an unknown code, a typo
  kNhsNumber,  // ten digits passing the modulus-11 check
  kUpn,        // a letter, eleven digits and a check character
  kDate,       // a full date in a common layout
  kPostcode,   // a UK postcode
  kName,       // a word of letters: a person's name, or free text
};
// Lower-case words for messages: "an NHS number", "a name", ...
std::string_view IdentifierLikeName(IdentifierLike kind);
// What `value` resembles (kNone for a code-like string such as "99").
IdentifierLike ClassifyValue(std::string_view value);

// Checks one value of attribute `name` (already trimmed; not empty).
// Returns OK if it is a code of the attribute, INVALID_ARGUMENT with a fixed
// reason otherwise ("not a year_group code", ...); never the value.
absl::Status CheckAttributeValue(std::string_view name, std::string_view value);

// True if a column header suggests identifying content (a name, date of
// birth, NHS number, UPN, postcode or address column), whatever attribute
// it is mapped to.
bool ColumnNameLooksIdentifying(std::string_view column);

// One `--attr NAME=COLUMN` argument.
struct AttrSpec {
  std::string name;
  std::string column;
};

// Parses "NAME=COLUMN". INVALID_ARGUMENT naming the argument if there is no
// '=', NAME is not an attribute (listing the allowed ones), or COLUMN is
// empty.
absl::StatusOr<AttrSpec> ParseAttrSpec(std::string_view arg);

}  // namespace linkd::encode

#endif  // LINKD_ENCODE_ATTRIBUTES_H_
