// Normalisation rules of crypto/ENCODING.md section "Normalisation". Every
// error message is a fixed phrase: values are never echoed, because they are
// clear identifiers.
#include "crypto/normalize.h"

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto/internal/fold.h"

namespace linkd::crypto {
namespace {

// Debian's abseil has its own string_view type (ABSL_USES_STD_STRING_VIEW
// is 0), so conversions are spelled out.
absl::Status Invalid(std::string_view reason) {
  return absl::InvalidArgumentError(
      absl::string_view(reason.data(), reason.size()));
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
char ToUpper(char c) { return (c >= 'a' && c <= 'z') ? c - 'a' + 'A' : c; }

std::string_view Trim(std::string_view s) {
  const auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
  };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Upper-cases ASCII and removes spaces (and '-' when `drop_hyphens`).
std::string Compact(std::string_view s, bool drop_hyphens) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == ' ' || c == '\t' || (drop_hyphens && c == '-')) continue;
    out.push_back(ToUpper(c));
  }
  return out;
}

// Parses exactly `n` ASCII digits at s[pos..]; -1 if not all digits.
int Digits(std::string_view s, size_t pos, size_t n) {
  if (pos + n > s.size()) return -1;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (!IsDigit(s[i])) return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

bool IsLeapYear(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int y, int m) {
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30,
                                                31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeapYear(y) ? 29 : kDays[m - 1];
}

absl::StatusOr<Date> CheckCalendar(int y, int m, int d) {
  if (y < 1 || m < 1 || m > 12 || d < 1 || d > DaysInMonth(y, m)) {
    return Invalid("not a calendar date");
  }
  return Date{y, m, d};
}

bool Before(const Date& a, const Date& b) {
  if (a.year != b.year) return a.year < b.year;
  if (a.month != b.month) return a.month < b.month;
  return a.day < b.day;
}

bool Same(const Date& a, const Date& b) {
  return a.year == b.year && a.month == b.month && a.day == b.day;
}

// Reads 1 or 2 digits at s[*pos]; -1 if none.
int OneOrTwoDigits(std::string_view s, size_t* pos) {
  int v = -1;
  size_t n = 0;
  while (n < 2 && *pos < s.size() && IsDigit(s[*pos])) {
    v = (v < 0 ? 0 : v * 10) + (s[*pos] - '0');
    ++*pos;
    ++n;
  }
  return v;
}

absl::StatusOr<Date> ParseAuto(std::string_view s) {
  if (s.size() >= 10 && s[4] == '-' && s[7] == '-') {
    if (s.size() > 10 && s[10] != 'T' && s[10] != 't') {
      return Invalid("not a date format");
    }
    const int y = Digits(s, 0, 4), m = Digits(s, 5, 2), d = Digits(s, 8, 2);
    if (y < 0 || m < 0 || d < 0) return Invalid("not a date format");
    return CheckCalendar(y, m, d);
  }
  if (s.find('/') != std::string_view::npos) {
    size_t pos = 0;
    const int d = OneOrTwoDigits(s, &pos);
    if (d < 0 || pos >= s.size() || s[pos] != '/') {
      return Invalid("not a date format");
    }
    ++pos;
    const int m = OneOrTwoDigits(s, &pos);
    if (m < 0 || pos >= s.size() || s[pos] != '/') {
      return Invalid("not a date format");
    }
    ++pos;
    const int y = Digits(s, pos, 4);
    if (y < 0 || pos + 4 != s.size()) return Invalid("not a date format");
    return CheckCalendar(y, m, d);
  }
  if (s.size() == 8) {
    const int y = Digits(s, 0, 4), m = Digits(s, 4, 2), d = Digits(s, 6, 2);
    if (y < 0 || m < 0 || d < 0) return Invalid("not a date format");
    return CheckCalendar(y, m, d);
  }
  return Invalid("not a date format");
}

// ---------------------------------------------------------------- names ---

constexpr std::array<std::string_view, 13> kTitles = {
    "MR",  "MRS", "MISS", "MS",   "MX",   "MASTER", "DR",
    "REV", "SIR", "DAME", "LADY", "LORD", "PROF"};
constexpr std::array<std::string_view, 7> kSuffixes = {"JR", "JNR", "SR", "SNR",
                                                       "II", "III", "IV"};
// Whole-name placeholders, compared with the parts joined by one space.
constexpr std::array<std::string_view, 25> kNamePlaceholders = {
    "UNKNOWN", "NOT KNOWN",   "NOTKNOWN",     "UNK",       "NK",
    "BABY",    "BABY BOY",    "BABY GIRL",    "INFANT",    "NEWBORN",
    "UNBORN",  "UNBORN BABY", "UNBORN CHILD", "NONE",      "NO NAME",
    "NONAME",  "UNNAMED",     "TBC",          "TBA",       "TEST",
    "NULL",    "NIL",         "ANON",         "ANONYMOUS", "REFUSED"};

template <size_t N>
bool Contains(const std::array<std::string_view, N>& list, std::string_view s) {
  for (std::string_view e : list) {
    if (e == s) return true;
  }
  return false;
}

}  // namespace

