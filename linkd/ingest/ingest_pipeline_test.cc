#include "linkd/ingest/ingest_pipeline.h"

#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/ingest/test_records.h"
#include "linkd/util/status_matchers.h"
#include "linkd/util/temp_dir.h"

namespace linkd::ingest {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;
using ::testing::StartsWith;

class IngestPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open() {
    store::StoreOptions options;
    options.path = dir_.Sub("db");
    auto s = store::Store::Open(options);
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
    auto p = IngestPipeline::Create(store_.get(), linking_.get(), &clock_,
                                    PipelineOptions{});
    ASSERT_THAT(p, IsOk());
    pipeline_ = *std::move(p);
  }

  void Reopen() {
    pipeline_.reset();
    linking_.reset();
    linker_.reset();
    index_.reset();
    store_.reset();
    Open();
  }

  v1::IngestBatch Batch(const std::string& source, int first, int count,
                        const testing::TestRecords& records) {
    v1::IngestBatch batch;
    batch.set_batch_seq(++seq_);
    for (int i = first; i < first + count; ++i) {
      *batch.add_items() = records.Item(source, "R" + std::to_string(i), i);
    }
    return batch;
  }

  // Submits every batch at once to a new pipeline whose groups hold at most
  // `max_group_items` items, so that each group is staged while the one
  // before it commits, and stops it once all are applied. The acks in the
  // order the callbacks ran.
  std::vector<absl::StatusOr<v1::IngestAck>> SubmitAllAtOnce(
      const std::vector<v1::IngestBatch>& batches, uint32_t max_group_items) {
    PipelineOptions options;
    options.max_group_items = max_group_items;
    auto pipeline =
        IngestPipeline::Create(store_.get(), linking_.get(), &clock_, options);
    EXPECT_THAT(pipeline, IsOk());
    if (!pipeline.ok()) return {};
    absl::Mutex mu;
    std::vector<absl::StatusOr<v1::IngestAck>> acks;
    for (const v1::IngestBatch& batch : batches) {
      (*pipeline)->Submit(&batch, [&](absl::StatusOr<v1::IngestAck> ack) {
        absl::MutexLock lock(&mu);
        acks.push_back(std::move(ack));
      });
    }
    pipeline->reset();  // applies every batch queued, then stops
    return acks;
  }

  testing::TempDir dir_;
  util::ManualClock clock_{absl::FromUnixSeconds(1790000000)};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<blocking::KeyGenerator> keys_;
  std::unique_ptr<blocking::BlockingIndex> index_;
  std::unique_ptr<linker::Linker> linker_;
  std::unique_ptr<linker::LinkWorker> linking_;
  std::unique_ptr<IngestPipeline> pipeline_;
  testing::TestRecords records_;
  uint64_t seq_ = 0;
};

TEST_F(IngestPipelineTest, AcceptsThenCountsResubmissionAsUnchanged) {
  auto ack = pipeline_->Apply(Batch("school_census", 0, 50, records_));
  ASSERT_THAT(ack, IsOk());
  EXPECT_EQ(ack->batch_seq(), seq_);
  EXPECT_EQ(ack->accepted(), 50u);
  EXPECT_EQ(ack->rejected(), 0u);
  // Every stored record is queued for linking, and gets linked.
  ASSERT_GT(ack->link_seq(), 0u);
  EXPECT_GE(linking_->WaitLinked(ack->link_seq(), absl::Seconds(30)).linked_seq,
            ack->link_seq());
  for (int i = 0; i < 50; ++i) {
    auto sui = linker_->Resolve(
        store::RecordKey("school_census", "R" + std::to_string(i)));
    ASSERT_THAT(sui, IsOk());
    EXPECT_TRUE(sui->has_value()) << i;
  }

  ack = pipeline_->Apply(Batch("school_census", 0, 50, records_));
  ASSERT_THAT(ack, IsOk());
  EXPECT_EQ(ack->unchanged(), 50u);
  EXPECT_EQ(ack->accepted(), 0u);
}

