#include "linkd/research/release.h"

#include <filesystem>
#include <map>
#include <set>

#include "absl/strings/numbers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/extract/researcher_key.h"
#include "linkd/research/research_testing.h"
#include "linkd/util/status_matchers.h"

namespace linkd::research {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using Cells = std::map<std::pair<std::string, std::string>, std::string>;
std::string Cell(Cells& cells, const std::string& row, const std::string& col) {
  return cells[std::make_pair(row, col)];
}

class ReleaseTest : public testing::ResearchTest {
 protected:
  void SetUp() override {
    ResearchTest::SetUp();
    std::filesystem::create_directory(dir_.Sub("out"));
    // 30 children with a school record; 0..19 with a social care record
    // too, 0..9 with a CIN plan in 2022; child 3 objects to research.
    for (int n = 0; n < 30; ++n) {
      Ingest("school_census", absl::StrCat("S", n), n,
             {{"year_group", n < 24 ? "7" : "R"},
              {"sen_status", n % 3 == 0 ? "K" : "N"}});
    }
    for (int n = 0; n < 20; ++n) {
      Ingest("social_care", absl::StrCat("C", n), n);
      if (n < 10) {
        AddEvent("social_care", absl::StrCat("C", n),
                 EventKind::kChildInNeedPlanStart, "2022-02-01");
        AddEvent("school_census", absl::StrCat("S", n), EventKind::kSuspension,
                 absl::StrFormat("2022-%02d-15", 3 + n % 6));
      }
    }
    Object(SuiOf("school_census", "S3"), v1::ConsentRecord::KIND_OBJECTION,
           "research");
    // An opt-out for another purpose does not remove anyone.
    Object(SuiOf("school_census", "S4"), v1::ConsentRecord::KIND_OPT_OUT,
           "direct_care");
  }

  // An approved request of `kind` for project `project_id`.
  v1::ExtractRequest Approved(const v1::ExtractSpec& spec) {
    v1::ExtractRequest r;
    r.set_id(next_id_++);
    *r.mutable_spec() = spec;
    r.set_requested_by(ProjectOrganisation(spec.project_id()));
    r.set_project_version(1);
    r.set_request_hash(RequestHash(r));
    r.set_state(v1::ExtractRequest::STATE_APPROVED);
    r.set_approved_hash(r.request_hash());
    r.set_approval_id("A1");
    r.set_decided_by("la/999-ig");
    return r;
  }

  static v1::ExtractSpec Journey(const std::string& project) {
    v1::ExtractSpec s;
    s.set_project_id(project);
    s.set_kind(v1::EXTRACT_KIND_JOURNEY);
    s.mutable_cohort()->add_event_types("child_in_need_plan");
    s.mutable_cohort()->set_from_date("2022-01-01");
    s.mutable_cohort()->set_to_date("2022-12-31");
    s.add_fields("event_type");
    s.add_fields("event_date");
    s.add_fields("year_group");
    v1::FieldCoarseningSpec* c = s.add_coarsenings();
    c->set_field("event_date");
    c->set_date_granularity("month");
    return s;
  }

  ReleaseContext Context() {
    ReleaseContext c;
    c.store = store_.get();
    c.linker = linker_.get();
    c.records = records_.get();
    c.consents = consents_.get();
    c.events = Events();
    c.release_key = &release_key_;
    c.signing_key = &signing_key_;
    c.policy = policy_;
    c.output_dir = dir_.Sub("out");
    c.now = now_;
    return c;
  }

  absl::StatusOr<extract::OpenedExtract> Open(const ReleaseResult& r) {
    return extract::OpenExtract(r.file.path, r.manifest_path, researcher_,
                                signing_key_.public_key());
  }

  extract::ReleaseKey release_key_ = extract::ReleaseKey::Generate();
  extract::SigningKey signing_key_ = extract::SigningKey::Generate();
  extract::ResearcherSecretKey researcher_ =
      extract::ResearcherSecretKey::Generate();
  uint64_t next_id_ = 1;
};

TEST_F(ReleaseTest, JourneyOfTheCohortWithoutTheObjectingChild) {
  const v1::Project project =
      testing::TestProject("PRJ-001", researcher_.public_key().bytes());
  absl::StatusOr<ReleaseResult> r =
      MakeRelease(Approved(Journey("PRJ-001")), project, Context());
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->cohort_children, 10u);
  EXPECT_EQ(r->removed_for_objection, 1u);
  EXPECT_EQ(r->released_children, 9u);
  EXPECT_EQ(r->decision.lawful_basis.empty(), false);
  absl::StatusOr<extract::OpenedExtract> opened = Open(*r);
  ASSERT_THAT(opened, IsOk());
  EXPECT_THAT(opened->columns, ElementsAre("project_pseudonym", "event_type",
                                           "event_date", "year_group"));
  // Two events per child (plan start, suspension), months only.
  ASSERT_EQ(opened->rows.size(), 18u);
  std::map<std::string, std::vector<std::vector<std::string>>> by_child;
  for (const auto& row : opened->rows) by_child[row[0]].push_back(row);
  EXPECT_EQ(by_child.size(), 9u);
  for (const auto& [pseudonym, rows] : by_child) {
    EXPECT_THAT(extract::CheckPseudonym(pseudonym), IsOk());
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0][1], "child_in_need_plan_start");
    EXPECT_EQ(rows[0][2], "2022-02");
    EXPECT_EQ(rows[1][1], "suspension");
    EXPECT_EQ(rows[1][3], "7");
  }
  // The objecting child is not there under its pseudonym.
  auto pseudonyms = release_key_.ForProject("PRJ-001");
  ASSERT_THAT(pseudonyms, IsOk());
  const std::string objector =
      *pseudonyms->Pseudonym(SuiOf("school_census", "S3"));
  EXPECT_EQ(by_child.count(objector), 0u);
  EXPECT_EQ(
      by_child.count(*pseudonyms->Pseudonym(SuiOf("school_census", "S4"))), 1u);
  // The manifest names the approval and carries quality, never the count
  // of removed children.
  const extract::v1::Manifest& m = opened->manifest;
  EXPECT_EQ(m.request_id(), "1");
  EXPECT_EQ(m.approval_id(), "A1");
  EXPECT_EQ(m.row_count(), 18u);
  EXPECT_EQ(m.suppression_threshold(), 10u);
  EXPECT_THAT(m.linkage_quality().method(), HasSubstr("model version"));
  EXPECT_FALSE(m.linkage_quality().subgroup_link_rates().empty());
  EXPECT_FALSE(m.linkage_quality().match_weight_buckets().empty());
  EXPECT_GT(m.linkage_quality().estimated_precision(), 0.5);
}

