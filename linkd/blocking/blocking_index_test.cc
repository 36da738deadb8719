#include "linkd/blocking/blocking_index.h"

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/blocking/blocking_test_util.h"
#include "linkd/store/record_store.h"
#include "linkd/store/store.h"
#include "linkd/util/status_matchers.h"
#include "linkd/util/temp_dir.h"
#include "tests/testing/synth/population.h"

namespace linkd::blocking {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;
using testing::Child;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing::TestEncoder;

std::vector<std::string> Keys(const CandidateResult& r) {
  std::vector<std::string> out;
  for (const Candidate& c : r.candidates) out.push_back(c.record_key);
  return out;
}

class BlockingIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::StoreOptions options;
    options.path = dir_.Sub("db");
    options.block_cache_mib = 8;
    options.memtable_budget_mib = 16;
    absl::StatusOr<std::unique_ptr<store::Store>> s =
        store::Store::Open(options);
    ASSERT_THAT(s, IsOk());
    store_ = std::move(*s);
    absl::StatusOr<std::unique_ptr<KeyGenerator>> g =
        KeyGenerator::Create(BlockingConfig());
    ASSERT_THAT(g, IsOk());
    gen_ = std::move(*g);
    index_ = std::make_unique<BlockingIndex>(store_.get(), gen_.get());
  }

  void AddAndCommit(const std::string& key,
                    const linkd::v1::EncodedIdentity& id) {
    store::WriteBatch batch = store_->NewBatch();
    ASSERT_THAT(index_->Add(key, id, &batch), IsOk());
    ASSERT_THAT(store_->Commit(std::move(batch)), IsOk());
  }

  CandidateResult Query(const linkd::v1::EncodedIdentity& id,
                        const std::string& self = "",
                        CandidateLimits limits = CandidateLimits()) {
    absl::StatusOr<CandidateResult> r = index_->Candidates(id, limits, self);
    EXPECT_THAT(r, IsOk());
    return r.ok() ? *std::move(r) : CandidateResult();
  }

  size_t NumKeys(const linkd::v1::EncodedIdentity& id) {
    std::vector<BlockingKey> keys;
    gen_->Keys(id, &keys);
    return keys.size();
  }

  ::linkd::testing::TempDir dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<KeyGenerator> gen_;
  std::unique_ptr<BlockingIndex> index_;
  TestEncoder enc_;
};

TEST_F(BlockingIndexTest, BulkAddWritesTheEntriesOfAddInAnyNumberOfPasses) {
  // Keys over few distinct (rule, first byte) ranges, some shared.
  std::vector<std::string> record_keys;
  std::vector<std::vector<BlockingKey>> keys;
  std::set<std::string> want;
  for (int r = 0; r < 300; ++r) {
    record_keys.push_back(absl::StrCat("src\x1fR", r * 7919 % 1000));
    std::vector<BlockingKey>& mine = keys.emplace_back();
    for (int k = 0; k < r % 5; ++k) {
      BlockingKey key{k % 2 == 0 ? Rule::kDob : Rule::kNameLsh, {}};
      key.hash[0] = static_cast<uint8_t>((r + k) % 6);
      key.hash[1] = static_cast<uint8_t>(r % 3);
      mine.push_back(key);
      want.insert(BlockingIndex::EntryKey(key, record_keys.back()));
    }
  }
  const std::vector<std::string_view> views(record_keys.begin(),
                                            record_keys.end());
  for (size_t held : {size_t{1}, size_t{37}, size_t{1} << 20}) {
    SCOPED_TRACE(::testing::Message() << "held " << held);
    store::WriteBatch clear = store_->NewBatch();
    clear.DeleteRange(store::Cf::kBlocks, "", std::string(64, '\xff'));
    ASSERT_THAT(store_->Commit(std::move(clear)), IsOk());
    ASSERT_THAT(index_->BulkAdd(views, keys, 2, held), IsOk());
    std::set<std::string> have;
    ASSERT_THAT(
        store_->ScanPrefix(store::Cf::kBlocks, "",
                           [&](std::string_view key,
                               std::string_view) -> absl::StatusOr<bool> {
                             have.insert(std::string(key));
                             return true;
                           }),
        IsOk());
    EXPECT_EQ(have, want);
  }
}

