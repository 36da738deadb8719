#include <atomic>
#include <thread>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/util/status_matchers.h"
#include "policies/engine/policy_set.h"

namespace linkd::policy {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// The shipped policies: these tests pin the behaviour the issue asks for.
class ShippedPolicyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto loaded = PolicySet::LoadDir(LINKD_POLICIES_DIR);
    ASSERT_THAT(loaded, IsOk());
    set_ = new std::shared_ptr<const PolicySet>(*std::move(loaded));
  }
  static void TearDownTestSuite() {
    delete set_;
    set_ = nullptr;
  }
  const PolicySet& set() const { return **set_; }

  static Request Notification(std::string recipient) {
    Request r;
    r.action = Action::kNotificationSend;
    r.purpose = "safeguarding_notification";
    r.requester = "school/100001";
    r.recipient = std::move(recipient);
    r.time = absl::FromCivil(absl::CivilSecond(2025, 3, 3, 9, 0, 0),
                             absl::UTCTimeZone());
    r.fields = {"event_type", "event_date", "contact"};
    return r;
  }

  static Request Release() {
    Request r;
    r.action = Action::kExtractRelease;
    r.purpose = "research_extract";
    r.requester = "research/P1";
    r.recipient = "research/P1";
    r.time = absl::FromCivil(absl::CivilSecond(2025, 3, 3, 9, 0, 0),
                             absl::UTCTimeZone());
    return r;
  }

  static SubjectFacts ApprovedProject() {
    SubjectFacts f;
    ProjectFacts p;
    p.id = "P1";
    p.approved = true;
    p.ethics_reference = "REC 1";
    p.data_processing_agreement = "DPA 1";
    p.end_date = absl::CivilDay(2026, 3, 31);
    f.project = p;
    f.extract_approved = true;
    return f;
  }

  static std::shared_ptr<const PolicySet>* set_;
};
std::shared_ptr<const PolicySet>* ShippedPolicyTest::set_ = nullptr;

TEST_F(ShippedPolicyTest, SafeguardingIsNotStoppedByAnObjectionAndSaysSo) {
  SubjectFacts f;
  f.objections = {"safeguarding"};
  f.recipient_holds_open_episode = true;
  const Decision d = set().Evaluate(Notification("la/999"), f);
  EXPECT_TRUE(d.allowed) << d.reason;
  EXPECT_THAT(d.ToStatus(), IsOk());
  EXPECT_EQ(d.code, absl::StatusCode::kOk);
  EXPECT_EQ(d.deciding_rule_id, "notify-social-care-of-school-event");
  EXPECT_THAT(d.reason, HasSubstr("permitted by rule "
                                  "notify-social-care-of-school-event"));
  ASSERT_EQ(d.notes.size(), 1u);
  EXPECT_THAT(d.notes[0],
              HasSubstr("an objection is recorded but does not apply to "
                        "safeguarding_notification"));
  EXPECT_THAT(d.notes[0], HasSubstr("DPA 2018 Sch 1 para 18"));
  EXPECT_EQ(d.lawful_basis,
            "UK GDPR Art 6(1)(e) public task; Art 9(2)(g) substantial public "
            "interest; DPA 2018 Sch 1 Part 2 para 18 (Safeguarding of "
            "children and of individuals at risk)");
  EXPECT_EQ(d.action, "notification.send");
  EXPECT_EQ(d.purpose, "safeguarding_notification");
  EXPECT_EQ(d.policy_version, set().version());
  EXPECT_EQ(d.policy_hash, set().hash());
  EXPECT_EQ(d.policy_hash_hex, set().hash_hex());
  EXPECT_EQ(d.policy_name, set().name());
  EXPECT_THAT(d.disclosed_fields,
              ElementsAre("event_type", "event_date", "contact"));
}

