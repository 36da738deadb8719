#include "linkd/encode/testing/synthetic_people.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace linkd::encode::testing {
namespace {

constexpr std::string_view kUpnAlphabet = "ABCDEFGHJKLMNPQRTUVWXYZ";
constexpr const char* kOnsets[] = {"b",  "d",  "f",  "g",  "k",  "l",  "m",
                                   "n",  "p",  "r",  "s",  "t",  "v",  "z",
                                   "br", "dr", "gr", "kl", "st", "th", "vr"};
constexpr const char* kVowels[] = {"a", "e", "i", "o", "u", "ae", "io", "ou"};
constexpr const char* kCodas[] = {"", "", "n", "r", "l", "s", "x", "th"};

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30,
                                  31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

}  // namespace

char UpnCheckLetter(std::string_view twelve) {
  int sum = 0;
  for (size_t i = 0; i < 12; ++i) {
    const char c = twelve[i];
    const int value = (c >= '0' && c <= '9')
                          ? c - '0'
                          : static_cast<int>(kUpnAlphabet.find(c));
    sum += static_cast<int>(i + 2) * value;
  }
  return kUpnAlphabet[sum % 23];
}

int NhsCheckDigit(std::string_view nine) {
  int sum = 0;
  for (int i = 0; i < 9; ++i) sum += (10 - i) * (nine[i] - '0');
  int check = 11 - sum % 11;
  if (check == 11) check = 0;
  return check == 10 ? -1 : check;
}

std::string SyntheticPeople::Name(size_t min_letters) {
  std::string name;
  while (name.size() < min_letters) {
    name += kOnsets[Uniform(0, std::size(kOnsets) - 1)];
    name += kVowels[Uniform(0, std::size(kVowels) - 1)];
  }
  name += kCodas[Uniform(0, std::size(kCodas) - 1)];
  name[0] = static_cast<char>(name[0] - 'a' + 'A');
  return name;
}

std::string SyntheticPeople::Upn() {
  // LA code, establishment, year of allocation, serial.
  const std::string twelve =
      absl::StrFormat("%03d%04d%02d%03d", Uniform(201, 938),
                      Uniform(1000, 7999), Uniform(5, 22), Uniform(0, 999));
  return std::string(1, UpnCheckLetter(twelve)) + twelve;
}

std::string SyntheticPeople::BadUpn() {
  std::string upn = Upn();
  const size_t at = kUpnAlphabet.find(upn[0]);
  upn[0] = kUpnAlphabet[(at + 1 + Uniform(0, 20)) % 23];
  return upn;
}

std::string SyntheticPeople::NhsNumber() {
  while (true) {
    std::string nine =
        absl::StrFormat("%d%08d", Uniform(4, 7), Uniform(0, 99999999));
    const int check = NhsCheckDigit(nine);
    if (check < 0) continue;
    std::string number = nine + static_cast<char>('0' + check);
    if (number.find_first_not_of(number[0]) == std::string::npos) continue;
    return number;
  }
}

std::string SyntheticPeople::BadNhsNumber() {
  std::string number = NhsNumber();
  number[9] =
      static_cast<char>('0' + (number[9] - '0' + 1 + Uniform(0, 8)) % 10);
  return number;
}

std::string SyntheticPeople::Postcode() {
  static constexpr std::string_view kFirst = "ABDEFGHKLMNPRSTWY";
  static constexpr std::string_view kSecond = "ABDEHLMNPRSTWY";
  static constexpr std::string_view kInward = "ABDEFGHJLNPQRSTUWXYZ";
  auto pick = [this](std::string_view set) {
    return set[Uniform(0, static_cast<int>(set.size()) - 1)];
  };
  std::string pc;
  pc += pick(kFirst);
  pc += pick(kSecond);
  pc += static_cast<char>('1' + Uniform(0, 8));
  pc += ' ';
  pc += static_cast<char>('0' + Uniform(0, 9));
  pc += pick(kInward);
  pc += pick(kInward);
  return pc;
}

SyntheticPerson SyntheticPeople::Next() {
  SyntheticPerson p;
  p.record_id = absl::StrFormat("R%07d", next_id_++);
  p.given_name = Name(7);
  p.family_name = Name(8);
  p.year = Uniform(2005, 2020);
  p.month = Uniform(1, 12);
  p.day = Uniform(1, DaysInMonth(p.year, p.month));
  p.dob = absl::StrFormat("%04d-%02d-%02d", p.year, p.month, p.day);
  p.sex = Uniform(0, 1) == 0 ? "M" : "F";
  p.postcode = Postcode();
  p.upn = Upn();
  p.nhs_number = NhsNumber();
  return p;
}

std::string CsvField(std::string_view value) {
  if (value.find_first_of(",\"\r\n") == std::string_view::npos) {
    return std::string(value);
  }
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string CsvLine(const std::vector<std::string>& fields) {
  std::vector<std::string> quoted;
  quoted.reserve(fields.size());
  for (const std::string& f : fields) quoted.push_back(CsvField(f));
  return absl::StrCat(absl::StrJoin(quoted, ","), "\n");
}

std::string StandardCsvHeader() {
  return "record_id,given_name,family_name,dob,sex,postcode,upn,nhs_number\n";
}

std::string StandardCsvRow(const SyntheticPerson& p) {
  return CsvLine({p.record_id, p.given_name, p.family_name, p.dob, p.sex,
                  p.postcode, p.upn, p.nhs_number});
}

}  // namespace linkd::encode::testing
