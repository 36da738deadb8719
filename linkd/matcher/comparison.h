// linkd::matcher comparison levels: the per-field agreement levels of two
// encoded identities (linkd.v1.EncodedIdentity, crypto/ENCODING.md sections
// 5-6), the input of the Fellegi-Sunter model (model.h).
//
// Fields and levels (level 0 of every field is "missing", which is neutral):
//   upn, nhs_number  agree / disagree (disagree is a hard conflict)
//   dob              exact / transposed (day-month swap) / two_parts (two of
//                    year, month, day agree) / year_only / disagree
//   sex              agree / disagree
//   postcode         unit / sector / district / disagree
//   given_name,      high (Dice >= high cut-off) / low (>= low cut-off) /
//   family_name      below / swapped, plus "not_comparable" (neutral). Each
//                    record carries name filters under two salts (encoding
//                    v2): the dob_unordered token and the postcode unit.
//                    Names are compared under the dob salt when both records
//                    have the same dob_unordered token, else under the
//                    postcode salt when both have the same postcode unit, and
//                    are not comparable otherwise.
// "swapped": given_a ~ family_b and family_a ~ given_b both reach the high
// cut-off while neither straight comparison does. The whole name's evidence
// is then carried by the given_name level "swapped"; family_name gets
// "swapped" too, which is neutral for that field so it is not counted twice.
//
// Records are compared in a pre-decoded form (DecodedIdentity): 64-bit token
// fingerprints and kernel-layout filters, about 630 bytes per record.
//
// Everything here is pure and thread-safe.
#ifndef LINKD_MATCHER_COMPARISON_H_
#define LINKD_MATCHER_COMPARISON_H_

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "crypto/encoder.h"
#include "linkd/matcher/dice.h"
#include "linkd/v1/record.pb.h"

namespace linkd::matcher {

// ------------------------------------------------------------------ fields

enum class CompareField : uint8_t {
  kUpn = 0,
  kNhsNumber,
  kDob,
  kSex,
  kPostcode,
  kGivenName,
  kFamilyName,
};
inline constexpr size_t kNumCompareFields = 7;
// The most levels any field has (missing included).
inline constexpr int kMaxLevels = 6;

// Levels of upn, nhs_number and sex.
enum class AgreeLevel : uint8_t { kMissing = 0, kAgree, kDisagree };
enum class DobLevel : uint8_t {
  kMissing = 0,
  kExact,
  kTransposed,
  kTwoParts,
  kYearOnly,
  kDisagree,
};
enum class PostcodeLevel : uint8_t {
  kMissing = 0,
  kUnit,
  kSector,
  kDistrict,
  kDisagree,
};
enum class NameLevel : uint8_t {
  kMissing = 0,
  kNotComparable,
  kHigh,
  kLow,
  kBelow,
  kSwapped,
};

// Stable lower-case names ("upn", "nhs_number", "dob", "sex", "postcode",
// "given_name", "family_name"), used in the persisted model and in output.
absl::string_view FieldName(CompareField field);
// The field called `name`, or nullopt.
std::optional<CompareField> FieldFromName(absl::string_view name);
// Number of levels of `field`, missing included (<= kMaxLevels).
int NumLevels(CompareField field);
// Stable lower-case name of a level ("missing", "agree", "exact",
// "transposed", "two_parts", "year_only", "unit", "sector", "district",
// "not_comparable", "high", "low", "below", "swapped", "disagree"); "" if
// `level` is out of range for `field`.
absl::string_view LevelName(CompareField field, int level);
// The level of `field` called `name`, or -1.
int LevelFromName(CompareField field, absl::string_view name);
// True for levels with Bayes factor 1 by definition (missing,
// not_comparable, and family_name's swapped; see the banner).
bool IsNeutralLevel(CompareField field, int level);

// ---------------------------------------------------------- decoded record

// The exact tokens of an EncodedIdentity, in proto field order.
enum class TokenSlot : uint8_t {
  kUpn = 0,
  kNhsNumber,
  kDob,
  kDobYearMonth,
  kDobYearDay,
  kDobMonthDay,
  kDobUnordered,
  kBirthYear,
  kSex,
  kPostcodeUnit,
  kPostcodeSector,
  kPostcodeDistrict,
};
inline constexpr size_t kNumTokenSlots = 12;

// The 64-bit fingerprint of a 32-byte token: its first 8 bytes, little
// endian. Tokens are keyed-PRF outputs, so two different tokens share a
// fingerprint with probability 2^-64. Term-frequency counters (model.h) are
// keyed by fingerprint. `token` must be at least 8 bytes long.
uint64_t TokenFingerprint(absl::string_view token);

// One record prepared for fast comparison. Copyable value type.
struct DecodedIdentity {
  std::array<uint64_t, kNumTokenSlots> tokens{};  // 0 where absent
  uint16_t present = 0;                           // bit i: slot i present
  // Name filters salted with dob_unordered (encoding v2: present only with
  // a valid date of birth) and with the postcode unit (present only with a
  // valid postcode).
  bool has_given_name = false;
  bool has_family_name = false;
  bool has_given_name_pc = false;
  bool has_family_name_pc = false;
  Filter given_name{};
  Filter family_name{};
  Filter given_name_pc{};
  Filter family_name_pc{};

