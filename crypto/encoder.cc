// Encoding v2 (crypto/ENCODING.md). Speed: every hash of the encoding is a
// keyed BLAKE2b of a message shorter than one block. internal::Blake2bKey
// holds each sub-key's state after its key block, so a hash costs one
// compression, and all hashes of one record (tokens and every Bloom bigram
// under both salts) go to internal::Blake2bBatch together, which computes
// them several at a time in SIMD lanes where the CPU allows.
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

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "crypto/internal/blake2b.h"

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
constexpr std::string_view kDomain = "linkd-enc-v2:";
constexpr size_t kBloomHashBytes = 64;
constexpr int kBloomK = 20;
constexpr uint8_t kSaltSeparator = 0x1F;
// Salt tags (ENCODING.md 6): the two salt families can never give the same
// hashed message, whatever their values.
constexpr std::string_view kDobSaltTag = "dob:";
constexpr std::string_view kPostcodeSaltTag = "pc:";
// Longest salted prefix, tag || value || 0x1F: "dob:" + "YYYY-aa-bb" + 1 =
// 15 bytes; "pc:" + "AA9A 9AA" + 1 = 12 bytes.
constexpr size_t kMaxSaltPrefixBytes = 16;

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
  // subkey(label) after its key block, with 32-byte digests.
  std::array<internal::Blake2bKey, kNumTokenLabels> token;
  // subkey("name_bf") after its key block, with 64-byte digests.
  internal::Blake2bKey name_bf;

  ~Keys() { sodium_memzero(this, sizeof(*this)); }
};

namespace {

// A salt's hashed prefix, tag || value || 0x1F.
struct SaltPrefix {
  std::array<uint8_t, kMaxSaltPrefixBytes> bytes{};
  size_t size = 0;

