#include "linkd/encode/attributes.h"

#include <sstream>
#include <string>
#include <vector>

#include "crypto/crypto.h"
#include "crypto/linkage_key.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/delimited_message_util.h"
#include "gtest/gtest.h"
#include "linkd/encode/file_encoder.h"
#include "linkd/encode/testing/synthetic_people.h"
#include "linkd/util/status_matchers.h"
#include "linkd/v1/record.pb.h"
#include "policies/engine/vocabulary.h"

namespace linkd::encode {
namespace {

using ::linkd::encode::testing::CsvLine;
using ::linkd::encode::testing::SyntheticPeople;
using ::linkd::encode::testing::SyntheticPerson;
using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

TEST(AttributesTest, EveryAttributeIsAResearchFieldOfThePolicyVocabulary) {
  for (std::string_view name : AttributeNames()) {
    EXPECT_TRUE(
        policy::IsKnownField(absl::string_view(name.data(), name.size())))
        << name;
    EXPECT_TRUE(IsAttributeName(name));
  }
  EXPECT_FALSE(IsAttributeName("given_name"));
  EXPECT_FALSE(IsAttributeName("event_date"));
  EXPECT_FALSE(IsAttributeName("project_pseudonym"));
}

TEST(AttributesTest, CodesAreChecked) {
  EXPECT_THAT(CheckAttributeValue("year_group", "R"), IsOk());
  EXPECT_THAT(CheckAttributeValue("year_group", "11"), IsOk());
  EXPECT_THAT(CheckAttributeValue("year_group", "15"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CheckAttributeValue("sen_status", "K"), IsOk());
  EXPECT_THAT(CheckAttributeValue("sen_status", "Q"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CheckAttributeValue("fsm_eligible", "true"), IsOk());
  EXPECT_THAT(CheckAttributeValue("fsm_eligible", "0"), IsOk());
  EXPECT_THAT(CheckAttributeValue("ethnicity_code", "WBRI"), IsOk());
  EXPECT_THAT(CheckAttributeValue("ethnicity_code", "ZZZZ"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CheckAttributeValue("la_code", "999"), IsOk());
  EXPECT_THAT(CheckAttributeValue("la_code", "99"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CheckAttributeValue("birth_month", "2014-03"), IsOk());
  EXPECT_THAT(CheckAttributeValue("birth_month", "2014-03-07"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CheckAttributeValue("birth_month", "2014-13"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CheckAttributeValue("postcode", "AB1 2CD"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(AttributesTest, MessagesNeverEchoTheValue) {
  const absl::Status s = CheckAttributeValue("year_group", "Zebedee");
  EXPECT_THAT(std::string(s.message()), Not(HasSubstr("Zebedee")));
}

TEST(AttributesTest, IdentifierShapedValuesAreRecognised) {
  SyntheticPeople people(7);
  const SyntheticPerson p = people.Next();
  EXPECT_EQ(ClassifyValue(p.nhs_number), IdentifierLike::kNhsNumber);
  EXPECT_EQ(ClassifyValue(p.upn), IdentifierLike::kUpn);
  EXPECT_EQ(ClassifyValue(p.dob), IdentifierLike::kDate);
  EXPECT_EQ(ClassifyValue("07/03/2014"), IdentifierLike::kDate);
  EXPECT_EQ(ClassifyValue(p.postcode), IdentifierLike::kPostcode);
  EXPECT_EQ(ClassifyValue(p.given_name), IdentifierLike::kName);
  EXPECT_EQ(ClassifyValue("O'Neil-Smith"), IdentifierLike::kName);
  EXPECT_EQ(ClassifyValue("99"), IdentifierLike::kNone);
  EXPECT_EQ(ClassifyValue("N3"), IdentifierLike::kNone);
}

TEST(AttributesTest, ColumnNames) {
  EXPECT_TRUE(ColumnNameLooksIdentifying("Surname"));
  EXPECT_TRUE(ColumnNameLooksIdentifying("date_of_birth"));
  EXPECT_TRUE(ColumnNameLooksIdentifying("NHS No"));
  EXPECT_TRUE(ColumnNameLooksIdentifying("post_code"));
  EXPECT_TRUE(ColumnNameLooksIdentifying("pupil_upn"));
  EXPECT_FALSE(ColumnNameLooksIdentifying("ncyear"));
  EXPECT_FALSE(ColumnNameLooksIdentifying("birth_month"));
  EXPECT_FALSE(ColumnNameLooksIdentifying("sen_provision"));
}

TEST(AttributesTest, ParseAttrSpec) {
  absl::StatusOr<AttrSpec> spec = ParseAttrSpec("year_group=ncyear");
  ASSERT_THAT(spec, IsOk());
  EXPECT_EQ(spec->name, "year_group");
  EXPECT_EQ(spec->column, "ncyear");
  EXPECT_THAT(ParseAttrSpec("year_group"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseAttrSpec("surname=surname"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not an attribute")));
  EXPECT_THAT(ParseAttrSpec("year_group="),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

class AttributeEncodingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_THAT(crypto::Init(), IsOk()); }
  AttributeEncodingTest()
      : key_(crypto::LinkageKey::Generate(1)), encoder_(key_) {}

  absl::Status Run(const std::string& csv, std::vector<AttrSpec> attrs,
                   std::vector<linkd::v1::IngestItem>* items,
                   EncodeSummary* summary) {
    FileEncoderOptions options;
    options.source = "school_census";
    options.maps = {{"record_id", "ref"},
                    {"given_name", "forename"},
                    {"family_name", "surname"},
                    {"dob", "dob"}};
    options.attrs = std::move(attrs);
    std::istringstream in(csv);
    std::ostringstream out;
    FileEncoder file_encoder(&encoder_, std::move(options));
    absl::Status s = file_encoder.Run(in, out, summary);
    std::istringstream bytes(out.str());
    google::protobuf::io::IstreamInputStream stream(&bytes);
    items->clear();
    for (;;) {
      linkd::v1::IngestItem item;
      bool clean_eof = false;
      if (!google::protobuf::util::ParseDelimitedFromZeroCopyStream(
              &item, &stream, &clean_eof)) {
        break;
      }
      items->push_back(item);
    }
    return s;
  }

  std::string Row(const std::vector<std::string>& attrs) {
    const SyntheticPerson p = people_.Next();
    std::vector<std::string> fields = {p.record_id, p.given_name, p.family_name,
                                       p.dob};
    fields.insert(fields.end(), attrs.begin(), attrs.end());
    return CsvLine(fields);
  }

  crypto::LinkageKey key_;
  crypto::Encoder encoder_;
  SyntheticPeople people_{11};
};

TEST_F(AttributeEncodingTest, PassesCodesThroughUnchanged) {
  const std::string csv =
      CsvLine({"ref", "forename", "surname", "dob", "ncyear", "sen", "fsm"}) +
      Row({"7", "K", "true"}) + Row({"R", "", "0"}) + Row({"15", "N", "1"});
  std::vector<linkd::v1::IngestItem> items;
  EncodeSummary summary;
  ASSERT_THAT(Run(csv,
                  {{"year_group", "ncyear"},
                   {"sen_status", "sen"},
                   {"fsm_eligible", "fsm"}},
                  &items, &summary),
              IsOk());
  ASSERT_EQ(items.size(), 3u);
  EXPECT_THAT(
      items[0].record().attributes(),
      UnorderedElementsAre(Pair("year_group", "7"), Pair("sen_status", "K"),
                           Pair("fsm_eligible", "true")));
  // An empty cell is no attribute.
  EXPECT_THAT(
      items[1].record().attributes(),
      UnorderedElementsAre(Pair("year_group", "R"), Pair("fsm_eligible", "0")));
  // An unknown code is dropped from its row, and counted.
  EXPECT_THAT(
      items[2].record().attributes(),
      UnorderedElementsAre(Pair("sen_status", "N"), Pair("fsm_eligible", "1")));
  EXPECT_EQ((summary.dropped_fields[{"year_group", "not a year_group code"}]),
            1);
}

TEST_F(AttributeEncodingTest, RefusesAColumnOfIdentifiers) {
  SyntheticPeople other(99);
  const SyntheticPerson q = other.Next();
  for (const std::string& bad :
       {q.nhs_number, q.upn, q.dob, q.postcode, q.family_name}) {
    const std::string csv =
        CsvLine({"ref", "forename", "surname", "dob", "ethnicity"}) +
        Row({"WBRI"}) + Row({bad});
    std::vector<linkd::v1::IngestItem> items;
    EncodeSummary summary;
    const absl::Status s =
        Run(csv, {{"ethnicity_code", "ethnicity"}}, &items, &summary);
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument,
                            HasSubstr("row 2: column \"ethnicity\"")));
    EXPECT_THAT(std::string(s.message()), Not(HasSubstr(bad)));
    // The offending row is not written.
    EXPECT_EQ(items.size(), 1u);
  }
}

TEST_F(AttributeEncodingTest, RefusesIdentifyingColumns) {
  const std::string csv =
      CsvLine({"ref", "forename", "surname", "dob", "ncyear", "postcode"}) +
      Row({"7", "AB1 2CD"});
  std::vector<linkd::v1::IngestItem> items;
  EncodeSummary summary;
  EXPECT_THAT(Run(csv, {{"la_code", "postcode"}}, &items, &summary),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("named like an identifier")));
  // An identity column cannot double as an attribute either.
  EXPECT_THAT(Run(csv, {{"year_group", "ref"}}, &items, &summary),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("also mapped to an identity field")));
  EXPECT_THAT(Run(csv, {{"year_group", "missing"}}, &items, &summary),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not in the CSV header")));
  EXPECT_TRUE(items.empty());
}

}  // namespace
}  // namespace linkd::encode
