#include "linkd/encode/attributes.h"

#include <algorithm>
#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "crypto/normalize.h"

namespace linkd::encode {
namespace {

// Sorted (AttributeNames() returns it as it is).
constexpr std::array<std::string_view, 6> kNames = {
    "birth_month", "ethnicity_code", "fsm_eligible",
    "la_code",     "sen_status",     "year_group"};

constexpr std::array<std::string_view, 18> kYearGroups = {
    "N1", "N2", "R", "1",  "2",  "3",  "4",  "5",  "6",
    "7",  "8",  "9", "10", "11", "12", "13", "14", "X"};
constexpr std::array<std::string_view, 6> kSenCodes = {"N", "K", "E",
                                                       "A", "P", "S"};
constexpr std::array<std::string_view, 4> kFsmCodes = {"true", "false", "1",
                                                       "0"};
// DfE ethnicity main codes (school and children-in-need census); the same
// list as linkd::extract::EthnicityMajorGroups().
constexpr std::array<std::string_view, 20> kEthnicityCodes = {
    "WBRI", "WIRI", "WIRT", "WOTH", "WROM", "MWBC", "MWBA",
    "MWAS", "MOTH", "AIND", "APKN", "ABAN", "AOTH", "BCRB",
    "BAFR", "BOTH", "CHNE", "OOTH", "REFU", "NOBT"};

// "a, b, c" of every attribute name, for messages.
std::string AllowedNames() {
  std::string out;
  for (std::string_view n : kNames) {
    if (!out.empty()) out.append(", ");
    out.append(n.data(), n.size());
  }
  return out;
}

template <size_t N>
bool In(const std::array<std::string_view, N>& codes, std::string_view v) {
  return std::find(codes.begin(), codes.end(), v) != codes.end();
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(),
                                   [](char c) { return c >= '0' && c <= '9'; });
}

// A letter, eleven digits and a digit or letter, spaces ignored: refused
// whether or not the check letter is right (a mistyped UPN still
// identifies).
bool UpnShaped(std::string_view s) {
  std::string compact;
  for (char c : s) {
    if (c != ' ') compact.push_back(absl::ascii_toupper(c));
  }
  if (compact.size() != 13 || !absl::ascii_isalpha(compact[0])) return false;
  for (size_t i = 1; i < 12; ++i) {
    if (!absl::ascii_isdigit(compact[i])) return false;
  }
  return absl::ascii_isalnum(compact[12]);
}

bool DateShaped(std::string_view s) {
  static const crypto::DateFormat* const kFormats[] = {
      new crypto::DateFormat(crypto::DateFormat::Auto()),
      new crypto::DateFormat(*crypto::DateFormat::FromPattern("DD-MM-YYYY")),
      new crypto::DateFormat(*crypto::DateFormat::FromPattern("DD.MM.YYYY")),
      new crypto::DateFormat(*crypto::DateFormat::FromPattern("MM/DD/YYYY")),
      new crypto::DateFormat(*crypto::DateFormat::FromPattern("YYYY/MM/DD")),
  };
  for (const crypto::DateFormat* f : kFormats) {
    if (f->Parse(s).ok()) return true;
  }
  return false;
}

// Letters with the punctuation of names ("O'Neil", "Smith-Jones", "Mary
// Ann"), at least three letters: longer than any code but shorter than a
// sentence is still a name as far as we can tell.
bool NameShaped(std::string_view s) {
  int letters = 0;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (absl::ascii_isalpha(c) || u >= 0x80) {
      ++letters;
    } else if (c != ' ' && c != '-' && c != '\'' && c != '.') {
      return false;
    }
  }
  return letters >= 3;
}

// YYYY-MM of years 1900..2199.
bool IsYearMonth(std::string_view s) {
  if (s.size() != 7 || s[4] != '-') return false;
  if (!AllDigits(s.substr(0, 4)) || !AllDigits(s.substr(5, 2))) return false;
  const int year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 +
                   (s[2] - '0') * 10 + (s[3] - '0');
  const int month = (s[5] - '0') * 10 + (s[6] - '0');
  return year >= 1900 && year < 2200 && month >= 1 && month <= 12;
}

}  // namespace