TEST_F(BlockingIndexTest, CandidatesCarryTheirRules) {
  crypto::ClearIdentity school =
      Child("Amelia", "Okafor", "2014-03-07", "LS6 2AB");
  school.upn = "B801200005001";
  crypto::ClearIdentity care = school;  // a day/month swap, another address
  care.dob = "2014-07-03";
  care.postcode = "LS7 3QQ";
  // A typo in the day: names not comparable (different salt).
  crypto::ClearIdentity health =
      Child("Amelia", "Okafor", "2014-03-17", "LS6 2AB");
  crypto::ClearIdentity stranger =
      Child("Jack", "Brown", "2010-01-01", "SW1A 1AA");
  const std::string ks = store::RecordKey("school_census", "P1");
  const std::string kc = store::RecordKey("social_care", "C-1");
  const std::string kh = store::RecordKey("health", "H1");
  const std::string kx = store::RecordKey("health", "H2");
  AddAndCommit(ks, enc_.Encode(school));
  AddAndCommit(kc, enc_.Encode(care));
  AddAndCommit(kh, enc_.Encode(health));
  AddAndCommit(kx, enc_.Encode(stranger));

  const CandidateResult r = Query(enc_.Encode(school), ks);
  ASSERT_THAT(Keys(r), ElementsAre(kh, kc));  // sorted by record key
  EXPECT_EQ(r.blocks_oversize, 0);
  EXPECT_FALSE(r.truncated);
  // school_census x social_care: UPN and name bands (same salt).
  const RuleMask care_rules = r.candidates[1].rules;
  EXPECT_NE(care_rules & RuleBit(Rule::kUpn), 0u);
  EXPECT_NE(care_rules & RuleBit(Rule::kNameLsh), 0u);
  EXPECT_EQ(care_rules & RuleBit(Rule::kPostcodeUnit), 0u);
  // school_census x health: only the address.
  EXPECT_EQ(r.candidates[0].rules, RuleBit(Rule::kPostcodeUnit));
  // Without exclusion the query finds itself.
  EXPECT_EQ(Query(enc_.Encode(school)).candidates.size(), 3u);
  EXPECT_THAT(Keys(Query(enc_.Encode(stranger), kx)), IsEmpty());
}

TEST_F(BlockingIndexTest, RemoveAndUpdateKeepIndexAndStatsRight) {
  crypto::ClearIdentity v1 = Child("Noah", "Evans", "2012-02-02", "CF10 1AA");
  v1.nhs_number = "9991000003";
  crypto::ClearIdentity v2 = v1;  // the child moved and the NHS number went
  v2.postcode = "NP20 1AA";
  v2.nhs_number.clear();
  const std::string key = store::RecordKey("health", "H9");
  const auto id1 = enc_.Encode(v1);
  const auto id2 = enc_.Encode(v2);
  AddAndCommit(key, id1);

  absl::StatusOr<IndexStats> stats = index_->Stats(1000);
  ASSERT_THAT(stats, IsOk());
  EXPECT_EQ(stats->total.entries, static_cast<int64_t>(NumKeys(id1)));
  EXPECT_EQ(stats->total.blocks, stats->total.entries);
  EXPECT_EQ(stats->rules[static_cast<int>(Rule::kNhsNumber)].blocks, 1);

  store::WriteBatch batch = store_->NewBatch();
  ASSERT_THAT(index_->Update(key, id1, id2, &batch), IsOk());
  ASSERT_THAT(store_->Commit(std::move(batch)), IsOk());

  // Old NHS number and old address no longer lead to the record.
  crypto::ClearIdentity by_nhs;
  by_nhs.nhs_number = v1.nhs_number;
  EXPECT_THAT(Keys(Query(enc_.Encode(by_nhs))), IsEmpty());
  crypto::ClearIdentity old_address = Child("", "", "2012-02-02", "CF10 1AA");
  EXPECT_THAT(Keys(Query(enc_.Encode(old_address))), IsEmpty());
  crypto::ClearIdentity new_address = Child("", "", "2012-02-02", "NP20 1AA");
  EXPECT_THAT(Keys(Query(enc_.Encode(new_address))), ElementsAre(key));
  stats = index_->Stats(1000);
  ASSERT_THAT(stats, IsOk());
  EXPECT_EQ(stats->total.entries, static_cast<int64_t>(NumKeys(id2)));
  EXPECT_EQ(stats->rules[static_cast<int>(Rule::kNhsNumber)].blocks, 0);

  batch = store_->NewBatch();
  ASSERT_THAT(index_->Remove(key, id2, &batch), IsOk());
  ASSERT_THAT(store_->Commit(std::move(batch)), IsOk());
  EXPECT_THAT(Keys(Query(id2)), IsEmpty());
  stats = index_->Stats(1000);
  ASSERT_THAT(stats, IsOk());
  EXPECT_EQ(stats->total.blocks, 0);
  EXPECT_EQ(stats->total.entries, 0);
  // Nothing left in the index family.
  int entries = 0;
  ASSERT_THAT(store_->ScanPrefix(store::Cf::kBlocks, "",
                                 [&](std::string_view,
                                     std::string_view) -> absl::StatusOr<bool> {
                                   ++entries;
                                   return true;
                                 }),
              IsOk());
  EXPECT_EQ(entries, 0);
}

