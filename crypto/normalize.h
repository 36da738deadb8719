// Normalisation and validation of clear identifiers (crypto/ENCODING.md
// section "Normalisation"). Every function is pure and thread-safe.
//
// Error contract: a value that cannot be used yields INVALID_ARGUMENT whose
// message is one fixed reason phrase (see the k*Reason constants), never the
// value itself, so callers may count and print reasons freely. A value that
// is a recognised placeholder (for example NHS number 0000000000 or postcode
// ZZ99 3VZ) yields INVALID_ARGUMENT with kPlaceholderReason. A value that is
// validly "not known" (sex code 0 or 9) yields NOT_FOUND with kUnknownReason.
//
// The other reason phrases are: "invalid UTF-8", "contains digits",
// "control character", "unsupported script", "no letters", "too long"
// (names); "not a date format", "not a calendar date", "date before 1900",
// "date in the future" (dates); "unrecognised code" (sex); "wrong length",
// "invalid character", "not a postcode format", "letter not allowed in
// position" (postcodes); "invalid check letter", "check letter mismatch"
// (UPN); "no valid check digit", "check digit mismatch" (NHS number).
#ifndef LINKD_CRYPTO_NORMALIZE_H_
#define LINKD_CRYPTO_NORMALIZE_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace linkd::crypto {

inline constexpr std::string_view kPlaceholderReason = "placeholder value";
inline constexpr std::string_view kUnknownReason = "stated as not known";

// Longest name input accepted, in bytes (longer: "too long").
inline constexpr size_t kMaxNameBytes = 256;

// A calendar date.
struct Date {
  int year = 0;
  int month = 0;
  int day = 0;
};

// How dates are written in an input. Auto() accepts ISO 8601 (YYYY-MM-DD,
// optionally followed by 'T' and a time), DD/MM/YYYY and YYYYMMDD. An
// explicit pattern is made of the fields DD, MM and YYYY and literal
// separator characters, e.g. "DD-MM-YYYY", "MM/DD/YYYY" or "YYYY.MM.DD";
// single-digit day and month are accepted where a separator follows them.
class DateFormat {
 public:
  static DateFormat Auto();
  // Returns INVALID_ARGUMENT naming the problem if `pattern` does not contain
  // each of DD, MM and YYYY exactly once.
  static absl::StatusOr<DateFormat> FromPattern(std::string_view pattern);

  // Parses `text`; INVALID_ARGUMENT if it does not follow the format or is
  // not a real calendar date.
  absl::StatusOr<Date> Parse(std::string_view text) const;

 private:
  DateFormat() = default;
  std::string pattern_;  // empty means Auto
};

// Name parts: Unicode folded to upper-case ASCII letters, titles (MR, MRS,
// MISS, MS, MASTER, DR, ...) and suffixes stripped, punctuation removed
// (O'Brien -> OBRIEN), and hyphens and spaces splitting the parts
// ("Smith-Jones" -> {SMITH, JONES}). Errors: no letters left, or a script
// that cannot be folded to ASCII.
absl::StatusOr<std::vector<std::string>> NormalizeName(std::string_view name);

// A date of birth: parsed with `format`, then checked to be a real date in
// 1900-01-01 .. `latest` inclusive. Placeholder dates (1900-01-01,
// 01/01/1901 and similar, see ENCODING.md) are refused.
absl::StatusOr<Date> NormalizeDateOfBirth(std::string_view text,
                                          const DateFormat& format,
                                          const Date& latest);

// Sex: "M", "MALE", "1" -> 'M'; "F", "FEMALE", "2" -> 'F'; "I",
// "INDETERMINATE" -> 'I'; "0", "9", "U", "UNKNOWN", "NOT KNOWN" -> NOT_FOUND.
absl::StatusOr<char> NormalizeSex(std::string_view sex);

// A UK postcode in canonical form, split into its levels.
struct Postcode {
  std::string unit;      // "SW1A 1AA"
  std::string sector;    // "SW1A 1"
  std::string district;  // "SW1A"
};
absl::StatusOr<Postcode> NormalizePostcode(std::string_view postcode);

// A Unique Pupil Number: 13 characters, upper-cased, spaces removed, check
// letter (first character) verified per the DfE algorithm. Temporary UPNs
// (last character a letter) are accepted.
absl::StatusOr<std::string> NormalizeUpn(std::string_view upn);

// An NHS number: 10 digits once spaces and hyphens are removed, with its
// modulus-11 check digit verified. Numbers of one repeated digit are refused
// as placeholders.
absl::StatusOr<std::string> NormalizeNhsNumber(std::string_view nhs_number);

}  // namespace linkd::crypto

#endif  // LINKD_CRYPTO_NORMALIZE_H_
