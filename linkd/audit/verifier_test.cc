#include "linkd/audit/verifier.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/audit/audit_log.h"
#include "linkd/audit/audit_testing.h"
#include "linkd/audit/log_format.h"
#include "linkd/util/status_matchers.h"

namespace linkd::audit {
namespace {

using ::linkd::audit::testing::AppendRange;
using ::linkd::audit::testing::MakeEntry;
using ::linkd::audit::testing::TestStore;
using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;

constexpr char kOrigin[] = "linkd.test/audit";

// A log of 100 entries with stored signed checkpoints at 50 and 100; the
// checkpoint at 100 is also the IG team's witness. Tests then tamper with
// the stored bytes directly, bypassing the appender.
class VerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<AuditSigner> s = AuditSigner::Generate(kOrigin);
    ASSERT_THAT(s, IsOk());
    signer_ = std::make_unique<AuditSigner>(*std::move(s));
    OpenLog();
    AppendRange(log_.get(), store_.get(), 0, 50, 7);
    absl::StatusOr<SignedCheckpoint> cp50 = log_->SignCheckpoint();
    ASSERT_THAT(cp50, IsOk());
    AppendRange(log_.get(), store_.get(), 50, 100, 9);
    absl::StatusOr<SignedCheckpoint> cp100 = log_->SignCheckpoint();
    ASSERT_THAT(cp100, IsOk());
    witness_ = cp100->note;
    // The daemon is stopped: the verifier works on its data directory.
    log_.reset();
  }

  void OpenLog() {
    absl::StatusOr<std::unique_ptr<AuditLog>> log =
        AuditLog::Open(store_.get(), signer_.get());
    ASSERT_THAT(log, IsOk());
    log_ = *std::move(log);
  }

  VerifyOptions Options(bool with_witness = true) const {
    VerifyOptions o;
    o.trusted_keys.push_back(
        *NoteVerifier::FromVerifierKey(signer_->VerifierKey()));
    if (with_witness) o.witness = witness_;
    return o;
  }

  VerifyReport Run(const VerifyOptions& options) {
    absl::StatusOr<VerifyReport> r = Verify(*store_, options);
    EXPECT_THAT(r, IsOk());
    return r.ok() ? *std::move(r) : VerifyReport();
  }
  VerifyReport Run() { return Run(Options()); }

  // Expects the report to name `seq` as the first bad entry, of `kind`.
  static void ExpectFirst(const VerifyReport& r, FaultKind kind, uint64_t seq) {
    ASSERT_FALSE(r.ok()) << r.Summary();
    const Fault* f = r.first_fault();
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->kind, kind) << r.Summary();
    EXPECT_EQ(f->seq, seq) << r.Summary();
  }

  void FlipByte(uint64_t seq, size_t offset) {
    std::string leaf = store_.Leaf(seq);
    ASSERT_LT(offset, leaf.size());
    leaf[offset] ^= 0x20;
    store_.RawPut(internal::LeafKey(seq), leaf);
  }

  // What a careful attacker does after cutting the log to `size`: a head
  // that agrees with the remaining entries, and no checkpoint above it.
  void RewriteHeadAndDropCheckpoints(uint64_t size) {
    CompactRange range;
    Hash chain = internal::ZeroHash();
    for (uint64_t i = 0; i < size; ++i) {
      const std::string leaf = store_.Leaf(i);
      const Hash lh = HashLeaf(leaf);
      range.Append(lh);
      chain = internal::ChainHash(leaf.substr(9, 32), lh);
    }
    v1::LogHead head;
    head.set_size(size);
    head.set_root_hash(std::string(HashBytes(range.Root())));
    head.set_chain_hash(std::string(HashBytes(chain)));
    for (const Hash& h : range.hashes()) {
      head.add_frontier_hashes(std::string(HashBytes(h)));
    }
    store_.RawPut(internal::HeadKey(), head.SerializeAsString());
    for (uint64_t s : {50, 100}) {
      if (s > size) store_.RawDelete(internal::CheckpointKey(s));
    }
  }

  TestStore store_;
  std::unique_ptr<AuditSigner> signer_;
  std::unique_ptr<AuditLog> log_;
  std::string witness_;
};

