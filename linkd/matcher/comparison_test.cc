#include "linkd/matcher/comparison.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/encode/proto_convert.h"
#include "linkd/matcher/testing/encoded_population.h"
#include "linkd/util/status_matchers.h"

namespace linkd::matcher {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

// A synthetic child (invented values; the UPNs and NHS numbers are the
// check-valid test identifiers of crypto/testdata/kat_v2.txt).
crypto::ClearIdentity Child() {
  crypto::ClearIdentity c;
  c.given_name = "John";
  c.family_name = "Smith";
  c.dob = "2014-03-07";
  c.sex = "M";
  c.postcode = "LS6 2AB";
  c.upn = "G999123414001";
  c.nhs_number = "9991000003";
  return c;
}

DecodedIdentity D(const crypto::ClearIdentity& c) {
  return Decode(testing::EncodeClear(c));
}

ComparisonVector Cmp(const crypto::ClearIdentity& a,
                     const crypto::ClearIdentity& b) {
  return Compare(D(a), D(b), ComparisonOptions());
}

template <typename Level>
int L(Level level) {
  return static_cast<int>(level);
}

TEST(ComparisonTest, IdenticalRecordsAgreeEverywhere) {
  const ComparisonVector v = Cmp(Child(), Child());
  EXPECT_EQ(v.level(CompareField::kUpn), L(AgreeLevel::kAgree));
  EXPECT_EQ(v.level(CompareField::kNhsNumber), L(AgreeLevel::kAgree));
  EXPECT_EQ(v.level(CompareField::kDob), L(DobLevel::kExact));
  EXPECT_EQ(v.level(CompareField::kSex), L(AgreeLevel::kAgree));
  EXPECT_EQ(v.level(CompareField::kPostcode), L(PostcodeLevel::kUnit));
  EXPECT_EQ(v.level(CompareField::kGivenName), L(NameLevel::kHigh));
  EXPECT_EQ(v.level(CompareField::kFamilyName), L(NameLevel::kHigh));
  EXPECT_FLOAT_EQ(v.dice_given, 1.0f);
  EXPECT_NE(v.dob_token, 0u);
  EXPECT_NE(v.postcode_unit_token, 0u);
  EXPECT_FALSE(v.hard_conflict());
}

TEST(ComparisonTest, DateOfBirthLevels) {
  crypto::ClearIdentity b = Child();
  b.dob = "2014-07-03";  // day and month swapped: same salt
  ComparisonVector v = Cmp(Child(), b);
  EXPECT_EQ(v.level(CompareField::kDob), L(DobLevel::kTransposed));
  EXPECT_EQ(v.level(CompareField::kGivenName), L(NameLevel::kHigh));
  EXPECT_EQ(v.dob_token, 0u);

  b.dob = "2014-03-08";  // year and month agree
  v = Cmp(Child(), b);
  EXPECT_EQ(v.level(CompareField::kDob), L(DobLevel::kTwoParts));
  // Different dob salts, same postcode: the names compare under the
  // postcode salt.
  EXPECT_EQ(v.level(CompareField::kGivenName), L(NameLevel::kHigh));
  EXPECT_EQ(v.level(CompareField::kFamilyName), L(NameLevel::kHigh));
  EXPECT_FLOAT_EQ(v.dice_given, 1.0f);
  // Different dob salts and another postcode: not comparable, not
  // disagreeing.
  b.postcode = "LS1 4AP";
  v = Cmp(Child(), b);
  EXPECT_EQ(v.level(CompareField::kGivenName), L(NameLevel::kNotComparable));
  EXPECT_EQ(v.level(CompareField::kFamilyName), L(NameLevel::kNotComparable));
  EXPECT_TRUE(std::isnan(v.dice_given));
  b = Child();

  b.dob = "2013-03-07";  // month and day agree
  EXPECT_EQ(Cmp(Child(), b).level(CompareField::kDob), L(DobLevel::kTwoParts));
  b.dob = "2014-11-20";
  EXPECT_EQ(Cmp(Child(), b).level(CompareField::kDob), L(DobLevel::kYearOnly));
  b.dob = "2012-05-09";
  EXPECT_EQ(Cmp(Child(), b).level(CompareField::kDob), L(DobLevel::kDisagree));
}

TEST(ComparisonTest, PostcodeLevels) {
  crypto::ClearIdentity b = Child();
  b.postcode = "LS6 2XY";
  EXPECT_EQ(Cmp(Child(), b).level(CompareField::kPostcode),
            L(PostcodeLevel::kSector));
  b.postcode = "LS6 4AB";
  EXPECT_EQ(Cmp(Child(), b).level(CompareField::kPostcode),
            L(PostcodeLevel::kDistrict));
  b.postcode = "M1 1AA";
  ComparisonVector v = Cmp(Child(), b);
  EXPECT_EQ(v.level(CompareField::kPostcode), L(PostcodeLevel::kDisagree));
  EXPECT_EQ(v.postcode_unit_token, 0u);
}

TEST(ComparisonTest, SwappedNamesGetTheirOwnLevel) {
  crypto::ClearIdentity b = Child();
  b.given_name = "Smith";
  b.family_name = "John";
  const ComparisonVector v = Cmp(Child(), b);
  EXPECT_EQ(v.level(CompareField::kGivenName), L(NameLevel::kSwapped));
  EXPECT_EQ(v.level(CompareField::kFamilyName), L(NameLevel::kSwapped));
  EXPECT_TRUE(
      IsNeutralLevel(CompareField::kFamilyName, L(NameLevel::kSwapped)));
  EXPECT_FALSE(
      IsNeutralLevel(CompareField::kGivenName, L(NameLevel::kSwapped)));
  EXPECT_LT(v.dice_given, 0.5f);
  EXPECT_FLOAT_EQ(v.dice_given_family, 1.0f);
  EXPECT_FLOAT_EQ(v.dice_family_given, 1.0f);
  // Symmetric.
  EXPECT_EQ(Cmp(b, Child()).levels, v.levels);
}

TEST(ComparisonTest, TyposFallToTheLowLevelAndOtherNamesBelow) {
  crypto::ClearIdentity a = Child(), b = Child();
  a.given_name = "Jonathan";
  b.given_name = "Jonathon";
  ComparisonVector v = Cmp(a, b);
  EXPECT_EQ(v.level(CompareField::kGivenName), L(NameLevel::kLow));
  EXPECT_EQ(v.level(CompareField::kFamilyName), L(NameLevel::kHigh));
  b.given_name = "Priya";
  v = Cmp(a, b);
  EXPECT_EQ(v.level(CompareField::kGivenName), L(NameLevel::kBelow));
  // Raising the low cut-off above the typo's Dice moves it to "below".
  b.given_name = "Jonathon";
  ComparisonOptions strict;
  strict.name_low_cutoff = 0.89;
  v = Compare(D(a), D(b), strict);
  EXPECT_EQ(v.level(CompareField::kGivenName), L(NameLevel::kBelow));
}

TEST(ComparisonTest, MissingIsNeutral) {
  crypto::ClearIdentity b = Child();
  b.upn.clear();
  b.sex.clear();
  b.postcode.clear();
  b.given_name.clear();
  ComparisonVector v = Cmp(Child(), b);
  EXPECT_EQ(v.level(CompareField::kUpn), L(AgreeLevel::kMissing));
  EXPECT_EQ(v.level(CompareField::kSex), L(AgreeLevel::kMissing));
  EXPECT_EQ(v.level(CompareField::kPostcode), L(PostcodeLevel::kMissing));
  EXPECT_EQ(v.level(CompareField::kGivenName), L(NameLevel::kMissing));
  EXPECT_EQ(v.level(CompareField::kFamilyName), L(NameLevel::kHigh));
  for (size_t f = 0; f < kNumCompareFields; ++f) {
    EXPECT_TRUE(IsNeutralLevel(static_cast<CompareField>(f), 0));
  }

  // One date of birth missing: dob missing. Encoding v2 gives a record
  // without a date of birth no dob-salted name filter; its names are in the
  // postcode-salted filters, which compare (same postcode here).
  b = Child();
  b.dob.clear();
  v = Cmp(Child(), b);
  EXPECT_EQ(v.level(CompareField::kDob), L(DobLevel::kMissing));
  EXPECT_EQ(v.level(CompareField::kGivenName), L(NameLevel::kHigh));
  // Both dates missing: the same, under the postcode salt.
  crypto::ClearIdentity a = Child();
  a.dob.clear();
  v = Cmp(a, b);
  EXPECT_EQ(v.level(CompareField::kGivenName), L(NameLevel::kHigh));
  // A date missing and another postcode: no salt in common. The names are
  // present on both sides, so not comparable (neutral), not missing.
  b.postcode = "LS1 4AP";
  v = Cmp(Child(), b);
  EXPECT_EQ(v.level(CompareField::kGivenName), L(NameLevel::kNotComparable));
  EXPECT_TRUE(IsNeutralLevel(CompareField::kGivenName,
                             v.level(CompareField::kGivenName)));
  // No date and no postcode on one side: no name filter at all: missing.
  b.postcode.clear();
  v = Cmp(Child(), b);
  EXPECT_EQ(v.level(CompareField::kGivenName), L(NameLevel::kMissing));
}

TEST(ComparisonTest, DifferentIdentifiersAreHardConflicts) {
  crypto::ClearIdentity b = Child();
  b.upn = "W999123414002";
  ComparisonVector v = Cmp(Child(), b);
  EXPECT_EQ(v.level(CompareField::kUpn), L(AgreeLevel::kDisagree));
  EXPECT_TRUE(v.hard_conflict());
  b = Child();
  b.nhs_number = "9991000011";
  v = Cmp(Child(), b);
  EXPECT_EQ(v.level(CompareField::kNhsNumber), L(AgreeLevel::kDisagree));
  EXPECT_TRUE(v.hard_conflict());
  b.nhs_number.clear();
  EXPECT_FALSE(Cmp(Child(), b).hard_conflict());
}

TEST(ComparisonTest, DecodeFromProtoEqualsDecodeFromEncoder) {
  const crypto::EncodedIdentity e = testing::EncodeClear(Child());
  linkd::v1::EncodedIdentity proto;
  encode::ToProto(e, &proto);
  DecodedIdentity from_proto;
  ASSERT_THAT(Decode(proto, &from_proto), IsOk());
  const DecodedIdentity direct = Decode(e);
  EXPECT_EQ(from_proto.tokens, direct.tokens);
  EXPECT_EQ(from_proto.present, direct.present);
  EXPECT_EQ(from_proto.present, (1u << kNumTokenSlots) - 1);
  EXPECT_EQ(Compare(from_proto, direct, ComparisonOptions()).levels,
            Cmp(Child(), Child()).levels);
}

TEST(ComparisonTest, DecodeRejectsBadLengthsNamingTheField) {
  linkd::v1::EncodedIdentity proto;
  encode::ToProto(testing::EncodeClear(Child()), &proto);
  DecodedIdentity out;
  linkd::v1::EncodedIdentity bad = proto;
  bad.set_postcode_sector(std::string(31, 'a'));
  EXPECT_THAT(Decode(bad, &out), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("postcode_sector")));
  bad = proto;
  bad.set_family_name_bf(std::string(127, 'a'));
  EXPECT_THAT(Decode(bad, &out), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("family_name_bf")));
}