DateFormat DateFormat::Auto() { return DateFormat(); }

absl::StatusOr<DateFormat> DateFormat::FromPattern(std::string_view pattern) {
  int dd = 0, mm = 0, yyyy = 0;
  for (size_t i = 0; i < pattern.size();) {
    const std::string_view rest = pattern.substr(i);
    if (rest.substr(0, 4) == "YYYY") {
      ++yyyy;
      i += 4;
    } else if (rest.substr(0, 2) == "MM") {
      ++mm;
      i += 2;
    } else if (rest.substr(0, 2) == "DD") {
      ++dd;
      i += 2;
    } else {
      const char c = pattern[i];
      const bool alnum = IsDigit(c) || IsUpper(c) || (c >= 'a' && c <= 'z');
      if (alnum || static_cast<unsigned char>(c) >= 0x80) {
        return Invalid("date pattern has an unknown letter or digit");
      }
      ++i;
    }
  }
  if (dd != 1 || mm != 1 || yyyy != 1) {
    return Invalid("date pattern needs DD, MM and YYYY exactly once");
  }
  DateFormat f;
  f.pattern_ = std::string(pattern);
  return f;
}

absl::StatusOr<Date> DateFormat::Parse(std::string_view text) const {
  const std::string_view s = Trim(text);
  if (pattern_.empty()) return ParseAuto(s);
  const std::string_view p = pattern_;
  int y = -1, m = -1, d = -1;
  size_t si = 0;
  for (size_t pi = 0; pi < p.size();) {
    if (p.substr(pi, 4) == "YYYY") {
      y = Digits(s, si, 4);
      if (y < 0) return Invalid("not a date format");
      si += 4;
      pi += 4;
    } else if (p.substr(pi, 2) == "MM" || p.substr(pi, 2) == "DD") {
      int* field = p[pi] == 'M' ? &m : &d;
      pi += 2;
      // One digit is unambiguous only where a separator (or the end) follows.
      const bool separated = pi == p.size() || (p.substr(pi, 2) != "MM" &&
                                                p.substr(pi, 2) != "DD" &&
                                                p.substr(pi, 4) != "YYYY");
      if (separated) {
        *field = OneOrTwoDigits(s, &si);
      } else {
        *field = Digits(s, si, 2);
        si += 2;
      }
      if (*field < 0) return Invalid("not a date format");
    } else {
      if (si >= s.size() || s[si] != p[pi]) return Invalid("not a date format");
      ++si;
      ++pi;
    }
  }
  if (si != s.size()) return Invalid("not a date format");
  return CheckCalendar(y, m, d);
}

absl::StatusOr<std::vector<std::string>> NormalizeName(std::string_view name) {
  if (name.size() > kMaxNameBytes) return Invalid("too long");
  std::vector<std::string> parts;
  std::string current;
  size_t pos = 0;
  while (pos < name.size()) {
    char32_t cp;
    if (!internal::DecodeUtf8(name, &pos, &cp)) {
      return Invalid("invalid UTF-8");
    }
    const internal::Folded f = internal::FoldCodePoint(cp);
    switch (f.kind) {
      case internal::FoldKind::kLetters:
        current.append(f.letters);
        break;
      case internal::FoldKind::kDrop:
        break;
      case internal::FoldKind::kSplit:
        if (!current.empty()) parts.push_back(std::move(current));
        current.clear();
        break;
      case internal::FoldKind::kDigit:
        return Invalid("contains digits");
      case internal::FoldKind::kControl:
        return Invalid("control character");
      case internal::FoldKind::kUnsupported:
        return Invalid("unsupported script");
    }
  }
  if (!current.empty()) parts.push_back(std::move(current));
  if (parts.empty()) return Invalid("no letters");

  // Titles and suffixes go only while another part remains, so that a
  // family name such as "Lord" alone is kept.
  size_t first = 0, last = parts.size();
  while (last - first > 1 && Contains(kTitles, parts[first])) ++first;
  while (last - first > 1 && Contains(kSuffixes, parts[last - 1])) --last;
  std::vector<std::string> kept(std::make_move_iterator(parts.begin() + first),
                                std::make_move_iterator(parts.begin() + last));

  std::string joined;
  bool all_x = true;
  for (const std::string& p : kept) {
    if (!joined.empty()) joined.push_back(' ');
    joined.append(p);
    all_x = all_x && p.find_first_not_of('X') == std::string::npos;
  }
  if (Contains(kNamePlaceholders, joined) || (all_x && joined.size() >= 2)) {
    return Invalid(kPlaceholderReason);
  }
  return kept;
}

