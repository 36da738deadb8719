#include "linkd/audit/audit_log.h"

#include <algorithm>
#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/audit/audit_testing.h"
#include "linkd/audit/log_format.h"
#include "linkd/audit/verifier.h"
#include "linkd/util/status_matchers.h"

namespace linkd::audit {
namespace {

using ::linkd::audit::testing::AppendRange;
using ::linkd::audit::testing::MakeEntry;
using ::linkd::audit::testing::TestStore;
using ::linkd::testing::IsOk;
using ::linkd::testing::IsOkAndHolds;
using ::linkd::testing::StatusIs;
using store::Cf;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::Optional;

constexpr char kOrigin[] = "linkd.test/audit";

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<AuditSigner> s = AuditSigner::Generate(kOrigin);
    ASSERT_THAT(s, IsOk());
    signer_ = std::make_unique<AuditSigner>(*std::move(s));
    options_.clock = &clock_;
    OpenLog();
  }

  void OpenLog() {
    log_.reset();
    absl::StatusOr<std::unique_ptr<AuditLog>> log =
        AuditLog::Open(store_.get(), signer_.get(), options_);
    ASSERT_THAT(log, IsOk());
    log_ = *std::move(log);
  }

  std::vector<Hash> LeafHashes(uint64_t n) {
    std::vector<Hash> out;
    for (uint64_t i = 0; i < n; ++i) out.push_back(HashLeaf(store_.Leaf(i)));
    return out;
  }

  NoteVerifier Verifier() const {
    return *NoteVerifier::FromVerifierKey(signer_->VerifierKey());
  }

  util::ManualClock clock_{absl::FromUnixSeconds(1'750'000'000)};
  AuditLogOptions options_;
  TestStore store_;
  std::unique_ptr<AuditSigner> signer_;
  std::unique_ptr<AuditLog> log_;
};

TEST_F(AuditLogTest, EmptyLog) {
  EXPECT_EQ(log_->Size(), 0u);
  EXPECT_EQ(log_->Head().root, EmptyRoot());
  EXPECT_EQ(log_->origin(), kOrigin);
  EXPECT_THAT(log_->Get(0), StatusIs(absl::StatusCode::kNotFound));
  absl::StatusOr<std::optional<SignedCheckpoint>> none =
      log_->LatestCheckpoint();
  ASSERT_THAT(none, IsOk());
  EXPECT_FALSE(none->has_value());
  EXPECT_THAT(log_->RootAt(0), IsOkAndHolds(EmptyRoot()));
}

TEST_F(AuditLogTest, EntryIsCommittedWithTheChangeItRecords) {
  store::WriteBatch batch = store_->NewBatch();
  batch.Put(Cf::kRecords, "change", "value");
  v1::AuditEntry e = MakeEntry(1);
  e.set_time_micros(0);  // stamped by the log's clock
  absl::StatusOr<AppendResult> r = log_->AppendAndCommit(std::move(batch), e);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->first_seq, 0u);
  EXPECT_EQ(r->head.size, 1u);
  EXPECT_THAT(store_->Get(Cf::kRecords, "change"),
              IsOkAndHolds(Optional(std::string("value"))));

  absl::StatusOr<LoggedEntry> got = log_->Get(0);
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->seq, 0u);
  EXPECT_EQ(got->entry.time_micros(), absl::ToUnixMicros(clock_.Now()));
  EXPECT_EQ(got->entry.organisation(), e.organisation());
  EXPECT_EQ(got->entry.suis_size(), e.suis_size());
  // One leaf: its hash is the root, and the chain starts from zeros.
  const std::string leaf = store_.Leaf(0);
  EXPECT_EQ(got->leaf_hash, HashLeaf(leaf));
  EXPECT_EQ(r->head.root, HashLeaf(leaf));
  EXPECT_EQ(r->head.chain, internal::ChainHash(HashBytes(internal::ZeroHash()),
                                               HashLeaf(leaf)));
  EXPECT_EQ(leaf.substr(9, 32), std::string(32, '\0'));
}