TEST(ComparisonTest, NamesAndLevelsRoundTrip) {
  for (size_t f = 0; f < kNumCompareFields; ++f) {
    const auto field = static_cast<CompareField>(f);
    EXPECT_EQ(FieldFromName(FieldName(field)), field);
    for (int l = 0; l < NumLevels(field); ++l) {
      EXPECT_EQ(LevelFromName(field, LevelName(field, l)), l);
    }
    EXPECT_EQ(LevelName(field, NumLevels(field)), "");
  }
  EXPECT_FALSE(FieldFromName("surname").has_value());
  EXPECT_EQ(LevelFromName(CompareField::kDob, "unit"), -1);
}

TEST(ComparisonTest, OptionsAreValidated) {
  EXPECT_THAT(ValidateComparisonOptions(ComparisonOptions()), IsOk());
  ComparisonOptions o;
  o.name_low_cutoff = 0.95;
  EXPECT_THAT(ValidateComparisonOptions(o),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("name_low_cutoff")));
  o = ComparisonOptions();
  o.name_high_cutoff = 1.5;
  EXPECT_THAT(ValidateComparisonOptions(o),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("name_high_cutoff")));
  o.name_high_cutoff = NAN;
  EXPECT_THAT(ValidateComparisonOptions(o), Not(IsOk()));
}

TEST(ComparisonTest, SymmetricOnASyntheticPopulation) {
  synth::Options o;
  o.seed = 11;
  o.num_people = 1500;
  absl::StatusOr<std::vector<testing::TruthRecord>> records =
      testing::EncodePopulation(synth::GeneratePopulation(o));
  ASSERT_THAT(records.status(), IsOk());
  const std::vector<testing::Pair> pairs = testing::BlockedPairs(*records);
  ASSERT_GT(pairs.size(), 1000u);
  int true_pairs_names_high = 0, true_pairs = 0;
  for (const auto& [i, j] : pairs) {
    const auto& a = (*records)[i];
    const auto& b = (*records)[j];
    const ComparisonVector ab = Compare(a.decoded, b.decoded, {});
    const ComparisonVector ba = Compare(b.decoded, a.decoded, {});
    ASSERT_EQ(ab.levels, ba.levels);
    if (a.person_id == b.person_id) {
      ++true_pairs;
      true_pairs_names_high +=
          ab.level(CompareField::kFamilyName) == L(NameLevel::kHigh);
    }
  }
  // Most true pairs in a dob block have the same family name.
  EXPECT_GT(true_pairs_names_high, true_pairs / 2);
}

}  // namespace
}  // namespace linkd::matcher
