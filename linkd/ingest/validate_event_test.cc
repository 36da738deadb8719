#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/ingest/test_records.h"
#include "linkd/ingest/validate.h"
#include "linkd/util/status_matchers.h"

namespace linkd::ingest {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

class ValidateEventTest : public ::testing::Test {
 protected:
  v1::IngestItem Suspension() const {
    v1::IngestItem item;
    *item.mutable_event()->mutable_record() =
        records_.Item("school/100001", "P1", 3).record();
    v1::Event* e = item.mutable_event()->mutable_event();
    e->set_event_id("EX-2025-017");
    e->set_type(v1::EVENT_TYPE_SUSPENSION);
    e->mutable_date()->set_year(2025);
    e->mutable_date()->set_month(3);
    e->mutable_date()->set_day(3);
    e->set_days(3);
    return item;
  }

  v1::IngestItem EpisodeStart() const {
    v1::IngestItem item = Suspension();
    *item.mutable_event()->mutable_record() =
        records_.Item("la/999", "CASE-9", 3).record();
    v1::Event* e = item.mutable_event()->mutable_event();
    e->set_type(v1::EVENT_TYPE_EPISODE_START);
    e->set_days(0);
    e->set_episode_kind(v1::EPISODE_KIND_CHILD_PROTECTION_PLAN);
    e->mutable_contact()->set_organisation("la/999");
    e->mutable_contact()->set_team("Children's Services North");
    e->mutable_contact()->set_phone("+44 (0)1632 960000");
    return item;
  }

  static absl::Status Check(const v1::IngestItem& item) {
    return ValidateItem(item);
  }

  testing::TestRecords records_;
};

TEST_F(ValidateEventTest, AcceptsWellFormedEvents) {
  EXPECT_THAT(Check(Suspension()), IsOk());
  EXPECT_THAT(Check(EpisodeStart()), IsOk());
  v1::IngestItem off = Suspension();
  v1::Event* e = off.mutable_event()->mutable_event();
  e->set_type(v1::EVENT_TYPE_REMOVED_FROM_ROLL);
  e->set_days(0);
  e->set_reason_code("8(1)(f)(iii)");
  EXPECT_THAT(Check(off), IsOk());
  v1::IngestItem lac = EpisodeStart();
  lac.mutable_event()->mutable_event()->set_episode_kind(
      v1::EPISODE_KIND_LOOKED_AFTER);
  lac.mutable_event()->mutable_event()->set_virtual_school("la/999-vs");
  EXPECT_THAT(Check(lac), IsOk());
  v1::IngestItem refuge = EpisodeStart();
  e = refuge.mutable_event()->mutable_event();
  e->set_type(v1::EVENT_TYPE_REFUGE_START);
  e->clear_episode_kind();
  e->clear_contact();
  EXPECT_THAT(Check(refuge), IsOk());
}

TEST_F(ValidateEventTest, TheRecordIsCheckedToo) {
  v1::IngestItem item = Suspension();
  item.mutable_event()->mutable_record()->set_record_id("943 476 5919");
  EXPECT_THAT(Check(item), StatusIs(absl::StatusCode::kInvalidArgument,
                                    StartsWith("event.record.record_id:")));
  item = Suspension();
  item.mutable_event()->clear_record();
  EXPECT_THAT(Check(item), StatusIs(absl::StatusCode::kInvalidArgument,
                                    StartsWith("event.record:")));
}

TEST_F(ValidateEventTest, EventIdMustNotBeAnIdentifier) {
  for (const char* id : {"", "2025-03-03", "943 476 5919", "SW1A 1AA"}) {
    v1::IngestItem item = Suspension();
    item.mutable_event()->mutable_event()->set_event_id(id);
    const absl::Status s = Check(item);
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument,
                            StartsWith("event.event.event_id:")))
        << id;
    if (*id != '\0') {
      EXPECT_THAT(s.message(), Not(HasSubstr(id)));
    }
  }
}

