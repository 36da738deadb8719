#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/util/status_matchers.h"
#include "linkd/util/temp_dir.h"
#include "policies/engine/policy_set.h"

namespace linkd::policy {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kHeader[] = R"(policy_set {
  name: "t"
  version: "1"
}
)";

constexpr char kOrganisations[] = R"(organisations {
  id: "school/*"
  display_name: "Any school"
  roles: ["provider", "recipient"]
}
organisations {
  id: "la/999"
  display_name: "Example LA"
  roles: ["provider", "recipient"]
  la_code: "999"
}
)";

constexpr char kPurpose[] = R"(purposes {
  id: "flag"
  display_name: "Flag"
  description: "Flag a pupil."
  special_category_data: true
  lawful_basis {
    uk_gdpr_article_6: "6(1)(e) public task"
    uk_gdpr_article_9: "9(2)(g) substantial public interest"
    dpa_2018_schedule_1 { part: 2 paragraph: 18 title: "Safeguarding" }
  }
  why_objections_do_not_apply: "safeguarding"
  why_opt_outs_do_not_apply: "not covered"
  disclosed_fields: ["has_social_worker", "contact"]
}
)";

constexpr char kRule[] = R"(rules {
  id: "permit-flag"
  effect: PERMIT
  description: "LA tells the current school."
  actions: "flag.send"
  purposes: "flag"
  requester_kinds: "la"
  recipient_kinds: "school"
  conditions: "recipient_is_current_school"
}
)";

class LoaderTest : public ::testing::Test {
 protected:
  LoaderTest()
      : files_({{"header.textproto", kHeader},
                {"orgs.textproto", kOrganisations},
                {"purposes/flag.textproto", kPurpose},
                {"rules.textproto", kRule}}) {}

  absl::StatusOr<std::shared_ptr<const PolicySet>> Load() const {
    std::vector<PolicySourceFile> files;
    for (const auto& [name, contents] : files_) {
      files.push_back({name, contents});
    }
    return PolicySet::LoadFiles(std::move(files));
  }

  // Loads and expects INVALID_ARGUMENT with `where` ("file:line:") and
  // `reason` in its message.
  void ExpectError(const std::string& where, const std::string& reason) {
    auto set = Load();
    EXPECT_THAT(set, StatusIs(absl::StatusCode::kInvalidArgument,
                              AllOf(HasSubstr(where), HasSubstr(reason))));
  }

  std::map<std::string, std::string> files_;
};

TEST_F(LoaderTest, LoadsAGoodSet) {
  auto set = Load();
  ASSERT_THAT(set, IsOk());
  EXPECT_EQ((*set)->name(), "t");
  EXPECT_EQ((*set)->version(), "1");
  EXPECT_EQ((*set)->hash().size(), 32u);
  EXPECT_EQ((*set)->hash_hex().size(), 64u);
  EXPECT_THAT((*set)->file_names(),
              ElementsAre("header.textproto", "orgs.textproto",
                          "purposes/flag.textproto", "rules.textproto"));
  EXPECT_EQ((*set)->rule_count(), 1u);
  EXPECT_EQ((*set)->organisation_count(), 2u);
  const PurposeInfo* p = (*set)->FindPurpose("flag");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->category, "flag");
  EXPECT_EQ(p->lawful_basis,
            "UK GDPR Art 6(1)(e) public task; Art 9(2)(g) substantial public "
            "interest; DPA 2018 Sch 1 Part 2 para 18 (Safeguarding)");
  EXPECT_FALSE(p->requires_consent);
  EXPECT_EQ(p->location, "purposes/flag.textproto:1:1");
  EXPECT_EQ((*set)->FindPurpose("nope"), nullptr);
}

