// Record attributes (EncodedRecord.attributes) in the record store: stored
// with the record, and a change of attributes alone is an update with
// history, as a change of identity is.
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/store/record_store.h"
#include "linkd/store/store_testing.h"
#include "linkd/util/status_matchers.h"

namespace linkd::store {
namespace {

using ::linkd::store::testing::ScopedTempDir;
using ::linkd::store::testing::SyntheticRecords;
using ::linkd::testing::IsOk;
using ::linkd::v1::EncodedRecord;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

class RecordAttributesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions o;
    o.path = dir_.path();
    o.block_cache_mib = 8;
    absl::StatusOr<std::unique_ptr<Store>> s = Store::Open(o);
    ASSERT_THAT(s, IsOk());
    store_ = *std::move(s);
    records_ = std::make_unique<RecordStore>(store_.get());
  }

  IngestOutcome Ingest(const EncodedRecord& r, absl::Time now) {
    WriteBatch batch = store_->NewBatch();
    const EncodedRecord* p = &r;
    absl::StatusOr<std::vector<IngestOutcome>> out =
        records_->Stage({&p, 1}, now, &batch);
    EXPECT_THAT(out, IsOk());
    EXPECT_THAT(store_->Commit(std::move(batch)), IsOk());
    return out.ok() ? (*out)[0] : IngestOutcome{};
  }

  ScopedTempDir dir_;
  SyntheticRecords gen_{7};
  std::unique_ptr<Store> store_;
  std::unique_ptr<RecordStore> records_;
};

TEST_F(RecordAttributesTest, StoredAndUpdatedWithHistory) {
  EncodedRecord v1 = gen_.Record("school_census", "r1");
  (*v1.mutable_attributes())["year_group"] = "7";
  (*v1.mutable_attributes())["sen_status"] = "N";
  EXPECT_EQ(Ingest(v1, kT0).result, IngestResult::kAccepted);
  // The same identity and attributes again: unchanged, whatever the order
  // the map serialises in.
  EncodedRecord again = v1;
  again.mutable_attributes()->clear();
  (*again.mutable_attributes())["sen_status"] = "N";
  (*again.mutable_attributes())["year_group"] = "7";
  EXPECT_EQ(Ingest(again, kT0).result, IngestResult::kUnchanged);

  // Only an attribute changes: a new revision, the old one in history.
  EncodedRecord v2 = v1;
  (*v2.mutable_attributes())["year_group"] = "8";
  const IngestOutcome out = Ingest(v2, kT0 + absl::Hours(1));
  EXPECT_EQ(out.result, IngestResult::kUpdated);
  EXPECT_EQ(out.revision, 2u);
  absl::StatusOr<std::optional<StoredRecord>> cur =
      records_->Get("school_census", "r1");
  ASSERT_THAT(cur, IsOk());
  ASSERT_TRUE(cur->has_value());
  EXPECT_THAT(
      (*cur)->attributes(),
      UnorderedElementsAre(Pair("year_group", "8"), Pair("sen_status", "N")));
  absl::StatusOr<std::vector<StoredRecord>> history =
      records_->History("school_census", "r1");
  ASSERT_THAT(history, IsOk());
  ASSERT_EQ(history->size(), 1u);
  EXPECT_THAT(
      (*history)[0].attributes(),
      UnorderedElementsAre(Pair("year_group", "7"), Pair("sen_status", "N")));

  // Dropping an attribute is a change too.
  EncodedRecord v3 = v2;
  v3.mutable_attributes()->erase("sen_status");
  EXPECT_EQ(Ingest(v3, kT0 + absl::Hours(2)).result, IngestResult::kUpdated);
}

TEST_F(RecordAttributesTest, ARecordWithoutAttributesKeepsTheStoredOnes) {
  EncodedRecord census = gen_.Record("school/100001", "p1");
  (*census.mutable_attributes())["year_group"] = "7";
  EXPECT_EQ(Ingest(census, kT0).result, IngestResult::kAccepted);
  // The same record as it comes with an event: no attributes sent.
  EncodedRecord with_event = census;
  with_event.mutable_attributes()->clear();
  EXPECT_EQ(Ingest(with_event, kT0 + absl::Hours(1)).result,
            IngestResult::kUnchanged);
  // A changed identity without attributes: an update that keeps them.
  with_event.mutable_identity()->set_postcode_unit(gen_.Bytes(32));
  EXPECT_EQ(Ingest(with_event, kT0 + absl::Hours(2)).result,
            IngestResult::kUpdated);
  absl::StatusOr<std::optional<StoredRecord>> cur =
      records_->Get("school/100001", "p1");
  ASSERT_THAT(cur, IsOk());
  ASSERT_TRUE(cur->has_value());
  EXPECT_THAT((*cur)->attributes(),
              UnorderedElementsAre(Pair("year_group", "7")));
}

}  // namespace
}  // namespace linkd::store
