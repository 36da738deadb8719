#include "linkd/events/event_store.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/store/record_store.h"
#include "linkd/util/status_matchers.h"
#include "linkd/util/temp_dir.h"

namespace linkd::events {
namespace {

using ::linkd::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

v1::Date Day(int y, int m, int d) {
  v1::Date date;
  date.set_year(y);
  date.set_month(m);
  date.set_day(d);
  return date;
}

StoredEvent MakeEvent(uint64_t seq, const std::string& source,
                      const std::string& record_id, const std::string& id,
                      v1::Date date) {
  StoredEvent e;
  e.set_seq(seq);
  e.set_source(source);
  e.set_record_id(record_id);
  e.mutable_event()->set_event_id(id);
  e.mutable_event()->set_type(v1::EVENT_TYPE_SUSPENSION);
  *e.mutable_event()->mutable_date() = date;
  e.set_link_seq(seq * 10);
  return e;
}

class EventStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::StoreOptions options;
    options.path = dir_.Sub("db");
    auto s = store::Store::Open(options);
    ASSERT_THAT(s, IsOk());
    store_ = *std::move(s);
    events_ = std::make_unique<EventStore>(store_.get());
  }

  void Add(const StoredEvent& e) {
    store::WriteBatch batch = store_->NewBatch();
    EventStore::Add(e, &batch);
    ASSERT_THAT(store_->Commit(std::move(batch)), IsOk());
  }

  std::vector<uint64_t> Queued() {
    std::vector<uint64_t> seqs;
    EXPECT_THAT(events_->ForEachQueued(
                    0,
                    [&](uint64_t seq, uint64_t link) -> absl::StatusOr<bool> {
                      EXPECT_EQ(link, seq * 10);
                      seqs.push_back(seq);
                      return true;
                    }),
                IsOk());
    return seqs;
  }

  testing::TempDir dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<EventStore> events_;
};

TEST(EventTimeTest, OnlyRealDates) {
  absl::CivilDay day;
  EXPECT_FALSE(ToCivilDay(Day(2025, 2, 29), &day));
  EXPECT_TRUE(ToCivilDay(Day(2024, 2, 29), &day));
  EXPECT_FALSE(ToCivilDay(Day(2025, 4, 31), &day));
  EXPECT_FALSE(ToCivilDay(Day(2025, 13, 1), &day));
  v1::Event e;
  *e.mutable_date() = Day(1970, 1, 2);
  EXPECT_EQ(EventTimeMicros(e), int64_t{86400} * 1000000);
}

TEST_F(EventStoreTest, StoresFindsAndQueues) {
  auto last = events_->LastSeq();
  ASSERT_THAT(last, IsOk());
  EXPECT_EQ(*last, 0u);
  Add(MakeEvent(1, "school/100001", "P1", "e1", Day(2025, 3, 3)));
  Add(MakeEvent(2, "school/100001", "P1", "e2", Day(2025, 3, 1)));
  last = events_->LastSeq();
  ASSERT_THAT(last, IsOk());
  EXPECT_EQ(*last, 2u);
  auto found = events_->Find("school/100001", "e2");
  ASSERT_THAT(found, IsOk());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->seq(), 2u);
  auto missing = events_->Find("school/100002", "e2");
  ASSERT_THAT(missing, IsOk());
  EXPECT_FALSE(missing->has_value());
  EXPECT_THAT(Queued(), ElementsAre(1, 2));

  v1::EncodedEvent same;
  same.mutable_record()->set_record_id("P1");
  *same.mutable_event() = (*found)->event();
  EXPECT_TRUE(SameEvent(**found, same));
  same.mutable_event()->set_days(4);
  EXPECT_FALSE(SameEvent(**found, same));
}

TEST_F(EventStoreTest, JourneyFollowsTheRecordsOfTheSui) {
  Add(MakeEvent(1, "school/100001", "P1", "e1", Day(2025, 3, 3)));
  Add(MakeEvent(2, "school/100001", "P1", "e2", Day(2025, 3, 1)));
  Add(MakeEvent(3, "la/999", "C1", "e3", Day(2025, 2, 1)));
  Add(MakeEvent(4, "school/100002", "Q9", "e4", Day(2025, 1, 1)));
  // Routing files events 1, 2 and 4 under SUI 77, event 3 under SUI 88.
  store::WriteBatch batch = store_->NewBatch();
  for (uint64_t seq : {1, 2, 4}) {
    auto e = events_->Get(seq);
    ASSERT_THAT(e, IsOk());
    EventStore::MarkRouted(**e, 77, &batch);
  }
  auto e3 = events_->Get(3);
  ASSERT_THAT(e3, IsOk());
  EventStore::MarkRouted(**e3, 88, &batch);
  ASSERT_THAT(store_->Commit(std::move(batch)), IsOk());
  EXPECT_THAT(Queued(), IsEmpty());

  // SUI 77 now holds P1 and C1 (C1 moved in); Q9 has been split off.
  const std::vector<std::string> members = {
      store::RecordKey("school/100001", "P1"),
      store::RecordKey("la/999", "C1")};
  auto journey = events_->Journey({77}, members);
  ASSERT_THAT(journey, IsOk());
  std::vector<std::string> ids;
  for (const auto& e : *journey) ids.push_back(e.event().event_id());
  EXPECT_THAT(ids, ElementsAre("e3", "e2", "e1"));  // by date
}

TEST_F(EventStoreTest, StatePerRecord) {
  const std::string key = store::RecordKey("la/999", "C1");
  auto empty = events_->GetState(key);
  ASSERT_THAT(empty, IsOk());
  EXPECT_FALSE(empty->in_refuge());
  RecordEventState state;
  state.set_in_refuge(true);
  store::WriteBatch batch = store_->NewBatch();
  EventStore::PutState(key, state, &batch);
  ASSERT_THAT(store_->Commit(std::move(batch)), IsOk());
  auto got = events_->GetState(key);
  ASSERT_THAT(got, IsOk());
  EXPECT_TRUE(got->in_refuge());
}

}  // namespace
}  // namespace linkd::events