TEST_F(LoaderTest, NoFiles) {
  EXPECT_THAT(PolicySet::LoadFiles({}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no policy files")));
}

TEST_F(LoaderTest, SyntaxErrorNamesFileLineAndColumn) {
  files_["rules.textproto"] = "rules {\n  id: \"x\"\n  effect: MAYBE\n}\n";
  ExpectError("rules.textproto:3:11: syntax error:", "MAYBE");
}

TEST_F(LoaderTest, UnknownFieldIsASyntaxError) {
  files_["rules.textproto"] = "rules {\n  id: \"x\"\n  colour: \"red\"\n}\n";
  ExpectError("rules.textproto:3:", "colour");
}

TEST_F(LoaderTest, ReportsEverySyntaxErrorFileAndStops) {
  files_["a.textproto"] = "rules {";
  files_["b.textproto"] = "purposes { id: 3 }";
  auto set = Load();
  EXPECT_THAT(set, StatusIs(absl::StatusCode::kInvalidArgument,
                            AllOf(HasSubstr("a.textproto:1:"),
                                  HasSubstr("b.textproto:1:"))));
}

TEST_F(LoaderTest, HeaderIsRequiredOnceWithAVersion) {
  files_.erase("header.textproto");
  ExpectError("orgs.textproto", "no file of the set has a policy_set");
  files_["header.textproto"] = "policy_set { name: \"t\" }\n";
  ExpectError("header.textproto:1:1", "policy_set.version is missing");
  files_["header.textproto"] = kHeader;
  files_["z.textproto"] = kHeader;
  ExpectError("z.textproto:1:1",
              "a second policy_set header (the first is at "
              "header.textproto:1:1)");
}

TEST_F(LoaderTest, PurposeWithoutLawfulBasisDoesNotLoad) {
  files_["purposes/p.textproto"] = R"(# comment
purposes {
  id: "survey"
  display_name: "Survey"
  description: "A survey."
  why_objections_do_not_apply: "x"
  why_opt_outs_do_not_apply: "x"
  disclosed_fields: "contact"
}
)";
  ExpectError("purposes/p.textproto:2:1",
              "purpose \"survey\" has no lawful basis");
}

TEST_F(LoaderTest, PurposeWithEmptyArticle6DoesNotLoad) {
  files_["purposes/flag.textproto"] = R"(purposes {
  id: "flag"
  display_name: "Flag"
  description: "Flag a pupil."
  lawful_basis {
    legislation: "Children Act 2004"
  }
  why_objections_do_not_apply: "x"
  why_opt_outs_do_not_apply: "x"
  disclosed_fields: "contact"
}
)";
  ExpectError("purposes/flag.textproto:5:3",
              "has no lawful basis: lawful_basis.uk_gdpr_article_6 is "
              "missing");
}

// Replaces the lawful basis block of kPurpose.
std::string PurposeWithBasis(const std::string& basis, bool special = true) {
  return absl::StrCat(R"(purposes {
  id: "flag"
  display_name: "Flag"
  description: "Flag a pupil."
  special_category_data: )",
                      special ? "true" : "false", R"(
  lawful_basis {
)",
                      basis, R"(
  }
  why_objections_do_not_apply: "x"
  why_opt_outs_do_not_apply: "x"
  disclosed_fields: "contact"
}
)");
}

TEST_F(LoaderTest, Article6MustHaveAValidReference) {
  files_["purposes/flag.textproto"] = PurposeWithBasis(
      "    uk_gdpr_article_6: \"public task\"", /*special=*/false);
  ExpectError("purposes/flag.textproto:7:5",
              "uk_gdpr_article_6 must be 6(1)(a) to 6(1)(f)");
  files_["purposes/flag.textproto"] = PurposeWithBasis(
      "    uk_gdpr_article_6: \"6(1)(g) made up\"", /*special=*/false);
  ExpectError("purposes/flag.textproto:7:5", "6(1)(a) to 6(1)(f)");
  files_["purposes/flag.textproto"] =
      PurposeWithBasis("    uk_gdpr_article_6: \"6(1)(e)\"", /*special=*/false);
  ExpectError("purposes/flag.textproto:7:5", "followed by its name");
}

