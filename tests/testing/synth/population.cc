// The synthetic population: households, people, and their source records.
//
// Model, in short (rates are the defaults):
// - Households of 1-4 children (42/38/14/6 %) of one origin (English 68 %,
//   South Asian 11 %, Eastern European 4 %, West African 4 %, Scottish 3 %,
//   Arabic/Somali 2.5 %, Caribbean 2.5 %, Irish 2 %, Welsh 2 %, Chinese
//   1 %), sharing a family name and postcode; siblings 1-6 years apart;
//   1.5 % of births are twins. Given names come from the origin's table or
//   the English one; 5 % are rare "creative" names and a quarter of English
//   households have a rare surname composed from syllables, which gives the
//   long tails of the real distributions.
// - UPNs are allocated per (LA, school, year of issue) without collision;
//   NHS numbers come from a keyed permutation, so both are unique.
// - Each source record is drawn with its own random stream derived from
//   (seed, person, source), so one person's noise does not depend on others.
#include "tests/testing/synth/population.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/testing/synth/identifiers.h"
#include "tests/testing/synth/rng.h"

namespace linkd::synth {
namespace {

// ---------------------------------------------------------------- sampling

class Sampler {
 public:
  void Add(std::string_view name, uint64_t weight) {
    total_ += weight;
    cumulative_.push_back(total_);
    names_.push_back(name);
  }
  std::string_view Sample(Rng& rng) const {
    const uint64_t x = rng.Uniform(total_);
    const size_t i = static_cast<size_t>(
        std::upper_bound(cumulative_.begin(), cumulative_.end(), x) -
        cumulative_.begin());
    return names_[i];
  }
  const std::vector<std::string_view>& names() const { return names_; }

 private:
  uint64_t total_ = 0;
  std::vector<uint64_t> cumulative_;
  std::vector<std::string_view> names_;
};

constexpr double kOriginShare[kNumOrigins] = {0.68, 0.02, 0.03,  0.02, 0.11,
                                              0.04, 0.04, 0.025, 0.01, 0.025};
// Share of a household's given names taken from its own origin's table
// (the rest from the English table).
constexpr double kOwnGivenShare[kNumOrigins] = {1.0, 0.4, 0.2, 0.25, 0.85,
                                                0.6, 0.5, 0.8, 0.3,  0.35};
constexpr double kRareGivenRate = 0.05;
constexpr int kUnitsPerSector = 80;
constexpr std::string_view kInwardLetters = "ABDEFGHJLNPQRSTUWXYZ";

struct Tables {
  Sampler origin;  // names are the origin index as one char
  std::string origin_keys;
  Sampler boys[kNumOrigins];
  Sampler girls[kNumOrigins];
  Sampler family[kNumOrigins];
  std::vector<double> district_cumulative;
  std::unordered_map<std::string_view, std::vector<std::string_view>> nicknames;
};

void Fill(Sampler& sampler, NameTable table) {
  for (size_t i = 0; i < table.size; ++i) {
    sampler.Add(table.entries[i].name, table.entries[i].weight);
  }
}

const Tables& GetTables() {
  static const Tables* const tables = [] {
    auto* t = new Tables;
    t->origin_keys.resize(kNumOrigins);
    for (int o = 0; o < kNumOrigins; ++o) {
      t->origin_keys[o] = static_cast<char>(o);
    }
    for (int o = 0; o < kNumOrigins; ++o) {
      t->origin.Add(std::string_view(t->origin_keys).substr(o, 1),
                    static_cast<uint64_t>(kOriginShare[o] * 100000));
      Fill(t->boys[o], BoysNames(static_cast<Origin>(o)));
      Fill(t->girls[o], GirlsNames(static_cast<Origin>(o)));
      Fill(t->family[o], FamilyNames(static_cast<Origin>(o)));
    }
    const DistrictTable districts = Districts();
    double sum = 0;
    for (size_t i = 0; i < districts.size; ++i) {
      sum += districts.entries[i].weight;
      t->district_cumulative.push_back(sum);
    }
    const NicknameTable nick = Nicknames();
    for (size_t i = 0; i < nick.size; ++i) {
      std::vector<std::string_view>& v = t->nicknames[nick.entries[i].name];
      std::string_view rest = nick.entries[i].variants;
      while (!rest.empty()) {
        const size_t bar = rest.find('|');
        v.push_back(rest.substr(0, bar));
        rest = bar == std::string_view::npos ? std::string_view()
                                             : rest.substr(bar + 1);
      }
    }
    return t;
  }();
  return *tables;
}

// A bijection on [0, n), keyed: a balanced Feistel network on the smallest
// even number of bits covering n, with cycle walking.
uint64_t Permute(uint64_t i, uint64_t n, uint64_t key) {
  int bits = 2;
  while ((uint64_t{1} << bits) < n) bits += 2;
  const int half = bits / 2;
  const uint64_t mask = (uint64_t{1} << half) - 1;
  uint64_t x = i;
  do {
    uint64_t l = x >> half, r = x & mask;
    for (int round = 0; round < 4; ++round) {
      const uint64_t f = MixSeed(key, static_cast<uint64_t>(round), r) & mask;
      const uint64_t nl = r;
      r = l ^ f;
      l = nl;
    }
    x = (l << half) | r;
  } while (x >= n);
  return x;
}

std::string Digits(uint64_t value, int width) {
  std::string s(static_cast<size_t>(width), '0');
  for (int i = width - 1; i >= 0 && value > 0; --i) {
    s[static_cast<size_t>(i)] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return s;
}

std::string Two(int v) { return Digits(static_cast<uint64_t>(v), 2); }

// ------------------------------------------------------------- UTF-8 text

std::u32string DecodeUtf8(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out.push_back(c);
      i += 1;
    } else if ((c >> 5) == 0x6 && i + 1 < s.size()) {
      out.push_back(((c & 0x1Fu) << 6) |
                    (static_cast<unsigned char>(s[i + 1]) & 0x3Fu));
      i += 2;
    } else if ((c >> 4) == 0xE && i + 2 < s.size()) {
      out.push_back(((c & 0x0Fu) << 12) |
                    ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 6) |
                    (static_cast<unsigned char>(s[i + 2]) & 0x3Fu));
      i += 3;
    } else {
      out.push_back(U'?');
      i += 1;
    }
  }
  return out;
}