TEST_F(AuditLogTest, RejectedEntriesCommitNothing) {
  v1::AuditEntry no_org = MakeEntry(1);
  no_org.clear_organisation();
  v1::AuditEntry no_decision = MakeEntry(2);
  no_decision.set_decision(v1::DECISION_UNSPECIFIED);
  v1::AuditEntry long_sui = MakeEntry(3);
  long_sui.add_suis(std::string(65, 'S'));
  for (const v1::AuditEntry& bad : {no_org, no_decision, long_sui}) {
    store::WriteBatch batch = store_->NewBatch();
    batch.Put(Cf::kRecords, "change", "value");
    std::vector<v1::AuditEntry> entries = {MakeEntry(0), bad};
    EXPECT_THAT(log_->AppendAndCommit(std::move(batch), entries),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
  EXPECT_THAT(log_->AppendAndCommit(store_->NewBatch(),
                                    absl::Span<const v1::AuditEntry>()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->Get(Cf::kRecords, "change"), IsOkAndHolds(std::nullopt));
  EXPECT_EQ(log_->Size(), 0u);
  EXPECT_EQ(store_.Raw(internal::LeafKey(0)), std::nullopt);
}

TEST_F(AuditLogTest, FailedCommitLeavesNoGapAndNoFork) {
  AppendRange(log_.get(), store_.get(), 0, 3);
  // A batch of another store: Commit refuses it, nothing is written.
  TestStore other;
  store::WriteBatch foreign = other->NewBatch();
  foreign.Put(Cf::kRecords, "x", "y");
  EXPECT_THAT(log_->AppendAndCommit(std::move(foreign), MakeEntry(3)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(log_->Size(), 3u);
  EXPECT_EQ(store_.Raw(internal::LeafKey(3)), std::nullopt);
  // The next append takes seq 3 and chains from entry 2.
  absl::StatusOr<AppendResult> r = log_->Record(MakeEntry(3));
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->first_seq, 3u);
  absl::StatusOr<VerifyReport> report = Verify(*store_);
  ASSERT_THAT(report, IsOk());
  EXPECT_TRUE(report->ok()) << report->Summary();
  EXPECT_EQ(report->entries, 4u);
}

TEST_F(AuditLogTest, RootAndFrontierMatchTheLeaves) {
  std::vector<Hash> roots;
  for (uint64_t n = 0; n < 70; n += 7) {
    AppendRange(log_.get(), store_.get(), n, n + 7, 3);
    const std::vector<Hash> leaves = LeafHashes(n + 7);
    EXPECT_EQ(log_->Head().root, RootOf(leaves)) << n + 7;
    EXPECT_THAT(log_->RootAt(n + 7), IsOkAndHolds(RootOf(leaves)));
    EXPECT_THAT(
        log_->RootAt(n + 1),
        IsOkAndHolds(RootOf(absl::MakeConstSpan(leaves).subspan(0, n + 1))));
  }
  // Perfect subtrees of 16 leaves and more are stored for proofs.
  const std::vector<Hash> leaves = LeafHashes(70);
  const auto span = absl::MakeConstSpan(leaves);
  EXPECT_EQ(store_.Raw(internal::NodeKey(4, 0)),
            std::string(HashBytes(RootOf(span.subspan(0, 16)))));
  EXPECT_EQ(store_.Raw(internal::NodeKey(4, 3)),
            std::string(HashBytes(RootOf(span.subspan(48, 16)))));
  EXPECT_EQ(store_.Raw(internal::NodeKey(5, 1)),
            std::string(HashBytes(RootOf(span.subspan(32, 32)))));
  EXPECT_EQ(store_.Raw(internal::NodeKey(4, 4)), std::nullopt);  // 64..79
  EXPECT_EQ(store_.Raw(internal::NodeKey(3, 0)), std::nullopt);  // too small
}

TEST_F(AuditLogTest, HeadSurvivesRestart) {
  AppendRange(log_.get(), store_.get(), 0, 37, 5);
  const TreeHead before = log_->Head();
  log_.reset();
  store_.Reopen();
  OpenLog();
  const TreeHead after = log_->Head();
  EXPECT_EQ(after.size, 37u);
  EXPECT_EQ(after.root, before.root);
  EXPECT_EQ(after.chain, before.chain);
  AppendRange(log_.get(), store_.get(), 37, 40);
  EXPECT_EQ(log_->Head().root, RootOf(LeafHashes(40)));
}

TEST_F(AuditLogTest, OneLogPerStoreAndOneIdentity) {
  EXPECT_THAT(AuditLog::Open(store_.get(), signer_.get(), options_),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_THAT(log_->Record(MakeEntry(0)), IsOk());
  log_.reset();

  absl::StatusOr<AuditSigner> renamed = AuditSigner::Generate("linkd.test/x");
  ASSERT_THAT(renamed, IsOk());
  EXPECT_THAT(AuditLog::Open(store_.get(), &*renamed, options_),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  absl::StatusOr<AuditSigner> rekeyed = AuditSigner::Generate(kOrigin);
  ASSERT_THAT(rekeyed, IsOk());
  EXPECT_THAT(AuditLog::Open(store_.get(), &*rekeyed, options_),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // Without a signer the log opens (read access, appends) but cannot sign.
  absl::StatusOr<std::unique_ptr<AuditLog>> unsigned_log =
      AuditLog::Open(store_.get(), nullptr, options_);
  ASSERT_THAT(unsigned_log, IsOk());
  EXPECT_EQ((*unsigned_log)->origin(), kOrigin);
  EXPECT_THAT((*unsigned_log)->SignCheckpoint(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  unsigned_log->reset();

  AuditLogOptions bad = options_;
  bad.checkpoint_interval = 10;
  EXPECT_THAT(AuditLog::Open(store_.get(), nullptr, bad),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(AuditLog::Open(nullptr, nullptr, options_),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(AuditLogTest, OpenRefusesAHeadThatDisagreesWithTheEntries) {
  AppendRange(log_.get(), store_.get(), 0, 10);
  log_.reset();
  const std::string last = store_.Leaf(9);
  store_.RawDelete(internal::LeafKey(9));
  EXPECT_THAT(AuditLog::Open(store_.get(), signer_.get(), options_),
              StatusIs(absl::StatusCode::kDataLoss));
  std::string changed = last;
  changed.back() ^= 1;
  store_.RawPut(internal::LeafKey(9), changed);
  EXPECT_THAT(AuditLog::Open(store_.get(), signer_.get(), options_),
              StatusIs(absl::StatusCode::kDataLoss));
  store_.RawPut(internal::LeafKey(9), last);
  store_.RawPut(internal::LeafKey(10), last);
  EXPECT_THAT(AuditLog::Open(store_.get(), signer_.get(), options_),
              StatusIs(absl::StatusCode::kDataLoss));
  store_.RawDelete(internal::LeafKey(10));
  OpenLog();
  EXPECT_EQ(log_->Size(), 10u);
}

TEST_F(AuditLogTest, ConcurrentAppendsGetContiguousSequenceNumbers) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100;
  std::vector<std::vector<uint64_t>> seqs(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      store::CommitOptions fast;
      fast.sync = false;
      for (int i = 0; i < kPerThread; ++i) {
        store::WriteBatch batch = store_->NewBatch();
        batch.Put(Cf::kRecords, absl::StrCat("t", t, "-", i), "v");
        absl::StatusOr<AppendResult> r = log_->AppendAndCommit(
            std::move(batch), MakeEntry(t * kPerThread + i), fast);
        ASSERT_THAT(r, IsOk());
        seqs[t].push_back(r->first_seq);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::set<uint64_t> all;
  for (const auto& v : seqs) all.insert(v.begin(), v.end());
  ASSERT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(*all.rbegin(), kThreads * kPerThread - 1u);
  EXPECT_EQ(log_->Size(), kThreads * kPerThread + 0u);
  absl::StatusOr<VerifyReport> report = Verify(*store_);
  ASSERT_THAT(report, IsOk());
  EXPECT_TRUE(report->ok()) << report->Summary();
}

TEST_F(AuditLogTest, SubjectAccess) {
  std::vector<v1::AuditEntry> entries;
  for (int i = 0; i < 6; ++i) {
    v1::AuditEntry e = MakeEntry(i);
    e.clear_suis();
    e.add_suis(i % 2 == 0 ? "7K2M-9QXT-4HB3-R" : "AAAA-BBBB-CCCC-D");
    if (i == 3) {
      e.add_suis("7K2M-9QXT-4HB3-R");
      e.add_suis("7K2M-9QXT-4HB3-R");  // listed twice: indexed once
    }
    entries.push_back(e);
  }
  ASSERT_THAT(log_->AppendAndCommit(store_->NewBatch(), entries), IsOk());
  absl::StatusOr<std::vector<LoggedEntry>> got =
      log_->Subject("7K2M-9QXT-4HB3-R");
  ASSERT_THAT(got, IsOk());
  std::vector<uint64_t> seqs;
  for (const LoggedEntry& e : *got) seqs.push_back(e.seq);
  EXPECT_THAT(seqs, ElementsAre(0, 2, 3, 4));
  EXPECT_EQ((*got)[2].entry.request_id(), "req-3");
  // Exact strings: a prefix of a SUI matches nothing.
  EXPECT_THAT(log_->Subject("7K2M-9QXT-4HB3"),
              IsOkAndHolds(::testing::IsEmpty()));
  EXPECT_THAT(log_->Subject("7K2M-9QXT-4HB3-R", 2),
              IsOkAndHolds(::testing::SizeIs(2)));
  // Callback errors come back unchanged.
  EXPECT_THAT(log_->Subject("AAAA-BBBB-CCCC-D",
                            [](const LoggedEntry&) -> absl::StatusOr<bool> {
                              return absl::CancelledError("stop");
                            }),
              StatusIs(absl::StatusCode::kCancelled));
}

// An ingest batch's entry names a thousand records: every one of them is
// indexed for subject access (the names of records were once kept as views
// of strings freed between records, so some were taken for duplicates).
TEST_F(AuditLogTest, EveryRecordOfABatchEntryIsIndexed) {
  v1::AuditEntry e = MakeEntry(0);
  e.clear_suis();
  constexpr int kRecords = 1000;
  for (int i = 0; i < kRecords; ++i) {
    v1::RecordRef* r = e.add_records();
    r->set_source("school_census");
    r->set_record_id(absl::StrCat("P", 100000 + i));  // all the same length
  }
  e.add_records()->CopyFrom(e.records(0));  // listed twice: indexed once
  ASSERT_THAT(log_->AppendAndCommit(store_->NewBatch(), e), IsOk());
  int missing = 0;
  for (int i = 0; i < kRecords; ++i) {
    absl::StatusOr<std::vector<LoggedEntry>> got =
        log_->Subject(AuditLog::RecordSubject("school_census",
                                              absl::StrCat("P", 100000 + i)));
    ASSERT_THAT(got, IsOk());
    if (got->size() != 1) ++missing;
  }
  EXPECT_EQ(missing, 0);
}

TEST_F(AuditLogTest, SubjectAccessSpansManyFetchChunks) {
  std::vector<v1::AuditEntry> entries;
  for (int i = 0; i < 700; ++i) {
    v1::AuditEntry e = MakeEntry(i);
    e.clear_suis();
    e.add_suis(i % 7 == 0 ? "OTHER" : "MANY");
    entries.push_back(e);
  }
  ASSERT_THAT(log_->AppendAndCommit(store_->NewBatch(), entries), IsOk());
  absl::StatusOr<std::vector<LoggedEntry>> got = log_->Subject("MANY");
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->size(), 600u);
  EXPECT_TRUE(std::is_sorted(got->begin(), got->end(),
                             [](const LoggedEntry& a, const LoggedEntry& b) {
                               return a.seq < b.seq;
                             }));
}

TEST_F(AuditLogTest, ExportByTimeRange) {
  std::vector<v1::AuditEntry> entries;
  const int64_t t0 = 1'700'000'000'000'000;
  for (int i = 0; i < 10; ++i) {
    v1::AuditEntry e = MakeEntry(i);
    // Out of order on purpose: the export follows time, not seq.
    e.set_time_micros(t0 + (i % 2 == 0 ? i : 20 - i) * 1'000'000);
    entries.push_back(e);
  }
  ASSERT_THAT(log_->AppendAndCommit(store_->NewBatch(), entries), IsOk());
  std::vector<int64_t> times;
  std::vector<uint64_t> seqs;
  ASSERT_THAT(log_->Export(absl::FromUnixMicros(t0 + 2'000'000),
                           absl::FromUnixMicros(t0 + 13'000'000),
                           [&](const LoggedEntry& e) -> absl::StatusOr<bool> {
                             times.push_back(e.entry.time_micros());
                             seqs.push_back(e.seq);
                             return true;
                           }),
              IsOk());
  // Times 2, 4, 6, 8 (seqs 2..8 even) and 11 (seq 9), 13 excluded.
  EXPECT_THAT(seqs, ElementsAre(2, 4, 6, 8, 9));
  EXPECT_TRUE(std::is_sorted(times.begin(), times.end()));
  int calls = 0;
  ASSERT_THAT(log_->Export(absl::InfinitePast(), absl::InfiniteFuture(),
                           [&](const LoggedEntry&) -> absl::StatusOr<bool> {
                             return ++calls < 3;
                           }),
              IsOk());
  EXPECT_EQ(calls, 3);
}

TEST_F(AuditLogTest, ProofsFromTheStoreVerifyAgainstSignedCheckpoints) {
  AppendRange(log_.get(), store_.get(), 0, 45, 7);
  absl::StatusOr<SignedCheckpoint> old_cp = log_->SignCheckpoint();
  ASSERT_THAT(old_cp, IsOk());
  AppendRange(log_.get(), store_.get(), 45, 100, 11);
  absl::StatusOr<SignedCheckpoint> cp = log_->SignCheckpoint();
  ASSERT_THAT(cp, IsOk());
  const std::vector<NoteVerifier> trusted = {Verifier()};
  absl::StatusOr<Checkpoint> opened = OpenCheckpoint(cp->note, trusted);
  ASSERT_THAT(opened, IsOk());
  EXPECT_EQ(opened->size, 100u);
  EXPECT_EQ(opened->time, clock_.Now());
  absl::StatusOr<Checkpoint> opened_old = OpenCheckpoint(old_cp->note, trusted);
  ASSERT_THAT(opened_old, IsOk());

  const std::vector<Hash> leaves = LeafHashes(100);
  for (uint64_t seq : {0, 1, 15, 16, 44, 63, 64, 99}) {
    absl::StatusOr<std::vector<Hash>> proof = log_->InclusionProof(seq, 100);
    ASSERT_THAT(proof, IsOk());
    EXPECT_THAT(VerifyInclusion(seq, 100, leaves[seq], *proof, opened->root),
                IsOk())
        << seq;
    EXPECT_EQ(*proof, *InclusionProof(seq, leaves)) << seq;
  }
  for (uint64_t size : {1, 17, 45, 64, 65, 100}) {
    for (uint64_t seq : {uint64_t{0}, size / 2, size - 1}) {
      absl::StatusOr<std::vector<Hash>> proof = log_->InclusionProof(seq, size);
      ASSERT_THAT(proof, IsOk());
      EXPECT_EQ(*proof, *InclusionProof(
                            seq, absl::MakeConstSpan(leaves).subspan(0, size)));
    }
  }
  absl::StatusOr<std::vector<Hash>> consistency =
      log_->ConsistencyProof(45, 100);
  ASSERT_THAT(consistency, IsOk());
  EXPECT_THAT(
      VerifyConsistency(45, 100, *consistency, opened_old->root, opened->root),
      IsOk());
  for (uint64_t s1 : {1, 16, 32, 33, 99, 100}) {
    absl::StatusOr<std::vector<Hash>> p = log_->ConsistencyProof(s1, 100);
    ASSERT_THAT(p, IsOk());
    EXPECT_EQ(*p, *ConsistencyProof(s1, leaves)) << s1;
  }
  EXPECT_THAT(log_->InclusionProof(100, 100),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(log_->InclusionProof(0, 101),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(log_->ConsistencyProof(50, 40),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(log_->ConsistencyProof(50, 101),
              StatusIs(absl::StatusCode::kInvalidArgument));

  // A damaged subtree cache is bypassed, not trusted.
  store_.RawDelete(internal::NodeKey(5, 0));
  store_.RawPut(internal::NodeKey(4, 2), "short");
  absl::StatusOr<std::vector<Hash>> again = log_->InclusionProof(3, 100);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(*again, *InclusionProof(3, leaves));
  absl::StatusOr<std::optional<SignedCheckpoint>> latest =
      log_->LatestCheckpoint();
  ASSERT_THAT(latest, IsOk());
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((*latest)->checkpoint.size, 100u);
  EXPECT_EQ((*latest)->note, cp->note);
}

TEST_F(AuditLogTest, CheckpointsEveryIntervalInTheSameBatch) {
  options_.checkpoint_interval = 10;
  OpenLog();
  for (int i = 0; i < 25; ++i) ASSERT_THAT(log_->Record(MakeEntry(i)), IsOk());
  AppendRange(log_.get(), store_.get(), 25, 48, 23);  // one batch over 30, 40
  std::vector<uint64_t> sizes;
  ASSERT_THAT(store_->ScanPrefix(
                  Cf::kAudit, internal::CheckpointPrefix(),
                  [&](std::string_view key,
                      std::string_view note) -> absl::StatusOr<bool> {
                    absl::StatusOr<Checkpoint> c =
                        OpenCheckpoint(note, {Verifier()});
                    EXPECT_THAT(c, IsOk());
                    if (c.ok()) {
                      sizes.push_back(c->size);
                      EXPECT_THAT(internal::ParseCheckpointKey(key),
                                  IsOkAndHolds(c->size));
                      EXPECT_THAT(log_->RootAt(c->size), IsOkAndHolds(c->root));
                    }
                    return true;
                  }),
              IsOk());
  EXPECT_THAT(sizes, ElementsAre(10, 20, 48));
}

}  // namespace
}  // namespace linkd::audit
