#include "tests/testing/synth/identifiers.h"

namespace linkd::synth {
namespace {

bool AllDigits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

char UpnCheckLetter(std::string_view tail) {
  if (tail.size() != 12 || !AllDigits(tail)) return '?';
  int sum = 0;
  for (int i = 0; i < 12; ++i) sum += (i + 2) * (tail[i] - '0');
  return kUpnCheckLetters[sum % 23];
}

bool IsValidUpn(std::string_view upn) {
  if (upn.size() != 13) return false;
  const char check = UpnCheckLetter(upn.substr(1));
  return check != '?' && check == upn[0];
}

int NhsCheckDigit(std::string_view first9) {
  if (first9.size() != 9 || !AllDigits(first9)) return -1;
  int sum = 0;
  for (int i = 0; i < 9; ++i) sum += (10 - i) * (first9[i] - '0');
  const int check = 11 - sum % 11;
  return check == 11 ? 0 : check;
}

bool IsValidNhsNumber(std::string_view nhs) {
  std::string digits;
  for (char c : nhs) {
    if (c != ' ') digits.push_back(c);
  }
  if (digits.size() != 10 || !AllDigits(digits)) return false;
  const int check = NhsCheckDigit(std::string_view(digits).substr(0, 9));
  return check >= 0 && check <= 9 && check == digits[9] - '0';
}

bool IsPlaceholderIdentifier(std::string_view value) {
  for (std::string_view p : kUpnPlaceholders) {
    if (p == value) return true;
  }
  for (std::string_view p : kNhsPlaceholders) {
    if (p == value) return true;
  }
  return false;
}

}  // namespace linkd::synth