TEST_F(LoaderTest, SpecialCategoryNeedsArticle9) {
  files_["purposes/flag.textproto"] =
      PurposeWithBasis("    uk_gdpr_article_6: \"6(1)(e) public task\"");
  ExpectError("purposes/flag.textproto:6:3",
              "uses special category data but has no lawful basis for it");
}

TEST_F(LoaderTest, Article9WithoutSpecialCategoryIsAMistake) {
  files_["purposes/flag.textproto"] = PurposeWithBasis(
      "    uk_gdpr_article_6: \"6(1)(e) public task\"\n"
      "    uk_gdpr_article_9: \"9(2)(f) legal claims\"",
      /*special=*/false);
  ExpectError("purposes/flag.textproto:8:5", "special_category_data is false");
}

TEST_F(LoaderTest, SubstantialPublicInterestNeedsSchedule1Part2) {
  files_["purposes/flag.textproto"] = PurposeWithBasis(
      "    uk_gdpr_article_6: \"6(1)(e) public task\"\n"
      "    uk_gdpr_article_9: \"9(2)(g) substantial public interest\"");
  ExpectError("purposes/flag.textproto:6:3",
              "Article 9(2)(g) needs a DPA 2018 Schedule 1 condition (a Part "
              "2 paragraph, 6 to 28)");
  files_["purposes/flag.textproto"] = PurposeWithBasis(
      "    uk_gdpr_article_6: \"6(1)(e) public task\"\n"
      "    uk_gdpr_article_9: \"9(2)(g) substantial public interest\"\n"
      "    dpa_2018_schedule_1 { part: 1 paragraph: 2 title: \"x\" }");
  ExpectError("purposes/flag.textproto:9:5", "not Part 1 paragraph 2");
}

TEST_F(LoaderTest, ResearchNeedsSchedule1Part1Paragraph4) {
  files_["purposes/flag.textproto"] = PurposeWithBasis(
      "    uk_gdpr_article_6: \"6(1)(e) public task\"\n"
      "    uk_gdpr_article_9: \"9(2)(j) research\"\n"
      "    dpa_2018_schedule_1 { part: 1 paragraph: 2 title: \"x\" }");
  ExpectError("purposes/flag.textproto:9:5",
              "needs Schedule 1 Part 1 paragraph 4");
  files_["purposes/flag.textproto"] = PurposeWithBasis(
      "    uk_gdpr_article_6: \"6(1)(e) public task\"\n"
      "    uk_gdpr_article_9: \"9(2)(j) research\"\n"
      "    dpa_2018_schedule_1 { part: 1 paragraph: 4 }");
  ExpectError("purposes/flag.textproto:9:5", "title is missing");
}

TEST_F(LoaderTest, ExplicitConsentNeedsNoSchedule1) {
  files_["purposes/flag.textproto"] = PurposeWithBasis(
      "    uk_gdpr_article_6: \"6(1)(a) consent\"\n"
      "    uk_gdpr_article_9: \"9(2)(a) explicit consent\"\n"
      "    dpa_2018_schedule_1 { part: 1 paragraph: 4 title: \"x\" }");
  ExpectError("purposes/flag.textproto:9:5", "needs no DPA 2018 Schedule 1");
  files_["purposes/flag.textproto"] = PurposeWithBasis(
      "    uk_gdpr_article_6: \"6(1)(a) consent\"\n"
      "    uk_gdpr_article_9: \"9(2)(a) explicit consent\"");
  auto set = Load();
  ASSERT_THAT(set, IsOk());
  EXPECT_TRUE((*set)->FindPurpose("flag")->requires_consent);
}

TEST_F(LoaderTest, PurposeMustSayWhyObjectionsDoNotApply) {
  std::string p = kPurpose;
  p.replace(
      p.find("  why_objections"),
      std::string("  why_objections_do_not_apply: \"safeguarding\"\n").size(),
      "");
  files_["purposes/flag.textproto"] = p;
  ExpectError("purposes/flag.textproto:1:1",
              "why_objections_do_not_apply must say why");
}

