// Encoding v1 (crypto/ENCODING.md). Speed: each sub-key's BLAKE2b state is
// initialised once (which absorbs the 128-byte key block) and copied for
// every hash, so a short token or Bloom bigram costs one compression.
#include "crypto/encoder.h"

#include <sodium.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace linkd::crypto {
namespace {

enum TokenLabel {
  kUpn = 0,
  kNhsNumber,
  kDob,
  kDobYearMonth,
  kDobYearDay,
  kDobMonthDay,
  kDobUnordered,
  kBirthYear,
  kSex,
  kPostcodeUnit,
  kPostcodeSector,
  kPostcodeDistrict,
  kNumTokenLabels,
};

constexpr std::array<std::string_view, kNumTokenLabels> kTokenLabels = {
    "upn",
    "nhs_number",
    "dob",
    "dob_year_month",
    "dob_year_day",
    "dob_month_day",
    "dob_unordered",
    "birth_year",
    "sex",
    "postcode_unit",
    "postcode_sector",
    "postcode_district"};
constexpr std::string_view kNameBfLabel = "name_bf";
constexpr std::string_view kDomain = "linkd-enc-v1:";
constexpr size_t kBloomHashBytes = 64;
constexpr int kBloomK = 20;
constexpr uint8_t kSaltSeparator = 0x1F;

constexpr std::array<std::string_view, kNumFields> kFieldNames = {
    "given_name", "family_name", "dob", "sex", "postcode", "upn", "nhs_number"};

// Keyed BLAKE2b with `out_len` bytes of output, over `message`.
void KeyedHash(const uint8_t* key, size_t key_len, std::string_view message,
               uint8_t* out, size_t out_len) {
  crypto_generichash(out, out_len,
                     reinterpret_cast<const uint8_t*>(message.data()),
                     message.size(), key, key_len);
}

Date TodayUtc() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  return Date{tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday};
}

std::string Two(int v) {
  return std::string{static_cast<char>('0' + v / 10 % 10),
                     static_cast<char>('0' + v % 10)};
}
std::string Four(int v) { return Two(v / 100) + Two(v % 100); }

bool Blank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

}  // namespace

struct Encoder::Keys {
  // Initialised with subkey(label) and a 32-byte output length.
  std::array<crypto_generichash_state, kNumTokenLabels> token;
  // Initialised with subkey("name_bf") and a 64-byte output length.
  crypto_generichash_state name_bf;

  ~Keys() { sodium_memzero(this, sizeof(*this)); }

  Token Hash(TokenLabel label, std::string_view value) const {
    crypto_generichash_state st = token[label];
    crypto_generichash_update(
        &st, reinterpret_cast<const uint8_t*>(value.data()), value.size());
    Token out;
    crypto_generichash_final(&st, out.data(), out.size());
    sodium_memzero(&st, sizeof(st));
    return out;
  }

  // Sets the bits of every bigram of every part of `parts`.
  BloomFilter Bloom(const std::vector<std::string>& parts,
                    std::string_view salt) const {
    BloomFilter bf{};
    // message = salt || 0x1F || bigram. The prefix is absorbed once per
    // call: BLAKE2b keeps the key block buffered until input follows it, so
    // absorbing the prefix compresses the key block here rather than once
    // per bigram, halving the work per bigram. Outputs are unchanged.
    std::array<uint8_t, 32> prefix;
    std::memcpy(prefix.data(), salt.data(), salt.size());
    prefix[salt.size()] = kSaltSeparator;
    crypto_generichash_state salted = name_bf;
    crypto_generichash_update(&salted, prefix.data(), salt.size() + 1);
    std::array<uint8_t, kBloomHashBytes> h;
    for (const std::string& part : parts) {
      const std::string padded = "_" + part + "_";
      for (size_t i = 0; i + 1 < padded.size(); ++i) {
        const uint8_t bigram[2] = {static_cast<uint8_t>(padded[i]),
                                   static_cast<uint8_t>(padded[i + 1])};
        crypto_generichash_state st = salted;
        crypto_generichash_update(&st, bigram, sizeof(bigram));
        crypto_generichash_final(&st, h.data(), h.size());
        for (int k = 0; k < kBloomK; ++k) {
          const uint32_t pos =
              (h[2 * k] | (static_cast<uint32_t>(h[2 * k + 1]) << 8)) %
              kBloomBits;
          bf[pos / 8] |= static_cast<uint8_t>(1u << (pos % 8));
        }
      }
    }
    sodium_memzero(h.data(), h.size());
    sodium_memzero(&salted, sizeof(salted));
    return bf;
  }
};

std::string_view FieldName(Field field) {
  const int i = static_cast<int>(field);
  return i >= 0 && i < kNumFields ? kFieldNames[i] : std::string_view("?");
}

absl::StatusOr<Field> FieldFromName(std::string_view name) {
  for (int i = 0; i < kNumFields; ++i) {
    if (kFieldNames[i] == name) return static_cast<Field>(i);
  }
  return absl::InvalidArgumentError("unknown field name");
}

