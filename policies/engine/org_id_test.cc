#include "policies/engine/org_id.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/util/status_matchers.h"

namespace linkd::policy {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::IsOkAndHolds;
using ::linkd::testing::StatusIs;
using ::testing::HasSubstr;

TEST(OrgIdTest, ParsesEachKind) {
  for (const char* id : {"school/100001", "la/999", "health/RXX01",
                         "research/P2025-001", "la/999-vs", "health/a.b_c"}) {
    auto parsed = ParseOrgId(id);
    ASSERT_THAT(parsed, IsOk()) << id;
    EXPECT_EQ(parsed->ToString(), id);
    EXPECT_FALSE(parsed->is_pattern());
  }
  EXPECT_EQ(ParseOrgId("la/999")->kind, OrgKind::kLa);
  EXPECT_EQ(ParseOrgId("research/P1")->local, "P1");
}

TEST(OrgIdTest, RefusesMalformedIds) {
  for (const char* id : {"", "school", "school/", "/1", "nursery/1", "School/1",
                         "school/1/2", "school/a b", "school/é", "school/*"}) {
    EXPECT_THAT(ParseOrgId(id), StatusIs(absl::StatusCode::kInvalidArgument))
        << id;
  }
  EXPECT_THAT(ParseOrgId(std::string("school/") + std::string(65, 'x')),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseOrgId(std::string("school/") + std::string(64, 'x')),
              IsOk());
  // Errors never echo the local part, which could be an identifier.
  EXPECT_THAT(ParseOrgId("school/secret value"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::Not(HasSubstr("secret"))));
}

TEST(OrgIdTest, Patterns) {
  auto pattern = ParseOrgIdOrPattern("school/*");
  ASSERT_THAT(pattern, IsOk());
  EXPECT_TRUE(pattern->is_pattern());
  EXPECT_TRUE(OrgPatternMatches(*pattern, *ParseOrgId("school/1")));
  EXPECT_FALSE(OrgPatternMatches(*pattern, *ParseOrgId("la/1")));
  auto exact = ParseOrgIdOrPattern("la/1");
  ASSERT_THAT(exact, IsOk());
  EXPECT_TRUE(OrgPatternMatches(*exact, *ParseOrgId("la/1")));
  EXPECT_FALSE(OrgPatternMatches(*exact, *ParseOrgId("la/10")));
  EXPECT_FALSE(OrgPatternMatches(*exact, *ParseOrgId("school/1")));
  EXPECT_THAT(ParseOrgIdOrPattern("*/*"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseOrgIdOrPattern("school/1*"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(OrgIdTest, FromSpiffeUri) {
  EXPECT_THAT(OrgIdFromSpiffeUri("spiffe://linkd.example.gov.uk/school/100001",
                                 "linkd.example.gov.uk"),
              IsOkAndHolds(std::string("school/100001")));
  EXPECT_THAT(OrgIdFromSpiffeUri("SPIFFE://Linkd.Example.gov.uk/la/999",
                                 "linkd.example.gov.uk"),
              IsOkAndHolds(std::string("la/999")));
  EXPECT_THAT(
      OrgIdFromSpiffeUri("spiffe://other.example/la/999", "linkd.example"),
      StatusIs(absl::StatusCode::kPermissionDenied));
  for (const char* bad :
       {"https://linkd.example/la/999", "spiffe://linkd.example",
        "spiffe://linkd.example/", "spiffe:///la/999",
        "spiffe://linkd.example/la", "spiffe://linkd.example/la/999/extra",
        "spiffe://linkd.example/la/*", "spiffe://linkd.example/la/9?x=1",
        "spiffe://linkd.example/la/9#f", "spiffe://linkd.example/bank/1"}) {
    EXPECT_THAT(OrgIdFromSpiffeUri(bad, "linkd.example"),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
}

}  // namespace
}  // namespace linkd::policy