TEST_F(LoaderTest, PurposeFieldsComeFromTheVocabulary) {
  std::string p = kPurpose;
  p.replace(p.find("\"contact\""), 9, "\"home_address\"");
  files_["purposes/flag.textproto"] = p;
  ExpectError("purposes/flag.textproto:", "unknown field \"home_address\"");
}

TEST_F(LoaderTest, DuplicatePurpose) {
  files_["purposes/again.textproto"] = kPurpose;
  ExpectError("purposes/flag.textproto:2:3:",
              "duplicate purpose \"flag\" (first at "
              "purposes/again.textproto:1:1)");
}

TEST_F(LoaderTest, OrganisationChecks) {
  files_["orgs2.textproto"] = R"(organisations {
  id: "nursery/1"
  display_name: "x"
  roles: "provider"
}
organisations {
  id: "school/2"
  display_name: "x"
  roles: ["provider", "teacher"]
}
organisations {
  id: "la/999"
  display_name: "again"
  roles: "provider"
}
organisations {
  id: "school/3"
  display_name: "x"
  roles: "recipient"
  virtual_school: true
  la_code: "99"
}
organisations {
  id: "health/4"
  display_name: "x"
}
)";
  auto set = Load();
  ASSERT_THAT(set, StatusIs(absl::StatusCode::kInvalidArgument));
  const std::string m(set.status().message());
  EXPECT_THAT(m, HasSubstr("orgs2.textproto:2:3: organisation \"nursery/1\": "
                           "organisation kind must be"));
  EXPECT_THAT(m, HasSubstr("orgs2.textproto:9:3: unknown role \"teacher\""));
  EXPECT_THAT(m, HasSubstr("orgs2.textproto:12:3: duplicate organisation "
                           "\"la/999\" (first at orgs.textproto:6:1)"));
  EXPECT_THAT(m, HasSubstr("orgs2.textproto:20:3: organisation \"school/3\": "
                           "only an exact la/<id> entry can be a Virtual"));
  EXPECT_THAT(m, HasSubstr("orgs2.textproto:21:3: organisation \"school/3\": "
                           "la_code must be a three-digit LA code"));
  EXPECT_THAT(m, HasSubstr("orgs2.textproto:23:1: organisation \"health/4\" "
                           "has no roles"));
}

TEST_F(LoaderTest, RuleChecksNameTheOffendingLine) {
  files_["rules.textproto"] = R"(rules {
  id: "Bad Id"
}
rules {
  id: "default-deny"
}
rules {
  id: "r1"
  effect: PERMIT
  description: "x"
  actions: ["flag.send", "flag.wave"]
  purposes: ["flag", "flags"]
  requester_roles: "teacher"
  recipient_kinds: "nursery"
  recipient_orgs: "school/"
  fields: "shoe_size"
  conditions: ["in_refuge", "sunny", "not in_refuge"]
}
rules {
  id: "r1"
}
rules {
  id: "r2"
}
)";
  auto set = Load();
  ASSERT_THAT(set, StatusIs(absl::StatusCode::kInvalidArgument));
  const std::string m(set.status().message());
  EXPECT_THAT(m, HasSubstr("rules.textproto:2:3: rule id \"Bad Id\" must be"));
  EXPECT_THAT(m, HasSubstr("rules.textproto:5:3: rule id \"default-deny\" is "
                           "reserved"));
  EXPECT_THAT(m, HasSubstr("rules.textproto:11:3: rule \"r1\": unknown action "
                           "\"flag.wave\""));
  EXPECT_THAT(m, HasSubstr("rules.textproto:12:3: rule \"r1\": unknown purpose "
                           "\"flags\""));
  EXPECT_THAT(m, HasSubstr("rules.textproto:13:3: rule \"r1\": unknown role "
                           "\"teacher\""));
  EXPECT_THAT(m, HasSubstr("rules.textproto:14:3: rule \"r1\": unknown "
                           "organisation kind \"nursery\""));
  EXPECT_THAT(m, HasSubstr("rules.textproto:15:3: rule \"r1\": \"school/\""));
  EXPECT_THAT(m, HasSubstr("rules.textproto:16:3: rule \"r1\": unknown field "
                           "\"shoe_size\""));
  EXPECT_THAT(m, HasSubstr("rules.textproto:17:3: rule \"r1\": unknown "
                           "condition \"sunny\""));
  EXPECT_THAT(m, HasSubstr("rules.textproto:17:3: rule \"r1\": conditions "
                           "\"in_refuge\" and \"not in_refuge\" can never"));
  EXPECT_THAT(m, HasSubstr("rules.textproto:20:3: duplicate rule id \"r1\" "
                           "(first at rules.textproto:7:1)"));
  EXPECT_THAT(m, HasSubstr("rules.textproto:22:1: rule \"r2\": effect must be "
                           "PERMIT or FORBID"));
  EXPECT_THAT(m, HasSubstr("rules.textproto:22:1: rule \"r2\": description is "
                           "missing"));
  EXPECT_THAT(m, HasSubstr("rules.textproto:22:1: rule \"r2\": actions is "
                           "empty"));
}