const std::vector<std::string_view>& AttributeNames() {
  static const auto* const names =
      new std::vector<std::string_view>(kNames.begin(), kNames.end());
  return *names;
}

bool IsAttributeName(std::string_view name) {
  return std::binary_search(kNames.begin(), kNames.end(), name);
}

std::string_view IdentifierLikeName(IdentifierLike kind) {
  switch (kind) {
    case IdentifierLike::kNone:
      return "nothing identifying";
    case IdentifierLike::kNhsNumber:
      return "an NHS number";
    case IdentifierLike::kUpn:
      return "a UPN";
    case IdentifierLike::kDate:
      return "a full date";
    case IdentifierLike::kPostcode:
      return "a postcode";
    case IdentifierLike::kName:
      return "a name or free text";
  }
  return "unknown";
}

IdentifierLike ClassifyValue(std::string_view value) {
  const absl::string_view t =
      absl::StripAsciiWhitespace(absl::string_view(value.data(), value.size()));
  const std::string_view v(t.data(), t.size());
  if (v.empty()) return IdentifierLike::kNone;
  if (crypto::NormalizeNhsNumber(v).ok()) return IdentifierLike::kNhsNumber;
  if (UpnShaped(v)) return IdentifierLike::kUpn;
  if (DateShaped(v)) return IdentifierLike::kDate;
  if (crypto::NormalizePostcode(v).ok()) return IdentifierLike::kPostcode;
  if (NameShaped(v)) return IdentifierLike::kName;
  return IdentifierLike::kNone;
}

absl::Status CheckAttributeValue(std::string_view name,
                                 std::string_view value) {
  bool ok = false;
  if (name == "year_group") {
    ok = In(kYearGroups, value);
  } else if (name == "sen_status") {
    ok = In(kSenCodes, value);
  } else if (name == "fsm_eligible") {
    ok = In(kFsmCodes, value);
  } else if (name == "ethnicity_code") {
    ok = In(kEthnicityCodes, value);
  } else if (name == "la_code") {
    ok = value.size() == 3 && AllDigits(value);
  } else if (name == "birth_month") {
    ok = IsYearMonth(value);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "not an attribute linkd accepts; allowed: ", AllowedNames()));
  }
  if (ok) return absl::OkStatus();
  if (name == "birth_month") {
    return absl::InvalidArgumentError("not a birth month (YYYY-MM)");
  }
  if (name == "la_code") {
    return absl::InvalidArgumentError("not an LA code (three digits)");
  }
  return absl::InvalidArgumentError(
      absl::StrCat("not a ", std::string(name), " code"));
}

bool ColumnNameLooksIdentifying(std::string_view column) {
  std::string c;
  for (char ch : column) {
    if (absl::ascii_isalnum(ch)) c.push_back(absl::ascii_tolower(ch));
  }
  static constexpr std::string_view kWords[] = {
      "name",      "forename", "surname",   "dob",      "dateofbirth",
      "birthdate", "nhs",      "upn",       "postcode", "postalcode",
      "address",   "street",   "telephone", "phone",    "email"};
  for (std::string_view w : kWords) {
    if (c.find(w) != std::string::npos) return true;
  }
  return false;
}

absl::StatusOr<AttrSpec> ParseAttrSpec(std::string_view arg) {
  const size_t eq = arg.find('=');
  if (eq == std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--attr \"", std::string(arg), "\": expected NAME=COLUMN"));
  }
  AttrSpec spec{std::string(arg.substr(0, eq)),
                std::string(arg.substr(eq + 1))};
  if (!IsAttributeName(spec.name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--attr: \"", spec.name,
        "\" is not an attribute linkd accepts; allowed: ", AllowedNames()));
  }
  if (spec.column.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--attr ", spec.name, "=: the column name is empty"));
  }
  return spec;
}

}  // namespace linkd::encode