std::string EncodeUtf8(const std::u32string& s) {
  std::string out;
  out.reserve(s.size() + 4);
  for (char32_t c : s) {
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xE0 | (c >> 12)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

bool IsAscii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// ASCII base letters of U+00C0..U+00FF and U+0100..U+017F ('*' = none).
constexpr std::string_view kLatin1Fold =
    "AAAAAAACEEEEIIIIDNOOOOO*OUUUUYTsaaaaaaaceeeeiiiidnooooo*ouuuuyty";
constexpr std::string_view kLatinExtAFold =
    "AaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIiIiJjKkkLlLlLlLlLlNnNnNnn"
    "Nn"
    "OoOoOoOoRrRrRrSsSsSsSsTtTtTtUuUuUuUuUuUuWwYyYZzZzZzs";

char32_t FoldChar(char32_t c) {
  if (c >= 0xC0 && c <= 0xFF && kLatin1Fold[c - 0xC0] != '*') {
    return static_cast<char32_t>(kLatin1Fold[c - 0xC0]);
  }
  if (c >= 0x100 && c <= 0x17F) {
    return static_cast<char32_t>(kLatinExtAFold[c - 0x100]);
  }
  switch (c) {
    case 0x218:
      return U'S';
    case 0x219:
      return U's';
    case 0x21A:
      return U'T';
    case 0x21B:
      return U't';
    default:
      return c;
  }
}

std::string FoldDiacritics(std::string_view s) {
  if (IsAscii(s)) return std::string(s);
  std::u32string u = DecodeUtf8(s);
  for (char32_t& c : u) c = FoldChar(c);
  return EncodeUtf8(u);
}

// Upper/lower case for ASCII, Latin-1 and Latin Extended-A.
char32_t UpperChar(char32_t c) {
  if (c >= U'a' && c <= U'z') return c - 32;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
  if (c >= 0x100 && c <= 0x17F) {
    const bool odd_is_lower = (c < 0x138) || (c >= 0x14A && c < 0x178);
    if (odd_is_lower && (c & 1)) return c - 1;
    if (!odd_is_lower && !(c & 1) && c != 0x138 && c != 0x178) return c - 1;
  }
  if (c == 0x219 || c == 0x21B) return c - 1;
  return c;
}
char32_t LowerChar(char32_t c) {
  if (c >= U'A' && c <= U'Z') return c + 32;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
  if (c >= 0x100 && c <= 0x17F) {
    const bool odd_is_lower = (c < 0x138) || (c >= 0x14A && c < 0x178);
    if (odd_is_lower && !(c & 1)) return c + 1;
    if (!odd_is_lower && (c & 1) && c != 0x17F) return c + 1;
  }
  if (c == 0x218 || c == 0x21A) return c + 1;
  return c;
}

std::string ToUpper(std::string_view s) {
  std::u32string u = DecodeUtf8(s);
  for (char32_t& c : u) c = UpperChar(c);
  return EncodeUtf8(u);
}
std::string ToLower(std::string_view s) {
  std::u32string u = DecodeUtf8(s);
  for (char32_t& c : u) c = LowerChar(c);
  return EncodeUtf8(u);
}

bool IsAsciiLetter(char32_t c) {
  return (c >= U'a' && c <= U'z') || (c >= U'A' && c <= U'Z');
}

// Neighbouring keys on a QWERTY keyboard, for substitution typos.
constexpr std::string_view kKeyNeighbours[26] = {
    "qwsz",   "vghn", "xdfv",   "serfcx", "wsdr",   "drtgvc", "ftyhbv",
    "gyujnb", "ujko", "huikmn", "jiolm",  "kop",    "njk",    "bhjm",
    "iklp",   "ol",   "wa",     "edft",   "awedxz", "rfgy",   "yhji",
    "cfgb",   "qase", "zsdc",   "tghu",   "asx"};

// Applies one typing error to an ASCII letter of `name`, never to the first
// character (people rarely mistype the initial).
std::string Typo(std::string_view name, Rng& rng) {
  std::u32string u = DecodeUtf8(name);
  std::vector<size_t> letters;
  for (size_t i = 1; i < u.size(); ++i) {
    if (IsAsciiLetter(u[i])) letters.push_back(i);
  }
  if (letters.empty()) return std::string(name);
  const size_t pos = letters[rng.Uniform(letters.size())];
  const bool upper = u[pos] >= U'A' && u[pos] <= U'Z';
  const auto lower_of = [](char32_t c) {
    return c >= U'A' && c <= U'Z' ? c + 32 : c;
  };
  const auto with_case = [upper](char32_t c) { return upper ? c - 32 : c; };
  switch (rng.Uniform(4)) {
    case 0: {  // substitution
      const char32_t base = lower_of(u[pos]);
      char32_t repl;
      if (rng.Bernoulli(0.6)) {
        const std::string_view n = kKeyNeighbours[base - U'a'];
        repl = static_cast<char32_t>(n[rng.Uniform(n.size())]);
      } else {
        repl = static_cast<char32_t>(U'a' + rng.Uniform(26));
      }
      if (repl == base) repl = base == U'e' ? U'a' : U'e';
      u[pos] = with_case(repl);
      break;
    }
    case 1:  // deletion
      if (u.size() > 2) u.erase(pos, 1);
      break;
    case 2: {  // insertion: a doubled letter or a stray key
      const char32_t c =
          rng.Bernoulli(0.5)
              ? u[pos]
              : with_case(static_cast<char32_t>(U'a' + rng.Uniform(26)));
      u.insert(pos, 1, c);
      break;
    }
    default:  // transposition with the next letter
      if (pos + 1 < u.size() && IsAsciiLetter(u[pos + 1]) &&
          lower_of(u[pos]) != lower_of(u[pos + 1])) {
        std::swap(u[pos], u[pos + 1]);
        // Keep the case pattern of the original positions.
        const bool a_up = u[pos + 1] >= U'A' && u[pos + 1] <= U'Z';
        const bool b_up = u[pos] >= U'A' && u[pos] <= U'Z';
        if (a_up != b_up) {
          u[pos] = a_up ? lower_of(u[pos]) - 32 : lower_of(u[pos]);
          u[pos + 1] = b_up ? lower_of(u[pos + 1]) - 32 : lower_of(u[pos + 1]);
        }
      } else {
        u.erase(pos, 1);
      }
      break;
  }
  return EncodeUtf8(u);
}

// True if a and b (ASCII compare) differ by exactly one substitution,
// insertion or deletion.
bool OneEditApart(std::string_view a, std::string_view b) {
  if (a == b) return false;
  if (a.size() == b.size()) {
    int diff = 0;
    for (size_t i = 0; i < a.size(); ++i) diff += a[i] != b[i];
    return diff == 1;
  }
  if (a.size() + 1 == b.size()) std::swap(a, b);
  if (b.size() + 1 != a.size()) return false;
  size_t i = 0;
  while (i < b.size() && a[i] == b[i]) ++i;
  return a.substr(i + 1) == b.substr(i);
}

// ------------------------------------------------------------------ dates

std::string FormatDate(const Date& d, Source source) {
  switch (source) {
    case Source::kSchoolCensus:
      return absl::StrCat(Two(d.day), "/", Two(d.month), "/", d.year);
    case Source::kSocialCare:
      return IsoDate(d);
    case Source::kHealth:
      return absl::StrCat(d.year, Two(d.month), Two(d.day));
  }
  return IsoDate(d);
}

int DaysInMonth(int year, int month) {
  static constexpr int kDays[12] = {31, 28, 31, 30, 31, 30,
                                    31, 31, 30, 31, 30, 31};
  if (month == 2) {
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return leap ? 29 : 28;
  }
  return kDays[month - 1];
}

bool Before(const Date& a, const Date& b) {
  return DaysFromCivil(a) < DaysFromCivil(b);
}

// A plausible mistyped date: a day, month or year off by one, or the day's
// digits reversed. Returns `d` unchanged if no variant is valid.
Date DobTypo(const Date& d, const Date& latest, Rng& rng) {
  for (int attempt = 0; attempt < 6; ++attempt) {
    Date t = d;
    const int sign = rng.Bernoulli(0.5) ? 1 : -1;
    switch (rng.Uniform(4)) {
      case 0:
        t.day += sign;
        break;
      case 1:
        t.month += sign;
        break;
      case 2:
        t.year += sign;
        break;
      default:
        t.day = (d.day % 10) * 10 + d.day / 10;
        break;
    }
    if (IsValidDate(t) && t != d && !Before(latest, t)) return t;
  }
  return d;
}

// --------------------------------------------------------------- postcodes

std::string MakePostcode(const District& district, Rng& rng) {
  const std::string_view sectors = district.sectors;
  const char sector = sectors[rng.Uniform(sectors.size())];
  const uint64_t unit = rng.Uniform(kUnitsPerSector);
  const uint64_t offset =
      MixSeed(0x5EC7, static_cast<uint64_t>(district.outward[0]) * 131 +
                          static_cast<uint64_t>(sector)) %
      400;
  const uint64_t combo = (unit * 37 + offset) % 400;
  std::string pc = absl::StrCat(district.outward, " ");
  pc.push_back(sector);
  pc.push_back(kInwardLetters[combo / 20]);
  pc.push_back(kInwardLetters[combo % 20]);
  return pc;
}

size_t PickDistrict(Rng& rng) {
  const std::vector<double>& cum = GetTables().district_cumulative;
  const double x = rng.Double() * cum.back();
  return static_cast<size_t>(std::upper_bound(cum.begin(), cum.end(), x) -
                             cum.begin());
}

size_t PickDistrictInLa(int la_code, Rng& rng) {
  const DistrictTable t = Districts();
  for (;;) {
    const size_t i = PickDistrict(rng);
    if (t.entries[i].la_code == la_code) return i;
  }
}

// ------------------------------------------------------------------ names

Origin FamilyNameOrigin(Origin origin, Rng& rng) {
  const double u = rng.Double();
  switch (origin) {
    case Origin::kEnglish:
      if (u < 0.83) return Origin::kEnglish;
      if (u < 0.90) return Origin::kScottish;
      if (u < 0.97) return Origin::kIrish;
      return Origin::kWelsh;
    case Origin::kScottish:
      return u < 0.8 ? Origin::kScottish : Origin::kEnglish;
    case Origin::kWelsh:
      return u < 0.7 ? Origin::kWelsh : Origin::kEnglish;
    case Origin::kCaribbean:
      return u < 0.3 ? Origin::kCaribbean : Origin::kEnglish;
    default:
      return origin;
  }
}

std::string RareSurname(Rng& rng) {
  const Syllables roots = SurnameRoots(), ends = SurnameEndings();
  return absl::StrCat(roots.items[rng.Uniform(roots.size)],
                      ends.items[rng.Uniform(ends.size)]);
}

std::string DrawFamilyName(Origin origin, Rng& rng) {
  const double tail =
      origin == Origin::kEnglish ? 0.25
      : (origin == Origin::kIrish || origin == Origin::kScottish ||
         origin == Origin::kWelsh)
          ? 0.1
          : 0.0;
  if (tail > 0 && rng.Bernoulli(tail)) return RareSurname(rng);
  const Origin o = FamilyNameOrigin(origin, rng);
  return std::string(GetTables().family[static_cast<int>(o)].Sample(rng));
}

// Polish surnames in -ski/-cki/-dzki take -ska/-cka/-dzka for girls.
std::string GenderedSurname(const std::string& surname, Origin origin,
                            Sex sex) {
  if (origin != Origin::kEasternEuropean || sex != Sex::kFemale) return surname;
  const size_t n = surname.size();
  if (n > 3 && surname.compare(n - 2, 2, "ki") == 0) {
    std::string s = surname;
    s[n - 1] = 'a';
    return s;
  }
  return surname;
}

std::string DrawGivenName(Origin origin, Sex sex, Rng& rng) {
  const Tables& t = GetTables();
  if (rng.Bernoulli(kRareGivenRate)) {
    const Syllables starts = GivenNameStarts();
    const Syllables ends =
        sex == Sex::kMale ? BoyNameEndings() : GirlNameEndings();
    return absl::StrCat(starts.items[rng.Uniform(starts.size)],
                        ends.items[rng.Uniform(ends.size)]);
  }
  const int o = rng.Bernoulli(kOwnGivenShare[static_cast<int>(origin)])
                    ? static_cast<int>(origin)
                    : 0;
  const Sampler& s = sex == Sex::kMale ? t.boys[o] : t.girls[o];
  return std::string(s.Sample(rng));
}

// A name one letter away from `name` of the same sex, if the tables have
// one; else empty.
std::string OneLetterVariant(const std::string& name, Origin origin, Sex sex,
                             Rng& rng) {
  const Tables& t = GetTables();
  std::vector<std::string_view> found;
  for (int o : {0, static_cast<int>(origin)}) {
    const Sampler& s = sex == Sex::kMale ? t.boys[o] : t.girls[o];
    for (std::string_view n : s.names()) {
      if (OneEditApart(n, name)) found.push_back(n);
    }
  }
  if (found.empty()) return "";
  return std::string(found[rng.Uniform(found.size())]);
}

}  // namespace

// ------------------------------------------------------------ public dates

bool operator==(const Date& a, const Date& b) {
  return a.year == b.year && a.month == b.month && a.day == b.day;
}

// Howard Hinnant's days_from_civil / civil_from_days.
int64_t DaysFromCivil(const Date& date) {
  int64_t y = date.year;
  const int64_t m = date.month, d = date.day;
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

Date CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = yoe + era * 400;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp + (mp < 10 ? 3 : -9);
  return Date{static_cast<int>(y + (m <= 2)), static_cast<int>(m),
              static_cast<int>(d)};
}

bool IsValidDate(const Date& d) {
  return d.year >= 1 && d.year <= 9999 && d.month >= 1 && d.month <= 12 &&
         d.day >= 1 && d.day <= DaysInMonth(d.year, d.month);
}

int AgeOn(const Date& dob, const Date& on) {
  int age = on.year - dob.year;
  if (on.month < dob.month || (on.month == dob.month && on.day < dob.day)) {
    --age;
  }
  return age;
}

std::string IsoDate(const Date& d) {
  return absl::StrCat(Digits(static_cast<uint64_t>(d.year), 4), "-",
                      Two(d.month), "-", Two(d.day));
}

absl::StatusOr<Date> ParseIsoDate(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') {
    return absl::InvalidArgumentError("date must be YYYY-MM-DD");
  }
  int parts[3] = {0, 0, 0};
  const size_t starts[3] = {0, 5, 8}, lens[3] = {4, 2, 2};
  for (int p = 0; p < 3; ++p) {
    for (size_t i = 0; i < lens[p]; ++i) {
      const char c = text[starts[p] + i];
      if (c < '0' || c > '9') {
        return absl::InvalidArgumentError("date must be YYYY-MM-DD");
      }
      parts[p] = parts[p] * 10 + (c - '0');
    }
  }
  const Date d{parts[0], parts[1], parts[2]};
  if (!IsValidDate(d)) return absl::InvalidArgumentError("not a calendar date");
  return d;
}

