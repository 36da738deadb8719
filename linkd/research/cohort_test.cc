#include "linkd/research/cohort.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/research/research_testing.h"
#include "linkd/util/status_matchers.h"

namespace linkd::research {
namespace {

using ::linkd::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

class CohortTest : public testing::ResearchTest {
 protected:
  // Children 0..5, each with a school record; 0..2 also with an LA record
  // (linked to the same SUI).
  void SetUp() override {
    ResearchTest::SetUp();
    for (int n = 0; n < 6; ++n) {
      Ingest("school_census", absl::StrCat("S", n), n);
    }
    for (int n = 0; n < 3; ++n) Ingest("social_care", absl::StrCat("C", n), n);
    for (int n = 0; n < 6; ++n) {
      sui_[n] = SuiOf("school_census", absl::StrCat("S", n));
      ASSERT_NE(sui_[n], 0u);
    }
    for (int n = 0; n < 3; ++n) {
      ASSERT_EQ(SuiOf("social_care", absl::StrCat("C", n)), sui_[n])
          << "child " << n << "'s records should link";
    }
    project_ = testing::TestProject("PRJ-001", std::string(32, '\x07'));
  }

  absl::StatusOr<Cohort> Select(const v1::ExtractSpec& s) {
    absl::StatusOr<ParsedSpec> parsed = ParseSpec(s, project_);
    if (!parsed.ok()) return parsed.status();
    auto links = LinkMap::Load(*linker_, nullptr);
    if (!links.ok()) return links.status();
    return SelectCohort(*parsed, **links, Sources());
  }

  static v1::ExtractSpec Aggregate() {
    v1::ExtractSpec s;
    s.set_project_id("PRJ-001");
    s.set_kind(v1::EXTRACT_KIND_AGGREGATE);
    s.add_fields("year_group");
    return s;
  }

  std::vector<uint64_t> Suis(std::initializer_list<int> children) {
    std::vector<uint64_t> out;
    for (int n : children) out.push_back(sui_[n]);
    std::sort(out.begin(), out.end());
    return out;
  }

  uint64_t sui_[6] = {};
  v1::Project project_;
};

TEST_F(CohortTest, ByRecordsOfASource) {
  v1::ExtractSpec s = Aggregate();
  absl::StatusOr<Cohort> all = Select(s);
  ASSERT_THAT(all, IsOk());
  EXPECT_EQ(all->suis, Suis({0, 1, 2, 3, 4, 5}));
  s.mutable_cohort()->add_sources("social_care");
  absl::StatusOr<Cohort> la = Select(s);
  ASSERT_THAT(la, IsOk());
  EXPECT_EQ(la->suis, Suis({0, 1, 2}));
}

TEST_F(CohortTest, ByEventsInRangeAndSource) {
  AddEvent("school_census", "S3", EventKind::kSuspension, "2022-03-01");
  AddEvent("school_census", "S4", EventKind::kSuspension, "2023-03-01");
  AddEvent("social_care", "C1", EventKind::kSuspension, "2022-03-01");
  AddEvent("school_census", "S5", EventKind::kInYearAdmission, "2022-03-01");
  // An event of a record that is not linked names no child.
  events_.emplace_back(store::RecordKey("school_census", "unknown"),
                       EventKind::kSuspension, 20220301);
  v1::ExtractSpec s = Aggregate();
  s.mutable_cohort()->add_event_types("suspension");
  s.mutable_cohort()->set_from_date("2021-09-01");
  s.mutable_cohort()->set_to_date("2022-08-31");
  absl::StatusOr<Cohort> c = Select(s);
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->suis, Suis({1, 3}));
  s.mutable_cohort()->add_sources("school_census");
  c = Select(s);
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->suis, Suis({3}));
  // No type named: any event in the range.
  s.mutable_cohort()->clear_event_types();
  c = Select(s);
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->suis, Suis({3, 5}));
}

