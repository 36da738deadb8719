// Single unique identifiers (SUIs): the opaque identity linkd gives each
// linked person. A SUI is 60 random bits written as 12 Crockford base-32
// characters plus one Luhn mod-32 check character, grouped for reading:
// "7K2M-9QXT-4HB3-R". Random, so it reveals nothing about the records or the
// order they arrived in; the check character catches any single mistyped
// character and most transpositions.
#ifndef LINKD_LINKER_SUI_H_
#define LINKD_LINKER_SUI_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace linkd::linker {

// A SUI's value. 0 is never a valid SUI.
class Sui {
 public:
  // The null SUI (bits 0): never issued, so it never names anyone.
  Sui() : bits_(0) {}
  bool valid() const { return bits_ != 0; }

  static constexpr uint64_t kMask = (uint64_t{1} << 60) - 1;

  // The SUI with these 60 bits; INVALID_ARGUMENT if `bits` is 0 or wider
  // than 60 bits.
  static absl::StatusOr<Sui> FromBits(uint64_t bits);

  // Parses the printed form. Case-insensitive; hyphens and spaces are
  // ignored; Crockford's readings I/L -> 1 and O -> 0 apply. Returns
  // INVALID_ARGUMENT naming the problem (wrong length, bad character, check
  // character mismatch); the message never echoes the input.
  static absl::StatusOr<Sui> Parse(std::string_view text);

  // A fresh SUI from libsodium's CSPRNG. The caller checks that it was never
  // used (Linker does so in the store).
  static Sui Random();

  uint64_t bits() const { return bits_; }
  // "XXXX-XXXX-XXXX-C".
  std::string ToString() const;

  friend bool operator==(Sui a, Sui b) { return a.bits_ == b.bits_; }
  friend bool operator!=(Sui a, Sui b) { return a.bits_ != b.bits_; }
  friend bool operator<(Sui a, Sui b) { return a.bits_ < b.bits_; }
  template <typename H>
  friend H AbslHashValue(H h, Sui s) {
    return H::combine(std::move(h), s.bits_);
  }

 private:
  explicit Sui(uint64_t bits) : bits_(bits) {}
  uint64_t bits_;
};

}  // namespace linkd::linker

#endif  // LINKD_LINKER_SUI_H_