// ---------------------------------------------------------- sources, CSV

std::string_view SourceName(Source source) {
  switch (source) {
    case Source::kSchoolCensus:
      return "school_census";
    case Source::kSocialCare:
      return "social_care";
    case Source::kHealth:
      return "health";
  }
  return "unknown";
}

const SourceColumns& ColumnsOf(Source source) {
  static const SourceColumns kColumns[kNumSources] = {
      {"pupil_ref", "forename", "surname", "dob", "gender", "postcode", "upn",
       "", "DD/MM/YYYY"},
      {"case_id", "first_name", "last_name", "date_of_birth", "sex",
       "post_code", "upn", "nhs_no", "YYYY-MM-DD"},
      {"patient_id", "given", "family", "birth_date", "sex_code", "postcode",
       "", "nhs_number", "YYYYMMDD"},
  };
  return kColumns[static_cast<int>(source)];
}

std::string CsvHeader(Source source) {
  switch (source) {
    case Source::kSchoolCensus:
      return "pupil_ref,upn,forename,surname,dob,gender,postcode";
    case Source::kSocialCare:
      return "case_id,first_name,last_name,date_of_birth,sex,post_code,nhs_no,"
             "upn";
    case Source::kHealth:
      return "nhs_number,patient_id,given,family,birth_date,sex_code,postcode";
  }
  return "";
}