TEST_F(ShippedPolicyTest, ResearchRespectsObjectionsAndOptOuts) {
  SubjectFacts f = ApprovedProject();
  Decision d = set().Evaluate(Release(), f);
  ASSERT_TRUE(d.allowed) << d.reason;
  EXPECT_THAT(d.disclosed_fields, Contains("birth_month"));

  f.objections = {"research"};
  d = set().Evaluate(Release(), f);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.deciding_rule_id, "purpose:research_extract:objection");
  EXPECT_EQ(d.code, absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(d.ToStatus(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                     HasSubstr("objection")));
  EXPECT_THAT(d.notes, Contains(HasSubstr("permitted by "
                                          "release-extract-to-its-project, "
                                          "but a forbid always beats a "
                                          "permit")));
  EXPECT_THAT(d.disclosed_fields, IsEmpty());

  f.objections = {"safeguarding"};  // another category: no effect
  EXPECT_TRUE(set().Evaluate(Release(), f).allowed);

  f.objections.clear();
  f.opt_outs = {"all"};
  d = set().Evaluate(Release(), f);
  EXPECT_EQ(d.deciding_rule_id, "purpose:research_extract:opt-out");
}

TEST_F(ShippedPolicyTest, ProjectMustBeApprovedAndCurrent) {
  struct Case {
    void (*mutate)(SubjectFacts*);
    const char* reason;
  };
  const Case cases[] = {
      {[](SubjectFacts* f) { f->project.reset(); }, "no research project"},
      {[](SubjectFacts* f) { f->project->approved = false; }, "not approved"},
      {[](SubjectFacts* f) { f->project->ethics_reference.clear(); },
       "no ethics reference"},
      {[](SubjectFacts* f) { f->project->data_processing_agreement.clear(); },
       "no data processing agreement"},
      {[](SubjectFacts* f) { f->project->end_date.reset(); }, "no end date"},
      {[](SubjectFacts* f) {
         f->project->end_date = absl::CivilDay(2025, 3, 2);
       },
       "ended on 2025-03-02"},
  };
  for (const Case& c : cases) {
    SubjectFacts f = ApprovedProject();
    c.mutate(&f);
    const Decision d = set().Evaluate(Release(), f);
    EXPECT_FALSE(d.allowed) << c.reason;
    EXPECT_EQ(d.deciding_rule_id, "purpose:research_extract:project");
    EXPECT_THAT(d.reason, HasSubstr(c.reason));
    EXPECT_EQ(d.code, absl::StatusCode::kFailedPrecondition);
  }
  // The end date is inclusive: the whole of that day, UTC.
  SubjectFacts f = ApprovedProject();
  f.project->end_date = absl::CivilDay(2025, 3, 3);
  EXPECT_TRUE(set().Evaluate(Release(), f).allowed);
}

