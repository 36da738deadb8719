#include "linkd/linker/sui.h"

#include <sodium.h>

#include <array>

#include "absl/strings/ascii.h"

namespace linkd::linker {
namespace {

constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr int kDataChars = 12;  // 60 bits

// Crockford decoding, -1 for characters that are not base-32 digits.
int Decode(char c) {
  c = absl::ascii_toupper(c);
  if (c == 'I' || c == 'L') return 1;
  if (c == 'O') return 0;
  for (int i = 0; i < 32; ++i) {
    if (kAlphabet[i] == c) return i;
  }
  return -1;
}

// Luhn mod N (N = 32) check digit over `digits`, most significant first.
int LuhnCheck(const std::array<int, kDataChars>& digits) {
  int sum = 0;
  bool twice = true;  // the rightmost data digit is doubled
  for (int i = kDataChars - 1; i >= 0; --i) {
    int v = digits[i];
    if (twice) {
      v *= 2;
      v = v / 32 + v % 32;
    }
    sum += v;
    twice = !twice;
  }
  return (32 - sum % 32) % 32;
}

std::array<int, kDataChars> Digits(uint64_t bits) {
  std::array<int, kDataChars> d{};
  for (int i = kDataChars - 1; i >= 0; --i) {
    d[i] = static_cast<int>(bits & 31);
    bits >>= 5;
  }
  return d;
}

}  // namespace

absl::StatusOr<Sui> Sui::FromBits(uint64_t bits) {
  if (bits == 0 || (bits & ~kMask) != 0) {
    return absl::InvalidArgumentError("sui: value out of range");
  }
  return Sui(bits);
}

absl::StatusOr<Sui> Sui::Parse(std::string_view text) {
  std::array<int, kDataChars + 1> d{};
  int n = 0;
  for (char c : text) {
    if (c == '-' || c == ' ') continue;
    const int v = Decode(c);
    if (v < 0) {
      return absl::InvalidArgumentError("sui: not a base-32 character");
    }
    if (n == kDataChars + 1) {
      return absl::InvalidArgumentError("sui: must have 13 characters");
    }
    d[n++] = v;
  }
  if (n != kDataChars + 1) {
    return absl::InvalidArgumentError("sui: must have 13 characters");
  }
  std::array<int, kDataChars> data;
  uint64_t bits = 0;
  for (int i = 0; i < kDataChars; ++i) {
    data[i] = d[i];
    bits = (bits << 5) | static_cast<uint64_t>(d[i]);
  }
  if (LuhnCheck(data) != d[kDataChars]) {
    return absl::InvalidArgumentError("sui: check character mismatch");
  }
  return FromBits(bits);
}

Sui Sui::Random() {
  for (;;) {
    uint64_t bits = 0;
    randombytes_buf(&bits, sizeof(bits));
    bits &= kMask;
    if (bits != 0) return Sui(bits);
  }
}

std::string Sui::ToString() const {
  const std::array<int, kDataChars> d = Digits(bits_);
  std::string out;
  out.reserve(16);
  for (int i = 0; i < kDataChars; ++i) {
    if (i > 0 && i % 4 == 0) out.push_back('-');
    out.push_back(kAlphabet[d[i]]);
  }
  out.push_back('-');
  out.push_back(kAlphabet[LuhnCheck(d)]);
  return out;
}

}  // namespace linkd::linker