namespace {

void AppendField(std::string* line, std::string_view value, bool first) {
  if (!first) line->push_back(',');
  if (value.find_first_of(",\"\n\r") == std::string_view::npos) {
    line->append(value);
    return;
  }
  line->push_back('"');
  for (char c : value) {
    if (c == '"') line->push_back('"');
    line->push_back(c);
  }
  line->push_back('"');
}

}  // namespace

std::string CsvLine(const SourceRecord& r) {
  std::string line;
  line.reserve(96);
  const auto join = [&line](std::initializer_list<std::string_view> fields) {
    bool first = true;
    for (std::string_view v : fields) {
      AppendField(&line, v, first);
      first = false;
    }
  };
  switch (r.source) {
    case Source::kSchoolCensus:
      join({r.record_id, r.upn, r.given_name, r.family_name, r.dob, r.sex,
            r.postcode});
      break;
    case Source::kSocialCare:
      join({r.record_id, r.given_name, r.family_name, r.dob, r.sex, r.postcode,
            r.nhs_number, r.upn});
      break;
    case Source::kHealth:
      join({r.nhs_number, r.record_id, r.given_name, r.family_name, r.dob,
            r.sex, r.postcode});
      break;
  }
  return line;
}

// ------------------------------------------------------------------ options

SourceOptions DefaultSourceOptions(Source source) {
  SourceOptions o;
  switch (source) {
    case Source::kSchoolCensus:
      o.coverage = 0.90;  // of children aged 4-18
      o.name_typo_rate = 0.02;
      o.nickname_rate = 0.01;
      o.dob_swap_rate = 0.01;
      o.dob_typo_rate = 0.01;
      o.missing_rate = 0.02;
      o.diacritics_kept_rate = 0.7;
      o.upper_case_rate = 0.03;
      o.lower_case_rate = 0.01;
      o.upper_family_rate = 0.05;
      o.extra_space_rate = 0.01;
      o.title_rate = 0.0;
      o.old_surname_rate = 0.3;
      o.partial_double_barrel_rate = 0.10;
      o.punctuation_rate = 0.05;
      o.previous_postcode_rate = 0.3;
      o.other_postcode_rate = 0.0;
      o.postcode_format_rate = 0.02;
      o.unknown_sex_rate = 0.0;
      o.upn_rate = 1.0;
      o.upn_typo_rate = 0.005;
      o.nhs_rate = 0.0;
      o.nhs_spaced_rate = 0.0;
      o.duplicate_rate = 0.002;  // dual registration
      o.upn_placeholder_rate = 0.002;
      break;
    case Source::kSocialCare:
      o.coverage = 0.10;
      o.name_typo_rate = 0.04;
      o.nickname_rate = 0.03;
      o.dob_swap_rate = 0.015;
      o.dob_typo_rate = 0.015;
      o.missing_rate = 0.05;
      o.diacritics_kept_rate = 0.5;
      o.upper_case_rate = 0.10;
      o.lower_case_rate = 0.05;
      o.upper_family_rate = 0.05;
      o.extra_space_rate = 0.02;
      o.title_rate = 0.01;
      o.old_surname_rate = 0.2;
      o.partial_double_barrel_rate = 0.2;
      o.punctuation_rate = 0.1;
      o.previous_postcode_rate = 0.35;
      o.other_postcode_rate = 0.08;
      o.postcode_format_rate = 0.05;
      o.unknown_sex_rate = 0.01;
      o.upn_rate = 0.4;
      o.upn_typo_rate = 0.005;
      o.nhs_rate = 0.7;
      o.nhs_spaced_rate = 0.2;
      o.duplicate_rate = 0.03;  // re-referral opened as a new case
      o.upn_placeholder_rate = 0.01;
      o.nhs_placeholder_rate = 0.01;
      o.unborn_rate = 0.01;  // pre-birth referral
      break;
    case Source::kHealth:
      o.coverage = 0.60;
      o.name_typo_rate = 0.02;
      o.nickname_rate = 0.005;
      o.dob_swap_rate = 0.005;
      o.dob_typo_rate = 0.005;
      o.missing_rate = 0.02;
      o.diacritics_kept_rate = 0.4;
      o.upper_case_rate = 0.2;
      o.lower_case_rate = 0.0;
      o.upper_family_rate = 0.5;
      o.extra_space_rate = 0.01;
      o.title_rate = 0.01;
      o.old_surname_rate = 0.5;
      o.partial_double_barrel_rate = 0.1;
      o.punctuation_rate = 0.05;
      o.previous_postcode_rate = 0.25;
      o.other_postcode_rate = 0.01;
      o.postcode_format_rate = 0.02;
      o.unknown_sex_rate = 0.005;
      o.upn_rate = 0.0;
      o.nhs_rate = 0.95;
      o.nhs_spaced_rate = 0.3;
      o.duplicate_rate = 0.01;  // second GP registration
      o.nhs_placeholder_rate = 0.003;
      o.unborn_rate = 0.03;  // antenatal "baby of" record
      break;
  }
  return o;
}

