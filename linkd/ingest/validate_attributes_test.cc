// Validation of the non-identifying attributes of a record
// (EncodedRecord.attributes, linkd/encode/attributes.h).
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/ingest/test_records.h"
#include "linkd/ingest/validate.h"
#include "linkd/util/status_matchers.h"

namespace linkd::ingest {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

class ValidateAttributesTest : public ::testing::Test {
 protected:
  v1::IngestItem With(const std::string& name, const std::string& value) {
    v1::IngestItem item = records_.Item("school_census", "P1", 3);
    (*item.mutable_record()->mutable_attributes())[name] = value;
    return item;
  }
  testing::TestRecords records_;
};

TEST_F(ValidateAttributesTest, AcceptsCodes) {
  v1::IngestItem item = With("year_group", "9");
  (*item.mutable_record()->mutable_attributes())["sen_status"] = "E";
  (*item.mutable_record()->mutable_attributes())["birth_month"] = "2012-11";
  (*item.mutable_record()->mutable_attributes())["la_code"] = "999";
  EXPECT_THAT(ValidateItem(item), IsOk());
}

TEST_F(ValidateAttributesTest, RefusesUnknownNamesWithoutEchoingThem) {
  const absl::Status s = ValidateItem(With("surname_Khan", "1"));
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument,
                          StartsWith("record.attributes: ")));
  EXPECT_THAT(std::string(s.message()), Not(HasSubstr("Khan")));
}

TEST_F(ValidateAttributesTest, RefusesValuesThatAreNotCodes) {
  const absl::Status s = ValidateItem(With("birth_month", "2012-11-05"));
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument,
                          StartsWith("record.attributes.birth_month: ")));
  EXPECT_THAT(std::string(s.message()), Not(HasSubstr("2012-11-05")));
  EXPECT_THAT(ValidateItem(With("ethnicity_code", "Khan")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("record.attributes.ethnicity_code: ")));
  EXPECT_THAT(ValidateItem(With("year_group", "")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
}

}  // namespace
}  // namespace linkd::ingest