absl::StatusOr<Date> NormalizeDateOfBirth(std::string_view text,
                                          const DateFormat& format,
                                          const Date& latest) {
  absl::StatusOr<Date> d = format.Parse(text);
  if (!d.ok()) return d.status();
  if (Same(*d, Date{1900, 1, 1}) || Same(*d, Date{1901, 1, 1}) ||
      Same(*d, Date{9999, 12, 31})) {
    return Invalid(kPlaceholderReason);
  }
  if (Before(*d, Date{1900, 1, 1})) return Invalid("date before 1900");
  if (Before(latest, *d)) return Invalid("date in the future");
  return d;
}

absl::StatusOr<char> NormalizeSex(std::string_view sex) {
  const std::string s = Compact(Trim(sex), /*drop_hyphens=*/false);
  if (s == "M" || s == "MALE" || s == "1") return 'M';
  if (s == "F" || s == "FEMALE" || s == "2") return 'F';
  if (s == "I" || s == "INDETERMINATE") return 'I';
  if (s == "0" || s == "9" || s == "U" || s == "UNKNOWN" || s == "NOTKNOWN" ||
      s == "NK") {
    return absl::NotFoundError(
        absl::string_view(kUnknownReason.data(), kUnknownReason.size()));
  }
  return Invalid("unrecognised code");
}

absl::StatusOr<Postcode> NormalizePostcode(std::string_view postcode) {
  const std::string s = Compact(postcode, /*drop_hyphens=*/false);
  if (s.size() < 5 || s.size() > 7) return Invalid("wrong length");
  for (char c : s) {
    if (!IsDigit(c) && !IsUpper(c)) return Invalid("invalid character");
  }
  const std::string outward = s.substr(0, s.size() - 3);
  const std::string inward = s.substr(s.size() - 3);
  Postcode pc{outward + " " + inward, outward + " " + inward[0], outward};
  if (outward == "ZZ99") return Invalid(kPlaceholderReason);
  if (s == "GIR0AA") return pc;

  // Shape: A = letter, 9 = digit.
  std::string shape;
  for (char c : outward) shape.push_back(IsDigit(c) ? '9' : 'A');
  const bool shape_ok = shape == "A9" || shape == "A99" || shape == "A9A" ||
                        shape == "AA9" || shape == "AA99" || shape == "AA9A";
  if (!shape_ok || !IsDigit(inward[0]) || !IsUpper(inward[1]) ||
      !IsUpper(inward[2])) {
    return Invalid("not a postcode format");
  }
  // Royal Mail letter rules (ENCODING.md lists them).
  const auto in = [](char c, std::string_view set) {
    return set.find(c) != std::string_view::npos;
  };
  bool letters_ok = !in(outward[0], "QVX") && !in(inward[1], "CIKMOV") &&
                    !in(inward[2], "CIKMOV");
  if (IsUpper(outward[1])) letters_ok = letters_ok && !in(outward[1], "IJZ");
  if (shape == "A9A")
    letters_ok = letters_ok && in(outward[2], "ABCDEFGHJKPSTUW");
  if (shape == "AA9A")
    letters_ok = letters_ok && in(outward[3], "ABEHMNPRVWXY");
  if (!letters_ok) return Invalid("letter not allowed in position");
  return pc;
}

absl::StatusOr<std::string> NormalizeUpn(std::string_view upn) {
  const std::string s = Compact(upn, /*drop_hyphens=*/false);
  if (s.size() != 13) return Invalid("wrong length");
  static constexpr std::string_view kAlphabet = "ABCDEFGHJKLMNPQRTUVWXYZ";
  for (size_t i = 1; i < 12; ++i) {
    if (!IsDigit(s[i])) return Invalid("invalid character");
  }
  int last;
  if (IsDigit(s[12])) {
    last = s[12] - '0';
  } else {
    const size_t idx = kAlphabet.find(s[12]);
    if (idx == std::string_view::npos) return Invalid("invalid character");
    last = static_cast<int>(idx);
  }
  if (kAlphabet.find(s[0]) == std::string_view::npos) {
    return Invalid("invalid check letter");
  }
  int sum = 13 * last;
  for (size_t i = 1; i < 12; ++i) sum += static_cast<int>(i + 1) * (s[i] - '0');
  if (kAlphabet[sum % 23] != s[0]) return Invalid("check letter mismatch");
  return s;
}

absl::StatusOr<std::string> NormalizeNhsNumber(std::string_view nhs_number) {
  const std::string s = Compact(nhs_number, /*drop_hyphens=*/true);
  if (s.size() != 10) return Invalid("wrong length");
  for (char c : s) {
    if (!IsDigit(c)) return Invalid("invalid character");
  }
  if (s.find_first_not_of(s[0]) == std::string::npos) {
    return Invalid(kPlaceholderReason);
  }
  int sum = 0;
  for (int i = 0; i < 9; ++i) sum += (10 - i) * (s[i] - '0');
  int check = 11 - sum % 11;
  if (check == 11) check = 0;
  if (check == 10) return Invalid("no valid check digit");
  if (check != s[9] - '0') return Invalid("check digit mismatch");
  return s;
}

}  // namespace linkd::crypto
