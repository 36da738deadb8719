// Embedded frequency tables for the synthetic population: given names by sex
// and family names, each split by the cultural origin the generator draws a
// household from; a nickname/variant table; and the fictitious postcode
// districts. The weights are relative frequencies within one table, shaped
// like the ONS baby-name and surname rank-frequency curves of England
// (Zipf-like, approximate). They are public aggregate statistics written
// from general knowledge, not personal data. All data is immutable; every
// function is thread-safe.
#ifndef LINKD_TESTS_TESTING_SYNTH_NAME_TABLES_H_
#define LINKD_TESTS_TESTING_SYNTH_NAME_TABLES_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace linkd::synth {

// The origin of a household's names. The order is used to index tables.
enum class Origin {
  kEnglish = 0,
  kIrish,
  kScottish,
  kWelsh,
  kSouthAsian,
  kEasternEuropean,
  kWestAfrican,
  kArabicSomali,
  kChinese,
  kCaribbean,
};
inline constexpr int kNumOrigins = 10;

// Stable lower-case name of an origin ("english", "south_asian", ...).
std::string_view OriginName(Origin origin);

struct NameWeight {
  const char* name;  // UTF-8, as registered (may carry diacritics, ' and -)
  uint32_t weight;   // relative frequency within its table, >= 1
};

// A view of one static table.
struct NameTable {
  const NameWeight* entries = nullptr;
  size_t size = 0;
};

NameTable BoysNames(Origin origin);
NameTable GirlsNames(Origin origin);
NameTable FamilyNames(Origin origin);

// Nicknames and spelling variants: `variants` lists the alternatives of
// `name` separated by '|'.
struct NameVariants {
  const char* name;
  const char* variants;
};
struct NicknameTable {
  const NameVariants* entries = nullptr;
  size_t size = 0;
};
NicknameTable Nicknames();

// Roots and endings from which rare English-style surnames ("Ashworth",
// "Thornley") are composed, giving the long tail of the surname
// distribution that a table of common names lacks.
struct Syllables {
  const char* const* items = nullptr;
  size_t size = 0;
};
Syllables SurnameRoots();
Syllables SurnameEndings();
// Syllables of rare, "creative" given names ("Kaylani", "Jaxon").
Syllables GivenNameStarts();
Syllables BoyNameEndings();
Syllables GirlNameEndings();

// A postcode district (outward code) of one of the local authorities the
// population lives in. `sectors` lists the sector digits in use.
struct District {
  const char* outward;  // "LS6"
  int la_code;          // DfE LA number, first three digits of a UPN
  uint32_t weight;      // relative number of households
  const char* sectors;  // e.g. "12345"
};
struct DistrictTable {
  const District* entries = nullptr;
  size_t size = 0;
};
DistrictTable Districts();

}  // namespace linkd::synth

#endif  // LINKD_TESTS_TESTING_SYNTH_NAME_TABLES_H_
