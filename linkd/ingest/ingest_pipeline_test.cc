#include "linkd/ingest/ingest_pipeline.h"

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

}  // namespace
}  // namespace linkd::ingest
