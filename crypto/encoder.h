// linkd::crypto encoder: turns one person's clear identifiers into the
// versioned encoding of crypto/ENCODING.md (keyed tokens and hardened Bloom
// filters). This is the only code that sees clear identifiers; it depends on
// libsodium and abseil alone so that data providers can link it by itself.
#ifndef LINKD_CRYPTO_ENCODER_H_
#define LINKD_CRYPTO_ENCODER_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/linkage_key.h"
#include "crypto/normalize.h"

namespace linkd::crypto {

// Version of crypto/ENCODING.md implemented here. Version 2 adds the
// postcode-salted name filters and drops the unsalted ones of version 1.
inline constexpr uint32_t kEncodingVersion = 2;
inline constexpr size_t kTokenBytes = 32;
inline constexpr size_t kBloomBits = 1024;
inline constexpr size_t kBloomBytes = kBloomBits / 8;
inline constexpr size_t kKeyCheckBytes = 8;

using Token = std::array<uint8_t, kTokenBytes>;
using BloomFilter = std::array<uint8_t, kBloomBytes>;

// The identifier fields an encoder accepts, in a fixed order.
enum class Field {
  kGivenName = 0,
  kFamilyName,
  kDob,
  kSex,
  kPostcode,
  kUpn,
  kNhsNumber,
};
inline constexpr int kNumFields = 7;

// Stable lower-case name of a field as used on the command line, in summaries
// and in ENCODING.md ("given_name", "family_name", "dob", "sex", "postcode",
// "upn", "nhs_number").
std::string_view FieldName(Field field);

// The Field named `name` (as FieldName() spells it); INVALID_ARGUMENT if
// there is none.
absl::StatusOr<Field> FieldFromName(std::string_view name);

// One person's clear identifiers as a provider holds them. An empty string
// means absent.
struct ClearIdentity {
  std::string given_name;
  std::string family_name;
  std::string dob;
  std::string sex;
  std::string postcode;
  std::string upn;
  std::string nhs_number;
};

// The encoding of one identity. Absent optionals mean "missing" (neutral in
// comparison). Contains no clear value.
//
// Name filters (ENCODING.md section 6) come in two salt families, and a
// filter exists only when both its name and its salt field are valid:
//  - given_name_bf, family_name_bf: salted with the date of birth
//    (dob_unordered), so present only with a valid date of birth;
//  - given_name_pc_bf, family_name_pc_bf: salted with the postcode unit, so
//    present only with a valid postcode.
// No filter is ever built without a salt: a name with neither a valid date of
// birth nor a valid postcode is not encoded at all.
struct EncodedIdentity {
  uint32_t encoding_version = kEncodingVersion;
  uint32_t key_version = 0;
  std::array<uint8_t, kKeyCheckBytes> key_check{};

  std::optional<Token> upn;
  std::optional<Token> nhs_number;
  std::optional<Token> dob;
  std::optional<Token> dob_year_month;
  std::optional<Token> dob_year_day;
  std::optional<Token> dob_month_day;
  std::optional<Token> dob_unordered;
  std::optional<Token> birth_year;
  std::optional<Token> sex;
  std::optional<Token> postcode_unit;
  std::optional<Token> postcode_sector;
  std::optional<Token> postcode_district;

  std::optional<BloomFilter> given_name_bf;
  std::optional<BloomFilter> family_name_bf;
  std::optional<BloomFilter> given_name_pc_bf;
  std::optional<BloomFilter> family_name_pc_bf;
};

// A field that was present but not encoded. `reason` is a fixed phrase from
// normalize.h (for example "check letter mismatch"); it never contains the
// value.
struct FieldIssue {
  Field field;
  std::string reason;
};

struct EncodeOptions {
  DateFormat date_format = DateFormat::Auto();
  // Latest acceptable date of birth (later ones are refused as "date in the
  // future"). Unset means today's UTC date, taken when the Encoder is
  // constructed.
  std::optional<Date> latest_dob;
};

// Encodes identities under one linkage key. Immutable after construction and
// safe for concurrent use by several threads.
class Encoder {
 public:
  // Derives the per-field sub-keys from `key`. `key` need not outlive this.
  explicit Encoder(const LinkageKey& key, EncodeOptions options = {});
  ~Encoder();
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  // Encodes `in`. A field is present when it holds a non-blank string.
  // Every present field that fails normalisation or validation (including
  // a sex "stated as not known") is left out of the result and appended to
  // `*issues` (which may be null) in Field order. A valid name whose salts
  // are both missing or refused is not an issue, but yields no filter.
  // Thread-safe.
  EncodedIdentity Encode(const ClearIdentity& in,
                         std::vector<FieldIssue>* issues) const;

  uint32_t key_version() const { return key_version_; }
  const std::array<uint8_t, kKeyCheckBytes>& key_check() const {
    return key_check_;
  }
  // The options in force; latest_dob is always set.
  const EncodeOptions& options() const { return options_; }

 private:
  struct Keys;
  std::unique_ptr<Keys> keys_;
  EncodeOptions options_;
  uint32_t key_version_;
  std::array<uint8_t, kKeyCheckBytes> key_check_;
};

// Dice coefficient of two Bloom filters, 2|A&B| / (|A|+|B|), computed with
// popcount. Returns 0 when both are empty.
double Dice(const BloomFilter& a, const BloomFilter& b);

}  // namespace linkd::crypto

#endif  // LINKD_CRYPTO_ENCODER_H_
