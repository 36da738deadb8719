#include "linkd/blocking/blocking_keys.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/blocking/blocking_test_util.h"
#include "linkd/util/status_matchers.h"
#include "tests/testing/synth/population.h"

namespace linkd::blocking {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;
using testing::Child;
using ::testing::HasSubstr;
using testing::TestEncoder;

RuleMask AllRuleMask() {
  RuleMask m = 0;
  for (Rule r : AllRules()) m |= RuleBit(r);
  return m;
}

std::unique_ptr<KeyGenerator> MakeGenerator(const BlockingConfig& config) {
  absl::StatusOr<std::unique_ptr<KeyGenerator>> g =
      KeyGenerator::Create(config);
  EXPECT_THAT(g, IsOk());
  return g.ok() ? std::move(*g) : nullptr;
}

std::vector<BlockingKey> KeysOf(const KeyGenerator& g,
                                const linkd::v1::EncodedIdentity& id) {
  std::vector<BlockingKey> keys;
  g.Keys(id, &keys);
  return keys;
}

std::vector<BlockingKey> OfRule(const std::vector<BlockingKey>& keys,
                                Rule rule) {
  std::vector<BlockingKey> out;
  for (const BlockingKey& k : keys) {
    if (k.rule == rule) out.push_back(k);
  }
  return out;
}

size_t Shared(const std::vector<BlockingKey>& a,
              const std::vector<BlockingKey>& b) {
  std::vector<BlockingKey> both;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(),
                        std::back_inserter(both));
  return both.size();
}

TEST(RuleTest, NamesRoundTrip) {
  for (Rule r : AllRules()) {
    EXPECT_THAT(RuleFromName(RuleName(r)), IsOk());
    EXPECT_EQ(*RuleFromName(RuleName(r)), r);
    EXPECT_TRUE(IsValidRule(static_cast<uint8_t>(r)));
  }
  EXPECT_EQ(AllRules().size(), static_cast<size_t>(kMaxRule));
  EXPECT_THAT(RuleFromName("surname"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(IsValidRule(0));
  EXPECT_FALSE(IsValidRule(kMaxRule + 1));
}

TEST(ConfigTest, RejectsBadOptions) {
  EXPECT_THAT(ValidateConfig(BlockingConfig()), IsOk());
  BlockingConfig c;
  c.rules = 0;
  EXPECT_THAT(ValidateConfig(c), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("no rule")));
  c = BlockingConfig();
  c.rules |= RuleMask{1} << 20;
  EXPECT_THAT(ValidateConfig(c), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("unknown rule")));
  c = BlockingConfig();
  c.lsh_bands = 0;
  EXPECT_THAT(
      KeyGenerator::Create(c),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("lsh_bands")));
  c = BlockingConfig();
  c.lsh_rows = 9;
  EXPECT_THAT(ValidateConfig(c), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("lsh_rows")));
  // LSH options do not matter when the rule is off.
  c.rules = RuleBit(Rule::kUpn);
  EXPECT_THAT(ValidateConfig(c), IsOk());
  c = BlockingConfig();
  c.hash_key = std::string(8, 'k');
  EXPECT_THAT(ValidateConfig(c), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("hash_key")));
  c.hash_key = std::string(32, 'k');
  EXPECT_THAT(ValidateConfig(c), IsOk());
}

class KeysTest : public ::testing::Test {
 protected:
  KeysTest() {
    BlockingConfig all;
    all.rules = AllRuleMask();
    gen_ = MakeGenerator(all);
  }
  TestEncoder enc_;
  std::unique_ptr<KeyGenerator> gen_;
};

TEST_F(KeysTest, DeterministicSortedAndOneKeyPerTokenRule) {
  crypto::ClearIdentity c =
      Child("Amelia", "Okafor-Hughes", "2014-03-07", "LS6 2AB");
  c.upn = "B801200005001";
  c.nhs_number = "9991000003";
  const linkd::v1::EncodedIdentity id = enc_.Encode(c);
  const std::vector<BlockingKey> keys = KeysOf(*gen_, id);
  BlockingConfig all;
  all.rules = AllRuleMask();
  const std::unique_ptr<KeyGenerator> other = MakeGenerator(all);
  EXPECT_EQ(KeysOf(*other, id), keys);
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
  EXPECT_EQ(std::adjacent_find(keys.begin(), keys.end()), keys.end());
  for (Rule r : AllRules()) {
    if (r == Rule::kNameLsh) continue;
    EXPECT_EQ(OfRule(keys, r).size(), 1u) << RuleName(r);
  }
  // Given name and a two-part family name: up to 2 * bands band keys.
  const size_t bands = OfRule(keys, Rule::kNameLsh).size();
  EXPECT_GT(bands, static_cast<size_t>(all.lsh_bands));
  EXPECT_LE(bands, static_cast<size_t>(2 * all.lsh_bands));
}

