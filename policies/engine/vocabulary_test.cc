#include "policies/engine/vocabulary.h"

#include <algorithm>
#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace linkd::policy {
namespace {

TEST(VocabularyTest, RolesRoundTrip) {
  ASSERT_EQ(AllRoles().size(), static_cast<size_t>(kRoleCount));
  std::set<std::string> names;
  for (Role r : AllRoles()) {
    EXPECT_EQ(ParseRole(RoleName(r)), r);
    names.emplace(RoleName(r));
  }
  EXPECT_EQ(names, (std::set<std::string>{"provider", "recipient", "ig_officer",
                                          "researcher", "auditor", "admin"}));
  EXPECT_EQ(ParseRole("IG_OFFICER"), std::nullopt);
  EXPECT_EQ(ParseRole(""), std::nullopt);
}

TEST(VocabularyTest, ActionsRoundTrip) {
  ASSERT_EQ(AllActions().size(), static_cast<size_t>(kActionCount - 1));
  for (Action a : AllActions()) {
    EXPECT_EQ(ParseAction(ActionName(a)), a);
    EXPECT_NE(ActionName(a), "");
  }
  EXPECT_EQ(ParseAction("unspecified"), std::nullopt);
  EXPECT_EQ(ParseAction("notification.broadcast"), std::nullopt);
  EXPECT_TRUE(ActionNeedsRecipient(Action::kNotificationSend));
  EXPECT_TRUE(ActionNeedsRecipient(Action::kFlagSend));
  EXPECT_TRUE(ActionNeedsRecipient(Action::kExtractRelease));
  EXPECT_FALSE(ActionNeedsRecipient(Action::kAuditRead));
  EXPECT_FALSE(ActionNeedsRecipient(Action::kExtractApprove));
}

TEST(VocabularyTest, KindsRoundTrip) {
  for (int i = 0; i < kOrgKindCount; ++i) {
    const OrgKind k = static_cast<OrgKind>(i);
    EXPECT_EQ(ParseOrgKind(OrgKindName(k)), k);
  }
  EXPECT_EQ(ParseOrgKind("nursery"), std::nullopt);
}

TEST(VocabularyTest, PredicatesAreNamedAndExplained) {
  std::set<std::string> names;
  for (int i = 0; i < kPredicateCount; ++i) {
    const Predicate p = static_cast<Predicate>(i);
    EXPECT_FALSE(PredicateName(p).empty()) << i;
    EXPECT_FALSE(PredicateMeaning(p).empty()) << i;
    EXPECT_EQ(ParsePredicate(PredicateName(p)), p);
    names.emplace(PredicateName(p));
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(kPredicateCount));
  EXPECT_EQ(ParsePredicate("not in_refuge"), std::nullopt);
}

TEST(VocabularyTest, FieldsAreSortedAndKnown) {
  const auto& fields = AllFields();
  EXPECT_TRUE(std::is_sorted(fields.begin(), fields.end()));
  EXPECT_TRUE(std::adjacent_find(fields.begin(), fields.end()) == fields.end());
  for (absl::string_view f : fields) {
    EXPECT_FALSE(f.empty());
    EXPECT_TRUE(IsKnownField(f)) << f;
  }
  for (const char* f :
       {"year_group", "sen_status", "fsm_eligible", "ethnicity_code", "la_code",
        "birth_month", "event_type", "event_date", "reporting_school",
        "contact"}) {
    EXPECT_TRUE(IsKnownField(f)) << f;
  }
  EXPECT_FALSE(IsKnownField("name"));
  EXPECT_FALSE(IsKnownField("home_address"));
}

}  // namespace
}  // namespace linkd::policy
