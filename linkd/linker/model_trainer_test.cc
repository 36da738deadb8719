#include "linkd/linker/model_trainer.h"

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/matcher/testing/encoded_population.h"
#include "linkd/store/record_store.h"
#include "linkd/util/status_matchers.h"
#include "linkd/util/temp_dir.h"
#include "tests/testing/synth/population.h"

namespace linkd::linker {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;

// A synthetic population stored in a real store, and the same records in
// memory as a bulk load prepares them.
class ModelTrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::StoreOptions so;
    so.path = dir_.Sub("db");
    auto s = store::Store::Open(so);
    ASSERT_THAT(s, IsOk());
    store_ = *std::move(s);
    auto kg = blocking::KeyGenerator::Create(blocking::BlockingConfig());
    ASSERT_THAT(kg, IsOk());
    kg_ = *std::move(kg);

    synth::Options o;
    o.seed = 11;
    o.num_people = 1500;
    auto encoded =
        matcher::testing::EncodePopulation(synth::GeneratePopulation(o));
    ASSERT_THAT(encoded, IsOk());
    records_ = *std::move(encoded);
    std::vector<v1::EncodedRecord> wire(records_.size());
    std::vector<const v1::EncodedRecord*> ptrs;
    keys_.resize(records_.size());
    for (size_t i = 0; i < records_.size(); ++i) {
      const matcher::testing::TruthRecord& r = records_[i];
      wire[i].set_source(std::string(synth::SourceName(r.source)));
      wire[i].set_record_id(r.record_id);
      *wire[i].mutable_identity() = r.identity;
      ptrs.push_back(&wire[i]);
      record_keys_.push_back(
          store::RecordKey(wire[i].source(), wire[i].record_id()));
      kg_->Keys(r.identity, &keys_[i]);
    }
    store::WriteBatch batch = store_->NewBatch();
    ASSERT_THAT(store::RecordStore(store_.get())
                    .Stage(ptrs, absl::FromUnixSeconds(1790000000), &batch),
                IsOk());
    ASSERT_THAT(store_->Commit(std::move(batch)), IsOk());

    options_.random_pairs = 50000;
    options_.same_salt_pairs = 20000;
  }

  // The records in memory, in an order unlike the store's.
  std::vector<SampleRecord> Shuffled() const {
    std::vector<SampleRecord> out;
    for (size_t i = 0; i < records_.size(); ++i) {
      out.push_back({record_keys_[i], &records_[i].decoded, &keys_[i]});
    }
    std::shuffle(out.begin(), out.end(), std::mt19937_64(5));
    return out;
  }

  // The model's persisted form, without when and how long it was trained.
  static std::string Comparable(matcher::Model model) {
    model.mutable_training_info()->trained_at_micros = 0;
    model.mutable_training_info()->em_duration_micros = 0;
    store::v1::LinkageModel proto;
    model.ToProto(&proto);
    return proto.SerializeAsString();
  }

  testing::TempDir dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<blocking::KeyGenerator> kg_;
  std::vector<matcher::testing::TruthRecord> records_;
  std::vector<std::string> record_keys_;
  std::vector<std::vector<blocking::BlockingKey>> keys_;
  TrainerOptions options_;
};

TEST_F(ModelTrainerTest, RecordsInMemoryGiveTheModelOfTheStore) {
  const matcher::Model base;
  // Every record, then a sample of about two thirds of them.
  for (uint64_t max_records : {uint64_t{300000}, uint64_t{1500}}) {
    SCOPED_TRACE(max_records);
    options_.max_records = max_records;
    auto from_store = EstimateModel(store_.get(), *kg_, base, options_);
    ASSERT_THAT(from_store, IsOk());
    const std::vector<SampleRecord> shuffled = Shuffled();
    auto in_memory = EstimateModelFromRecords(shuffled, base, options_);
    ASSERT_THAT(in_memory, IsOk());

    uint64_t sampled = 0;
    for (const auto& [source, count] :
         in_memory->training_info().records_per_source) {
      sampled += count;
    }
    if (max_records < records_.size()) {
      EXPECT_LT(sampled, records_.size());
    } else {
      EXPECT_EQ(sampled, records_.size());
    }
    EXPECT_EQ(Comparable(*in_memory), Comparable(*from_store));
  }
}

TEST_F(ModelTrainerTest, ARecordMissingFromMemoryChangesTheModel) {
  // The comparison above can tell models apart.
  const matcher::Model base;
  auto from_store = EstimateModel(store_.get(), *kg_, base, options_);
  ASSERT_THAT(from_store, IsOk());
  std::vector<SampleRecord> fewer = Shuffled();
  fewer.pop_back();
  auto in_memory = EstimateModelFromRecords(fewer, base, options_);
  ASSERT_THAT(in_memory, IsOk());
  EXPECT_NE(Comparable(*in_memory), Comparable(*from_store));
}

TEST_F(ModelTrainerTest, RecordsInMemoryNeedTheMinimumAndWellFormedKeys) {
  std::vector<SampleRecord> records = Shuffled();
  options_.min_records = records.size() + 1;
  EXPECT_THAT(EstimateModelFromRecords(records, matcher::Model(), options_),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  options_.min_records = 200;
  const std::string malformed = "not a record key";
  records[7].record_key = malformed;
  EXPECT_THAT(EstimateModelFromRecords(records, matcher::Model(), options_),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace linkd::linker