TEST_F(KeysTest, IdenticalRecordsShareEveryKey) {
  crypto::ClearIdentity c = Child("Oliver", "Nowak", "2016-11-02", "M1 1AE");
  c.nhs_number = "9991000003";
  // Different spellings of the same values normalise to the same tokens.
  crypto::ClearIdentity d = c;
  d.given_name = "OLIVER";
  d.postcode = "m11ae";
  d.nhs_number = "999 100 0003";
  EXPECT_EQ(KeysOf(*gen_, enc_.Encode(c)), KeysOf(*gen_, enc_.Encode(d)));
}

TEST_F(KeysTest, RulesNeedTheirInputs) {
  crypto::ClearIdentity c;
  c.upn = "B801200005001";
  const std::vector<BlockingKey> keys = KeysOf(*gen_, enc_.Encode(c));
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].rule, Rule::kUpn);
  // A postcode without dob or sex gives only postcode_unit. Names without a
  // dob give no band keys: encoding v2 salts them with the postcode only
  // (given_name_pc_bf), and bands come from the dob-salted filters alone.
  // (Under v1 such names had unsalted filters, which gave bands in a
  // "no dob" group; that group no longer exists.)
  crypto::ClearIdentity d;
  d.postcode = "LS6 2AB";
  d.given_name = "Ava";
  const linkd::v1::EncodedIdentity de = enc_.Encode(d);
  ASSERT_FALSE(de.given_name_pc_bf().empty());
  ASSERT_TRUE(de.given_name_bf().empty());
  const std::vector<BlockingKey> dk = KeysOf(*gen_, de);
  ASSERT_EQ(dk.size(), 1u);
  EXPECT_EQ(dk[0].rule, Rule::kPostcodeUnit);
  EXPECT_TRUE(KeysOf(*gen_, linkd::v1::EncodedIdentity()).empty());
  // With a dob the same name gives bands.
  d.dob = "2019-04-02";
  const linkd::v1::EncodedIdentity with_dob = enc_.Encode(d);
  EXPECT_FALSE(OfRule(KeysOf(*gen_, with_dob), Rule::kNameLsh).empty());
  // A filter of the wrong size is ignored rather than misread.
  linkd::v1::EncodedIdentity bad = with_dob;
  bad.set_given_name_bf("short");
  EXPECT_TRUE(OfRule(KeysOf(*gen_, bad), Rule::kNameLsh).empty());
  // A dob-salted filter without its salt token (refused at ingest) gives no
  // bands either.
  bad = with_dob;
  bad.clear_dob_unordered();
  EXPECT_TRUE(OfRule(KeysOf(*gen_, bad), Rule::kNameLsh).empty());
}

TEST_F(KeysTest, OnlyRulesInForce) {
  BlockingConfig c;
  c.rules = RuleBit(Rule::kDob) | RuleBit(Rule::kNhsNumber);
  const std::unique_ptr<KeyGenerator> g = MakeGenerator(c);
  crypto::ClearIdentity p = Child("Amelia", "Okafor", "2014-03-07", "LS6 2AB");
  p.upn = "B801200005001";
  p.nhs_number = "9991000003";
  const std::vector<BlockingKey> keys = KeysOf(*g, enc_.Encode(p));
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].rule, Rule::kNhsNumber);
  EXPECT_EQ(keys[1].rule, Rule::kDob);
}

TEST_F(KeysTest, HashKeyChangesEveryKey) {
  BlockingConfig keyed;
  keyed.rules = AllRuleMask();
  keyed.hash_key = std::string(32, 'x');
  const std::unique_ptr<KeyGenerator> g = MakeGenerator(keyed);
  const linkd::v1::EncodedIdentity id =
      enc_.Encode(Child("Amelia", "Okafor", "2014-03-07", "LS6 2AB"));
  const std::vector<BlockingKey> a = KeysOf(*gen_, id);
  const std::vector<BlockingKey> b = KeysOf(*g, id);
  EXPECT_EQ(a.size(), b.size());
  EXPECT_EQ(Shared(a, b), 0u);
}