void Options::ScaleNoise(double factor) {
  for (SourceOptions& s : sources) {
    for (double* r : {&s.name_typo_rate,      &s.nickname_rate,
                      &s.dob_swap_rate,       &s.dob_typo_rate,
                      &s.missing_rate,        &s.upper_case_rate,
                      &s.lower_case_rate,     &s.upper_family_rate,
                      &s.extra_space_rate,    &s.title_rate,
                      &s.old_surname_rate,    &s.partial_double_barrel_rate,
                      &s.punctuation_rate,    &s.previous_postcode_rate,
                      &s.other_postcode_rate, &s.postcode_format_rate,
                      &s.unknown_sex_rate,    &s.upn_typo_rate,
                      &s.nhs_spaced_rate,     &s.upn_placeholder_rate,
                      &s.nhs_placeholder_rate}) {
      *r = std::clamp(*r * factor, 0.0, 1.0);
    }
    s.diacritics_kept_rate =
        std::clamp(1.0 - (1.0 - s.diacritics_kept_rate) * factor, 0.0, 1.0);
  }
}

absl::Status ValidateOptions(const Options& options) {
  if (options.num_people < 0) {
    return absl::InvalidArgumentError("num_people must be >= 0");
  }
  if (!IsValidDate(options.reference_date) ||
      options.reference_date.year < 1950) {
    return absl::InvalidArgumentError("reference_date is not a valid date");
  }
  const auto rate_ok = [](double r) { return r >= 0.0 && r <= 1.0; };
  if (!rate_ok(options.twin_rate) || !rate_ok(options.double_barrel_rate) ||
      !rate_ok(options.surname_change_rate) || !rate_ok(options.move_rate)) {
    return absl::InvalidArgumentError("population rates must be in [0, 1]");
  }
  for (int i = 0; i < kNumSources; ++i) {
    const SourceOptions& s = options.sources[i];
    for (double r : {s.coverage,
                     s.duplicate_rate,
                     s.name_typo_rate,
                     s.nickname_rate,
                     s.dob_swap_rate,
                     s.dob_typo_rate,
                     s.missing_rate,
                     s.diacritics_kept_rate,
                     s.upper_case_rate,
                     s.lower_case_rate,
                     s.upper_family_rate,
                     s.extra_space_rate,
                     s.title_rate,
                     s.old_surname_rate,
                     s.partial_double_barrel_rate,
                     s.punctuation_rate,
                     s.previous_postcode_rate,
                     s.other_postcode_rate,
                     s.postcode_format_rate,
                     s.unknown_sex_rate,
                     s.upn_rate,
                     s.upn_typo_rate,
                     s.nhs_rate,
                     s.nhs_spaced_rate,
                     s.upn_placeholder_rate,
                     s.nhs_placeholder_rate,
                     s.unborn_rate}) {
      if (!rate_ok(r)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "rates of source ", std::string(SourceName(static_cast<Source>(i))),
            " must be in [0, 1]"));
      }
    }
  }
  if (options.sources[static_cast<int>(Source::kSchoolCensus)].unborn_rate !=
      0) {
    return absl::InvalidArgumentError(
        "unborn_rate of source school_census must be 0");
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------- generator

class PopulationGenerator::Impl {
 public:
  explicit Impl(const Options& options)
      : options_(options),
        rng_(MixSeed(options.seed, 0x9E0)),
        nhs_key_(MixSeed(options.seed, 0x4E45)),
        latest_(DaysFromCivil(options.reference_date)),
        earliest_(
            DaysFromCivil(Date{options.reference_date.year - 19,
                               options.reference_date.month,
                               std::min(options.reference_date.day, 28)}) +
            1) {}

  bool Next(Person* person) {
    if (pending_index_ >= pending_.size()) {
      if (next_id_ > static_cast<uint64_t>(options_.num_people)) return false;
      MakeHousehold();
    }
    *person = std::move(pending_[pending_index_++]);
    return true;
  }

 private:
  void MakeHousehold() {
    pending_.clear();
    pending_index_ = 0;
    const Tables& t = GetTables();
    const uint64_t household = ++household_id_;
    const auto origin = static_cast<Origin>(t.origin.Sample(rng_)[0]);

    std::string surname = DrawFamilyName(origin, rng_);
    if (origin == Origin::kEnglish &&
        rng_.Bernoulli(options_.double_barrel_rate)) {
      std::string second = DrawFamilyName(origin, rng_);
      if (second != surname) surname = absl::StrCat(surname, "-", second);
    }

    const DistrictTable districts = Districts();
    const District& district = districts.entries[PickDistrict(rng_)];
    const std::string postcode = MakePostcode(district, rng_);
    std::string previous;
    if (rng_.Bernoulli(options_.move_rate)) {
      const District& from =
          rng_.Bernoulli(0.6)
              ? district
              : districts.entries[PickDistrictInLa(district.la_code, rng_)];
      do {
        previous = MakePostcode(from, rng_);
      } while (previous == postcode);
    }

    const uint64_t remaining =
        static_cast<uint64_t>(options_.num_people) - next_id_ + 1;
    const double u = rng_.Double();
    uint64_t want = u < 0.42 ? 1 : u < 0.80 ? 2 : u < 0.94 ? 3 : 4;
    want = std::min(want, remaining);

    int64_t dob_days =
        earliest_ + static_cast<int64_t>(rng_.Uniform(
                        static_cast<uint64_t>(latest_ - earliest_ + 1)));
    std::vector<int64_t> used_dobs;
    while (pending_.size() < want) {
      const bool twins = pending_.size() + 2 <= want + 1 &&
                         pending_.size() + 2 <= remaining &&
                         rng_.Bernoulli(options_.twin_rate);
      AddChild(household, origin, surname, postcode, previous, district.la_code,
               dob_days, 0);
      if (twins) {
        AddChild(household, origin, surname, postcode, previous,
                 district.la_code, dob_days, pending_.back().person_id);
        pending_[pending_.size() - 2].twin_of = pending_.back().person_id;
      }
      used_dobs.push_back(dob_days);
      // Next sibling: 1-6 years from one already placed, within 0..18.
      bool placed = false;
      for (int attempt = 0; attempt < 8 && !placed; ++attempt) {
        const int64_t base = used_dobs[rng_.Uniform(used_dobs.size())];
        const int64_t gap =
            365 + static_cast<int64_t>(rng_.Uniform(5 * 365 + 1));
        const int64_t cand = rng_.Bernoulli(0.5) ? base + gap : base - gap;
        if (cand < earliest_ || cand > latest_) continue;
        bool close = false;
        for (int64_t d : used_dobs) close |= std::abs(d - cand) < 300;
        if (close) continue;
        dob_days = cand;
        placed = true;
      }
      if (!placed) break;
    }
  }

  void AddChild(uint64_t household, Origin origin, const std::string& surname,
                const std::string& postcode, const std::string& previous,
                int la_code, int64_t dob_days, uint64_t twin_of) {
    Person p;
    p.person_id = next_id_++;
    p.household_id = household;
    p.origin = origin;
    p.sex = rng_.Bernoulli(0.512) ? Sex::kMale : Sex::kFemale;
    p.dob = CivilFromDays(dob_days);
    p.age = AgeOn(p.dob, options_.reference_date);
    p.twin_of = twin_of;

    // Given name: not a sibling's; for one twin pair in seven, one letter
    // away from the co-twin's when the tables allow.
    if (twin_of != 0 && rng_.Bernoulli(0.15)) {
      const Person& co = pending_.back();
      p.given_name = OneLetterVariant(co.given_name, origin, p.sex, rng_);
    }
    for (int attempt = 0; p.given_name.empty() && attempt < 20; ++attempt) {
      std::string name = DrawGivenName(origin, p.sex, rng_);
      bool taken = false;
      for (const Person& sib : pending_) taken |= sib.given_name == name;
      if (!taken) p.given_name = std::move(name);
    }

    p.family_name = GenderedSurname(surname, origin, p.sex);
    p.birth_family_name = p.family_name;
    if (rng_.Bernoulli(options_.surname_change_rate)) {
      // Born with another surname (e.g. before a step-parent's).
      std::string birth =
          GenderedSurname(DrawFamilyName(origin, rng_), origin, p.sex);
      if (birth != p.family_name) p.birth_family_name = std::move(birth);
    }
    p.postcode = postcode;
    p.previous_postcode = previous;
    p.la_code = la_code;
    if (p.age >= 4) p.upn = MakeUpn(p, la_code);
    p.nhs_number = MakeNhsNumber();
    pending_.push_back(std::move(p));
  }

  std::string MakeUpn(const Person& p, int la_code) {
    // Year of issue: the September the child started reception, sometimes
    // later (in-year admission from elsewhere).
    int start = (p.dob.month >= 9 ? p.dob.year : p.dob.year - 1) + 4;
    if (rng_.Bernoulli(0.1)) start += static_cast<int>(rng_.Uniform(6));
    start = std::min(start, options_.reference_date.year);
    const int yy = start % 100;
    for (;;) {
      const int estab = 2000 + static_cast<int>(rng_.Uniform(400));
      const uint32_t key = static_cast<uint32_t>(la_code) * 1000000u +
                           static_cast<uint32_t>(estab) * 100u +
                           static_cast<uint32_t>(yy);
      auto [it, fresh] = upn_serials_.try_emplace(key, 0);
      // Serials of a school and year start somewhere in the first half.
      if (fresh) it->second = static_cast<int>(rng_.Uniform(500));
      int& serial = it->second;
      if (serial >= 1000) continue;
      const std::string tail =
          absl::StrCat(Digits(static_cast<uint64_t>(la_code), 3),
                       Digits(static_cast<uint64_t>(estab), 4), Two(yy),
                       Digits(static_cast<uint64_t>(serial), 3));
      ++serial;
      return std::string(1, UpnCheckLetter(tail)) + tail;
    }
  }

  std::string MakeNhsNumber() {
    for (;;) {
      const uint64_t base =
          400000000 + Permute(nhs_counter_++, 100000000, nhs_key_);
      const std::string first9 = Digits(base, 9);
      const int check = NhsCheckDigit(first9);
      if (check <= 9) return first9 + static_cast<char>('0' + check);
    }
  }

  const Options options_;
  Rng rng_;
  const uint64_t nhs_key_;
  const int64_t latest_;
  const int64_t earliest_;
  uint64_t next_id_ = 1;
  uint64_t household_id_ = 0;
  uint64_t nhs_counter_ = 0;
  std::vector<Person> pending_;
  size_t pending_index_ = 0;
  std::unordered_map<uint32_t, int> upn_serials_;
};

PopulationGenerator::PopulationGenerator(const Options& options)
    : impl_(std::make_unique<Impl>(options)) {}
PopulationGenerator::~PopulationGenerator() = default;
bool PopulationGenerator::Next(Person* person) { return impl_->Next(person); }

// ---------------------------------------------------------------- extractor

class RecordExtractor::Impl {
 public:
  explicit Impl(const Options& options) : options_(options) {
    for (int s = 0; s < kNumSources; ++s) {
      id_keys_[s] = MixSeed(options.seed, 0x1D, static_cast<uint64_t>(s));
    }
  }

  void Extract(const Person& person, std::vector<SourceRecord>* records) {
    records->clear();
    for (int s = 0; s < kNumSources; ++s) {
      const auto source = static_cast<Source>(s);
      const SourceOptions& so = options_.sources[s];
      Rng rng(MixSeed(options_.seed, person.person_id,
                      0x5000 + static_cast<uint64_t>(s)));
      // Additions (pre-birth records, placeholders) draw from a stream of
      // their own, so the regular records stay as they were without them.
      Rng extra(MixSeed(options_.seed, person.person_id,
                        0x7000 + static_cast<uint64_t>(s)));
      if (source == Source::kSchoolCensus &&
          (person.age < 4 || person.age > 18)) {
        continue;
      }
      const bool unborn = source != Source::kSchoolCensus && person.age <= 1 &&
                          extra.Bernoulli(so.unborn_rate);
      // Drawn whatever `unborn` is, to keep the stream aligned.
      const bool covered = rng.Bernoulli(so.coverage);
      if (!covered && !unborn) continue;
      if (unborn) records->push_back(MakeUnbornRecord(person, source, extra));
      // A born record there only because of the pre-birth one takes an
      // added id, so the others keep theirs.
      records->push_back(MakeRecord(
          person, source,
          covered ? NextRecordId(source) : NextAddedRecordId(source), rng));
      AddPlaceholders(so, extra, &records->back());
      if (so.duplicate_rate > 0 && rng.Bernoulli(so.duplicate_rate)) {
        records->push_back(
            MakeRecord(person, source, NextAddedRecordId(source), rng));
        records->back().kind = RecordKind::kDuplicate;
        AddPlaceholders(so, extra, &records->back());
      }
    }
  }

 private:
  static uint64_t IdSpace(Source source) {
    return source == Source::kSocialCare ? 10000000 : 100000000;
  }

  std::string RecordIdAt(Source source, uint64_t n) const {
    const uint64_t v =
        Permute(n, IdSpace(source), id_keys_[static_cast<int>(source)]);
    switch (source) {
      case Source::kSchoolCensus:
        return "P" + Digits(v, 8);
      case Source::kSocialCare:
        return "C-" + Digits(v, 7);
      case Source::kHealth:
        return "H" + Digits(v, 8);
    }
    return "";
  }

  std::string NextRecordId(Source source) {
    return RecordIdAt(source, counters_[static_cast<int>(source)]++);
  }

  // Added records (duplicates, pre-birth) take ids from the top of the id
  // space downwards, so regular records keep theirs.
  std::string NextAddedRecordId(Source source) {
    const uint64_t n = added_counters_[static_cast<int>(source)]++;
    return RecordIdAt(source, IdSpace(source) - 1 - n);
  }

  static void AddPlaceholders(const SourceOptions& so, Rng& rng,
                              SourceRecord* r) {
    const SourceColumns& columns = ColumnsOf(r->source);
    // Both draws always happen, to keep the stream aligned.
    const bool upn = rng.Bernoulli(so.upn_placeholder_rate);
    const bool nhs = rng.Bernoulli(so.nhs_placeholder_rate);
    if (upn && !columns.upn.empty()) {
      r->upn =
          std::string(kUpnPlaceholders[rng.Uniform(kUpnPlaceholders.size())]);
    }
    if (nhs && !columns.nhs_number.empty()) {
      r->nhs_number =
          std::string(kNhsPlaceholders[rng.Uniform(kNhsPlaceholders.size())]);
    }
  }

  // A pre-birth record of `p` (see SourceOptions::unborn_rate).
  SourceRecord MakeUnbornRecord(const Person& p, Source source, Rng& rng) {
    const SourceOptions& so = options_.sources[static_cast<int>(source)];
    SourceRecord r;
    r.source = source;
    r.record_id = NextAddedRecordId(source);
    r.person_id = p.person_id;
    r.kind = RecordKind::kUnborn;
    static constexpr std::string_view kGiven[] = {
        "", "", "", "BABY", "Baby", "UNBORN", "Unborn"};
    r.given_name = std::string(kGiven[rng.Uniform(std::size(kGiven))]);
    std::string family = p.birth_family_name;
    if (rng.Bernoulli(so.name_typo_rate)) family = Typo(family, rng);
    if (rng.Bernoulli(so.upper_family_rate)) family = ToUpper(family);
    r.family_name = std::move(family);

    // Expected minus actual date of birth: mostly born between three weeks
    // early and two weeks late, sometimes preterm, weeks early. Mirrored
    // if the expected date would fall after the reference date.
    const int64_t born = DaysFromCivil(p.dob);
    int64_t offset =
        rng.Bernoulli(0.08) ? rng.Range(22, 70) : rng.Range(-14, 21);
    if (born + offset > DaysFromCivil(options_.reference_date)) {
      offset = -offset;
    }
    r.dob = FormatDate(CivilFromDays(born + offset), source);

    // Sex is mostly not known before birth.
    const bool male = p.sex == Sex::kMale;
    if (rng.Bernoulli(0.3)) {
      r.sex = source == Source::kHealth ? (male ? "1" : "2")
                                        : (male ? "Male" : "Female");
    } else {
      r.sex = source == Source::kHealth ? "0" : "Unknown";
    }
    r.postcode = !p.previous_postcode.empty() && rng.Bernoulli(0.5)
                     ? p.previous_postcode
                     : p.postcode;
    return r;
  }

  static std::string Spaces(std::string name, Rng& rng) {
    switch (rng.Uniform(3)) {
      case 0:
        return " " + name;
      case 1:
        return name + "  ";
      default: {
        const size_t mid = name.size() / 2;
        if (mid > 0 && name[mid] != ' ' && name[mid - 1] != ' ' &&
            (name[mid] & 0x80) == 0) {
          name.insert(mid, " ");
        } else {
          name += " ";
        }
        return name;
      }
    }
  }

  SourceRecord MakeRecord(const Person& p, Source source, std::string record_id,
                          Rng& rng) {
    const SourceOptions& so = options_.sources[static_cast<int>(source)];
    const Tables& t = GetTables();
    SourceRecord r;
    r.source = source;
    r.record_id = std::move(record_id);
    r.person_id = p.person_id;

    // Names.
    std::string given = p.given_name;
    if (rng.Bernoulli(so.nickname_rate)) {
      auto it = t.nicknames.find(given);
      if (it != t.nicknames.end()) {
        given = std::string(it->second[rng.Uniform(it->second.size())]);
      }
    }
    std::string family = p.family_name;
    if (p.birth_family_name != p.family_name &&
        rng.Bernoulli(so.old_surname_rate)) {
      family = p.birth_family_name;
    }
    const size_t hyphen = family.find('-');
    if (hyphen != std::string::npos &&
        rng.Bernoulli(so.partial_double_barrel_rate)) {
      family = rng.Bernoulli(0.6) ? family.substr(0, hyphen)
                                  : family.substr(hyphen + 1);
    }
    if (rng.Bernoulli(so.punctuation_rate)) {
      for (std::string* name : {&given, &family}) {
        for (size_t i = 0; i < name->size(); ++i) {
          if ((*name)[i] == '\'' || (*name)[i] == '-') {
            if ((*name)[i] == '\'' && rng.Bernoulli(0.5)) {
              name->erase(i, 1);
            } else {
              (*name)[i] = ' ';
            }
          }
        }
      }
    }
    if (rng.Bernoulli(so.name_typo_rate)) given = Typo(given, rng);
    if (rng.Bernoulli(so.name_typo_rate)) family = Typo(family, rng);
    if (!rng.Bernoulli(so.diacritics_kept_rate)) {
      given = FoldDiacritics(given);
      family = FoldDiacritics(family);
    }
    const double c = rng.Double();
    if (c < so.upper_case_rate) {
      given = ToUpper(given);
      family = ToUpper(family);
    } else if (c < so.upper_case_rate + so.lower_case_rate) {
      given = ToLower(given);
      family = ToLower(family);
    } else if (rng.Bernoulli(so.upper_family_rate)) {
      family = ToUpper(family);
    }
    if (rng.Bernoulli(so.title_rate)) {
      static constexpr std::string_view kBoyTitles[] = {"Master", "Mr"};
      static constexpr std::string_view kGirlTitles[] = {"Miss", "Ms"};
      const std::string_view title = p.sex == Sex::kMale
                                         ? kBoyTitles[rng.Uniform(2)]
                                         : kGirlTitles[rng.Uniform(2)];
      given = absl::StrCat(std::string(title), " ", given);
    }
    if (rng.Bernoulli(so.extra_space_rate))
      given = Spaces(std::move(given), rng);
    if (rng.Bernoulli(so.extra_space_rate))
      family = Spaces(std::move(family), rng);
    if (rng.Bernoulli(so.missing_rate / 5)) given.clear();
    if (rng.Bernoulli(so.missing_rate / 5)) family.clear();
    r.given_name = std::move(given);
    r.family_name = std::move(family);

    // Date of birth.
    Date dob = p.dob;
    if (dob.day <= 12 && dob.day != dob.month &&
        rng.Bernoulli(so.dob_swap_rate)) {
      std::swap(dob.day, dob.month);
    } else if (rng.Bernoulli(so.dob_typo_rate)) {
      dob = DobTypo(dob, options_.reference_date, rng);
    }
    if (!rng.Bernoulli(so.missing_rate / 2)) r.dob = FormatDate(dob, source);

    // Sex.
    const bool unknown = rng.Bernoulli(so.unknown_sex_rate);
    if (!rng.Bernoulli(so.missing_rate)) {
      const bool male = p.sex == Sex::kMale;
      switch (source) {
        case Source::kSchoolCensus:
          r.sex = male ? "M" : "F";
          break;
        case Source::kSocialCare:
          r.sex = unknown ? "Unknown" : male ? "Male" : "Female";
          break;
        case Source::kHealth:
          r.sex = unknown ? (rng.Bernoulli(0.5) ? "9" : "0") : male ? "1" : "2";
          break;
      }
    }

    // Postcode.
    std::string pc = p.postcode;
    if (!p.previous_postcode.empty() &&
        rng.Bernoulli(so.previous_postcode_rate)) {
      pc = p.previous_postcode;
    } else if (rng.Bernoulli(so.other_postcode_rate)) {
      const DistrictTable d = Districts();
      pc = MakePostcode(d.entries[PickDistrictInLa(p.la_code, rng)], rng);
    }
    if (rng.Bernoulli(so.postcode_format_rate)) {
      if (rng.Bernoulli(0.5)) {
        pc = ToLower(pc);
      } else {
        pc.erase(pc.find(' '), 1);
      }
    }
    if (!rng.Bernoulli(so.missing_rate)) r.postcode = std::move(pc);

    // Identifiers.
    if (!p.upn.empty() && rng.Bernoulli(so.upn_rate)) {
      r.upn = p.upn;
      if (rng.Bernoulli(so.upn_typo_rate)) {
        char wrong;
        do {
          wrong = kUpnCheckLetters[rng.Uniform(kUpnCheckLetters.size())];
        } while (wrong == r.upn[0]);
        r.upn[0] = wrong;
      }
    }
    if (rng.Bernoulli(so.nhs_rate)) {
      r.nhs_number = p.nhs_number;
      if (rng.Bernoulli(so.nhs_spaced_rate)) {
        r.nhs_number = absl::StrCat(p.nhs_number.substr(0, 3), " ",
                                    p.nhs_number.substr(3, 3), " ",
                                    p.nhs_number.substr(6));
      }
    }
    return r;
  }

  const Options options_;
  uint64_t id_keys_[kNumSources];
  uint64_t counters_[kNumSources] = {0, 0, 0};
  uint64_t added_counters_[kNumSources] = {0, 0, 0};
};

RecordExtractor::RecordExtractor(const Options& options)
    : impl_(std::make_unique<Impl>(options)) {}
RecordExtractor::~RecordExtractor() = default;
void RecordExtractor::Extract(const Person& person,
                              std::vector<SourceRecord>* records) {
  impl_->Extract(person, records);
}

// ------------------------------------------------------------------ drivers

Population GeneratePopulation(const Options& options) {
  Population pop;
  PopulationGenerator gen(options);
  RecordExtractor extractor(options);
  Person person;
  std::vector<SourceRecord> records;
  while (gen.Next(&person)) {
    extractor.Extract(person, &records);
    for (SourceRecord& r : records) pop.records.push_back(std::move(r));
    pop.people.push_back(person);
  }
  return pop;
}

namespace {

// A buffered output file that remembers the first error.
class OutFile {
 public:
  ~OutFile() {
    if (f_ != nullptr) std::fclose(f_);
  }
  absl::Status Open(const std::string& path) {
    path_ = path;
    f_ = std::fopen(path.c_str(), "wb");
    if (f_ == nullptr) {
      return absl::InternalError(absl::StrCat("cannot create ", path));
    }
    buf_.reserve(kFlushAt + 256);
    return absl::OkStatus();
  }
  void Line(std::string_view line) {
    buf_.append(line);
    buf_.push_back('\n');
    if (buf_.size() >= kFlushAt) Flush();
  }
  absl::Status Close() {
    Flush();
    const bool close_ok = std::fclose(f_) == 0;
    f_ = nullptr;
    if (!ok_ || !close_ok) {
      return absl::InternalError(absl::StrCat("cannot write ", path_));
    }
    return absl::OkStatus();
  }

 private:
  static constexpr size_t kFlushAt = 1 << 20;
  void Flush() {
    if (!buf_.empty() &&
        std::fwrite(buf_.data(), 1, buf_.size(), f_) != buf_.size()) {
      ok_ = false;
    }
    buf_.clear();
  }
  std::FILE* f_ = nullptr;
  std::string path_;
  std::string buf_;
  bool ok_ = true;
};

}  // namespace

absl::StatusOr<WriteSummary> WritePopulation(const Options& options,
                                             const std::string& dir) {
  absl::Status valid = ValidateOptions(options);
  if (!valid.ok()) return valid;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return absl::InternalError(absl::StrCat("cannot create directory ", dir));

  OutFile files[kNumSources];
  OutFile truth;
  for (int s = 0; s < kNumSources; ++s) {
    const auto source = static_cast<Source>(s);
    absl::Status st = files[s].Open(
        absl::StrCat(dir, "/", std::string(SourceName(source)), ".csv"));
    if (!st.ok()) return st;
    files[s].Line(CsvHeader(source));
  }
  absl::Status st = truth.Open(absl::StrCat(dir, "/truth.csv"));
  if (!st.ok()) return st;
  truth.Line("source,record_id,person_id,origin");

  WriteSummary summary;
  PopulationGenerator gen(options);
  RecordExtractor extractor(options);
  Person person;
  std::vector<SourceRecord> records;
  std::string line;
  while (gen.Next(&person)) {
    ++summary.people;
    extractor.Extract(person, &records);
    for (const SourceRecord& r : records) {
      const int s = static_cast<int>(r.source);
      files[s].Line(CsvLine(r));
      ++summary.records[s];
      line.clear();
      absl::StrAppend(&line, std::string(SourceName(r.source)), ",",
                      r.record_id, ",", r.person_id, ",",
                      std::string(OriginName(person.origin)));
      truth.Line(line);
    }
  }
  for (OutFile& f : files) {
    absl::Status c = f.Close();
    if (!c.ok()) return c;
  }
  absl::Status c = truth.Close();
  if (!c.ok()) return c;
  return summary;
}

}  // namespace linkd::synth
