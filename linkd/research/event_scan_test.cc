#include "linkd/research/event_scan.h"

#include <memory>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/store/record_store.h"
#include "linkd/util/status_matchers.h"
#include "linkd/util/temp_dir.h"

namespace linkd::research {
namespace {

using ::linkd::testing::IsOk;
using ::testing::ElementsAre;

v1::Event MakeEvent(v1::EventType type, int y, int m, int d,
                    v1::EpisodeKind kind = v1::EPISODE_KIND_UNSPECIFIED) {
  v1::Event e;
  e.set_type(type);
  e.mutable_date()->set_year(y);
  e.mutable_date()->set_month(m);
  e.mutable_date()->set_day(d);
  e.set_episode_kind(kind);
  return e;
}

TEST(EventScanTest, KindsOfEvents) {
  EXPECT_EQ(EventKindOf(MakeEvent(v1::EVENT_TYPE_SUSPENSION, 2022, 1, 1)),
            EventKind::kSuspension);
  EXPECT_EQ(EventKindOf(MakeEvent(v1::EVENT_TYPE_EPISODE_START, 2022, 1, 1,
                                  v1::EPISODE_KIND_LOOKED_AFTER)),
            EventKind::kLookedAfterStart);
  EXPECT_EQ(EventKindOf(MakeEvent(v1::EVENT_TYPE_EPISODE_END, 2022, 1, 1,
                                  v1::EPISODE_KIND_CHILD_PROTECTION_PLAN)),
            EventKind::kChildProtectionPlanEnd);
  // Never released: refuge flags, and episodes of no kind.
  EXPECT_EQ(EventKindOf(MakeEvent(v1::EVENT_TYPE_REFUGE_START, 2022, 1, 1)),
            std::nullopt);
  EXPECT_EQ(EventKindOf(MakeEvent(v1::EVENT_TYPE_EPISODE_START, 2022, 1, 1)),
            std::nullopt);
}

TEST(EventScanTest, ScansTheEventStore) {
  linkd::testing::TempDir dir;
  store::StoreOptions options;
  options.path = dir.Sub("db");
  options.block_cache_mib = 8;
  auto s = store::Store::Open(options);
  ASSERT_THAT(s, IsOk());
  std::unique_ptr<store::Store> db = *std::move(s);
  events::EventStore events(db.get());
  const v1::Event stored[] = {
      MakeEvent(v1::EVENT_TYPE_EPISODE_START, 2021, 5, 1,
                v1::EPISODE_KIND_CHILD_IN_NEED_PLAN),
      MakeEvent(v1::EVENT_TYPE_REFUGE_START, 2021, 6, 1),
      MakeEvent(v1::EVENT_TYPE_SUSPENSION, 2022, 3, 14),
  };
  store::WriteBatch batch = db->NewBatch();
  uint64_t seq = 0;
  for (const v1::Event& e : stored) {
    events::StoredEvent se;
    se.set_seq(++seq);
    se.set_source(seq == 3 ? "school/100001" : "la/999");
    se.set_record_id(absl::StrCat("R", seq));
    *se.mutable_event() = e;
    se.mutable_event()->set_event_id(absl::StrCat("E", seq));
    events::EventStore::Add(se, &batch);
  }
  ASSERT_THAT(db->Commit(std::move(batch)), IsOk());
  std::vector<std::tuple<std::string, EventKind, DateNumber>> seen;
  ASSERT_THAT(
      EventStoreScan(&events)(nullptr,
                              [&](std::string_view key, EventKind kind,
                                  DateNumber date) -> absl::StatusOr<bool> {
                                seen.emplace_back(std::string(key), kind, date);
                                return true;
                              }),
      IsOk());
  EXPECT_THAT(
      seen,
      ElementsAre(std::make_tuple(store::RecordKey("la/999", "R1"),
                                  EventKind::kChildInNeedPlanStart, 20210501),
                  std::make_tuple(store::RecordKey("school/100001", "R3"),
                                  EventKind::kSuspension, 20220314)));
}

}  // namespace
}  // namespace linkd::research