TEST_F(KeysTest, DayMonthSwapKeepsUnorderedDobAndNameBands) {
  const auto a = KeysOf(
      *gen_, enc_.Encode(Child("Maya", "Patel", "2014-03-07", "B1 1AA")));
  const auto b = KeysOf(
      *gen_, enc_.Encode(Child("Maya", "Patel", "2014-07-03", "B1 1AA")));
  EXPECT_EQ(
      Shared(OfRule(a, Rule::kDobUnordered), OfRule(b, Rule::kDobUnordered)),
      1u);
  EXPECT_EQ(Shared(OfRule(a, Rule::kDob), OfRule(b, Rule::kDob)), 0u);
  // Same salt (dob_unordered), same names: identical band keys.
  EXPECT_EQ(OfRule(a, Rule::kNameLsh), OfRule(b, Rule::kNameLsh));
  EXPECT_EQ(Shared(OfRule(a, Rule::kPostcodeBirthYear),
                   OfRule(b, Rule::kPostcodeBirthYear)),
            1u);
  EXPECT_EQ(Shared(OfRule(a, Rule::kPostcodeMonthDay),
                   OfRule(b, Rule::kPostcodeMonthDay)),
            0u);
}

TEST_F(KeysTest, YearTypoLeavesNamesAndKeepsPostcodeMonthDay) {
  const auto a = KeysOf(
      *gen_, enc_.Encode(Child("Maya", "Patel", "2014-03-07", "B1 1AA")));
  const auto b = KeysOf(
      *gen_, enc_.Encode(Child("Maya", "Patel", "2015-03-07", "B1 1AA")));
  // Different salt: filters not comparable, so no band is shared.
  EXPECT_EQ(Shared(OfRule(a, Rule::kNameLsh), OfRule(b, Rule::kNameLsh)), 0u);
  EXPECT_EQ(Shared(OfRule(a, Rule::kPostcodeMonthDay),
                   OfRule(b, Rule::kPostcodeMonthDay)),
            1u);
  EXPECT_EQ(Shared(OfRule(a, Rule::kPostcodeBirthYear),
                   OfRule(b, Rule::kPostcodeBirthYear)),
            0u);
  EXPECT_EQ(
      Shared(OfRule(a, Rule::kPostcodeSex), OfRule(b, Rule::kPostcodeSex)), 1u);
}

TEST_F(KeysTest, SwappedNamesShareTheirBands) {
  const auto a =
      KeysOf(*gen_, enc_.Encode(Child("Chen", "Wei", "2013-05-20", "B1 1AA")));
  const auto b =
      KeysOf(*gen_, enc_.Encode(Child("Wei", "Chen", "2013-05-20", "B1 1AA")));
  EXPECT_EQ(OfRule(a, Rule::kNameLsh), OfRule(b, Rule::kNameLsh));
}

// Replaces the letter at `pos` (an ASCII letter) by another letter.
std::string Substitute(std::string name, size_t pos, uint64_t r) {
  const bool upper = name[pos] >= 'A' && name[pos] <= 'Z';
  char c;
  do {
    c = static_cast<char>((upper ? 'A' : 'a') + r % 26);
    r = r * 6364136223846793005ull + 1442695040888963407ull;
  } while (c == name[pos]);
  name[pos] = c;
  return name;
}

struct TypoRates {
  double typo;       // one-letter substitution shares a band
  double unrelated;  // two different names share a band
  int pairs;
};

