#include "linkd/extract/coarsen.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/util/status_matchers.h"

namespace linkd::extract {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::IsOkAndHolds;
using ::linkd::testing::StatusIs;
using ::testing::Eq;
using ::testing::HasSubstr;
using ::testing::Not;

struct DateCase {
  const char* date;
  const char* day;
  const char* month;
  const char* quarter;
  const char* year;
  const char* academic_year;
};

TEST(CoarsenDateTest, Table) {
  const DateCase cases[] = {
      {"2024-03-07", "2024-03-07", "2024-03", "2024-Q1", "2024", "2023/24"},
      {"2023-09-01", "2023-09-01", "2023-09", "2023-Q3", "2023", "2023/24"},
      {"2023-08-31", "2023-08-31", "2023-08", "2023-Q3", "2023", "2022/23"},
      {"2024-02-29", "2024-02-29", "2024-02", "2024-Q1", "2024", "2023/24"},
      {"2000-02-29", "2000-02-29", "2000-02", "2000-Q1", "2000", "1999/00"},
      {"1999-09-01", "1999-09-01", "1999-09", "1999-Q3", "1999", "1999/00"},
      {"2009-12-31", "2009-12-31", "2009-12", "2009-Q4", "2009", "2009/10"},
      {"2010-01-01", "2010-01-01", "2010-01", "2010-Q1", "2010", "2009/10"},
      {"2024-04-01", "2024-04-01", "2024-04", "2024-Q2", "2024", "2023/24"},
      {"2024-06-30", "2024-06-30", "2024-06", "2024-Q2", "2024", "2023/24"},
      {"2024-07-01", "2024-07-01", "2024-07", "2024-Q3", "2024", "2023/24"},
      {"2024-10-01", "2024-10-01", "2024-10", "2024-Q4", "2024", "2024/25"},
  };
  for (const DateCase& c : cases) {
    SCOPED_TRACE(c.date);
    EXPECT_THAT(CoarsenDate(c.date, v1::DATE_GRANULARITY_DAY),
                IsOkAndHolds(Eq(c.day)));
    EXPECT_THAT(CoarsenDate(c.date, v1::DATE_GRANULARITY_MONTH),
                IsOkAndHolds(Eq(c.month)));
    EXPECT_THAT(CoarsenDate(c.date, v1::DATE_GRANULARITY_QUARTER),
                IsOkAndHolds(Eq(c.quarter)));
    EXPECT_THAT(CoarsenDate(c.date, v1::DATE_GRANULARITY_YEAR),
                IsOkAndHolds(Eq(c.year)));
    EXPECT_THAT(CoarsenDate(c.date, v1::DATE_GRANULARITY_ACADEMIC_YEAR),
                IsOkAndHolds(Eq(c.academic_year)));
  }
}

TEST(CoarsenDateTest, RefusesBadDatesWithoutEchoingThem) {
  for (const char* bad :
       {"", "2024-3-07", "2024/03/07", "20240307", "2024-13-01", "2024-00-10",
        "2024-02-30", "2023-02-29", "1900-02-29", "2024-04-31", "0999-01-01",
        "2024-03-07T00:00", "2024-03-0x", " 2024-03-07", "-024-03-07"}) {
    SCOPED_TRACE(bad);
    auto r = CoarsenDate(bad, v1::DATE_GRANULARITY_MONTH);
    EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument));
    if (bad[0] != '\0') {
      EXPECT_THAT(std::string(r.status().message()), Not(HasSubstr(bad)));
    }
  }
  EXPECT_THAT(CoarsenDate("2024-03-07", v1::DATE_GRANULARITY_UNSPECIFIED),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(CoarsenDateTest, GranularityNames) {
  for (auto g : {v1::DATE_GRANULARITY_DAY, v1::DATE_GRANULARITY_MONTH,
                 v1::DATE_GRANULARITY_QUARTER, v1::DATE_GRANULARITY_YEAR,
                 v1::DATE_GRANULARITY_ACADEMIC_YEAR}) {
    EXPECT_THAT(ParseDateGranularity(DateGranularityName(g)),
                IsOkAndHolds(Eq(g)));
  }
  EXPECT_THAT(ParseDateGranularity("week"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(DateGranularityName(v1::DATE_GRANULARITY_UNSPECIFIED),
            "unspecified");
}

TEST(CategoryMapTest, EthnicityMajorGroups) {
  const CategoryMap& m = EthnicityMajorGroups();
  const std::pair<const char*, const char*> cases[] = {
      {"WBRI", "White"},
      {"WIRT", "White"},
      {"WROM", "White"},
      {"MWBC", "Mixed"},
      {"MOTH", "Mixed"},
      {"AIND", "Asian"},
      {"ABAN", "Asian"},
      {"BCRB", "Black"},
      {"BAFR", "Black"},
      {"CHNE", "Chinese"},
      {"OOTH", "Any other ethnic group"},
      {"REFU", "Unclassified"},
      {"NOBT", "Unclassified"}};
  for (const auto& [code, group] : cases) {
    EXPECT_THAT(m.Map(code), IsOkAndHolds(Eq(group))) << code;
  }
  // Unmapped codes are refused, naming the mapping and not the value.
  auto r = m.Map("ZZZZ");
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument,
                          HasSubstr("ethnicity_major_group")));
  EXPECT_THAT(std::string(r.status().message()), Not(HasSubstr("ZZZZ")));
  EXPECT_THAT(m.Map("wbri"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(m.name(), "ethnicity_major_group");
  EXPECT_EQ(m.digest().size(), 32u);
}

TEST(CategoryMapTest, YearGroupsToKeyStages) {
  const CategoryMap& m = YearGroupKeyStages();
  const std::pair<const char*, const char*> cases[] = {
      {"N1", "EYFS"},       {"R", "EYFS"}, {"1", "KS1"},  {"2", "KS1"},
      {"3", "KS2"},         {"6", "KS2"},  {"7", "KS3"},  {"9", "KS3"},
      {"10", "KS4"},        {"11", "KS4"}, {"12", "KS5"}, {"13", "KS5"},
      {"X", "Not followed"}};
  for (const auto& [year, stage] : cases) {
    EXPECT_THAT(m.Map(year), IsOkAndHolds(Eq(stage))) << year;
  }
  EXPECT_THAT(m.Map("15"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(m.Map(""), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(CategoryMapTest, DeclaredOtherGroup) {
  auto m = CategoryMap::Create("sen", {{"E", "EHC plan"}, {"K", "SEN support"}},
                               "Other or none");
  ASSERT_THAT(m, IsOk());
  EXPECT_THAT(m->Map("E"), IsOkAndHolds(Eq("EHC plan")));
  EXPECT_THAT(m->Map("N"), IsOkAndHolds(Eq("Other or none")));
  EXPECT_THAT(m->Map(""), IsOkAndHolds(Eq("Other or none")));
}

TEST(CategoryMapTest, CreateChecks) {
  EXPECT_THAT(CategoryMap::Create("", {{"a", "b"}}, std::nullopt),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(
      CategoryMap::Create("m", {{"a", "b"}, {"a", "b"}}, std::nullopt),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("mapped twice")));
  EXPECT_THAT(CategoryMap::Create("m", {{"", "b"}}, std::nullopt),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CategoryMap::Create("m", {{"a", ""}}, std::nullopt),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CategoryMap::Create("m", {{"a", "b"}}, ""),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(CategoryMapTest, DigestIdentifiesTheMapping) {
  auto a = CategoryMap::Create("m", {{"a", "x"}, {"b", "y"}}, std::nullopt);
  auto b = CategoryMap::Create("m", {{"b", "y"}, {"a", "x"}}, std::nullopt);
  auto c = CategoryMap::Create("m", {{"a", "x"}, {"b", "x"}}, std::nullopt);
  auto d = CategoryMap::Create("m", {{"a", "x"}, {"b", "y"}}, "y");
  auto e = CategoryMap::Create("n", {{"a", "x"}, {"b", "y"}}, std::nullopt);
  ASSERT_THAT(a, IsOk());
  EXPECT_EQ(a->digest(), b->digest());  // order of declaration is irrelevant
  EXPECT_NE(a->digest(), c->digest());
  EXPECT_NE(a->digest(), d->digest());
  EXPECT_NE(a->digest(), e->digest());
}

}  // namespace
}  // namespace linkd::extract