TEST_F(ValidateEventTest, DatesAreStructuredAndReal) {
  v1::IngestItem item = Suspension();
  item.mutable_event()->mutable_event()->clear_date();
  EXPECT_THAT(Check(item), StatusIs(absl::StatusCode::kInvalidArgument,
                                    StartsWith("event.event.date: missing")));
  item = Suspension();
  item.mutable_event()->mutable_event()->mutable_date()->set_month(2);
  item.mutable_event()->mutable_event()->mutable_date()->set_day(30);
  EXPECT_THAT(Check(item), StatusIs(absl::StatusCode::kInvalidArgument,
                                    StartsWith("event.event.date:")));
  item = Suspension();
  item.mutable_event()->mutable_event()->mutable_date()->set_year(1850);
  EXPECT_THAT(Check(item), StatusIs(absl::StatusCode::kInvalidArgument,
                                    StartsWith("event.event.date:")));
}

TEST_F(ValidateEventTest, SourceMustBeTheReportersOwnOrganisation) {
  v1::IngestItem item = Suspension();
  item.mutable_event()->mutable_record()->set_source("school_census");
  EXPECT_THAT(Check(item), StatusIs(absl::StatusCode::kInvalidArgument,
                                    StartsWith("event.record.source:")));
  item = EpisodeStart();
  item.mutable_event()->mutable_record()->set_source("school/100001");
  EXPECT_THAT(Check(item), StatusIs(absl::StatusCode::kInvalidArgument,
                                    StartsWith("event.record.source:")));
}

TEST_F(ValidateEventTest, EachTypeHasExactlyItsDetails) {
  v1::IngestItem item = Suspension();
  item.mutable_event()->mutable_event()->set_days(0);
  EXPECT_THAT(Check(item), StatusIs(absl::StatusCode::kInvalidArgument,
                                    StartsWith("event.event.days:")));
  item.mutable_event()->mutable_event()->set_days(46);
  EXPECT_THAT(Check(item), StatusIs(absl::StatusCode::kInvalidArgument,
                                    StartsWith("event.event.days:")));
  item = Suspension();
  item.mutable_event()->mutable_event()->set_reason_code("A");
  EXPECT_THAT(Check(item), StatusIs(absl::StatusCode::kInvalidArgument,
                                    StartsWith("event.event.reason_code:")));
  item = Suspension();
  item.mutable_event()->mutable_event()->set_type(
      v1::EVENT_TYPE_REMOVED_FROM_ROLL);
  item.mutable_event()->mutable_event()->set_days(0);
  EXPECT_THAT(Check(item), StatusIs(absl::StatusCode::kInvalidArgument,
                                    StartsWith("event.event.reason_code:")));
  item = EpisodeStart();
  item.mutable_event()->mutable_event()->clear_episode_kind();
  EXPECT_THAT(Check(item), StatusIs(absl::StatusCode::kInvalidArgument,
                                    StartsWith("event.event.episode_kind:")));
  item = EpisodeStart();
  item.mutable_event()->mutable_event()->clear_contact();
  EXPECT_THAT(Check(item),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("event.event.contact.organisation:")));
  item = EpisodeStart();
  item.mutable_event()->mutable_event()->set_virtual_school("la/999-vs");
  EXPECT_THAT(Check(item), StatusIs(absl::StatusCode::kInvalidArgument,
                                    StartsWith("event.event.virtual_school:")));
  item = Suspension();
  item.mutable_event()->mutable_event()->set_type(v1::EVENT_TYPE_UNSPECIFIED);
  EXPECT_THAT(Check(item), StatusIs(absl::StatusCode::kInvalidArgument,
                                    StartsWith("event.event.type:")));
}

TEST_F(ValidateEventTest, ContactsNameTeamsNotChildren) {
  v1::IngestItem item = EpisodeStart();
  item.mutable_event()->mutable_event()->mutable_contact()->set_team(
      "2014-06-30");
  EXPECT_THAT(Check(item), StatusIs(absl::StatusCode::kInvalidArgument,
                                    StartsWith("event.event.contact.team:")));
  item = EpisodeStart();
  item.mutable_event()->mutable_event()->mutable_contact()->set_phone(
      "call Ann");
  EXPECT_THAT(Check(item), StatusIs(absl::StatusCode::kInvalidArgument,
                                    StartsWith("event.event.contact.phone:")));
  item = EpisodeStart();
  item.mutable_event()->mutable_event()->mutable_contact()->set_organisation(
      "Example Council");
  EXPECT_THAT(Check(item),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("event.event.contact.organisation:")));
}

}  // namespace
}  // namespace linkd::ingest