TEST_F(ShippedPolicyTest, DefaultDenyExplainsItself) {
  const Decision d = set().Evaluate(Notification("la/888"), SubjectFacts());
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.deciding_rule_id, "default-deny");
  EXPECT_THAT(d.matched_rule_ids, IsEmpty());
  EXPECT_EQ(d.code, absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(d.reason,
              HasSubstr("no rule permits notification.send for "
                        "safeguarding_notification by school/100001 to "
                        "la/888"));
  EXPECT_THAT(d.ToStatus(), StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_F(ShippedPolicyTest, RefugeForbidBeatsPermitAndNeedsNoOrder) {
  SubjectFacts f;
  f.in_refuge = true;
  f.looked_after = true;
  f.recipient_is_virtual_school_for_child = true;
  Request r = Notification("la/999-vs");
  r.fields = {"event_type", "reporting_school"};
  const Decision d = set().Evaluate(r, f);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.deciding_rule_id, "refuge-never-disclose-school");
  EXPECT_THAT(d.matched_rule_ids,
              ElementsAre("notify-virtual-school-of-school-event",
                          "refuge-never-disclose-school"));
  EXPECT_EQ(d.code, absl::StatusCode::kPermissionDenied);
}

TEST_F(ShippedPolicyTest, MalformedRequestsAreInvalidArgument) {
  SubjectFacts f;
  Request r = Notification("la/999");
  r.action = Action::kUnspecified;
  EXPECT_EQ(set().Evaluate(r, f).code, absl::StatusCode::kInvalidArgument);

  r = Notification("la/999");
  r.purpose = "marketing";
  Decision d = set().Evaluate(r, f);
  EXPECT_EQ(d.code, absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(d.reason, HasSubstr("unknown purpose \"marketing\""));
  EXPECT_TRUE(d.deciding_rule_id.empty());
  EXPECT_THAT(d.ToStatus(), StatusIs(absl::StatusCode::kInvalidArgument));

  r = Notification("la/999");
  r.time = absl::InfinitePast();
  EXPECT_THAT(set().Evaluate(r, f).reason, HasSubstr("no time"));

  r = Notification("");
  EXPECT_THAT(set().Evaluate(r, f).reason,
              HasSubstr("notification.send needs a recipient"));

  r = Notification("la/999");
  r.requester = "school";
  EXPECT_THAT(set().Evaluate(r, f).reason, HasSubstr("requester:"));
  r = Notification("nursery/1");
  EXPECT_THAT(set().Evaluate(r, f).reason, HasSubstr("recipient:"));

  r = Notification("la/999");
  r.fields = {"shoe_size"};
  EXPECT_THAT(set().Evaluate(r, f).reason, HasSubstr("unknown field"));
  EXPECT_FALSE(set().Evaluate(r, f).allowed);
}

TEST_F(ShippedPolicyTest, FieldsOutsideThePurposeAreRefused) {
  SubjectFacts f;
  f.recipient_holds_open_episode = true;
  Request r = Notification("la/999");
  r.fields = {"event_type", "year_group"};
  const Decision d = set().Evaluate(r, f);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.deciding_rule_id, "purpose:safeguarding_notification:fields");
  EXPECT_THAT(d.reason, HasSubstr("field \"year_group\" may not be disclosed"));
  EXPECT_EQ(d.code, absl::StatusCode::kPermissionDenied);
  // Naming no fields means "what the purpose allows".
  r.fields.clear();
  const Decision all = set().Evaluate(r, f);
  EXPECT_TRUE(all.allowed);
  EXPECT_EQ(all.disclosed_fields,
            set().FindPurpose("safeguarding_notification")->disclosed_fields);
}

TEST_F(ShippedPolicyTest, RolesComeFromTheSet) {
  // An exact entry replaces its kind's pattern.
  EXPECT_THAT(set().Roles("la/999-ig"),
              ElementsAre(Role::kIgOfficer, Role::kAuditor));
  EXPECT_THAT(set().Roles("school/123456"),
              ElementsAre(Role::kProvider, Role::kRecipient));
  EXPECT_THAT(set().Roles("research/P9"), ElementsAre(Role::kResearcher));
  EXPECT_THAT(set().Roles("not an id"), IsEmpty());
}

TEST_F(ShippedPolicyTest, OrganisationLookup) {
  auto vs = set().Organisation("la/999-vs");
  ASSERT_THAT(vs, IsOk());
  EXPECT_EQ(vs->entry_id, "la/999-vs");
  EXPECT_TRUE(vs->virtual_school);
  EXPECT_EQ(vs->la_code, "999");
  EXPECT_THAT(vs->roles, ElementsAre(Role::kRecipient));

  auto school = set().Organisation("school/100001");
  ASSERT_THAT(school, IsOk());
  EXPECT_EQ(school->display_name, "Example Primary School");
  EXPECT_THAT(school->sources, ElementsAre("school_census"));

  auto other = set().Organisation("school/777777");  // via school/*
  ASSERT_THAT(other, IsOk());
  EXPECT_EQ(other->entry_id, "school/*");
  EXPECT_TRUE(other->la_code.empty());

  EXPECT_THAT(set().Organisation("school/*"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(set().Organisation("bank/1"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(ShippedPolicyTest, ConcurrentEvaluationGivesTheSameAnswers) {
  SubjectFacts f;
  f.recipient_holds_open_episode = true;
  f.objections = {"all"};
  const Request r = Notification("la/999");
  const Decision want = set().Evaluate(r, f);
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        const Decision d = set().Evaluate(r, f);
        if (d.allowed != want.allowed || d.notes != want.notes) ++mismatches;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// A small inline set for what the shipped set does not show.
absl::StatusOr<std::shared_ptr<const PolicySet>> SmallSet(
    const std::string& extra) {
  return PolicySet::LoadFiles({{"set.textproto", R"(
policy_set { name: "small" version: "7" }
organisations { id: "la/1" display_name: "LA" roles: "provider" }
organisations { id: "school/*" display_name: "schools" roles: "recipient" }
organisations { id: "research/*" display_name: "projects" roles: "researcher" }
purposes {
  id: "consented"
  display_name: "Consented sharing"
  description: "Sharing with the family's consent."
  category: "extra_support"
  lawful_basis { uk_gdpr_article_6: "6(1)(a) consent" }
  objections_apply: true
  opt_outs_apply: true
  disclosed_fields: "contact"
}
rules {
  id: "share"
  effect: PERMIT
  description: "LA shares with schools."
  actions: ["notification.send", "extract.release"]
  recipient_kinds: "school"
}
)" + extra}});
}

TEST(SmallSetTest, ConsentBasedPurposeNeedsRecordedConsent) {
  auto set = SmallSet("");
  ASSERT_THAT(set, IsOk());
  Request r;
  r.action = Action::kNotificationSend;
  r.purpose = "consented";
  r.requester = "la/1";
  r.recipient = "school/5";
  r.time = absl::UnixEpoch() + absl::Hours(24 * 365 * 55);
  SubjectFacts f;
  Decision d = (*set)->Evaluate(r, f);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.deciding_rule_id, "purpose:consented:consent");
  EXPECT_EQ(d.code, absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(d.reason, HasSubstr("relies on consent"));
  f.consents = {"extra_support"};
  d = (*set)->Evaluate(r, f);
  EXPECT_TRUE(d.allowed) << d.reason;
  EXPECT_THAT(d.notes, IsEmpty());
  f.consents = {"all"};
  EXPECT_TRUE((*set)->Evaluate(r, f).allowed);
}

TEST(SmallSetTest, UnlistedOrganisationIsNoted) {
  auto set = SmallSet("");
  ASSERT_THAT(set, IsOk());
  Request r;
  r.action = Action::kNotificationSend;
  r.purpose = "consented";
  r.requester = "health/1";
  r.recipient = "la/2";
  r.time = absl::UnixEpoch() + absl::Hours(1);
  SubjectFacts f;
  f.consents = {"all"};
  const Decision d = (*set)->Evaluate(r, f);
  EXPECT_FALSE(d.allowed);
  EXPECT_THAT(d.notes, Contains(HasSubstr("requester health/1 is not listed")));
  EXPECT_THAT(d.notes, Contains(HasSubstr("recipient la/2 is not listed")));
  EXPECT_THAT((*set)->Roles("health/1"), IsEmpty());
  EXPECT_THAT((*set)->Organisation("health/1"),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST(SmallSetTest, ExplicitForbidOnObjectionIsAPrecondition) {
  auto set = SmallSet(R"(
rules {
  id: "no-if-objected"
  effect: FORBID
  description: "Respect objections."
  actions: "notification.send"
  conditions: "objection_recorded"
}
rules {
  id: "no-for-refuge"
  effect: FORBID
  description: "Refuge."
  actions: "notification.send"
  conditions: "in_refuge"
}
)");
  ASSERT_THAT(set, IsOk());
  Request r;
  r.action = Action::kNotificationSend;
  r.purpose = "consented";
  r.requester = "la/1";
  r.recipient = "school/5";
  r.time = absl::UnixEpoch() + absl::Hours(1);
  SubjectFacts f;
  f.consents = {"all"};
  f.in_refuge = true;
  Decision d = (*set)->Evaluate(r, f);
  EXPECT_EQ(d.deciding_rule_id, "no-for-refuge");
  EXPECT_EQ(d.code, absl::StatusCode::kPermissionDenied);
  f.in_refuge = false;
  f.objections = {"extra_support"};
  d = (*set)->Evaluate(r, f);
  // The purpose's own guard reports first; the explicit forbid also matched.
  EXPECT_EQ(d.deciding_rule_id, "purpose:consented:objection");
  EXPECT_THAT(
      d.matched_rule_ids,
      ElementsAre("no-if-objected", "purpose:consented:objection", "share"));
  EXPECT_EQ(d.code, absl::StatusCode::kFailedPrecondition);
}

TEST(SmallSetTest, RecipientRulesNeverMatchARequestWithoutRecipient) {
  auto set = SmallSet(R"(
rules {
  id: "audit-by-anyone"
  effect: PERMIT
  description: "x"
  actions: "audit.read"
}
rules {
  id: "audit-to-school"
  effect: FORBID
  description: "x"
  actions: "audit.read"
  recipient_kinds: "school"
}
)");
  ASSERT_THAT(set, IsOk());
  Request r;
  r.action = Action::kAuditRead;
  r.purpose = "consented";
  r.requester = "la/1";
  r.time = absl::UnixEpoch() + absl::Hours(1);
  SubjectFacts f;
  f.consents = {"all"};
  const Decision d = (*set)->Evaluate(r, f);
  EXPECT_TRUE(d.allowed) << d.reason;
  EXPECT_THAT(d.matched_rule_ids, ElementsAre("audit-by-anyone"));
}

TEST(SmallSetTest, ProjectOrgAndExtractRequesterConditions) {
  auto set = SmallSet(R"(
rules {
  id: "own-project"
  effect: PERMIT
  description: "x"
  actions: "extract.request"
  conditions: ["requester_is_project_org", "not requester_is_extract_requester"]
}
)");
  ASSERT_THAT(set, IsOk());
  Request r;
  r.action = Action::kExtractRequest;
  r.purpose = "consented";
  r.requester = "research/P1";
  r.time = absl::UnixEpoch() + absl::Hours(1);
  SubjectFacts f;
  f.consents = {"all"};
  EXPECT_FALSE((*set)->Evaluate(r, f).allowed);  // no project
  f.project = ProjectFacts{};
  f.project->id = "P1";
  EXPECT_TRUE((*set)->Evaluate(r, f).allowed);
  f.extract_requested_by = "research/P1";
  EXPECT_FALSE((*set)->Evaluate(r, f).allowed);
  f.extract_requested_by.clear();
  r.requester = "research/P2";
  EXPECT_FALSE((*set)->Evaluate(r, f).allowed);
}

TEST(DecisionTest, ToStatusNeverReadsOkForADenial) {
  Decision d;
  d.allowed = false;
  d.code = absl::StatusCode::kOk;
  d.reason = "no";
  EXPECT_THAT(d.ToStatus(), StatusIs(absl::StatusCode::kPermissionDenied));
  d.allowed = true;
  EXPECT_THAT(d.ToStatus(), IsOk());
}

TEST(DecisionTest, FromProto) {
  v1::Request proto;
  proto.set_action("flag.send");
  proto.set_purpose("p");
  proto.set_requester("la/1");
  proto.set_recipient("school/2");
  proto.set_time("2025-03-03T09:00:00+01:00");
  proto.add_fields("contact");
  auto r = RequestFromProto(proto);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->action, Action::kFlagSend);
  EXPECT_EQ(r->time, absl::FromCivil(absl::CivilSecond(2025, 3, 3, 8, 0, 0),
                                     absl::UTCTimeZone()));
  EXPECT_THAT(r->fields, ElementsAre("contact"));
  proto.set_time("");
  EXPECT_THAT(RequestFromProto(proto),
              StatusIs(absl::StatusCode::kInvalidArgument));
  proto.set_time("2025-03-03T09:00:00Z");
  proto.set_action("unspecified");
  EXPECT_THAT(RequestFromProto(proto),
              StatusIs(absl::StatusCode::kInvalidArgument));

  v1::SubjectFacts facts;
  facts.mutable_project()->set_end_date("2026-02-30");
  EXPECT_THAT(SubjectFactsFromProto(facts),
              StatusIs(absl::StatusCode::kInvalidArgument));
  facts.mutable_project()->set_end_date("2026-03-31");
  facts.add_objections("research");
  auto f = SubjectFactsFromProto(facts);
  ASSERT_THAT(f, IsOk());
  EXPECT_EQ(f->project->end_date, absl::CivilDay(2026, 3, 31));
  EXPECT_THAT(f->objections, ElementsAre("research"));
  EXPECT_FALSE(SubjectFactsFromProto(v1::SubjectFacts())->project.has_value());
}

}  // namespace
}  // namespace linkd::policy
