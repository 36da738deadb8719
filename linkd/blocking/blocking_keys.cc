#include "linkd/blocking/blocking_keys.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "crypto/crypto.h"

namespace linkd::blocking {
namespace {

// Domain prefix of every blocking-key hash; carries kBlockingKeyVersion.
constexpr std::string_view kDomain = "linkd-block-v1:";
constexpr size_t kFilterBytes = 128;
constexpr size_t kFilterBits = kFilterBytes * 8;
constexpr int kMaxBands = 64;
constexpr int kMaxRows = 8;

struct RuleInfo {
  Rule rule;
  std::string_view name;
};
constexpr RuleInfo kRules[] = {
    {Rule::kUpn, "upn"},
    {Rule::kNhsNumber, "nhs_number"},
    {Rule::kDob, "dob"},
    {Rule::kDobUnordered, "dob_unordered"},
    {Rule::kPostcodeBirthYear, "postcode_birth_year"},
    {Rule::kPostcodeMonthDay, "postcode_month_day"},
    {Rule::kSectorYearMonth, "sector_year_month"},
    {Rule::kNameLsh, "name_lsh"},
    {Rule::kPostcodeUnit, "postcode_unit"},
    {Rule::kPostcodeSex, "postcode_sex"},
};

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

const std::vector<Rule>& AllRules() {
  static const std::vector<Rule>* const kAll = [] {
    auto* v = new std::vector<Rule>;
    for (const RuleInfo& r : kRules) v->push_back(r.rule);
    std::sort(v->begin(), v->end());
    return v;
  }();
  return *kAll;
}

std::string_view RuleName(Rule rule) {
  for (const RuleInfo& r : kRules) {
    if (r.rule == rule) return r.name;
  }
  return "unknown";
}

absl::StatusOr<Rule> RuleFromName(std::string_view name) {
  for (const RuleInfo& r : kRules) {
    if (r.name == name) return r.rule;
  }
  return absl::InvalidArgumentError("unknown blocking rule name");
}

bool IsValidRule(uint8_t value) {
  for (const RuleInfo& r : kRules) {
    if (static_cast<uint8_t>(r.rule) == value) return true;
  }
  return false;
}

// The default rule set, chosen with tests/bench/blocking on the synthetic
// population (100k people; figures in the bench's output and the report):
//   - upn, nhs_number: the identifiers; reach pairs whose demographics all
//     differ. Blocks are one child each (more with duplicates).
//   - name_lsh (4 bands x 2 rows): the workhorse (96 % of true pairs); every
//     pair whose dates agree up to a day/month swap and whose names are
//     similar, swapped names included. Blocks are tiny: one salt group and
//     one name.
//   - postcode_unit: pairs at the same address whose dob is missing on one
//     side or mistyped. Encoding v2 salts a second pair of name filters with
//     the postcode unit, so their names compare, which makes these pairs
//     linkable: a postcode unit holds about 15 households, so blocks stay
//     small (tens of records). It contains postcode_sex and
//     postcode_birth_year (which miss pairs whose sex and birth year are
//     both unusable on a side) in one key per record instead of two.
// Not in force by default: dob, dob_unordered (blocks grow with the
// population, and name_lsh finds the same pairs), postcode_sex and
// postcode_birth_year (subsets of postcode_unit), postcode_month_day and
// sector_year_month (a few pairs per 100k, larger blocks).
RuleMask DefaultRules() {
  return RuleBit(Rule::kUpn) | RuleBit(Rule::kNhsNumber) |
         RuleBit(Rule::kNameLsh) | RuleBit(Rule::kPostcodeUnit);
}

BlockingConfig::BlockingConfig()
    : rules(DefaultRules()),
      lsh_bands(4),
      lsh_rows(2),
      lsh_seed(0x6C696E6B64424C4Bull) {}

absl::Status ValidateConfig(const BlockingConfig& config) {
  if (config.rules == 0) {
    return absl::InvalidArgumentError("blocking config: no rule in force");
  }
  for (int bit = 0; bit < 32; ++bit) {
    if ((config.rules >> bit & 1u) != 0 &&
        !IsValidRule(static_cast<uint8_t>(bit))) {
      return absl::InvalidArgumentError(
          absl::StrCat("blocking config: unknown rule bit ", bit));
    }
  }
  if ((config.rules & RuleBit(Rule::kNameLsh)) != 0) {
    if (config.lsh_bands < 1 || config.lsh_bands > kMaxBands) {
      return absl::InvalidArgumentError(
          absl::StrCat("blocking config: lsh_bands must be in 1..", kMaxBands));
    }
    if (config.lsh_rows < 1 || config.lsh_rows > kMaxRows) {
      return absl::InvalidArgumentError(
          absl::StrCat("blocking config: lsh_rows must be in 1..", kMaxRows));
    }
  }
  if (!config.hash_key.empty() &&
      (config.hash_key.size() < crypto_generichash_KEYBYTES_MIN ||
       config.hash_key.size() > crypto_generichash_KEYBYTES_MAX)) {
    return absl::InvalidArgumentError(
        "blocking config: hash_key must be empty or 16..64 bytes");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<KeyGenerator>> KeyGenerator::Create(
    const BlockingConfig& config) {
  absl::Status s = ValidateConfig(config);
  if (!s.ok()) return s;
  s = crypto::Init();
  if (!s.ok()) return s;
  return std::unique_ptr<KeyGenerator>(new KeyGenerator(config));
}

KeyGenerator::KeyGenerator(const BlockingConfig& config)
    : config_(config),
      num_hashes_((config.rules & RuleBit(Rule::kNameLsh)) != 0
                      ? config.lsh_bands * config.lsh_rows
                      : 0) {
  minhash_.resize(kFilterBits * static_cast<size_t>(num_hashes_));
  uint64_t state = config.lsh_seed;
  for (size_t p = 0; p < kFilterBits; ++p) {
    for (int h = 0; h < num_hashes_; ++h) {
      const auto r = static_cast<uint32_t>(SplitMix64(&state) >> 42);  // 22b
      minhash_[p * num_hashes_ + h] = (r << 10) | static_cast<uint32_t>(p);
    }
  }
}

KeyGenerator::~KeyGenerator() {
  if (!config_.hash_key.empty()) {
    sodium_memzero(config_.hash_key.data(), config_.hash_key.size());
  }
}

void KeyGenerator::Hash(Rule rule, std::string_view a, std::string_view b,
                        std::string_view c, BlockingKey* out) const {
  // domain || rule || (len, a) || (len, b) || (len, c): lengths make the
  // concatenation unambiguous. Components are at most 64 bytes.
  unsigned char buf[kDomain.size() + 1 + 3 * (1 + 64)];
  size_t n = 0;
  std::memcpy(buf, kDomain.data(), kDomain.size());
  n += kDomain.size();
  buf[n++] = static_cast<unsigned char>(rule);
  for (std::string_view part : {a, b, c}) {
    const size_t len = std::min<size_t>(part.size(), 64);
    buf[n++] = static_cast<unsigned char>(len);
    if (len > 0) std::memcpy(buf + n, part.data(), len);  // data() may be null
    n += len;
  }
  out->rule = rule;
  const auto* key =
      reinterpret_cast<const unsigned char*>(config_.hash_key.data());
  crypto_generichash(out->hash.data(), out->hash.size(), buf, n,
                     config_.hash_key.empty() ? nullptr : key,
                     config_.hash_key.size());
}

void KeyGenerator::AddNameBands(std::string_view salt, std::string_view filter,
                                std::vector<BlockingKey>* out) const {
  if (filter.size() != kFilterBytes) return;
  uint32_t mins[kMaxBands * kMaxRows];
  std::fill(mins, mins + num_hashes_, std::numeric_limits<uint32_t>::max());
  bool any = false;
  // The minimum of each hash over the set bits' rows. With the default 8
  // hashes the row is a fixed-size loop the compiler vectorises.
  auto fold = [&](auto hashes) {
    constexpr int kFixed = decltype(hashes)::value;
    const int n = kFixed > 0 ? kFixed : num_hashes_;
    for (size_t w = 0; w < kFilterBytes / 8; ++w) {
      // Bit i of the word is bit 64w+i of the filter (ENCODING.md 6: bit p
      // lives in byte p/8, LSB first), whatever the host's byte order.
      uint64_t word = 0;
      for (int b = 7; b >= 0; --b) {
        word = (word << 8) | static_cast<unsigned char>(
                                 filter[8 * w + static_cast<size_t>(b)]);
      }
      while (word != 0) {
        const int bit = __builtin_ctzll(word);
        word &= word - 1;
        any = true;
        const uint32_t* row = &minhash_[(64 * w + static_cast<size_t>(bit)) *
                                        static_cast<size_t>(n)];
        for (int h = 0; h < n; ++h) mins[h] = std::min(mins[h], row[h]);
      }
    }
  };
  if (num_hashes_ == 8) {
    fold(std::integral_constant<int, 8>());
  } else {
    fold(std::integral_constant<int, 0>());
  }
  if (!any) return;
  const int rows = config_.lsh_rows;
  for (int band = 0; band < config_.lsh_bands; ++band) {
    unsigned char material[1 + 2 * kMaxRows];
    material[0] = static_cast<unsigned char>(band);
    for (int r = 0; r < rows; ++r) {
      const uint32_t pos = mins[band * rows + r] & 1023u;
      material[1 + 2 * r] = static_cast<unsigned char>(pos >> 8);
      material[2 + 2 * r] = static_cast<unsigned char>(pos);
    }
    BlockingKey key;
    Hash(Rule::kNameLsh, salt,
         std::string_view(reinterpret_cast<const char*>(material),
                          static_cast<size_t>(1 + 2 * rows)),
         std::string_view(), &key);
    out->push_back(key);
  }
}

void KeyGenerator::Keys(const linkd::v1::EncodedIdentity& identity,
                        std::vector<BlockingKey>* out) const {
  out->clear();
  const RuleMask rules = config_.rules;
  const auto on = [rules](Rule r) { return (rules & RuleBit(r)) != 0; };
  BlockingKey key;
  const auto add1 = [&](Rule rule, const std::string& a) {
    if (!on(rule) || a.empty()) return;
    Hash(rule, a, std::string_view(), std::string_view(), &key);
    out->push_back(key);
  };
  const auto add2 = [&](Rule rule, const std::string& a, const std::string& b) {
    if (!on(rule) || a.empty() || b.empty()) return;
    Hash(rule, a, b, std::string_view(), &key);
    out->push_back(key);
  };
  add1(Rule::kUpn, identity.upn());
  add1(Rule::kNhsNumber, identity.nhs_number());
  add1(Rule::kDob, identity.dob());
  add1(Rule::kDobUnordered, identity.dob_unordered());
  add1(Rule::kPostcodeUnit, identity.postcode_unit());
  add2(Rule::kPostcodeSex, identity.postcode_unit(), identity.sex());
  add2(Rule::kPostcodeBirthYear, identity.postcode_unit(),
       identity.birth_year());
  add2(Rule::kPostcodeMonthDay, identity.postcode_unit(),
       identity.dob_month_day());
  add2(Rule::kSectorYearMonth, identity.postcode_sector(),
       identity.dob_year_month());
  if (on(Rule::kNameLsh) && !identity.dob_unordered().empty()) {
    // The salt group is the dob_unordered token. Only the dob-salted filters
    // give bands: a record without a valid dob has none (encoding v2 builds
    // no unsalted filter, ENCODING.md 6), and the postcode-salted filters
    // would only repeat, in many more keys, what kPostcodeUnit already
    // blocks on.
    const std::string& salt = identity.dob_unordered();
    AddNameBands(salt, identity.given_name_bf(), out);
    AddNameBands(salt, identity.family_name_bf(), out);
  }
  std::sort(out->begin(), out->end());
  out->erase(std::unique(out->begin(), out->end()), out->end());
}

}  // namespace linkd::blocking