  bool has(TokenSlot slot) const {
    return (present >> static_cast<int>(slot)) & 1;
  }
  uint64_t token(TokenSlot slot) const {
    return tokens[static_cast<size_t>(slot)];
  }
};

// Decodes `in` into `*out` (overwritten; must not be null). Returns
// INVALID_ARGUMENT naming the field if a token is neither empty nor 32 bytes
// or a name filter neither empty nor 128 bytes (the message never contains
// the bytes).
absl::Status Decode(const linkd::v1::EncodedIdentity& in, DecodedIdentity* out);
// Decodes an encoder's in-memory result (cannot fail).
DecodedIdentity Decode(const crypto::EncodedIdentity& in);

// ---------------------------------------------------------- the comparison

struct ComparisonOptions {
  // Dice cut-offs of the name levels; 0 < low <= high <= 1.
  double name_high_cutoff = 0.9;
  double name_low_cutoff = 0.7;
};
// OK, or INVALID_ARGUMENT naming the bad cut-off.
absl::Status ValidateComparisonOptions(const ComparisonOptions& options);

// The levels of one compared pair, and the raw material to explain them.
struct ComparisonVector {
  // Level index per field, indexed by CompareField.
  std::array<uint8_t, kNumCompareFields> levels{};
  // Fingerprints of the agreeing tokens for term-frequency adjustment: the
  // dob token when the dob level is exact, the postcode unit token when the
  // postcode level is unit; 0 otherwise.
  uint64_t dob_token = 0;
  uint64_t postcode_unit_token = 0;
  // Raw Dice values, NaN where not computed (missing, not comparable, or
  // cross comparisons not needed). For explanation and tuning only: linkd
  // never returns similarity scores through its API.
  float dice_given = NAN;         // given_a ~ given_b
  float dice_family = NAN;        // family_a ~ family_b
  float dice_given_family = NAN;  // given_a ~ family_b
  float dice_family_given = NAN;  // family_a ~ given_b

  int level(CompareField field) const {
    return levels[static_cast<size_t>(field)];
  }
  // True when UPNs or NHS numbers are both present and differ: the pair must
  // never be merged automatically.
  bool hard_conflict() const {
    return levels[static_cast<size_t>(CompareField::kUpn)] ==
               static_cast<uint8_t>(AgreeLevel::kDisagree) ||
           levels[static_cast<size_t>(CompareField::kNhsNumber)] ==
               static_cast<uint8_t>(AgreeLevel::kDisagree);
  }
  // How many of the fields that tell children of one household apart
  // disagree outright: the given name (below the low cut-off), sex, and the
  // date of birth (another year, or no part in common). Siblings and
  // opposite-sex twins share a family name and an address, which outweigh
  // one such disagreement in a Fellegi-Sunter sum (the fields are not
  // independent within a household); a true match rarely has two (about 1
  // pair in 1000 in the synthetic data). The linker never links such a
  // pair automatically (see linker.h).
  int household_disagreements() const {
    auto is = [&](CompareField f, int level) {
      return levels[static_cast<size_t>(f)] == level;
    };
    return is(CompareField::kGivenName, static_cast<int>(NameLevel::kBelow)) +
           is(CompareField::kSex, static_cast<int>(AgreeLevel::kDisagree)) +
           (is(CompareField::kDob, static_cast<int>(DobLevel::kDisagree)) ||
            is(CompareField::kDob, static_cast<int>(DobLevel::kYearOnly)));
  }
};

// Compares `a` with `b` into `*out` (overwritten; must not be null).
// `options` must pass ValidateComparisonOptions. Symmetric in the levels.
void Compare(const DecodedIdentity& a, const DecodedIdentity& b,
             const ComparisonOptions& options, ComparisonVector* out);
inline ComparisonVector Compare(const DecodedIdentity& a,
                                const DecodedIdentity& b,
                                const ComparisonOptions& options) {
  ComparisonVector v;
  Compare(a, b, options, &v);
  return v;
}

}  // namespace linkd::matcher

#endif  // LINKD_MATCHER_COMPARISON_H_