Encoder::Encoder(const LinkageKey& key, EncodeOptions options)
    : keys_(std::make_unique<Keys>()),
      options_(std::move(options)),
      key_version_(key.version()) {
  // Picks the fastest BLAKE2b implementation; results are identical either
  // way, so a failure here is not fatal (crypto::Init() reports it).
  [[maybe_unused]] const int sodium_rc = sodium_init();
  if (!options_.latest_dob.has_value()) options_.latest_dob = TodayUtc();

  const SecretBytes& k = key.bytes();
  KeyedHash(k.data(), k.size(), std::string(kDomain) + "key_check",
            key_check_.data(), key_check_.size());
  std::array<uint8_t, crypto_generichash_KEYBYTES> subkey;
  for (int i = 0; i < kNumTokenLabels; ++i) {
    KeyedHash(k.data(), k.size(), std::string(kDomain).append(kTokenLabels[i]),
              subkey.data(), subkey.size());
    crypto_generichash_init(&keys_->token[i], subkey.data(), subkey.size(),
                            kTokenBytes);
  }
  KeyedHash(k.data(), k.size(), std::string(kDomain).append(kNameBfLabel),
            subkey.data(), subkey.size());
  crypto_generichash_init(&keys_->name_bf, subkey.data(), subkey.size(),
                          kBloomHashBytes);
  sodium_memzero(subkey.data(), subkey.size());
}

Encoder::~Encoder() = default;

EncodedIdentity Encoder::Encode(const ClearIdentity& in,
                                std::vector<FieldIssue>* issues) const {
  EncodedIdentity out;
  out.encoding_version = kEncodingVersion;
  out.key_version = key_version_;
  out.key_check = key_check_;
  const auto issue = [issues](Field f, const absl::Status& s) {
    if (issues != nullptr) issues->push_back({f, std::string(s.message())});
  };

  // Names are normalised first but hashed after the date of birth, whose
  // dob_unordered string salts them.
  absl::StatusOr<std::vector<std::string>> given, family;
  if (!Blank(in.given_name)) {
    given = NormalizeName(in.given_name);
    if (!given.ok()) issue(Field::kGivenName, given.status());
  }
  if (!Blank(in.family_name)) {
    family = NormalizeName(in.family_name);
    if (!family.ok()) issue(Field::kFamilyName, family.status());
  }

  std::string salt;
  if (!Blank(in.dob)) {
    absl::StatusOr<Date> d = NormalizeDateOfBirth(in.dob, options_.date_format,
                                                  *options_.latest_dob);
    if (d.ok()) {
      const std::string y = Four(d->year), m = Two(d->month), dd = Two(d->day);
      const int lo = d->month < d->day ? d->month : d->day;
      const int hi = d->month < d->day ? d->day : d->month;
      salt = y + "-" + Two(lo) + "-" + Two(hi);
      out.dob = keys_->Hash(kDob, y + "-" + m + "-" + dd);
      out.dob_year_month = keys_->Hash(kDobYearMonth, y + "-" + m);
      out.dob_year_day = keys_->Hash(kDobYearDay, y + "-" + dd);
      out.dob_month_day = keys_->Hash(kDobMonthDay, m + "-" + dd);
      out.dob_unordered = keys_->Hash(kDobUnordered, salt);
      out.birth_year = keys_->Hash(kBirthYear, y);
    } else {
      issue(Field::kDob, d.status());
    }
  }
  if (given.ok()) out.given_name_bf = keys_->Bloom(*given, salt);
  if (family.ok()) out.family_name_bf = keys_->Bloom(*family, salt);

  if (!Blank(in.sex)) {
    absl::StatusOr<char> s = NormalizeSex(in.sex);
    if (s.ok()) {
      out.sex = keys_->Hash(kSex, std::string(1, *s));
    } else {
      issue(Field::kSex, s.status());
    }
  }
  if (!Blank(in.postcode)) {
    absl::StatusOr<Postcode> pc = NormalizePostcode(in.postcode);
    if (pc.ok()) {
      out.postcode_unit = keys_->Hash(kPostcodeUnit, pc->unit);
      out.postcode_sector = keys_->Hash(kPostcodeSector, pc->sector);
      out.postcode_district = keys_->Hash(kPostcodeDistrict, pc->district);
    } else {
      issue(Field::kPostcode, pc.status());
    }
  }
  if (!Blank(in.upn)) {
    absl::StatusOr<std::string> upn = NormalizeUpn(in.upn);
    if (upn.ok()) {
      out.upn = keys_->Hash(kUpn, *upn);
    } else {
      issue(Field::kUpn, upn.status());
    }
  }
  if (!Blank(in.nhs_number)) {
    absl::StatusOr<std::string> nhs = NormalizeNhsNumber(in.nhs_number);
    if (nhs.ok()) {
      out.nhs_number = keys_->Hash(kNhsNumber, *nhs);
    } else {
      issue(Field::kNhsNumber, nhs.status());
    }
  }
  return out;
}

double Dice(const BloomFilter& a, const BloomFilter& b) {
  uint64_t both = 0, total = 0;
  for (size_t i = 0; i < kBloomBytes; i += 8) {
    uint64_t x, y;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    both += static_cast<uint64_t>(__builtin_popcountll(x & y));
    total += static_cast<uint64_t>(__builtin_popcountll(x)) +
             static_cast<uint64_t>(__builtin_popcountll(y));
  }
  return total == 0
             ? 0.0
             : 2.0 * static_cast<double>(both) / static_cast<double>(total);
}

}  // namespace linkd::crypto