TEST_F(BlockingIndexTest, OversizeBlocksAreSkippedAndReported) {
  // Seven girls of one postcode (a block of 7 under postcode_unit), each
  // with their own names and dates.
  const char* const kNames[] = {"Ava",  "Ben",  "Cara", "Dan",
                                "Esme", "Finn", "Gina"};
  std::vector<linkd::v1::EncodedIdentity> ids;
  for (int i = 0; i < 7; ++i) {
    ids.push_back(enc_.Encode(Child(
        kNames[i], "Smith", "2015-04-" + std::to_string(10 + i), "E1 6AN")));
    AddAndCommit(store::RecordKey("school_census", "P" + std::to_string(i)),
                 ids.back());
  }
  // The cap counts the members besides the query: six here.
  CandidateLimits limits;
  limits.max_block_size = 6;
  const std::string self = store::RecordKey("school_census", "P0");
  CandidateResult r = Query(ids[0], self, limits);
  EXPECT_EQ(r.candidates.size(), 6u);
  EXPECT_EQ(r.blocks_oversize, 0);
  limits.max_block_size = 5;
  r = Query(ids[0], self, limits);
  EXPECT_EQ(r.blocks_oversize, 1);
  EXPECT_EQ(r.oversize_rules, RuleBit(Rule::kPostcodeUnit));
  // The dates differ, so the name filters have different salts and share no
  // band: with the address block skipped there is no candidate left.
  EXPECT_THAT(Keys(r), IsEmpty());

  absl::StatusOr<IndexStats> stats = index_->Stats(6);
  ASSERT_THAT(stats, IsOk());
  const RuleStats& pc = stats->rules[static_cast<int>(Rule::kPostcodeUnit)];
  EXPECT_EQ(pc.blocks, 1);
  EXPECT_EQ(pc.largest_block, 7);
  EXPECT_EQ(pc.oversize_blocks, 1);
  EXPECT_EQ(pc.oversize_entries, 7);
  EXPECT_EQ(stats->total.oversize_blocks, 1);

  limits.max_block_size = 100;
  limits.max_candidates = 3;
  r = Query(ids[0], self, limits);
  EXPECT_TRUE(r.truncated);
  EXPECT_EQ(r.candidates.size(), 3u);
}

