#include "linkd/ingest/validate.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/ingest/test_records.h"
#include "linkd/util/status_matchers.h"

namespace linkd::ingest {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

class ValidateTest : public ::testing::Test {
 protected:
  v1::IngestItem Valid() const {
    return records_.Item("school_census", "P1", 3);
  }
  testing::TestRecords records_;
};

TEST_F(ValidateTest, AcceptsARealEncoding) {
  EXPECT_THAT(ValidateItem(Valid()), IsOk());
}

TEST_F(ValidateTest, RefusesAnEmptyItem) {
  EXPECT_THAT(ValidateItem(v1::IngestItem()),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("item")));
}

TEST_F(ValidateTest, NamesMissingSourceAndRecordId) {
  v1::IngestItem item = Valid();
  item.mutable_record()->clear_source();
  EXPECT_THAT(ValidateItem(item),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("record.source: missing")));
  item = Valid();
  item.mutable_record()->clear_record_id();
  EXPECT_THAT(ValidateItem(item),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("record.record_id: missing")));
}

TEST_F(ValidateTest, RefusesWrongEncodingVersion) {
  EXPECT_EQ(Valid().record().identity().encoding_version(), 2u);
  for (uint32_t version : {0u, 1u, 3u}) {
    v1::IngestItem item = Valid();
    item.mutable_record()->mutable_identity()->set_encoding_version(version);
    EXPECT_THAT(ValidateItem(item),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         StartsWith("record.identity.encoding_version")))
        << version;
  }
  // Version 1 (unsalted names without a date of birth) is refused with a
  // reason that says what to do.
  v1::IngestItem item = Valid();
  item.mutable_record()->mutable_identity()->set_encoding_version(1);
  EXPECT_THAT(ValidateItem(item),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("unsupported version 1"),
                             HasSubstr("accepts only version 2"),
                             HasSubstr("re-encode"))));
}

TEST_F(ValidateTest, RefusesTokensOfTheWrongLength) {
  v1::IngestItem item = Valid();
  item.mutable_record()->mutable_identity()->set_dob(std::string(31, '\x81'));
  EXPECT_THAT(ValidateItem(item),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("record.identity.dob: token must be 32")));
  item = Valid();
  item.mutable_record()->mutable_identity()->set_given_name_bf(
      std::string(64, '\x81'));
  EXPECT_THAT(ValidateItem(item),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("record.identity.given_name_bf")));
  for (const char* field : {"given_name_pc_bf", "family_name_pc_bf"}) {
    item = Valid();
    v1::EncodedIdentity* id = item.mutable_record()->mutable_identity();
    ASSERT_EQ(id->given_name_pc_bf().size(), 128u);
    if (std::string(field) == "given_name_pc_bf") {
      id->set_given_name_pc_bf(std::string(127, '\x81'));
    } else {
      id->set_family_name_pc_bf(std::string(129, '\x81'));
    }
    EXPECT_THAT(ValidateItem(item),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         StartsWith(std::string("record.identity.") + field +
                                    ": Bloom filter must be 128 bytes")));
  }
  item = Valid();
  item.mutable_record()->mutable_identity()->set_key_check("short");
  EXPECT_THAT(ValidateItem(item),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("record.identity.key_check")));
}

TEST_F(ValidateTest, RefusesClearTextInTokenFields) {
  v1::IngestItem item = Valid();
  // 32 bytes of text where a keyed token belongs.
  item.mutable_record()->mutable_identity()->set_postcode_unit(
      "LS6 2AB                         ");
  const absl::Status s = ValidateItem(item);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument,
                          StartsWith("record.identity.postcode_unit: looks "
                                     "like clear text")));
  EXPECT_THAT(std::string(s.message()), Not(HasSubstr("LS6")));
}

TEST_F(ValidateTest, RefusesClearIdentifiersAsRecordIds) {
  // Synthetic values of each identifier's shape.
  for (const char* id :
       {"9434765919", "943 476 5919", "A123456789012", "2015-03-04",
        "04/03/2015", "20150304", "LS6 2AB", "ls62ab"}) {
    v1::IngestItem item = Valid();
    item.mutable_record()->set_record_id(id);
    const absl::Status s = ValidateItem(item);
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument,
                            StartsWith("record.record_id: looks like a clear "
                                       "identifier")))
        << id;
    EXPECT_THAT(std::string(s.message()), Not(HasSubstr(id)));
  }
  for (const char* id : {"P0001234", "C-000123", "H12345678", "1234567890"}) {
    v1::IngestItem item = Valid();
    item.mutable_record()->set_record_id(id);
    EXPECT_THAT(ValidateItem(item), IsOk()) << id;
  }
}

TEST_F(ValidateTest, RefusesARecordWithNoIdentifyingField) {
  v1::IngestItem item = Valid();
  v1::EncodedIdentity* id = item.mutable_record()->mutable_identity();
  id->clear_given_name_bf();
  id->clear_family_name_bf();
  id->clear_given_name_pc_bf();
  id->clear_family_name_pc_bf();
  id->clear_dob();
  id->clear_upn();
  id->clear_nhs_number();
  EXPECT_THAT(ValidateItem(item),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("record.identity: no identifying field")));
  // One postcode-salted name filter is enough.
  item = Valid();
  id = item.mutable_record()->mutable_identity();
  id->clear_given_name_bf();
  id->clear_family_name_bf();
  id->clear_given_name_pc_bf();
  id->clear_dob();
  id->clear_dob_year_month();
  id->clear_dob_year_day();
  id->clear_dob_month_day();
  id->clear_dob_unordered();
  id->clear_birth_year();
  id->clear_upn();
  id->clear_nhs_number();
  EXPECT_THAT(ValidateItem(item), IsOk());
}

TEST_F(ValidateTest, RefusesNameFiltersWithoutTheirSalt) {
  // A dob-salted filter needs dob_unordered, a postcode-salted one
  // postcode_unit: without them they would be unsalted (version 1 style).
  v1::IngestItem item = Valid();
  item.mutable_record()->mutable_identity()->clear_dob_unordered();
  EXPECT_THAT(ValidateItem(item),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("record.identity.given_name_bf: present "
                                  "without dob_unordered")));
  item = Valid();
  v1::EncodedIdentity* id = item.mutable_record()->mutable_identity();
  id->clear_given_name_pc_bf();
  id->clear_postcode_unit();
  EXPECT_THAT(ValidateItem(item),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("record.identity.family_name_pc_bf: present "
                                  "without postcode_unit")));
  // Without the salt field and without the filters, the record is fine.
  id->clear_family_name_pc_bf();
  EXPECT_THAT(ValidateItem(item), IsOk());
}

TEST_F(ValidateTest, RefusesImplausibleBloomFilters) {
  v1::IngestItem item = Valid();
  item.mutable_record()->mutable_identity()->set_family_name_bf(
      std::string(128, '\xff'));
  EXPECT_THAT(ValidateItem(item), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("implausibly full")));
  item.mutable_record()->mutable_identity()->set_family_name_bf(
      std::string(128, '\0'));
  EXPECT_THAT(ValidateItem(item), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("empty Bloom filter")));
}

}  // namespace
}  // namespace linkd::ingest
