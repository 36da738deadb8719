// Synthetic people for tests and benchmarks of linkd::encode: made-up names,
// dates, postcodes and check-valid (but random) UPNs and NHS numbers. Never
// real personal data. Deterministic for a given seed.
#ifndef LINKD_ENCODE_TESTING_SYNTHETIC_PEOPLE_H_
#define LINKD_ENCODE_TESTING_SYNTHETIC_PEOPLE_H_

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace linkd::encode::testing {

// One synthetic person, as a provider would hold them.
struct SyntheticPerson {
  std::string record_id;    // "R" + 7 digits, never an identifier
  std::string given_name;   // capitalised, 7+ letters, e.g. "Valorinet"
  std::string family_name;  // capitalised, 7+ letters
  int year = 0, month = 0, day = 0;
  std::string dob;         // ISO 8601, YYYY-MM-DD
  std::string sex;         // "M" or "F"
  std::string postcode;    // "AB1 2CD" shape, passes crypto validation
  std::string upn;         // 13 characters with a correct check letter
  std::string nhs_number;  // 10 digits with a correct check digit
};

// Generates people. Not thread-safe.
class SyntheticPeople {
 public:
  explicit SyntheticPeople(uint32_t seed) : rng_(seed) {}

  SyntheticPerson Next();

  // A made-up name of `min_letters` or more letters, capitalised.
  std::string Name(size_t min_letters);
  // A UPN with a correct check letter (DfE algorithm).
  std::string Upn();
  // A UPN whose check letter is wrong.
  std::string BadUpn();
  // An NHS number with a correct modulus-11 check digit.
  std::string NhsNumber();
  // An NHS number whose check digit is wrong.
  std::string BadNhsNumber();
  // A postcode of the shape "AA9 9AA" that passes validation.
  std::string Postcode();

  std::mt19937& rng() { return rng_; }

 private:
  int Uniform(int lo, int hi) {  // inclusive
    return std::uniform_int_distribution<int>(lo, hi)(rng_);
  }
  std::mt19937 rng_;
  int64_t next_id_ = 1;
};

// The DfE check letter for the 12 characters after it.
char UpnCheckLetter(std::string_view twelve);
// The NHS check digit for 9 digits, or -1 if none is valid.
int NhsCheckDigit(std::string_view nine);

// A CSV field, quoted when needed (RFC 4180).
std::string CsvField(std::string_view value);
// A CSV line (with LF) from fields.
std::string CsvLine(const std::vector<std::string>& fields);

// Header and row for the standard column layout used by the tests:
// record_id,given_name,family_name,dob,sex,postcode,upn,nhs_number.
std::string StandardCsvHeader();
std::string StandardCsvRow(const SyntheticPerson& person);

}  // namespace linkd::encode::testing

#endif  // LINKD_ENCODE_TESTING_SYNTHETIC_PEOPLE_H_
