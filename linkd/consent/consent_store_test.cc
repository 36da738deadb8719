#include "linkd/consent/consent_store.h"

#include <memory>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/store/key_codec.h"
#include "linkd/util/status_matchers.h"
#include "linkd/util/temp_dir.h"

namespace linkd::consent {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

class ConsentStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::StoreOptions options;
    options.path = dir_.Sub("db");
    auto s = store::Store::Open(options);
    ASSERT_THAT(s, IsOk());
    store_ = *std::move(s);
    consents_ = std::make_unique<ConsentStore>(store_.get());
  }

  v1::ConsentRecord Add(uint64_t sui, v1::ConsentRecord::Kind kind,
                        std::vector<std::string> categories, int64_t from,
                        int64_t until) {
    v1::ConsentRecord r;
    r.set_kind(kind);
    for (auto& c : categories) r.add_categories(c);
    r.set_valid_from_micros(from);
    r.set_valid_until_micros(until);
    r.set_recorded_micros(from);
    store::WriteBatch batch = store_->NewBatch();
    absl::StatusOr<v1::ConsentRecord> added = consents_->Add(sui, r, &batch);
    EXPECT_THAT(added, IsOk());
    EXPECT_THAT(store_->Commit(std::move(batch)), IsOk());
    return added.ok() ? *added : r;
  }

  linkd::testing::TempDir dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<ConsentStore> consents_;
};

TEST_F(ConsentStoreTest, RecordsAreKeptPerSuiWithIds) {
  const v1::ConsentRecord a =
      Add(7, v1::ConsentRecord::KIND_OBJECTION, {"research"}, 100, 0);
  const v1::ConsentRecord b =
      Add(7, v1::ConsentRecord::KIND_OPT_OUT, {"all"}, 200, 0);
  Add(8, v1::ConsentRecord::KIND_CONSENT, {"direct_care"}, 300, 0);
  EXPECT_NE(a.id(), 0u);
  EXPECT_NE(a.id(), b.id());
  const uint64_t seven[] = {7};
  absl::StatusOr<std::vector<v1::ConsentRecord>> listed =
      consents_->List(seven);
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].id(), a.id());  // oldest first
  EXPECT_EQ((*listed)[1].id(), b.id());
  const uint64_t none[] = {9};
  EXPECT_THAT(*consents_->List(none), IsEmpty());
}

TEST_F(ConsentStoreTest, FactsHoldOnlyWhatIsInForceAcrossTheLineage) {
  Add(1, v1::ConsentRecord::KIND_OBJECTION, {"research"}, 100, 200);
  Add(2, v1::ConsentRecord::KIND_OPT_OUT, {"all"}, 150, 0);
  Add(2, v1::ConsentRecord::KIND_CONSENT, {"direct_care"}, 300, 0);
  const uint64_t lineage[] = {2, 1};  // SUI 1 was merged into SUI 2
  policy::SubjectFacts f;
  ASSERT_THAT(consents_->AddFacts(lineage, absl::FromUnixMicros(120), &f),
              IsOk());
  EXPECT_THAT(f.objections, ElementsAre("research"));
  EXPECT_THAT(f.opt_outs, IsEmpty());
  f = {};
  ASSERT_THAT(consents_->AddFacts(lineage, absl::FromUnixMicros(200), &f),
              IsOk());
  EXPECT_THAT(f.objections, IsEmpty());  // ended (exclusive)
  EXPECT_THAT(f.opt_outs, ElementsAre("all"));
  EXPECT_THAT(f.consents, IsEmpty());
  f = {};
  ASSERT_THAT(consents_->AddFacts(lineage, absl::FromUnixMicros(400), &f),
              IsOk());
  EXPECT_THAT(f.opt_outs, UnorderedElementsAre("all"));
  EXPECT_THAT(f.consents, ElementsAre("direct_care"));
  const uint64_t only_one[] = {1};
  f = {};
  ASSERT_THAT(consents_->AddFacts(only_one, absl::FromUnixMicros(400), &f),
              IsOk());
  EXPECT_THAT(f.opt_outs, IsEmpty());
}

TEST_F(ConsentStoreTest, BadRecordsAreRefusedNamingTheField) {
  store::WriteBatch batch = store_->NewBatch();
  v1::ConsentRecord r;
  r.add_categories("research");
  EXPECT_THAT(consents_->Add(1, r, &batch),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("kind")));
  r.set_kind(v1::ConsentRecord::KIND_OBJECTION);
  r.clear_categories();
  EXPECT_THAT(consents_->Add(1, r, &batch),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("categories")));
  r.add_categories("research");
  r.set_valid_from_micros(500);
  r.set_valid_until_micros(400);
  EXPECT_THAT(consents_->Add(1, r, &batch),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("valid_until")));
  EXPECT_EQ(batch.count(), 0u);
}

TEST_F(ConsentStoreTest, AMalformedStoredRecordIsDataLoss) {
  store::WriteBatch batch = store_->NewBatch();
  batch.Put(store::Cf::kConsent,
            store::KeyBuilder().AddU8(1).AddU64(5).AddU64(1).key(),
            std::string("\xff\xff\xff", 3));
  ASSERT_THAT(store_->Commit(std::move(batch)), IsOk());
  const uint64_t five[] = {5};
  EXPECT_THAT(consents_->List(five), StatusIs(absl::StatusCode::kDataLoss));
}

}  // namespace
}  // namespace linkd::consent
