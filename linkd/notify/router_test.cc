// The router end to end inside one process: real RocksDB in a temp dir, the
// real ingest pipeline, linker and link worker, the shipped policies and the
// audit log. Records and events are real encodings of synthetic people.
#include "linkd/notify/router.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/ingest/ingest_pipeline.h"
#include "linkd/ingest/test_records.h"
#include "linkd/util/status_matchers.h"
#include "linkd/util/temp_dir.h"

namespace linkd::notify {
namespace {

using ::linkd::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

v1::Date Day(int y, int m, int d) {
  v1::Date date;
  date.set_year(y);
  date.set_month(m);
  date.set_day(d);
  return date;
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::StoreOptions so;
    so.path = dir_.Sub("db");
    auto s = store::Store::Open(so);
    ASSERT_THAT(s, IsOk());
    store_ = *std::move(s);
    auto keys = blocking::KeyGenerator::Create(blocking::BlockingConfig());
    ASSERT_THAT(keys, IsOk());
    keys_ = *std::move(keys);
    index_ =
        std::make_unique<blocking::BlockingIndex>(store_.get(), keys_.get());
    linker_ = std::make_unique<linker::Linker>(store_.get(), index_.get(),
                                               linker::LinkerOptions());
    auto w = linker::LinkWorker::Start(store_.get(), linker_.get(), &clock_,
                                       linker::LinkWorkerOptions());
    ASSERT_THAT(w, IsOk());
    linking_ = *std::move(w);
    auto p = policy::ReloadablePolicySet::Open(LINKD_SOURCE_DIR "/policies");
    ASSERT_THAT(p, IsOk());
    policies_ = *std::move(p);
    audit::AuditLogOptions ao;
    ao.clock = &clock_;
    auto a = audit::AuditLog::Open(store_.get(), nullptr, ao);
    ASSERT_THAT(a, IsOk());
    audit_ = *std::move(a);
    outbox_ = std::make_unique<Outbox>(store_.get(), audit_.get(), &clock_);
    RouterOptions ro;
    ro.clock = &clock_;
    ro.ig_organisation = "la/999-ig";
    ro.verify_per_second = 0;  // only VerifyNow, so tests decide when
    ro.expiry_interval = absl::Seconds(1);
    auto r = Router::Start(store_.get(), linker_.get(), linking_.get(),
                           policies_.get(), nullptr, audit_.get(),
                           outbox_.get(), ro);
    ASSERT_THAT(r, IsOk());
    router_ = *std::move(r);
    ingest::PipelineOptions po;
    po.audit = audit_.get();
    po.events_committed = [this](uint64_t seq) {
      router_->EventsCommitted(seq);
    };
    auto pl = ingest::IngestPipeline::Create(store_.get(), linking_.get(),
                                             &clock_, po);
    ASSERT_THAT(pl, IsOk());
    pipeline_ = *std::move(pl);
  }

  void TearDown() override {
    pipeline_.reset();
    router_.reset();
    linking_.reset();
  }

  v1::IngestItem Record(const std::string& source, const std::string& id,
                        int person) const {
    return records_.Item(source, id, person);
  }

  v1::IngestItem Event(const std::string& source, const std::string& record_id,
                       int person, const std::string& event_id,
                       v1::EventType type) const {
    v1::IngestItem record = records_.Item(source, record_id, person);
    v1::IngestItem item;
    *item.mutable_event()->mutable_record() = record.record();
    v1::Event* e = item.mutable_event()->mutable_event();
    e->set_event_id(event_id);
    e->set_type(type);
    *e->mutable_date() = Day(2025, 3, 3);
    return item;
  }

  v1::IngestItem Suspension(const std::string& school, const std::string& rec,
                            int person, const std::string& event_id) const {
    v1::IngestItem item =
        Event(school, rec, person, event_id, v1::EVENT_TYPE_SUSPENSION);
    item.mutable_event()->mutable_event()->set_days(3);
    return item;
  }