  SaltPrefix(std::string_view tag, std::string_view value) {
    std::memcpy(bytes.data(), tag.data(), tag.size());
    std::memcpy(bytes.data() + tag.size(), value.data(), value.size());
    size = tag.size() + value.size();
    bytes[size++] = kSaltSeparator;
  }
};

// One bigram of a name part to hash into `filter` under `salt`.
struct Bigram {
  BloomFilter* filter;
  const SaltPrefix* salt;
  uint8_t bytes[2];
};

// Appends every bigram of `parts` ("_" || part || "_", duplicates included)
// for a filter under `salt`.
template <typename Vec>
void AddBigrams(const std::vector<std::string>& parts, const SaltPrefix& salt,
                BloomFilter* filter, Vec* out) {
  for (const std::string& part : parts) {
    uint8_t prev = '_';
    for (char c : part) {
      out->push_back({filter, &salt, {prev, static_cast<uint8_t>(c)}});
      prev = static_cast<uint8_t>(c);
    }
    out->push_back({filter, &salt, {prev, '_'}});
  }
}

}  // namespace

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
    internal::InitBlake2bKey(subkey.data(), subkey.size(), kTokenBytes,
                             &keys_->token[i]);
  }
  KeyedHash(k.data(), k.size(), std::string(kDomain).append(kNameBfLabel),
            subkey.data(), subkey.size());
  internal::InitBlake2bKey(subkey.data(), subkey.size(), kBloomHashBytes,
                           &keys_->name_bf);
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

  // Every field is normalised first (issues come out in Field order); the
  // hashes are then computed in one batch. Each job writes its token into
  // `out` directly, or a bigram's hash into `bigram_hashes`.
  absl::InlinedVector<internal::Blake2bJob, 64> jobs;
  const auto token = [&](TokenLabel label, const std::string& value,
                         std::optional<Token>* slot) {
    slot->emplace();
    jobs.push_back({&keys_->token[label],
                    reinterpret_cast<const uint8_t*>(value.data()),
                    value.size(), nullptr, 0, (*slot)->data()});
  };

  absl::StatusOr<std::vector<std::string>> given, family;
  if (!Blank(in.given_name)) {
    given = NormalizeName(in.given_name);
    if (!given.ok()) issue(Field::kGivenName, given.status());
  }
  if (!Blank(in.family_name)) {
    family = NormalizeName(in.family_name);
    if (!family.ok()) issue(Field::kFamilyName, family.status());
  }

  // Canonical values; they must outlive the batch below.
  std::string dob, dob_ym, dob_yd, dob_md, dob_unordered, year, sex;
  std::string unit, sector, district, upn, nhs;
  std::optional<SaltPrefix> dob_salt, pc_salt;
  if (!Blank(in.dob)) {
    absl::StatusOr<Date> d = NormalizeDateOfBirth(in.dob, options_.date_format,
                                                  *options_.latest_dob);
    if (d.ok()) {
      year = Four(d->year);
      const std::string m = Two(d->month), dd = Two(d->day);
      const int lo = d->month < d->day ? d->month : d->day;
      const int hi = d->month < d->day ? d->day : d->month;
      dob = year + "-" + m + "-" + dd;
      dob_ym = year + "-" + m;
      dob_yd = year + "-" + dd;
      dob_md = m + "-" + dd;
      dob_unordered = year + "-" + Two(lo) + "-" + Two(hi);
      token(kDob, dob, &out.dob);
      token(kDobYearMonth, dob_ym, &out.dob_year_month);
      token(kDobYearDay, dob_yd, &out.dob_year_day);
      token(kDobMonthDay, dob_md, &out.dob_month_day);
      token(kDobUnordered, dob_unordered, &out.dob_unordered);
      token(kBirthYear, year, &out.birth_year);
      dob_salt.emplace(kDobSaltTag, dob_unordered);
    } else {
      issue(Field::kDob, d.status());
    }
  }
  if (!Blank(in.sex)) {
    absl::StatusOr<char> s = NormalizeSex(in.sex);
    if (s.ok()) {
      sex.assign(1, *s);
      token(kSex, sex, &out.sex);
    } else {
      issue(Field::kSex, s.status());
    }
  }
  if (!Blank(in.postcode)) {
    absl::StatusOr<Postcode> pc = NormalizePostcode(in.postcode);
    if (pc.ok()) {
      unit = std::move(pc->unit);
      sector = std::move(pc->sector);
      district = std::move(pc->district);
      token(kPostcodeUnit, unit, &out.postcode_unit);
      token(kPostcodeSector, sector, &out.postcode_sector);
      token(kPostcodeDistrict, district, &out.postcode_district);
      pc_salt.emplace(kPostcodeSaltTag, unit);
    } else {
      issue(Field::kPostcode, pc.status());
    }
  }
  if (!Blank(in.upn)) {
    absl::StatusOr<std::string> u = NormalizeUpn(in.upn);
    if (u.ok()) {
      upn = std::move(*u);
      token(kUpn, upn, &out.upn);
    } else {
      issue(Field::kUpn, u.status());
    }
  }
  if (!Blank(in.nhs_number)) {
    absl::StatusOr<std::string> n = NormalizeNhsNumber(in.nhs_number);
    if (n.ok()) {
      nhs = std::move(*n);
      token(kNhsNumber, nhs, &out.nhs_number);
    } else {
      issue(Field::kNhsNumber, n.status());
    }
  }

  // Name filters exist only under a salt (ENCODING.md 6): the date of birth
  // for *_name_bf, the postcode unit for *_name_pc_bf.
  absl::InlinedVector<Bigram, 64> bigrams;
  const auto filter = [&](const absl::StatusOr<std::vector<std::string>>& name,
                          const std::optional<SaltPrefix>& salt,
                          std::optional<BloomFilter>* slot) {
    if (!name.ok() || !salt.has_value()) return;
    slot->emplace();  // all bits clear
    AddBigrams(*name, *salt, &**slot, &bigrams);
  };
  filter(given, dob_salt, &out.given_name_bf);
  filter(family, dob_salt, &out.family_name_bf);
  filter(given, pc_salt, &out.given_name_pc_bf);
  filter(family, pc_salt, &out.family_name_pc_bf);

  absl::InlinedVector<std::array<uint8_t, kBloomHashBytes>, 64> bigram_hashes(
      bigrams.size());
  for (size_t i = 0; i < bigrams.size(); ++i) {
    const Bigram& b = bigrams[i];
    jobs.push_back({&keys_->name_bf, b.salt->bytes.data(), b.salt->size,
                    b.bytes, sizeof(b.bytes), bigram_hashes[i].data()});
  }
  internal::Blake2bBatch(jobs.data(), jobs.size());

  for (size_t i = 0; i < bigrams.size(); ++i) {
    const std::array<uint8_t, kBloomHashBytes>& h = bigram_hashes[i];
    BloomFilter& bf = *bigrams[i].filter;
    for (int k = 0; k < kBloomK; ++k) {
      const uint32_t pos =
          (h[2 * k] | (static_cast<uint32_t>(h[2 * k + 1]) << 8)) % kBloomBits;
      bf[pos / 8] |= static_cast<uint8_t>(1u << (pos % 8));
    }
  }
  // The bigrams and their hashes are derived from clear names.
  if (!bigrams.empty()) {
    sodium_memzero(bigrams.data(), bigrams.size() * sizeof(Bigram));
    sodium_memzero(bigram_hashes.data(),
                   bigram_hashes.size() * sizeof(bigram_hashes[0]));
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