TEST_F(LoaderTest, ManyErrorsAreCapped) {
  std::string rules;
  for (int i = 0; i < 80; ++i)
    absl::StrAppend(&rules, "rules { id: \"r", i, "\" }\n");
  files_["rules.textproto"] = rules;
  auto set = Load();
  ASSERT_THAT(set, StatusIs(absl::StatusCode::kInvalidArgument,
                            HasSubstr("more problems")));
}

constexpr char kGoodTest[] = R"(tests {
  name: "flag to school"
  request {
    action: "flag.send"
    purpose: "flag"
    requester: "la/999"
    recipient: "school/1"
    time: "2025-01-01T00:00:00Z"
  }
  facts { recipient_is_current_school: true }
  expect: ALLOW
  expect_deciding_rule: "permit-flag"
}
)";

TEST_F(LoaderTest, PolicyTestsAreChecked) {
  files_["tests.textproto"] = absl::StrCat(kGoodTest, R"(tests {
  name: "flag to school"
}
tests {
  name: "bad action"
  request {
    action: "flag.wave"
    time: "2025-01-01T00:00:00Z"
  }
  expect: DENY
}
tests {
  name: "bad time"
  request {
    action: "flag.send"
    time: "yesterday"
  }
  expect: DENY
}
tests {
  name: "no expectation"
  request {
    action: "flag.send"
    time: "2025-01-01T00:00:00Z"
  }
  facts { project { end_date: "soon" } }
  expect_deciding_rule: "permit-flog"
}
)");
  auto set = Load();
  ASSERT_THAT(set, StatusIs(absl::StatusCode::kInvalidArgument));
  const std::string m(set.status().message());
  EXPECT_THAT(m, HasSubstr("tests.textproto:15:3: duplicate policy test name"));
  EXPECT_THAT(m, HasSubstr("tests.textproto:19:3: policy test \"bad action\": "
                           "request.action: unknown action \"flag.wave\""));
  EXPECT_THAT(m, HasSubstr("tests.textproto:27:3: policy test \"bad time\": "
                           "request.time: not RFC 3339"));
  EXPECT_THAT(m, HasSubstr("tests.textproto:39:3: policy test \"no "
                           "expectation\": facts.project.end_date"));
  EXPECT_THAT(m, HasSubstr("tests.textproto:33:1: policy test \"no "
                           "expectation\": expect must be ALLOW or DENY"));
  EXPECT_THAT(m, HasSubstr("tests.textproto:40:3: policy test \"no "
                           "expectation\": expect_deciding_rule "
                           "\"permit-flog\" is not a rule"));
}

