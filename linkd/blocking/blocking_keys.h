// linkd::blocking keys: the union of blocking keys of one encoded identity
// (DESIGN.md section 4), each tagged with the rule that produced it.
//
// A blocking key is derived from tokens and name filters only, never from a
// clear value, and is hashed with BLAKE2b (libsodium crypto_generichash,
// keyed if BlockingConfig::hash_key is set) to a fixed kBlockHashBytes, so
// that index keys have one size and a block reveals no more than the tokens
// it comes from.
//
// Rules (the numeric value is part of the on-disk index format: never
// renumber):
//   kUpn                 upn token
//   kNhsNumber           nhs_number token
//   kDob                 full dob token
//   kDobUnordered        dob_unordered token (day/month swaps agree)
//   kPostcodeBirthYear   postcode_unit + birth_year
//   kPostcodeMonthDay    postcode_unit + dob_month_day (year typos)
//   kSectorYearMonth     postcode_sector + dob_year_month
//   kNameLsh             MinHash LSH bands of the dob-salted name filters,
//                        within the salt group (dob_unordered)
//   kPostcodeUnit        postcode_unit alone (dob missing or mistyped)
//   kPostcodeSex         postcode_unit + sex (the same, half the block)
//
// kNameLsh: name filters are salted with dob_unordered (crypto/ENCODING.md
// section 6), so two records' names are only comparable when their salts
// agree. A band key is hash(salt token, band, r MinHash positions of the
// filter's set bits): similar names under one salt share a band with
// probability 1 - (1 - J^r)^b (J the Jaccard similarity of the bit sets), and
// records whose dates differ otherwise never share a band. Given- and
// family-name filters feed one pool of bands (no field tag), so swapped
// names collide. Records whose dob has a typo, or is missing on one side,
// are reached through the postcode rules and the identifiers instead; a
// record without a valid dob has no dob-salted filter, hence no bands. The
// postcode-salted filters (given_name_pc_bf, family_name_pc_bf) give no
// bands: they compare only within one postcode unit, which kPostcodeUnit
// already makes a block.
#ifndef LINKD_BLOCKING_BLOCKING_KEYS_H_
#define LINKD_BLOCKING_BLOCKING_KEYS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "linkd/v1/record.pb.h"

namespace linkd::blocking {

// Version of the key derivation. Any change to it (domain, hashing, MinHash
// tables) changes every key and needs a re-index.
inline constexpr uint32_t kBlockingKeyVersion = 1;

// One blocking rule. The value is stored in index keys.
enum class Rule : uint8_t {
  kUpn = 1,
  kNhsNumber = 2,
  kDob = 3,
  kDobUnordered = 4,
  kPostcodeBirthYear = 5,
  kPostcodeMonthDay = 6,
  kSectorYearMonth = 7,
  kNameLsh = 8,
  kPostcodeUnit = 9,
  kPostcodeSex = 10,
};
inline constexpr int kMaxRule = 10;

// Every rule, in value order.
const std::vector<Rule>& AllRules();
// Stable lower-case name ("upn", "postcode_birth_year", "name_lsh", ...).
std::string_view RuleName(Rule rule);
// The rule named `name`; INVALID_ARGUMENT if none.
absl::StatusOr<Rule> RuleFromName(std::string_view name);
// True if `value` is the value of a declared Rule.
bool IsValidRule(uint8_t value);

// A set of rules as a bit mask: bit (1 << value).
using RuleMask = uint32_t;
constexpr RuleMask RuleBit(Rule rule) {
  return RuleMask{1} << static_cast<uint8_t>(rule);
}

inline constexpr size_t kBlockHashBytes = 16;
using BlockHash = std::array<uint8_t, kBlockHashBytes>;

// One blocking key: a rule and the hash of its inputs. Ordered by (rule,
// hash).
struct BlockingKey {
  Rule rule;
  BlockHash hash;

  // The hash as a byte string (as stored in index keys).
  std::string_view hash_view() const {
    return std::string_view(reinterpret_cast<const char*>(hash.data()),
                            hash.size());
  }
  friend bool operator==(const BlockingKey& a, const BlockingKey& b) {
    return a.rule == b.rule && a.hash == b.hash;
  }
  friend bool operator!=(const BlockingKey& a, const BlockingKey& b) {
    return !(a == b);
  }
  friend bool operator<(const BlockingKey& a, const BlockingKey& b) {
    return a.rule != b.rule ? a.rule < b.rule : a.hash < b.hash;
  }
};

// Which rules are in force and how name LSH is built. The index must be
// written and read with the same configuration (a changed configuration
// needs a re-index).
struct BlockingConfig {
  // Rules in force. The default set, and why, is in blocking_keys.cc
  // (DefaultRules); measured by tests/bench/blocking.
  RuleMask rules;
  // kNameLsh: bands per name filter and MinHash values per band. Each record
  // gets up to 2 * lsh_bands band keys. 1..64 bands, 1..8 rows.
  int lsh_bands;
  int lsh_rows;
  // Seed of the MinHash tables (public: the filters themselves are keyed).
  uint64_t lsh_seed;
  // Optional key (16..64 bytes) for hashing blocking keys; empty means
  // unkeyed BLAKE2b under a domain prefix. The inputs are already keyed
  // tokens, so the key only adds a layer; if set it must stay the same for
  // the life of the index.
  std::string hash_key;

  BlockingConfig();
};

// The default rule mask (see blocking_keys.cc for the reasoning).
RuleMask DefaultRules();

// OK, or INVALID_ARGUMENT naming the bad option (no rules, an unknown rule
// bit, LSH bands/rows out of range, a hash key of the wrong length).
absl::Status ValidateConfig(const BlockingConfig& config);

// Derives blocking keys. Immutable after Create and safe for concurrent use
// by any number of threads.
class KeyGenerator {
 public:
  // Validates `config` (see ValidateConfig) and builds the MinHash tables.
  // Also returns INTERNAL if libsodium cannot be initialised.
  static absl::StatusOr<std::unique_ptr<KeyGenerator>> Create(
      const BlockingConfig& config);
  ~KeyGenerator();
  KeyGenerator(const KeyGenerator&) = delete;
  KeyGenerator& operator=(const KeyGenerator&) = delete;

  // Replaces `*out` with the blocking keys of `identity` under the rules in
  // force: sorted and unique. A rule whose inputs are missing yields no key;
  // a name filter of the wrong size (not 128 bytes) is ignored. Deterministic
  // for a given configuration. `out` must not be null.
  void Keys(const linkd::v1::EncodedIdentity& identity,
            std::vector<BlockingKey>* out) const;

  const BlockingConfig& config() const { return config_; }

 private:
  explicit KeyGenerator(const BlockingConfig& config);
  void Hash(Rule rule, std::string_view a, std::string_view b,
            std::string_view c, BlockingKey* out) const;
  void AddNameBands(std::string_view salt, std::string_view filter,
                    std::vector<BlockingKey>* out) const;

  BlockingConfig config_;
  int num_hashes_;  // lsh_bands * lsh_rows
  // MinHash table: for bit position p and hash h, value
  // minhash_[p * num_hashes_ + h] = (random 22 bits << 10) | p, so the
  // minimum over set bits is unique and carries its position.
  std::vector<uint32_t> minhash_;
};

}  // namespace linkd::blocking

#endif  // LINKD_BLOCKING_BLOCKING_KEYS_H_