// Over synthetic given names with one substituted letter (same dob, no other
// field: only the one name filter gives band keys), the share of pairs with
// at least one band in common; and the share for unrelated names of people
// with the same dob. Pooled over several dates of birth: each date is a salt,
// that is one random draw of every bigram's bit positions, and the rate for
// unrelated names varies a lot between draws (0.03 to 0.11 over 27 draws of
// key and date, mean 0.05), so one date alone makes a flaky measurement
// that any change of the encoding can push over the bound.
TypoRates MeasureTypoRates(const KeyGenerator& gen, const TestEncoder& enc) {
  synth::Options options;
  options.seed = 11;
  options.num_people = 1500;
  synth::PopulationGenerator people_gen(options);
  synth::Person p;
  std::vector<synth::Person> people;
  while (people_gen.Next(&p)) people.push_back(p);

  int typo_pairs = 0, typo_hits = 0, unrelated_pairs = 0, unrelated_hits = 0;
  uint64_t r = 12345;
  for (const char* dob : {"2015-06-14", "2013-02-11", "2016-09-03",
                          "2012-11-27", "2017-04-30", "2014-08-08"}) {
    for (size_t i = 0; i < people.size(); ++i) {
      const std::string& name = people[i].given_name;
      std::vector<size_t> letters;
      for (size_t j = 0; j < name.size(); ++j) {
        const char c = name[j];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
          letters.push_back(j);
      }
      if (letters.size() < 3 || letters.size() != name.size()) continue;
      crypto::ClearIdentity a, b, u;
      a.given_name = name;
      a.dob = dob;
      r = r * 6364136223846793005ull + 1442695040888963407ull;
      b.given_name =
          Substitute(name, letters[(r >> 33) % letters.size()], r >> 7);
      b.dob = dob;
      const auto ka = KeysOf(gen, enc.Encode(a));
      const auto kb = KeysOf(gen, enc.Encode(b));
      ++typo_pairs;
      typo_hits +=
          Shared(OfRule(ka, Rule::kNameLsh), OfRule(kb, Rule::kNameLsh)) > 0;
      const std::string& other = people[(i + 7) % people.size()].given_name;
      if (other == name) continue;
      u.given_name = other;
      u.dob = dob;
      const auto ku = KeysOf(gen, enc.Encode(u));
      ++unrelated_pairs;
      unrelated_hits +=
          Shared(OfRule(ka, Rule::kNameLsh), OfRule(ku, Rule::kNameLsh)) > 0;
    }
  }
  return TypoRates{static_cast<double>(typo_hits) / typo_pairs,
                   static_cast<double>(unrelated_hits) / unrelated_pairs,
                   typo_pairs};
}

// Per name filter, the default 4 bands x 2 rows catch about three quarters
// of one-letter typos (a record pair with a typo in one name still shares
// the other name's bands); 8 bands catch more than nine in ten, at twice
// the keys. Unrelated names rarely share a band either way.
TEST_F(KeysTest, OneLetterTypoSharesABandUnrelatedNamesRarely) {
  BlockingConfig config;
  const std::unique_ptr<KeyGenerator> def = MakeGenerator(config);
  const TypoRates d = MeasureTypoRates(*def, enc_);
  ASSERT_GT(d.pairs, 500);
  RecordProperty("typo_band_rate_4x2", std::to_string(d.typo));
  RecordProperty("unrelated_band_rate_4x2", std::to_string(d.unrelated));
  EXPECT_GE(d.typo, 0.70);
  // Was 0.06 on one date of birth. Over many salt draws the rate averages
  // about 0.054 with a spread of about 0.02 per draw, so 0.06 failed for
  // some keys and dates whatever the encoding version (this key under
  // encoding v2: 0.086 on the old single date, 0.061 pooled over six).
  EXPECT_LE(d.unrelated, 0.07);

  config.lsh_bands = 8;
  const std::unique_ptr<KeyGenerator> wide = MakeGenerator(config);
  const TypoRates w = MeasureTypoRates(*wide, enc_);
  RecordProperty("typo_band_rate_8x2", std::to_string(w.typo));
  RecordProperty("unrelated_band_rate_8x2", std::to_string(w.unrelated));
  EXPECT_GE(w.typo, 0.90);
  EXPECT_LE(w.unrelated, 0.12);

  // Two-name records with a typo in one name share the other's bands.
  crypto::ClearIdentity a = Child("Jonathan", "Adeyemi", "2012-01-05", "");
  crypto::ClearIdentity b = a;
  b.given_name = "Jonathon";
  EXPECT_GT(Shared(OfRule(KeysOf(*def, enc_.Encode(a)), Rule::kNameLsh),
                   OfRule(KeysOf(*def, enc_.Encode(b)), Rule::kNameLsh)),
            0u);
}

}  // namespace
}  // namespace linkd::blocking
