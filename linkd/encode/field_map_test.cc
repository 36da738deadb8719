#include "linkd/encode/field_map.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/util/status_matchers.h"

namespace linkd::encode {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Optional;

using crypto::Field;

TEST(ParseMapSpecTest, SplitsAtFirstEquals) {
  absl::StatusOr<MapSpec> spec = ParseMapSpec("dob=Date=Of=Birth");
  ASSERT_THAT(spec, IsOk());
  EXPECT_EQ(spec->field, "dob");
  EXPECT_EQ(spec->column, "Date=Of=Birth");
}

TEST(ParseMapSpecTest, AcceptsEveryField) {
  for (const char* field : {"record_id", "given_name", "family_name", "dob",
                            "sex", "postcode", "upn", "nhs_number"}) {
    EXPECT_THAT(ParseMapSpec(std::string(field) + "=Col"), IsOk()) << field;
  }
}

TEST(ParseMapSpecTest, RejectsBadArguments) {
  EXPECT_THAT(ParseMapSpec("given_name"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expected FIELD=COLUMN")));
  EXPECT_THAT(ParseMapSpec("forename=First"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown field \"forename\"")));
  EXPECT_THAT(ParseMapSpec("upn="),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("column name is empty")));
}

TEST(FieldFromNameTest, KnowsEncoderFieldsOnly) {
  EXPECT_THAT(FieldFromName("given_name"), Optional(Field::kGivenName));
  EXPECT_THAT(FieldFromName("nhs_number"), Optional(Field::kNhsNumber));
  EXPECT_EQ(FieldFromName("record_id"), std::nullopt);
  EXPECT_EQ(FieldFromName("Given_Name"), std::nullopt);
}

TEST(FieldMapTest, ExplicitMapResolvesColumns) {
  const std::vector<std::string> header = {"Forename", "Surname", "ID", "Birth",
                                           "Pupil"};
  absl::StatusOr<FieldMap> map = FieldMap::Resolve({{"record_id", "ID"},
                                                    {"given_name", "Forename"},
                                                    {"family_name", "Surname"},
                                                    {"dob", "Birth"},
                                                    {"upn", "Pupil"}},
                                                   header);
  ASSERT_THAT(map, IsOk());
  EXPECT_EQ(map->record_id_column(), 2u);
  EXPECT_THAT(map->column(Field::kGivenName), Optional(0u));
  EXPECT_THAT(map->column(Field::kUpn), Optional(4u));
  EXPECT_EQ(map->column(Field::kNhsNumber), std::nullopt);

  crypto::ClearIdentity clear;
  map->Extract({" Ada ", "Lovelace\t", " r-1 ", "2015-01-02", ""}, &clear);
  EXPECT_EQ(clear.given_name, "Ada");
  EXPECT_EQ(clear.family_name, "Lovelace");
  EXPECT_EQ(clear.dob, "2015-01-02");
  EXPECT_EQ(clear.upn, "");
  EXPECT_EQ(clear.nhs_number, "");
  EXPECT_EQ(map->RecordId({" Ada ", "x", " r-1 ", "y", "z"}), "r-1");
}

TEST(FieldMapTest, DefaultMapUsesExactHeaderNames) {
  const std::vector<std::string> header = {"record_id", "Given_Name",
                                           "family_name", "postcode", "other"};
  absl::StatusOr<FieldMap> map = FieldMap::Resolve({}, header);
  ASSERT_THAT(map, IsOk());
  EXPECT_EQ(map->record_id_column(), 0u);
  EXPECT_EQ(map->column(Field::kGivenName), std::nullopt);  // case differs
  EXPECT_THAT(map->column(Field::kFamilyName), Optional(2u));
  EXPECT_THAT(map->column(Field::kPostcode), Optional(3u));
}

TEST(FieldMapTest, ExplicitMapDisablesDefaults) {
  const std::vector<std::string> header = {"id", "given_name"};
  absl::StatusOr<FieldMap> map =
      FieldMap::Resolve({{"record_id", "id"}}, header);
  ASSERT_THAT(map, IsOk());
  EXPECT_EQ(map->column(Field::kGivenName), std::nullopt);
}

TEST(FieldMapTest, RecordIdIsRequired) {
  EXPECT_THAT(FieldMap::Resolve({}, {"given_name", "dob"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no record_id column")));
  EXPECT_THAT(
      FieldMap::Resolve({{"given_name", "given_name"}}, {"given_name", "dob"}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("record_id is not mapped")));
}

TEST(FieldMapTest, MissingColumnNamesFieldAndColumn) {
  EXPECT_THAT(
      FieldMap::Resolve({{"record_id", "id"}, {"upn", "UPN"}}, {"id", "upn"}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("column \"UPN\" (mapped to upn) is not in the CSV "
                         "header")));
}

TEST(FieldMapTest, AmbiguousColumnIsRefused) {
  EXPECT_THAT(FieldMap::Resolve({{"record_id", "id"}}, {"id", "x", "id"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("appears more than once")));
}

TEST(FieldMapTest, FieldMappedTwiceIsRefused) {
  EXPECT_THAT(
      FieldMap::Resolve({{"record_id", "id"}, {"dob", "a"}, {"dob", "b"}},
                        {"id", "a", "b"}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("dob is mapped twice")));
  EXPECT_THAT(
      FieldMap::Resolve({{"record_id", "a"}, {"record_id", "b"}}, {"a", "b"}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("record_id is mapped twice")));
}

TEST(FieldMapTest, UnknownFieldInSpecIsRefused) {
  EXPECT_THAT(
      FieldMap::Resolve({{"record_id", "id"}, {"surname", "s"}}, {"id", "s"}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("unknown field \"surname\"")));
}

}  // namespace
}  // namespace linkd::encode
