#include "policies/engine/check.h"

#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/util/status_matchers.h"

namespace linkd::policy {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kPolicies = LINKD_POLICIES_DIR;

TEST(CheckPolicyDirTest, ShippedPoliciesPass) {
  std::ostringstream out;
  ASSERT_THAT(CheckPolicyDir(kPolicies, out), IsOk()) << out.str();
  const std::string report = out.str();
  EXPECT_THAT(report, HasSubstr("version 2025.1.0"));
  EXPECT_THAT(report, ContainsRegex("hash: sha256:[0-9a-f]{64}"));
  EXPECT_THAT(report, HasSubstr("purposes/research_extract.textproto"));
  EXPECT_THAT(report, HasSubstr("safeguarding_notification: UK GDPR Art "
                                "6(1)(e) public task"));
  EXPECT_THAT(report, HasSubstr("FORBID refuge-never-disclose-school"));
  EXPECT_THAT(report, ContainsRegex("tests \\([0-9]+\\): [0-9]+ passed, 0 "
                                    "failed"));
  EXPECT_THAT(report, HasSubstr("PASS a child whose family objected to "
                                "research is left out"));
  EXPECT_THAT(report, HasSubstr(": OK"));
  EXPECT_THAT(report, Not(HasSubstr("warning")));
  EXPECT_THAT(report, Not(HasSubstr("testdata")));
}

TEST(CheckPolicyDirTest, ShippedPoliciesCoverTheRequiredPurposes) {
  auto set = LoadAndTestPolicyDir(kPolicies);
  ASSERT_THAT(set, IsOk());
  for (const char* id : {"safeguarding_notification", "has_social_worker_flag",
                         "direct_care", "research_extract", "ig_audit"}) {
    const PurposeInfo* p = (*set)->FindPurpose(id);
    ASSERT_NE(p, nullptr) << id;
    EXPECT_FALSE(p->lawful_basis.empty()) << id;
  }
  const PurposeInfo* safeguarding =
      (*set)->FindPurpose("safeguarding_notification");
  EXPECT_FALSE(safeguarding->objections_apply);
  EXPECT_GT(safeguarding->notification_expiry_days, 0);
  EXPECT_THAT(safeguarding->lawful_basis, HasSubstr("Part 2 para 18"));
  const PurposeInfo* research = (*set)->FindPurpose("research_extract");
  EXPECT_TRUE(research->objections_apply);
  EXPECT_TRUE(research->opt_outs_apply);
  EXPECT_TRUE(research->requires_approved_project);
  EXPECT_THAT(research->lawful_basis, HasSubstr("9(2)(j)"));
  EXPECT_GE((*set)->test_count(), 30u);
}

struct BadCase {
  const char* dir;
  absl::StatusCode code;
  const char* where;  // file and line (and column) of the problem
  const char* reason;
};

class BadPolicyDirTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadPolicyDirTest, IsRefusedNamingFileLineAndReason) {
  const BadCase& c = GetParam();
  const std::string dir = kPolicies + "/testdata/" + c.dir;
  std::ostringstream out;
  const absl::Status s = CheckPolicyDir(dir, out);
  EXPECT_THAT(s, StatusIs(c.code, AllOf(HasSubstr(dir + "/" + c.where),
                                        HasSubstr(c.reason))));
  EXPECT_THAT(out.str(), AllOf(HasSubstr("FAILED"), HasSubstr(c.where),
                               HasSubstr(c.reason)));
  EXPECT_THAT(LoadAndTestPolicyDir(dir), StatusIs(c.code));
}

INSTANTIATE_TEST_SUITE_P(
    Testdata, BadPolicyDirTest,
    ::testing::Values(
        BadCase{"no_lawful_basis", absl::StatusCode::kInvalidArgument,
                "purposes/bad_purpose.textproto:2:1: ",
                "purpose \"pupil_wellbeing_survey\" has no lawful basis"},
        BadCase{"syntax_error", absl::StatusCode::kInvalidArgument,
                "rules.textproto:5:",
                "syntax error: String literals cannot "
                "cross line boundaries"},
        BadCase{"failing_test", absl::StatusCode::kFailedPrecondition,
                "tests.textproto:2:1: ",
                "policy test \"the current school gets the flag\" failed: "
                "expected DENY, got ALLOW"},
        BadCase{"unknown_action", absl::StatusCode::kInvalidArgument,
                "rules.textproto:6:3: ",
                "unknown action \"notification.broadcast\""},
        BadCase{"unknown_purpose_in_rule", absl::StatusCode::kInvalidArgument,
                "rules.textproto:7:3: ", "unknown purpose \"safeguarding\""},
        BadCase{"duplicate_rule_id", absl::StatusCode::kInvalidArgument,
                "rules.textproto:14:3: ",
                "duplicate rule id \"permit-flag-to-school\""}),
    [](const ::testing::TestParamInfo<BadCase>& info) {
      return std::string(info.param.dir);
    });

TEST(CheckPolicyDirTest, MissingDirectory) {
  std::ostringstream out;
  EXPECT_THAT(CheckPolicyDir(kPolicies + "/no-such-dir", out),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(out.str(), HasSubstr("FAILED"));
}

}  // namespace
}  // namespace linkd::policy