TEST_F(LoaderTest, PolicyTestsRun) {
  files_["tests.textproto"] = kGoodTest;
  auto set = Load();
  ASSERT_THAT(set, IsOk());
  EXPECT_EQ((*set)->test_count(), 1u);
  PolicyTestReport report = (*set)->RunPolicyTests();
  EXPECT_EQ(report.passed(), 1);
  EXPECT_EQ(report.failed(), 0);
  EXPECT_THAT(report.ToStatus(), IsOk());
}

TEST_F(LoaderTest, FailingPolicyTestNamesFileLineAndReason) {
  std::string t = kGoodTest;
  t.replace(t.find("ALLOW"), 5, "DENY");
  files_["tests/t.textproto"] = "# leading comment\n" + t;
  auto set = Load();
  ASSERT_THAT(set, IsOk());  // loading does not run the tests
  PolicyTestReport report = (*set)->RunPolicyTests();
  EXPECT_EQ(report.failed(), 1);
  EXPECT_EQ(report.results[0].location, "tests/t.textproto:2:1");
  EXPECT_THAT(report.ToStatus(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("tests/t.textproto:2:1: policy test \"flag "
                                 "to school\" failed: expected DENY, got "
                                 "ALLOW")));
}

TEST_F(LoaderTest, FailingDecidingRuleAndNotesAreReported) {
  std::string t = kGoodTest;
  t.replace(t.find("\"permit-flag\""), 13, "\"default-deny\"");
  t.replace(t.find("  expect: ALLOW"), 0, "  expect_notes: \"never said\"\n");
  files_["tests.textproto"] = t;
  auto set = Load();
  ASSERT_THAT(set, IsOk());
  PolicyTestReport report = (*set)->RunPolicyTests();
  ASSERT_EQ(report.failed(), 1);
  EXPECT_THAT(report.results[0].failure,
              AllOf(HasSubstr("expected deciding rule default-deny, got "
                              "permit-flag"),
                    HasSubstr("expected a note containing \"never said\""),
                    Not(HasSubstr("expected ALLOW"))));
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream(path) << contents;
}

TEST(LoadDirTest, ReadsTheTreeAndSkipsTestdataAndHiddenFolders) {
  linkd::testing::TempDir dir;
  std::filesystem::create_directories(dir.Sub("purposes"));
  std::filesystem::create_directories(dir.Sub("testdata/broken"));
  std::filesystem::create_directories(dir.Sub(".git"));
  WriteFile(dir.Sub("header.textproto"), kHeader);
  WriteFile(dir.Sub("orgs.textproto"), kOrganisations);
  WriteFile(dir.Sub("purposes/flag.textproto"), kPurpose);
  WriteFile(dir.Sub("rules.textproto"), kRule);
  WriteFile(dir.Sub("README.md"), "not a policy");
  WriteFile(dir.Sub("testdata/broken/x.textproto"), "this is { broken");
  WriteFile(dir.Sub(".git/y.textproto"), "this is { broken");
  WriteFile(dir.Sub(".hidden.textproto"), "this is { broken");
  auto set = PolicySet::LoadDir(dir.path());
  ASSERT_THAT(set, IsOk());
  EXPECT_THAT((*set)->file_names(),
              ElementsAre("header.textproto", "orgs.textproto",
                          "purposes/flag.textproto", "rules.textproto"));

  // Errors name the file with the directory.
  WriteFile(dir.Sub("rules.textproto"), "rules {\n  id: 7\n}\n");
  EXPECT_THAT(PolicySet::LoadDir(dir.path()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(dir.path() + "/rules.textproto:2:")));
}

TEST(LoadDirTest, MissingOrEmptyDirectory) {
  linkd::testing::TempDir dir;
  EXPECT_THAT(PolicySet::LoadDir(dir.Sub("nope")),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(PolicySet::LoadDir(dir.path()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no policy files")));
}

}  // namespace
}  // namespace linkd::policy