TEST_F(ReleaseTest, PseudonymsDifferBetweenProjects) {
  v1::ExtractSpec s = Journey("PRJ-001");
  s.clear_fields();
  s.clear_coarsenings();
  s.add_fields("year_group");
  absl::StatusOr<ReleaseResult> a = MakeRelease(
      Approved(s),
      testing::TestProject("PRJ-001", researcher_.public_key().bytes()),
      Context());
  ASSERT_THAT(a, IsOk());
  s.set_project_id("PRJ-002");
  absl::StatusOr<ReleaseResult> b = MakeRelease(
      Approved(s),
      testing::TestProject("PRJ-002", researcher_.public_key().bytes()),
      Context());
  ASSERT_THAT(b, IsOk());
  auto ra = Open(*a), rb = Open(*b);
  ASSERT_THAT(ra, IsOk());
  ASSERT_THAT(rb, IsOk());
  ASSERT_EQ(ra->rows.size(), 9u);  // one row per child without event fields
  std::set<std::string> first;
  for (const auto& row : ra->rows) first.insert(row[0]);
  for (const auto& row : rb->rows) EXPECT_EQ(first.count(row[0]), 0u);
}

TEST_F(ReleaseTest, AggregateSuppressesSmallCells) {
  v1::ExtractSpec s;
  s.set_project_id("PRJ-001");
  s.set_kind(v1::EXTRACT_KIND_AGGREGATE);
  s.add_fields("year_group");
  s.add_fields("sen_status");
  absl::StatusOr<ReleaseResult> r = MakeRelease(
      Approved(s),
      testing::TestProject("PRJ-001", researcher_.public_key().bytes()),
      Context());
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->released_children, 29u);  // 30 children, one objects
  absl::StatusOr<extract::OpenedExtract> t = Open(*r);
  ASSERT_THAT(t, IsOk());
  Cells cells;
  for (const auto& row : t->rows) cells[{row[0], row[1]}] = row[2];
  // Year 7: 24 children less the objector (n=3, SEN K): K 7, N 16. Year R:
  // 6 children (n 24..29): K 2, N 4. Every count under 10 is suppressed,
  // and so are enough others that none can be worked out.
  EXPECT_EQ(Cell(cells, "7", "N"), "c");  // 16, but the only other row cell is
                                          // suppressed: secondary
  EXPECT_EQ(Cell(cells, "7", "K"), "c");
  EXPECT_EQ(Cell(cells, "R", "K"), "c");
  EXPECT_EQ(Cell(cells, "R", "N"), "c");
  EXPECT_EQ(Cell(cells, "R", "Total"), "c");
  const std::string grand = Cell(cells, "Total", "Total");
  EXPECT_TRUE(grand == "29" || grand == "c") << grand;
  for (const auto& [key, value] : cells) {
    if (value == "c") continue;
    int64_t n = 0;
    ASSERT_TRUE(absl::SimpleAtoi(value, &n)) << value;
    EXPECT_GE(n, 10) << key.first << "," << key.second;
  }
}

TEST_F(ReleaseTest, RefusesWhatWasNotApprovedAndExpiredProjects) {
  const v1::Project project =
      testing::TestProject("PRJ-001", researcher_.public_key().bytes());
  v1::ExtractRequest r = Approved(Journey("PRJ-001"));
  r.mutable_spec()->mutable_cohort()->set_to_date("2022-06-30");
  EXPECT_THAT(MakeRelease(r, project, Context()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("not the one that was approved")));
  v1::Project renewed = project;
  renewed.set_version(2);
  EXPECT_THAT(MakeRelease(Approved(Journey("PRJ-001")), renewed, Context()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("re-registered")));
  v1::Project ended = project;
  ended.set_end_date("2025-01-31");
  EXPECT_THAT(MakeRelease(Approved(Journey("PRJ-001")), ended, Context()),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // Nothing was left behind.
  EXPECT_TRUE(std::filesystem::is_empty(dir_.Sub("out")));
}

}  // namespace
}  // namespace linkd::research