TEST_F(CohortTest, EpisodesOpenDuringTheRange) {
  const std::string range_from = "2022-01-01", range_to = "2022-12-31";
  // Child 0: a CIN plan from 2021 to 2023 spans the range.
  AddEvent("social_care", "C0", EventKind::kChildInNeedPlanStart, "2021-05-01");
  AddEvent("social_care", "C0", EventKind::kChildInNeedPlanEnd, "2023-02-01");
  // Child 1: a CP plan that ended before the range.
  AddEvent("social_care", "C1", EventKind::kChildProtectionPlanStart,
           "2021-01-01");
  AddEvent("social_care", "C1", EventKind::kChildProtectionPlanEnd,
           "2021-06-30");
  // Child 2: looked after since 2021, still open.
  AddEvent("social_care", "C2", EventKind::kLookedAfterStart, "2021-03-01");
  // Child 3: an episode whose start predates the data, ending in range.
  AddEvent("school_census", "S3", EventKind::kChildInNeedPlanEnd, "2022-02-01");
  // Child 4: starts after the range.
  AddEvent("school_census", "S4", EventKind::kChildInNeedPlanStart,
           "2023-01-05");
  v1::ExtractSpec s = Aggregate();
  s.mutable_cohort()->add_event_types("social_care_episode");
  s.mutable_cohort()->set_from_date(range_from);
  s.mutable_cohort()->set_to_date(range_to);
  absl::StatusOr<Cohort> c = Select(s);
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->suis, Suis({0, 2, 3}));
  // Only looked-after episodes.
  s.mutable_cohort()->clear_event_types();
  s.mutable_cohort()->add_event_types("looked_after");
  c = Select(s);
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->suis, Suis({2}));
}

TEST_F(CohortTest, JourneysAreTimeOrderedDistinctAndWindowed) {
  AddEvent("social_care", "C0", EventKind::kChildInNeedPlanStart, "2021-05-01");
  AddEvent("school_census", "S0", EventKind::kSuspension, "2022-03-01");
  AddEvent("social_care", "C0", EventKind::kChildInNeedPlanEnd, "2022-01-10");
  // The same event through the child's other record: listed once.
  AddEvent("school_census", "S0", EventKind::kChildInNeedPlanEnd, "2022-01-10");
  // Before the project's period: not listed.
  AddEvent("school_census", "S0", EventKind::kInYearAdmission, "2019-09-05");
  AddEvent("school_census", "S4", EventKind::kSuspension, "2022-03-01");
  v1::ExtractSpec s;
  s.set_project_id("PRJ-001");
  s.set_kind(v1::EXTRACT_KIND_JOURNEY);
  s.add_fields("event_type");
  s.add_fields("event_date");
  s.mutable_cohort()->add_sources("social_care");
  absl::StatusOr<Cohort> c = Select(s);
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->suis, Suis({0, 1, 2}));
  std::vector<std::pair<EventKind, DateNumber>> got;
  for (const JourneyEvent& e : c->journey) {
    EXPECT_EQ(e.sui, sui_[0]);
    got.emplace_back(e.kind, e.date);
  }
  EXPECT_THAT(got,
              ElementsAre(std::pair(EventKind::kChildInNeedPlanStart, 20210501),
                          std::pair(EventKind::kChildInNeedPlanEnd, 20220110),
                          std::pair(EventKind::kSuspension, 20220301)));
  // Journey event types narrow the listing.
  s.add_journey_event_types("suspension");
  c = Select(s);
  ASSERT_THAT(c, IsOk());
  ASSERT_EQ(c->journey.size(), 1u);
  EXPECT_EQ(c->journey[0].kind, EventKind::kSuspension);
}

TEST_F(CohortTest, AttributesComeFromTheLatestRecordThatHasThem) {
  Ingest("school_census", "S0", 0, {{"year_group", "7"}, {"sen_status", "N"}});
  Ingest("social_care", "C0", 0, {{"year_group", "8"}}, absl::Hours(2));
  Ingest("school_census", "S1", 1, {{"year_group", "R"}}, absl::Hours(3));
  auto links = LinkMap::Load(*linker_, nullptr);
  ASSERT_THAT(links, IsOk());
  const std::vector<uint64_t> suis = Suis({0, 1, 2});
  absl::StatusOr<std::vector<std::string>> v =
      ChildAttributes(suis, {"year_group", "sen_status"}, **links, Sources());
  ASSERT_THAT(v, IsOk());
  auto at = [&](int child, int a) {
    return (*v)[IndexOf(suis, sui_[child]) * 2 + a];
  };
  EXPECT_EQ(at(0, 0), "8");  // the LA record is newer
  EXPECT_EQ(at(0, 1), "N");  // only the school record has it
  EXPECT_EQ(at(1, 0), "R");
  EXPECT_EQ(at(1, 1), "");
  EXPECT_EQ(at(2, 0), "");
}

}  // namespace
}  // namespace linkd::research