TEST_F(BlockingIndexTest, TheQueryIsNeverItsOwnCandidate) {
  crypto::ClearIdentity a = Child("Isla", "Reid", "2011-09-30", "G1 1AA");
  a.upn = "B801200005001";
  const std::string ka = store::RecordKey("school_census", "P1");
  AddAndCommit(ka, enc_.Encode(a));
  // Every block of A has one member, A itself.
  CandidateResult r = Query(enc_.Encode(a), ka);
  EXPECT_EQ(r.blocks_read, 0);
  EXPECT_THAT(Keys(r), IsEmpty());
  // A new record, not indexed yet, sharing A's UPN: found through A's
  // one-member block.
  crypto::ClearIdentity b;
  b.upn = a.upn;
  const std::string kb = store::RecordKey("social_care", "C-1");
  EXPECT_THAT(Keys(Query(enc_.Encode(b), kb)), ElementsAre(ka));
}

TEST_F(BlockingIndexTest, RejectsBadArgumentsAndCorruptEntries) {
  const auto id = enc_.Encode(Child("Ava", "Smith", "2015-04-10", "E1 6AN"));
  EXPECT_THAT(index_->Add("k", id, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument));
  store::WriteBatch batch = store_->NewBatch();
  EXPECT_THAT(index_->Add("", id, &batch),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(batch.count(), 0u);
  CandidateLimits limits;
  limits.max_block_size = 0;
  EXPECT_THAT(index_->Candidates(id, limits),
              StatusIs(absl::StatusCode::kInvalidArgument));

  // An entry whose record-key length does not match is DATA_LOSS, not a
  // silently wrong candidate.
  std::vector<BlockingKey> keys;
  gen_->Keys(id, &keys);
  batch = store_->NewBatch();
  batch.Put(store::Cf::kBlocks, BlockingIndex::BlockPrefix(keys[0]) + "\x01",
            "");
  ASSERT_THAT(store_->Commit(std::move(batch)), IsOk());
  EXPECT_THAT(index_->Candidates(id, CandidateLimits()),
              StatusIs(absl::StatusCode::kDataLoss));
}

// The index over a real synthetic population: every cross-source true pair
// should come back as a candidate, with few candidates per record.
TEST_F(BlockingIndexTest, SyntheticPopulationPairCompleteness) {
  synth::Options options;
  options.seed = 3;
  options.num_people = 3000;
  const synth::Population pop = synth::GeneratePopulation(options);
  std::vector<std::string> keys;
  std::vector<linkd::v1::EncodedIdentity> ids;
  absl::flat_hash_map<std::string, uint64_t> person_of;
  store::WriteBatch batch = store_->NewBatch();
  for (const synth::SourceRecord& r : pop.records) {
    keys.push_back(store::RecordKey(synth::SourceName(r.source), r.record_id));
    ids.push_back(enc_.Encode(r));
    person_of[keys.back()] = r.person_id;
    ASSERT_THAT(index_->Add(keys.back(), ids.back(), &batch), IsOk());
  }
  ASSERT_THAT(store_->Commit(std::move(batch)), IsOk());

  absl::flat_hash_map<uint64_t, std::vector<size_t>> records_of;
  for (size_t i = 0; i < pop.records.size(); ++i) {
    records_of[pop.records[i].person_id].push_back(i);
  }
  int64_t true_pairs = 0, found_pairs = 0, candidates = 0;
  for (size_t i = 0; i < pop.records.size(); ++i) {
    const CandidateResult r = Query(ids[i], keys[i]);
    candidates += static_cast<int64_t>(r.candidates.size());
    absl::flat_hash_set<std::string> got;
    for (const Candidate& c : r.candidates) got.insert(c.record_key);
    for (size_t j : records_of[pop.records[i].person_id]) {
      if (pop.records[j].source == pop.records[i].source) continue;
      ++true_pairs;  // each pair counted from both ends
      found_pairs += got.contains(keys[j]);
    }
  }
  ASSERT_GT(true_pairs, 1000);
  const double completeness = static_cast<double>(found_pairs) / true_pairs;
  const double per_record =
      static_cast<double>(candidates) / static_cast<double>(ids.size());
  RecordProperty("pair_completeness", std::to_string(completeness));
  RecordProperty("candidates_per_record", std::to_string(per_record));
  EXPECT_GE(completeness, 0.99);
  EXPECT_LE(per_record, 20.0);
}

}  // namespace
}  // namespace linkd::blocking