TEST_F(VerifierTest, IntactLogVerifies) {
  const VerifyReport r = Run();
  EXPECT_TRUE(r.ok()) << r.Summary();
  EXPECT_EQ(r.entries, 100u);
  EXPECT_EQ(r.extent, 100u);
  EXPECT_EQ(r.head_size, 100u);
  EXPECT_EQ(r.checkpoints, 2u);
  EXPECT_EQ(r.checkpoints_verified, 2u);
  EXPECT_TRUE(r.witness_verified);
  EXPECT_FALSE(r.used_recorded_key);
  EXPECT_EQ(r.first_fault(), nullptr);
  // The recorded key is used when the caller trusts none.
  const VerifyReport self = Run(VerifyOptions());
  EXPECT_TRUE(self.ok()) << self.Summary();
  EXPECT_TRUE(self.used_recorded_key);
  EXPECT_EQ(self.checkpoints_verified, 2u);

  OpenLog();
  EXPECT_EQ(r.root, log_->Head().root);
  log_.reset();
  // Also after the data directory was closed and reopened (offline check).
  store_.Reopen();
  EXPECT_TRUE(Run().ok());
  EXPECT_THAT(Verify(*store_,
                     [] {
                       VerifyOptions o;
                       o.threads = 0;
                       return o;
                     }()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(VerifierTest, ChangedByteInAnEntryBody) {
  FlipByte(37, internal::kLeafHeaderBytes + 5);
  const VerifyReport r = Run();
  ExpectFirst(r, FaultKind::kModified, 37);
  // The signed checkpoints and the witness, all later, no longer match.
  EXPECT_EQ(r.checkpoints_verified, 0u);
  EXPECT_FALSE(r.witness_verified);
  int rollbacks = 0;
  for (const Fault& f : r.faults) {
    if (f.kind == FaultKind::kRollback) ++rollbacks;
  }
  EXPECT_EQ(rollbacks, 3) << r.Summary();
}

TEST_F(VerifierTest, ChangedByteInThePreviousChainField) {
  FlipByte(37, 20);
  ExpectFirst(Run(), FaultKind::kModified, 37);
}

TEST_F(VerifierTest, ChangedFirstAndLastEntries) {
  FlipByte(0, internal::kLeafHeaderBytes + 1);
  ExpectFirst(Run(), FaultKind::kModified, 0);
  FlipByte(0, internal::kLeafHeaderBytes + 1);  // restore
  ASSERT_TRUE(Run().ok());
  FlipByte(0, 12);
  ExpectFirst(Run(), FaultKind::kModified, 0);
  FlipByte(0, 12);
  FlipByte(99, store_.Leaf(99).size() - 1);
  ExpectFirst(Run(), FaultKind::kModified, 99);
  FlipByte(99, store_.Leaf(99).size() - 1);
  FlipByte(99, 30);
  ExpectFirst(Run(), FaultKind::kModified, 99);
}

TEST_F(VerifierTest, MalformedLeaf) {
  FlipByte(12, 0);  // format version
  ExpectFirst(Run(), FaultKind::kModified, 12);
  store_.RawPut(internal::LeafKey(12), "short");
  ExpectFirst(Run(), FaultKind::kModified, 12);
}

TEST_F(VerifierTest, RenumberedEntry) {
  FlipByte(40, 8);  // the low byte of the seq field
  const VerifyReport r = Run();
  ExpectFirst(r, FaultKind::kMisplaced, 40);
  EXPECT_EQ(r.first_fault()->other, 40u ^ 0x20u);
}

TEST_F(VerifierTest, DeletedEntries) {
  store_.RawDelete(internal::LeafKey(42));
  VerifyReport r = Run();
  ExpectFirst(r, FaultKind::kDeleted, 42);
  EXPECT_EQ(r.first_fault()->count, 1u);
  EXPECT_EQ(r.entries, 99u);

  store_.RawDelete(internal::LeafKey(43));
  store_.RawDelete(internal::LeafKey(44));
  r = Run();
  ExpectFirst(r, FaultKind::kDeleted, 42);
  EXPECT_EQ(r.first_fault()->count, 3u);
  // The checkpoint at 50 is after the gap: not comparable, not verified.
  EXPECT_EQ(r.checkpoints_verified, 0u);
}

TEST_F(VerifierTest, DeletedFirstEntry) {
  store_.RawDelete(internal::LeafKey(0));
  ExpectFirst(Run(), FaultKind::kDeleted, 0);
}

TEST_F(VerifierTest, SwappedEntries) {
  const std::string a = store_.Leaf(10);
  const std::string b = store_.Leaf(11);
  store_.RawPut(internal::LeafKey(10), b);
  store_.RawPut(internal::LeafKey(11), a);
  VerifyReport r = Run();
  ExpectFirst(r, FaultKind::kSwapped, 10);
  EXPECT_EQ(r.first_fault()->other, 11u);
  for (const Fault& f : r.faults) {
    EXPECT_NE(f.kind, FaultKind::kModified) << r.Summary();
  }

  // Far apart.
  store_.RawPut(internal::LeafKey(10), a);
  store_.RawPut(internal::LeafKey(11), b);
  const std::string c = store_.Leaf(60);
  store_.RawPut(internal::LeafKey(10), c);
  store_.RawPut(internal::LeafKey(60), a);
  r = Run();
  ExpectFirst(r, FaultKind::kSwapped, 10);
  EXPECT_EQ(r.first_fault()->other, 60u);
  for (const Fault& f : r.faults) {
    EXPECT_NE(f.kind, FaultKind::kModified) << r.Summary();
  }
}

TEST_F(VerifierTest, NaiveTruncationIsCaughtByTheHead) {
  for (uint64_t i = 80; i < 100; ++i) store_.RawDelete(internal::LeafKey(i));
  const VerifyReport r = Run(Options(/*with_witness=*/false));
  ExpectFirst(r, FaultKind::kTruncated, 80);
  EXPECT_EQ(r.extent, 80u);
}

TEST_F(VerifierTest, TruncationBelowASavedCheckpoint) {
  for (uint64_t i = 80; i < 100; ++i) store_.RawDelete(internal::LeafKey(i));
  RewriteHeadAndDropCheckpoints(80);
  // Put back the stored checkpoint of size 100 that the attacker dropped:
  // it alone names the truncation.
  VerifyOptions o = Options(/*with_witness=*/false);
  store_.RawPut(internal::CheckpointKey(100), witness_);
  VerifyReport r = Run(o);
  ExpectFirst(r, FaultKind::kTruncated, 80);
  EXPECT_EQ(r.first_fault()->other, 100u);
  EXPECT_EQ(r.checkpoints_verified, 1u);  // 50 still matches
}

TEST_F(VerifierTest, TruncationWithEveryTraceRemovedIsCaughtByTheWitness) {
  for (uint64_t i = 80; i < 100; ++i) store_.RawDelete(internal::LeafKey(i));
  RewriteHeadAndDropCheckpoints(80);
  const VerifyReport r = Run();
  ExpectFirst(r, FaultKind::kTruncated, 80);
  EXPECT_EQ(r.first_fault()->other, 100u);
  // Without the witness nothing is left to tell: that is what it is for.
  EXPECT_TRUE(Run(Options(/*with_witness=*/false)).ok());
}

TEST_F(VerifierTest, RollbackAndForkAreCaughtByTheWitness) {
  // Cut back to 60, then continue with other entries past the witness.
  for (uint64_t i = 60; i < 100; ++i) store_.RawDelete(internal::LeafKey(i));
  RewriteHeadAndDropCheckpoints(60);
  OpenLog();
  for (uint64_t i = 0; i < 50; ++i) {
    v1::AuditEntry e = MakeEntry(1000 + i);
    ASSERT_THAT(log_->Record(e), IsOk());
  }
  log_.reset();
  ASSERT_TRUE(Run(Options(/*with_witness=*/false)).ok());
  const VerifyReport r = Run();
  ExpectFirst(r, FaultKind::kRollback, 50);  // after the last good checkpoint
  EXPECT_EQ(r.first_fault()->other, 100u);
  EXPECT_EQ(r.checkpoints_verified, 1u);
  EXPECT_FALSE(r.witness_verified);
}

TEST_F(VerifierTest, BadSignatures) {
  // A stored checkpoint whose root was edited.
  std::string note = *store_.Raw(internal::CheckpointKey(50));
  const size_t root_at = note.find('\n', note.find('\n') + 1) + 1;
  note[root_at] = note[root_at] == 'A' ? 'B' : 'A';
  store_.RawPut(internal::CheckpointKey(50), note);
  VerifyReport r = Run();
  ExpectFirst(r, FaultKind::kBadSignature, 50);
  EXPECT_EQ(r.checkpoints_verified, 1u);
  EXPECT_TRUE(r.witness_verified);

  // A witness signed by someone else, and checkpoints checked against a
  // key that did not sign them.
  absl::StatusOr<AuditSigner> impostor = AuditSigner::Generate(kOrigin);
  ASSERT_THAT(impostor, IsOk());
  Checkpoint fake;
  fake.origin = kOrigin;
  fake.size = 100;
  fake.root = HashLeaf("whatever");
  VerifyOptions o = Options();
  o.witness = *SignCheckpoint(fake, *impostor);
  store_.RawPut(internal::CheckpointKey(50),
                *store_.Raw(internal::CheckpointKey(100)));
  r = Run(o);
  ASSERT_FALSE(r.ok());
  bool witness_fault = false;
  for (const Fault& f : r.faults) {
    if (f.kind == FaultKind::kBadSignature && f.seq == 100)
      witness_fault = true;
  }
  EXPECT_TRUE(witness_fault) << r.Summary();
  EXPECT_FALSE(r.witness_verified);

  VerifyOptions wrong_key;
  wrong_key.trusted_keys.push_back(
      *NoteVerifier::FromVerifierKey(impostor->VerifierKey()));
  r = Run(wrong_key);
  EXPECT_EQ(r.checkpoints_verified, 0u);
  ExpectFirst(r, FaultKind::kBadSignature, 50);
}

TEST_F(VerifierTest, HeadTampering) {
  std::string head_bytes = *store_.Raw(internal::HeadKey());
  v1::LogHead head;
  ASSERT_TRUE(head.ParseFromString(head_bytes));
  v1::LogHead edited = head;
  std::string chain = edited.chain_hash();
  chain[0] ^= 1;
  edited.set_chain_hash(chain);
  store_.RawPut(internal::HeadKey(), edited.SerializeAsString());
  ExpectFirst(Run(), FaultKind::kHeadMismatch, 100);

  edited = head;
  std::string root = edited.root_hash();
  root[0] ^= 1;
  edited.set_root_hash(root);
  store_.RawPut(internal::HeadKey(), edited.SerializeAsString());
  ExpectFirst(Run(), FaultKind::kHeadMismatch, 100);

  store_.RawPut(internal::HeadKey(), "garbage");
  ExpectFirst(Run(), FaultKind::kHeadMismatch, 0);
  store_.RawDelete(internal::HeadKey());
  ExpectFirst(Run(), FaultKind::kHeadMismatch, 0);
}

TEST_F(VerifierTest, EntryAppendedBehindTheAppendersBack) {
  // A well-formed entry 100, chained properly, but not in the head.
  const std::string last = store_.Leaf(99);
  const Hash chain = internal::ChainHash(last.substr(9, 32), HashLeaf(last));
  store_.RawPut(
      internal::LeafKey(100),
      internal::EncodeLeaf(100, chain, MakeEntry(100).SerializeAsString()));
  const VerifyReport r = Run();
  ExpectFirst(r, FaultKind::kHeadMismatch, 100);
  EXPECT_EQ(r.fault_count, 1u) << r.Summary();
}

// A log large enough for several verification shards (1024 entries each),
// tampered at shard boundaries.
class VerifierShardTest : public VerifierTest {
 protected:
  void SetUp() override {
    VerifierTest::SetUp();
    OpenLog();
    AppendRange(log_.get(), store_.get(), 100, 3000, 100);
    absl::StatusOr<SignedCheckpoint> cp = log_->SignCheckpoint();
    ASSERT_THAT(cp, IsOk());
    AppendRange(log_.get(), store_.get(), 3000, 5000, 100);
    cp = log_->SignCheckpoint();
    ASSERT_THAT(cp, IsOk());
    witness_ = cp->note;
    root_ = log_->Head().root;
    log_.reset();
  }
  Hash root_;
};

TEST_F(VerifierShardTest, IntactAcrossShardsWithAnyThreadCount) {
  for (int threads : {1, 2, 3, 8}) {
    VerifyOptions o = Options();
    o.threads = threads;
    const VerifyReport r = Run(o);
    EXPECT_TRUE(r.ok()) << threads << ": " << r.Summary();
    EXPECT_EQ(r.entries, 5000u);
    EXPECT_EQ(r.root, root_);
    EXPECT_EQ(r.checkpoints_verified, 4u);
    EXPECT_TRUE(r.witness_verified);
  }
}

TEST_F(VerifierShardTest, FaultsAtShardBoundaries) {
  FlipByte(1023, internal::kLeafHeaderBytes + 3);
  ExpectFirst(Run(), FaultKind::kModified, 1023);
  FlipByte(1023, internal::kLeafHeaderBytes + 3);
  FlipByte(1024, 15);
  ExpectFirst(Run(), FaultKind::kModified, 1024);
  FlipByte(1024, 15);
  ASSERT_TRUE(Run().ok());

  store_.RawDelete(internal::LeafKey(2048));
  ExpectFirst(Run(), FaultKind::kDeleted, 2048);
  const std::string a = store_.Leaf(2047);
  store_.RawPut(internal::LeafKey(2048), a);  // a copy of its neighbour
  ExpectFirst(Run(), FaultKind::kMisplaced, 2048);

  // A whole shard gone.
  for (uint64_t i = 1024; i < 2048; ++i) store_.RawDelete(internal::LeafKey(i));
  const VerifyReport r = Run();
  ExpectFirst(r, FaultKind::kDeleted, 1024);
  EXPECT_EQ(r.first_fault()->count, 1024u);
}

TEST_F(VerifierShardTest, SwapAcrossShards) {
  const std::string a = store_.Leaf(1000);
  const std::string b = store_.Leaf(4000);
  store_.RawPut(internal::LeafKey(1000), b);
  store_.RawPut(internal::LeafKey(4000), a);
  const VerifyReport r = Run();
  ExpectFirst(r, FaultKind::kSwapped, 1000);
  EXPECT_EQ(r.first_fault()->other, 4000u);
}

}  // namespace
}  // namespace linkd::audit
