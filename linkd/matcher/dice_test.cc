#include "linkd/matcher/dice.h"

#include <cstring>
#include <string>
#include <vector>

#include "crypto/encoder.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/matcher/testing/encoded_population.h"
#include "linkd/util/status_matchers.h"
#include "tests/testing/synth/rng.h"

namespace linkd::matcher {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;

Filter RandomFilter(synth::Rng& rng, double density) {
  Filter f{};
  for (size_t bit = 0; bit < crypto::kBloomBits; ++bit) {
    if (rng.Bernoulli(density)) f.words[bit / 64] |= uint64_t{1} << (bit % 64);
  }
  UpdatePopcount(&f);
  return f;
}

// Bit-by-bit reference, independent of the kernel.
double ReferenceDice(const Filter& a, const Filter& b) {
  int na = 0, nb = 0, both = 0;
  for (size_t bit = 0; bit < crypto::kBloomBits; ++bit) {
    const bool x = (a.words[bit / 64] >> (bit % 64)) & 1;
    const bool y = (b.words[bit / 64] >> (bit % 64)) & 1;
    na += x;
    nb += y;
    both += x && y;
  }
  return na + nb == 0 ? 0.0 : 2.0 * both / (na + nb);
}

TEST(DiceTest, Popcount64MatchesNaiveCount) {
  synth::Rng rng(1);
  for (int i = 0; i < 1000; ++i) {
    const uint64_t x = rng.Next() & rng.Next();
    int naive = 0;
    for (int b = 0; b < 64; ++b) naive += (x >> b) & 1;
    EXPECT_EQ(Popcount64(x), static_cast<uint32_t>(naive));
  }
  EXPECT_EQ(Popcount64(0), 0u);
  EXPECT_EQ(Popcount64(~uint64_t{0}), 64u);
}

TEST(DiceTest, FilterFromBytesUsesEncodingBitOrder) {
  std::string bytes(crypto::kBloomBytes, '\0');
  // Bit p lives in byte p/8, LSB first (ENCODING.md 6).
  for (int p : {0, 9, 63, 64, 457, 1023}) bytes[p / 8] |= 1 << (p % 8);
  absl::StatusOr<Filter> f = FilterFromBytes(bytes);
  ASSERT_THAT(f.status(), IsOk());
  EXPECT_EQ(f->popcount, 6u);
  for (int p : {0, 9, 63, 64, 457, 1023}) {
    EXPECT_TRUE((f->words[p / 64] >> (p % 64)) & 1) << p;
  }
  EXPECT_FALSE(f->words[0] & 2);
}

TEST(DiceTest, FilterFromBytesRejectsWrongLength) {
  EXPECT_THAT(FilterFromBytes(std::string(127, 'x')).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(FilterFromBytes("").status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(DiceTest, MatchesReferenceOnRandomFilters) {
  synth::Rng rng(2);
  for (int i = 0; i < 300; ++i) {
    const Filter a = RandomFilter(rng, rng.Double() * 0.5);
    const Filter b = RandomFilter(rng, rng.Double() * 0.5);
    EXPECT_DOUBLE_EQ(Dice(a, b), ReferenceDice(a, b));
    EXPECT_DOUBLE_EQ(Dice(a, b), Dice(b, a));
  }
}

TEST(DiceTest, EmptyAndIdentical) {
  const Filter empty{};
  EXPECT_EQ(Dice(empty, empty), 0.0);
  synth::Rng rng(3);
  const Filter a = RandomFilter(rng, 0.2);
  EXPECT_EQ(Dice(a, a), 1.0);
  EXPECT_EQ(Dice(a, empty), 0.0);
}

TEST(DiceTest, MatchesCryptoDiceOnRealEncodings) {
  const char* names[] = {"Olivia",   "Olivja",   "Mohammed", "Muhammed",
                         "Jonathan", "Jonathon", "Zoe",      "Smith-Jones"};
  std::vector<crypto::BloomFilter> blooms;
  for (const char* n : names) {
    crypto::ClearIdentity c;
    c.given_name = n;
    c.dob = "2014-03-07";
    blooms.push_back(*testing::EncodeClear(c).given_name_bf);
  }
  for (const auto& x : blooms) {
    for (const auto& y : blooms) {
      EXPECT_DOUBLE_EQ(Dice(FilterFromBloom(x), FilterFromBloom(y)),
                       crypto::Dice(x, y));
    }
  }
  // A one-letter substitution in a 6-letter name is close but not equal.
  const double typo =
      Dice(FilterFromBloom(blooms[0]), FilterFromBloom(blooms[1]));
  EXPECT_GT(typo, 0.6);
  EXPECT_LT(typo, 0.9);
}

TEST(DiceTest, OneToManyAgreesWithSinglePairs) {
  synth::Rng rng(4);
  const Filter q = RandomFilter(rng, 0.25);
  std::vector<Filter> many;
  for (int i = 0; i < 257; ++i)
    many.push_back(RandomFilter(rng, rng.Double() * 0.4));
  many.push_back(q);         // Dice 1
  many.push_back(Filter{});  // empty
  std::vector<float> scores(many.size());
  DiceOneToMany(q, many, scores.data());
  for (size_t i = 0; i < many.size(); ++i) {
    EXPECT_FLOAT_EQ(scores[i], static_cast<float>(Dice(q, many[i])));
  }
  // The threshold variant returns exactly the indices at or above it,
  // including a candidate exactly on the threshold.
  const double t = Dice(q, many[10]);
  std::vector<uint32_t> idx = {99999};
  const size_t n = DiceOneToManyAtLeast(q, many, t, &idx);
  std::vector<uint32_t> expected = {99999};
  for (size_t i = 0; i < many.size(); ++i) {
    if (Dice(q, many[i]) >= t) expected.push_back(static_cast<uint32_t>(i));
  }
  EXPECT_EQ(idx, expected);
  EXPECT_EQ(n, expected.size() - 1);
  EXPECT_THAT(idx, ::testing::Contains(10u));
}

TEST(DiceTest, KernelNameReportsBuild) {
  const std::string name = DiceKernelName();
  EXPECT_TRUE(name == "avx512-vpopcntdq" || name == "popcnt" ||
              name == "portable")
      << name;
}

}  // namespace
}  // namespace linkd::matcher