TEST_F(IngestPipelineTest, AChangedRecordIsAnUpdate) {
  ASSERT_THAT(pipeline_->Apply(Batch("health", 0, 10, records_)), IsOk());
  // Same record ids, different people: every record changed.
  v1::IngestBatch changed = Batch("health", 0, 10, records_);
  for (int i = 0; i < changed.items_size(); ++i) {
    *changed.mutable_items(i) =
        records_.Item("health", "R" + std::to_string(i), i + 100);
  }
  auto ack = pipeline_->Apply(changed);
  ASSERT_THAT(ack, IsOk());
  EXPECT_EQ(ack->updated(), 10u);
}

TEST_F(IngestPipelineTest, RejectsBadItemsAndKeepsTheRest) {
  v1::IngestBatch batch = Batch("social_care", 0, 5, records_);
  batch.mutable_items(1)->mutable_record()->clear_source();
  batch.mutable_items(3)->mutable_record()->set_record_id("9434765919");
  auto ack = pipeline_->Apply(batch);
  ASSERT_THAT(ack, IsOk());
  EXPECT_EQ(ack->accepted(), 3u);
  EXPECT_EQ(ack->rejected(), 2u);
  ASSERT_EQ(ack->rejections_size(), 2);
  EXPECT_EQ(ack->rejections(0).index(), 1u);
  EXPECT_EQ(ack->rejections(0).field(), "record.source");
  EXPECT_EQ(ack->rejections(0).code(),
            static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(ack->rejections(1).index(), 3u);
  EXPECT_EQ(ack->rejections(1).field(), "record.record_id");

  store::RecordStore records(store_.get());
  auto stats = records.Stats();
  ASSERT_THAT(stats, IsOk());
  EXPECT_EQ(stats->total_records(), 3u);
}

TEST_F(IngestPipelineTest,
       RefusesRecordsEncodedWithAnotherKeyOfTheSameVersion) {
  ASSERT_THAT(pipeline_->Apply(Batch("school_census", 0, 3, records_)), IsOk());
  testing::TestRecords other_key;  // a different random key, also version 1
  auto ack = pipeline_->Apply(Batch("health", 0, 3, other_key));
  ASSERT_THAT(ack, IsOk());
  EXPECT_EQ(ack->rejected(), 3u);
  EXPECT_EQ(ack->rejections(0).code(),
            static_cast<int>(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(ack->rejections(0).field(), "record.identity.key_check");

  // The key check is remembered across restarts.
  Reopen();
  ack = pipeline_->Apply(Batch("health", 0, 3, other_key));
  ASSERT_THAT(ack, IsOk());
  EXPECT_EQ(ack->rejected(), 3u);
  ack = pipeline_->Apply(Batch("health", 0, 3, records_));
  ASSERT_THAT(ack, IsOk());
  EXPECT_EQ(ack->accepted(), 3u);

  // A new key version is a new key.
  testing::TestRecords rotated(2);
  ack = pipeline_->Apply(Batch("health", 10, 3, rotated));
  ASSERT_THAT(ack, IsOk());
  EXPECT_EQ(ack->accepted(), 3u);
}

TEST_F(IngestPipelineTest, RefusesOversizeBatchesWhole) {
  auto small = IngestPipeline::Create(store_.get(), linking_.get(), &clock_,
                                      PipelineOptions{/*max_batch_items=*/4});
  ASSERT_THAT(small, IsOk());
  EXPECT_THAT(
      (*small)->Apply(Batch("health", 0, 5, records_)),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("batch")));
  store::RecordStore records(store_.get());
  auto stats = records.Stats();
  ASSERT_THAT(stats, IsOk());
  EXPECT_EQ(stats->total_records(), 0u);
}

TEST_F(IngestPipelineTest, AcknowledgedRecordsSurviveReopen) {
  ASSERT_THAT(pipeline_->Apply(Batch("school_census", 0, 100, records_)),
              IsOk());
  Reopen();
  auto ack = pipeline_->Apply(Batch("school_census", 0, 100, records_));
  ASSERT_THAT(ack, IsOk());
  EXPECT_EQ(ack->unchanged(), 100u);
}

// Each batch its own group, all queued at once: each group is staged while
// the one before it commits, so it must see that group's records as stored.
TEST_F(IngestPipelineTest, AGroupStagedWhileTheOneBeforeCommitsSeesIt) {
  constexpr int kVersions = 20;
  std::vector<v1::IngestBatch> batches(kVersions);
  for (int v = 0; v < kVersions; ++v) {
    batches[v] = Batch("health", 0, 10, records_);
    for (int i = 0; i < 10; ++i) {
      // Every version of a record is a different person: each an update.
      *batches[v].mutable_items(i) =
          records_.Item("health", "R" + std::to_string(i), 1000 * v + i);
    }
  }
  const std::vector<absl::StatusOr<v1::IngestAck>> acks =
      SubmitAllAtOnce(batches, /*max_group_items=*/10);
  ASSERT_EQ(acks.size(), batches.size());
  uint64_t last_link_seq = 0;
  for (int v = 0; v < kVersions; ++v) {
    ASSERT_THAT(acks[v], IsOk());
    EXPECT_EQ(acks[v]->batch_seq(), batches[v].batch_seq());  // in order
    EXPECT_EQ(acks[v]->accepted(), v == 0 ? 10u : 0u) << v;
    EXPECT_EQ(acks[v]->updated(), v == 0 ? 0u : 10u) << v;
    EXPECT_GT(acks[v]->link_seq(), last_link_seq) << v;
    last_link_seq = acks[v]->link_seq();
  }
  store::RecordStore records(store_.get());
  for (int i = 0; i < 10; ++i) {
    auto current = records.Get("health", "R" + std::to_string(i));
    ASSERT_THAT(current, IsOk());
    ASSERT_TRUE(current->has_value());
    EXPECT_EQ((*current)->revision(), static_cast<uint64_t>(kVersions));
    auto history = records.History("health", "R" + std::to_string(i));
    ASSERT_THAT(history, IsOk());
    ASSERT_EQ(history->size(), static_cast<size_t>(kVersions - 1));
    for (int r = 0; r < kVersions - 1; ++r) {
      EXPECT_EQ((*history)[r].revision(), static_cast<uint64_t>(r + 1));
    }
  }
  auto stats = records.Stats();
  ASSERT_THAT(stats, IsOk());
  EXPECT_EQ(stats->total_records(), 10u);
  ASSERT_EQ(stats->sources_size(), 1);
  EXPECT_EQ(stats->sources(0).updated_records(), 10u);
  // Every version was queued for linking, each entry once.
  EXPECT_EQ(last_link_seq, static_cast<uint64_t>(10 * kVersions));
}

TEST_F(IngestPipelineTest, AnEventResentWhileItsFirstCopyCommitsIsUnchanged) {
  auto suspension = [&](int days) {
    v1::IngestBatch batch;
    batch.set_batch_seq(++seq_);
    v1::IngestItem* item = batch.add_items();
    *item->mutable_event()->mutable_record() =
        records_.Item("school/100001", "P1", 7).record();
    v1::Event* e = item->mutable_event()->mutable_event();
    e->set_event_id("susp-1");
    e->set_type(v1::EVENT_TYPE_SUSPENSION);
    e->mutable_date()->set_year(2025);
    e->mutable_date()->set_month(3);
    e->mutable_date()->set_day(3);
    e->set_days(days);
    return batch;
  };
  // The same event three times, then the same id for another event.
  const std::vector<absl::StatusOr<v1::IngestAck>> acks = SubmitAllAtOnce(
      {suspension(3), suspension(3), suspension(3), suspension(5)},
      /*max_group_items=*/1);
  ASSERT_EQ(acks.size(), 4u);
  for (const auto& ack : acks) ASSERT_THAT(ack, IsOk());
  EXPECT_EQ(acks[0]->accepted(), 1u);
  EXPECT_EQ(acks[1]->unchanged(), 1u);
  EXPECT_EQ(acks[2]->unchanged(), 1u);
  EXPECT_EQ(acks[3]->rejected(), 1u);
  ASSERT_EQ(acks[3]->rejections_size(), 1);
  EXPECT_EQ(acks[3]->rejections(0).code(),
            static_cast<int>(absl::StatusCode::kAlreadyExists));
  auto last = events::EventStore(store_.get()).LastSeq();
  ASSERT_THAT(last, IsOk());
  EXPECT_EQ(*last, 1u);  // stored once
}

}  // namespace
}  // namespace linkd::ingest