  v1::IngestItem EpisodeStart(const std::string& la, const std::string& rec,
                              int person, const std::string& event_id,
                              v1::EpisodeKind kind,
                              const std::string& contact_org) const {
    v1::IngestItem item =
        Event(la, rec, person, event_id, v1::EVENT_TYPE_EPISODE_START);
    v1::Event* e = item.mutable_event()->mutable_event();
    e->set_episode_kind(kind);
    e->mutable_contact()->set_organisation(contact_org);
    e->mutable_contact()->set_team("Children's Services North");
    e->mutable_contact()->set_phone("01632 960000");
    return item;
  }

  // Submits the items as one batch and waits until they are routed.
  v1::IngestAck Submit(std::vector<v1::IngestItem> items) {
    v1::IngestBatch batch;
    batch.set_batch_seq(++batch_seq_);
    for (auto& i : items) *batch.add_items() = std::move(i);
    absl::StatusOr<v1::IngestAck> ack = pipeline_->Apply(batch);
    EXPECT_THAT(ack, IsOk());
    linking_->WaitLinked(linking_->progress().queued_seq, absl::Seconds(30));
    EXPECT_TRUE(router_->WaitRouted(router_->progress().committed_seq,
                                    absl::Seconds(30)));
    return ack.ok() ? *ack : v1::IngestAck();
  }

  std::vector<v1::Notification> Pending(const std::string& recipient) const {
    auto p = outbox_->Pending(recipient, 0, 1000);
    EXPECT_THAT(p, IsOk());
    std::vector<v1::Notification> out;
    if (p.ok()) {
      for (auto& n : *p) out.push_back(n.notification());
    }
    return out;
  }

  // Audit entries of `method`, oldest first.
  std::vector<audit::v1::AuditEntry> Entries(const std::string& method) const {
    std::vector<audit::v1::AuditEntry> out;
    for (uint64_t seq = 0; seq < audit_->Size(); ++seq) {
      auto e = audit_->Get(seq);
      EXPECT_THAT(e, IsOk());
      if (e.ok() && e->entry.method() == method) out.push_back(e->entry);
    }
    return out;
  }

  // A child known to a school (census record) and to la/999, with a CP plan.
  void ChildWithPlan(int person, const std::string& suffix) {
    Submit({Record("school/100001", "P" + suffix, person)});
    Submit({EpisodeStart("la/999", "C" + suffix, person, "cp-" + suffix,
                         v1::EPISODE_KIND_CHILD_PROTECTION_PLAN, "la/999")});
  }

