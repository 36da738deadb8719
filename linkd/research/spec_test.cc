#include "linkd/research/spec.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/research/research_testing.h"
#include "linkd/util/status_matchers.h"

namespace linkd::research {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::IsOkAndHolds;
using ::linkd::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::shared_ptr<const policy::PolicySet> Policy() {
  auto p = policy::PolicySet::LoadDir(LINKD_SOURCE_DIR "/policies");
  EXPECT_THAT(p, IsOk());
  return *p;
}

v1::Project Project() {
  return testing::TestProject("PRJ-001", std::string(32, '\x07'));
}

v1::ExtractSpec Journey() {
  v1::ExtractSpec s;
  s.set_project_id("PRJ-001");
  s.set_kind(v1::EXTRACT_KIND_JOURNEY);
  s.mutable_cohort()->add_event_types("social_care_episode");
  s.mutable_cohort()->set_from_date("2021-09-01");
  s.mutable_cohort()->set_to_date("2022-08-31");
  s.add_fields("event_type");
  s.add_fields("event_date");
  s.add_fields("year_group");
  v1::FieldCoarseningSpec* c = s.add_coarsenings();
  c->set_field("event_date");
  c->set_date_granularity("month");
  return s;
}

TEST(SpecTest, Dates) {
  EXPECT_THAT(ParseDate("2024-02-29", "d"), IsOkAndHolds(20240229));
  EXPECT_THAT(ParseDate("2023-02-29", "d"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseDate("2024-2-09", "d"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(FormatDate(20240307), "2024-03-07");
}

TEST(SpecTest, ValidProjectPasses) {
  EXPECT_THAT(ValidateProject(Project(), *Policy()), IsOk());
}

TEST(SpecTest, ProjectNeedsItsReferencesKeyAndKnownFields) {
  const auto policy = Policy();
  v1::Project p = Project();
  p.clear_ethics_reference();
  EXPECT_THAT(ValidateProject(p, *policy),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("ethics_reference")));
  p = Project();
  p.set_researcher_public_key("short");
  EXPECT_THAT(ValidateProject(p, *policy),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("researcher_public_key")));
  p = Project();
  p.add_approved_fields("current_school");  // not a research field
  EXPECT_THAT(
      ValidateProject(p, *policy),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not disclosed")));
  p = Project();
  p.add_approved_purposes("no_such_purpose");
  EXPECT_THAT(ValidateProject(p, *policy),
              StatusIs(absl::StatusCode::kInvalidArgument));
  p = Project();
  p.set_period_start("2027-01-01");
  EXPECT_THAT(ValidateProject(p, *policy),
              StatusIs(absl::StatusCode::kInvalidArgument));
  p = Project();
  p.set_id("bad id");
  EXPECT_THAT(ValidateProject(p, *policy),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(SpecTest, JourneyParses) {
  absl::StatusOr<ParsedSpec> s = ParseSpec(Journey(), Project());
  ASSERT_THAT(s, IsOk());
  EXPECT_THAT(s->columns, ElementsAre("project_pseudonym", "event_type",
                                      "event_date", "year_group"));
  EXPECT_THAT(s->attributes, ElementsAre("year_group"));
  EXPECT_TRUE(s->cohort.by_events);
  EXPECT_EQ(s->cohort.from, 20210901);
  EXPECT_EQ(s->cohort.to, 20220831);
  // The journey window defaults to the project's period.
  EXPECT_EQ(s->journey_from, 20200901);
  EXPECT_EQ(s->journey_to, 20260831);
  ASSERT_NE(s->CoarseningOf("event_date"), nullptr);
  EXPECT_EQ(s->CoarseningOf("year_group"), nullptr);
}

TEST(SpecTest, OnlyApprovedFieldsAndPeriod) {
  v1::Project p = Project();
  p.clear_approved_fields();
  p.add_approved_fields("project_pseudonym");
  p.add_approved_fields("event_type");
  p.add_approved_fields("event_date");
  EXPECT_THAT(
      ParseSpec(Journey(), p),
      StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("year_group")));
  v1::ExtractSpec s = Journey();
  s.mutable_cohort()->set_from_date("2019-01-01");
  EXPECT_THAT(ParseSpec(s, Project()),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("approved period")));
  s = Journey();
  s.add_fields("current_school");
  EXPECT_THAT(ParseSpec(s, Project()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(SpecTest, AggregatesCountByOneOrTwoAttributes) {
  v1::ExtractSpec s;
  s.set_project_id("PRJ-001");
  s.set_kind(v1::EXTRACT_KIND_AGGREGATE);
  s.add_fields("year_group");
  s.add_fields("sen_status");
  v1::FieldCoarseningSpec* c = s.add_coarsenings();
  c->set_field("year_group");
  c->set_category_mapping("year_group_key_stage");
  absl::StatusOr<ParsedSpec> parsed = ParseSpec(s, Project());
  ASSERT_THAT(parsed, IsOk());
  EXPECT_THAT(parsed->columns,
              ElementsAre("year_group", "sen_status", "children"));
  s.add_fields("la_code");
  EXPECT_THAT(ParseSpec(s, Project()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  s.clear_fields();
  s.add_fields("event_date");
  EXPECT_THAT(ParseSpec(s, Project()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // A mapping only for its own field.
  s.clear_fields();
  s.add_fields("sen_status");
  s.mutable_coarsenings(0)->set_field("sen_status");
  EXPECT_THAT(ParseSpec(s, Project()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(SpecTest, RequestHashBindsEverything) {
  v1::ExtractRequest r;
  r.set_id(7);
  *r.mutable_spec() = Journey();
  r.set_requested_by("research/PRJ-001");
  r.set_project_version(1);
  const std::string h = RequestHash(r);
  EXPECT_EQ(h.size(), 32u);
  EXPECT_EQ(RequestHash(r), h);
  // State and decision fields are not part of it.
  v1::ExtractRequest decided = r;
  decided.set_state(v1::ExtractRequest::STATE_APPROVED);
  decided.set_decided_by("la/999-ig");
  EXPECT_EQ(RequestHash(decided), h);
  // Anything the researcher asked for is.
  v1::ExtractRequest changed = r;
  changed.mutable_spec()->mutable_coarsenings(0)->set_date_granularity("day");
  EXPECT_NE(RequestHash(changed), h);
  changed = r;
  changed.mutable_spec()->mutable_cohort()->set_to_date("2022-09-01");
  EXPECT_NE(RequestHash(changed), h);
  changed = r;
  changed.set_project_version(2);
  EXPECT_NE(RequestHash(changed), h);
  changed = r;
  changed.set_id(8);
  EXPECT_NE(RequestHash(changed), h);
}

}  // namespace
}  // namespace linkd::research
