// Check characters of the English child identifiers the synthetic population
// carries: the DfE Unique Pupil Number (UPN) check letter and the NHS number
// modulus-11 check digit. Pure functions, thread-safe.
#ifndef LINKD_TESTS_TESTING_SYNTH_IDENTIFIERS_H_
#define LINKD_TESTS_TESTING_SYNTH_IDENTIFIERS_H_

#include <array>
#include <string>
#include <string_view>

namespace linkd::synth {

// The 23 letters a UPN check letter is drawn from.
inline constexpr std::string_view kUpnCheckLetters = "ABCDEFGHJKLMNPQRTUVWXYZ";

// The check letter for UPN characters 2..13, given as the 12 characters
// `tail` (digits; a final letter of a temporary UPN is not supported).
// Check letter = kUpnCheckLetters[sum(weight i * digit at position i,
// i = 2..13) mod 23]. Returns '?' if `tail` is not 12 digits.
char UpnCheckLetter(std::string_view tail);

// True if `upn` is 13 characters, a check letter then 12 digits, and the
// check letter matches.
bool IsValidUpn(std::string_view upn);

// The NHS number check digit for the first nine digits `first9`: weights
// 10..2, check = 11 - (sum mod 11), 11 -> 0. Returns 10 when no valid check
// digit exists (such numbers are never issued), -1 if `first9` is not nine
// digits.
int NhsCheckDigit(std::string_view first9);

// True if `nhs` (spaces allowed) is ten digits with a valid check digit.
bool IsValidNhsNumber(std::string_view nhs);

// Values that sources type when a child's UPN is not known. None is a valid
// UPN.
inline constexpr std::array<std::string_view, 5> kUpnPlaceholders = {
    "UNKNOWN", "Unknown", "0000000000000", "N/A", "NOT KNOWN"};

// Values that sources type when a child's NHS number is not known. The
// repeated-digit ones pass the modulus-11 check (every repdigit does), so a
// check-digit test alone does not catch them.
inline constexpr std::array<std::string_view, 5> kNhsPlaceholders = {
    "0000000000", "9999999999", "1111111111", "1234567890", "999 999 9999"};

// True if `value` is one of kUpnPlaceholders or kNhsPlaceholders.
bool IsPlaceholderIdentifier(std::string_view value);

}  // namespace linkd::synth

#endif  // LINKD_TESTS_TESTING_SYNTH_IDENTIFIERS_H_