  testing::TempDir dir_;
  util::ManualClock clock_{absl::FromUnixSeconds(1790000000)};
  testing::TestRecords records_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<blocking::KeyGenerator> keys_;
  std::unique_ptr<blocking::BlockingIndex> index_;
  std::unique_ptr<linker::Linker> linker_;
  std::unique_ptr<linker::LinkWorker> linking_;
  std::unique_ptr<policy::ReloadablePolicySet> policies_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<Outbox> outbox_;
  std::unique_ptr<Router> router_;
  std::unique_ptr<ingest::IngestPipeline> pipeline_;
  uint64_t batch_seq_ = 0;
};

TEST_F(RouterTest, EpisodeStartFlagsTheCurrentSchoolOnly) {
  Submit({Record("school/100002", "OTHER", 40)});  // another child, school
  ChildWithPlan(1, "1");
  const std::vector<v1::Notification> flags = Pending("school/100001");
  ASSERT_THAT(flags, SizeIs(1));
  const v1::Notification& f = flags[0];
  EXPECT_EQ(f.kind(), v1::NOTIFICATION_KIND_SOCIAL_WORKER_FLAG);
  EXPECT_EQ(f.purpose(), "has_social_worker_flag");
  EXPECT_NE(f.lawful_basis().find("6(1)(e)"), std::string::npos);
  EXPECT_TRUE(f.has_social_worker());
  EXPECT_EQ(f.contact().organisation(), "la/999");
  EXPECT_EQ(f.episode_start_date().day(), 3);
  // The school's own reference for the child; nothing about the case.
  EXPECT_EQ(f.child().source(), "school/100001");
  EXPECT_EQ(f.child().record_id(), "P1");
  EXPECT_EQ(f.event_type(), v1::EVENT_TYPE_UNSPECIFIED);
  EXPECT_TRUE(f.reporting_school().empty());
  EXPECT_GT(f.expires_micros(), f.created_micros());
  EXPECT_THAT(Pending("school/100002"), IsEmpty());
  EXPECT_THAT(Pending("la/999"), IsEmpty());

  // One audit entry per decision, with purpose and lawful basis.
  const auto entries = Entries("linkd/notifications/route");
  ASSERT_THAT(entries, SizeIs(1));
  EXPECT_EQ(entries[0].organisation(), "la/999");
  EXPECT_EQ(entries[0].recipient(), "school/100001");
  EXPECT_EQ(entries[0].purpose(), "has_social_worker_flag");
  EXPECT_EQ(entries[0].decision(), audit::v1::DECISION_ALLOWED);
  EXPECT_FALSE(entries[0].lawful_basis().empty());
  EXPECT_THAT(entries[0].suis(), SizeIs(1));
}

TEST_F(RouterTest, SchoolEventGoesToTheLaHoldingTheEpisode) {
  ChildWithPlan(1, "1");
  Submit({Suspension("school/100001", "P1", 1, "susp-1")});
  const std::vector<v1::Notification> got = Pending("la/999");
  ASSERT_THAT(got, SizeIs(1));
  const v1::Notification& n = got[0];
  EXPECT_EQ(n.kind(), v1::NOTIFICATION_KIND_SCHOOL_EVENT);
  EXPECT_EQ(n.purpose(), "safeguarding_notification");
  EXPECT_EQ(n.event_type(), v1::EVENT_TYPE_SUSPENSION);
  EXPECT_EQ(n.days(), 3u);
  EXPECT_EQ(n.event_date().year(), 2025);
  EXPECT_EQ(n.reporting_school(), "school/100001");
  EXPECT_EQ(n.child().source(), "la/999");
  EXPECT_EQ(n.child().record_id(), "C1");
  EXPECT_FALSE(n.has_social_worker());
  EXPECT_THAT(n.withheld_fields(), IsEmpty());
  EXPECT_THAT(Pending("la/999-vs"), IsEmpty());  // not looked after
}

TEST_F(RouterTest, NoEpisodeNoNotification) {
  Submit({Record("school/100001", "P2", 2)});
  Submit({Suspension("school/100001", "P2", 2, "susp-2")});
  EXPECT_THAT(Pending("la/999"), IsEmpty());
  EXPECT_THAT(Entries("linkd/notifications/route"), IsEmpty());
  // The event is still in the child's journey.
  auto sui = linker_->Resolve(store::RecordKey("school/100001", "P2"));
  ASSERT_THAT(sui, IsOk());
  ASSERT_TRUE(sui->has_value());
  auto members = linker_->Members(**sui);
  ASSERT_THAT(members, IsOk());
  events::EventStore events(store_.get());
  auto journey = events.Journey({(*sui)->bits()}, *members);
  ASSERT_THAT(journey, IsOk());
  ASSERT_THAT(*journey, SizeIs(1));
  EXPECT_EQ((*journey)[0].event().event_id(), "susp-2");
}

TEST_F(RouterTest, LookedAfterChildAlsoGoesToTheVirtualSchool) {
  Submit({Record("school/100001", "P3", 3)});
  Submit({EpisodeStart("la/999", "C3", 3, "lac-3",
                       v1::EPISODE_KIND_LOOKED_AFTER, "la/999-vs")});
  ASSERT_THAT(Pending("school/100001"), SizeIs(1));
  EXPECT_EQ(Pending("school/100001")[0].contact().organisation(), "la/999-vs");
  Submit({Event("school/100001", "P3", 3, "excl-3",
                v1::EVENT_TYPE_PERMANENT_EXCLUSION)});
  ASSERT_THAT(Pending("la/999"), SizeIs(1));
  const std::vector<v1::Notification> vs = Pending("la/999-vs");
  ASSERT_THAT(vs, SizeIs(1));
  EXPECT_EQ(vs[0].event_type(), v1::EVENT_TYPE_PERMANENT_EXCLUSION);
  EXPECT_EQ(vs[0].reporting_school(), "school/100001");
  EXPECT_EQ(vs[0].child().source(), "la/999");  // the LA's case reference
}

TEST_F(RouterTest, RefugeChildsSchoolIsWithheldFromAllButTheCaseHolder) {
  Submit({Record("school/100001", "P4", 4)});
  Submit({EpisodeStart("la/999", "C4", 4, "lac-4",
                       v1::EPISODE_KIND_LOOKED_AFTER, "la/999-vs"),
          Event("la/999", "C4", 4, "refuge-4", v1::EVENT_TYPE_REFUGE_START)});
  Submit({Suspension("school/100001", "P4", 4, "susp-4")});
  // The LA holding the case is told which school (sensitive_routing).
  const auto la = Pending("la/999");
  ASSERT_THAT(la, SizeIs(1));
  EXPECT_EQ(la[0].reporting_school(), "school/100001");
  // The Virtual School is told, without the school.
  const auto vs = Pending("la/999-vs");
  ASSERT_THAT(vs, SizeIs(1));
  EXPECT_TRUE(vs[0].reporting_school().empty());
  EXPECT_THAT(vs[0].withheld_fields(), ElementsAre("reporting_school"));
  EXPECT_EQ(vs[0].event_type(), v1::EVENT_TYPE_SUSPENSION);
  bool audited = false;
  for (const auto& e : Entries("linkd/notifications/route")) {
    if (e.recipient() == "la/999-vs") {
      audited = e.details().at("withheld") == "reporting_school" &&
                e.details().at("withheld_by") == "refuge-never-disclose-school";
    }
  }
  EXPECT_TRUE(audited);
}

TEST_F(RouterTest, EpisodeEndWithdrawsTheFlag) {
  ChildWithPlan(1, "1");
  v1::IngestItem end =
      Event("la/999", "C1", 1, "cp-1-end", v1::EVENT_TYPE_EPISODE_END);
  end.mutable_event()->mutable_event()->set_episode_kind(
      v1::EPISODE_KIND_CHILD_PROTECTION_PLAN);
  *end.mutable_event()->mutable_event()->mutable_date() = Day(2025, 6, 1);
  Submit({end});
  const auto flags = Pending("school/100001");
  ASSERT_THAT(flags, SizeIs(2));
  EXPECT_EQ(flags[1].kind(),
            v1::NOTIFICATION_KIND_SOCIAL_WORKER_FLAG_WITHDRAWN);
  EXPECT_FALSE(flags[1].has_social_worker());
  EXPECT_EQ(flags[1].episode_end_date().month(), 6);
  EXPECT_FALSE(flags[1].has_contact());
  // No longer an open episode: a school event now goes nowhere.
  Submit({Suspension("school/100001", "P1", 1, "susp-after")});
  EXPECT_THAT(Pending("la/999"), IsEmpty());
}

TEST_F(RouterTest, ChildWhoMovedLaIsRoutedToTheLaHoldingTheEpisode) {
  Submit({Record("school/100001", "P5", 5)});
  Submit({EpisodeStart("la/888", "X5", 5, "cin-5",
                       v1::EPISODE_KIND_CHILD_IN_NEED_PLAN, "la/888")});
  Submit({Event("school/100001", "P5", 5, "cme-5",
                v1::EVENT_TYPE_CHILD_MISSING_EDUCATION)});
  ASSERT_THAT(Pending("la/888"), SizeIs(1));
  EXPECT_EQ(Pending("la/888")[0].child().record_id(), "X5");
  EXPECT_THAT(Pending("la/999"), IsEmpty());
}

TEST_F(RouterTest, InYearAdmissionFlagsTheNewSchool) {
  ChildWithPlan(1, "1");
  Submit({Event("school/100002", "N1", 1, "adm-1",
                v1::EVENT_TYPE_IN_YEAR_ADMISSION)});
  // The LA hears of the admission; the new school gets the flag.
  ASSERT_THAT(Pending("la/999"), SizeIs(1));
  EXPECT_EQ(Pending("la/999")[0].event_type(),
            v1::EVENT_TYPE_IN_YEAR_ADMISSION);
  const auto flags = Pending("school/100002");
  ASSERT_THAT(flags, SizeIs(1));
  EXPECT_EQ(flags[0].kind(), v1::NOTIFICATION_KIND_SOCIAL_WORKER_FLAG);
  EXPECT_EQ(flags[0].child().record_id(), "N1");
}

TEST_F(RouterTest, EventsAreIdempotentBySourceAndId) {
  ChildWithPlan(1, "1");
  v1::IngestAck ack = Submit({Suspension("school/100001", "P1", 1, "s-1")});
  EXPECT_EQ(ack.accepted(), 1u);
  ack = Submit({Suspension("school/100001", "P1", 1, "s-1")});
  EXPECT_EQ(ack.unchanged(), 1u);
  EXPECT_EQ(ack.accepted(), 0u);
  EXPECT_THAT(Pending("la/999"), SizeIs(1));
  // The same id for another event is refused, naming the field.
  v1::IngestItem other = Suspension("school/100001", "P1", 1, "s-1");
  other.mutable_event()->mutable_event()->set_days(5);
  ack = Submit({other});
  ASSERT_EQ(ack.rejected(), 1u);
  EXPECT_EQ(ack.rejections(0).field(), "event.event.event_id");
  EXPECT_EQ(ack.rejections(0).code(),
            static_cast<int>(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(Pending("la/999"), SizeIs(1));
}

TEST_F(RouterTest, SplitLinkIsReportedToIgAndWithdrawn) {
  ChildWithPlan(6, "6");
  Submit({Suspension("school/100001", "P6", 6, "s-6")});
  ASSERT_THAT(Pending("la/999"), SizeIs(1));
  // The school corrects its record: it was another child all along. The
  // record leaves the SUI, so la/999 should never have heard of it.
  Submit({Record("school/100001", "P6", 63)});
  auto a = linker_->Resolve(store::RecordKey("school/100001", "P6"));
  auto b = linker_->Resolve(store::RecordKey("la/999", "C6"));
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  ASSERT_NE(**a, **b) << "the update did not move the record";
  auto found = router_->VerifyNow();
  ASSERT_THAT(found, IsOk());
  // Two: the flag to the school and the notification to the LA.
  EXPECT_EQ(*found, 2u);
  EXPECT_THAT(Pending("la/999"), IsEmpty());  // withdrawn, unacknowledged
  const auto ig = Pending("la/999-ig");
  ASSERT_THAT(ig, SizeIs(2));
  for (const auto& r : ig) {
    EXPECT_EQ(r.kind(), v1::NOTIFICATION_KIND_MISDIRECTED);
    EXPECT_EQ(r.purpose(), "ig_audit");
    EXPECT_TRUE(r.misdirection().withdrawn());
    EXPECT_NE(r.misdirection().event_record_sui_now(),
              r.misdirection().basis_record_sui_now());
  }
  EXPECT_THAT(Entries("linkd/notifications/misdirected"), SizeIs(2));
  // Reported once only.
  auto again = router_->VerifyNow();
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(*again, 0u);
}

TEST_F(RouterTest, ExpiredNotificationsAreDroppedAndAudited) {
  ChildWithPlan(1, "1");
  ASSERT_THAT(Pending("school/100001"), SizeIs(1));
  clock_.Advance(absl::Hours(24 * 15));  // the flag's purpose: 14 days
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!Pending("school/100001").empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_THAT(Pending("school/100001"), IsEmpty());
  const auto entries = Entries("linkd/notifications/expire");
  ASSERT_THAT(entries, SizeIs(1));
  EXPECT_EQ(entries[0].recipient(), "school/100001");
  EXPECT_EQ(entries[0].purpose(), "has_social_worker_flag");
}

}  // namespace
}  // namespace linkd::notify
