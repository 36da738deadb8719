#include "linkd/store/store.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/store/column_families.h"
#include "linkd/store/key_codec.h"
#include "linkd/store/store_internal.h"
#include "linkd/store/store_testing.h"
#include "linkd/util/status_matchers.h"
#include "rocksdb/db.h"

namespace linkd::store {
namespace {

using ::linkd::store::testing::ScopedTempDir;
using ::linkd::testing::IsOk;
using ::linkd::testing::IsOkAndHolds;
using ::linkd::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::Eq;
using ::testing::HasSubstr;
using ::testing::Optional;

// Small budgets keep the tests light; production defaults are larger.
StoreOptions TestOptions(const std::string& path) {
  StoreOptions o;
  o.path = path;
  o.block_cache_mib = 8;
  o.memtable_budget_mib = 32;
  return o;
}

std::unique_ptr<Store> OpenOrDie(const std::string& path) {
  absl::StatusOr<std::unique_ptr<Store>> s = Store::Open(TestOptions(path));
  EXPECT_THAT(s, IsOk());
  return s.ok() ? *std::move(s) : nullptr;
}

std::string K(std::string_view a, uint64_t n = 0) {
  return KeyBuilder().AddString(a).AddU64(n).key();
}

TEST(ColumnFamiliesTest, NamesAreUniqueAndStable) {
  std::set<std::string_view> names;
  for (const CfInfo& info : kCfRegistry) names.insert(info.name);
  EXPECT_EQ(names.size(), kNumCfs);
  // The on-disk names: changing one orphans existing data.
  EXPECT_EQ(CfName(Cf::kRecords), "records");
  EXPECT_EQ(CfName(Cf::kRecordHistory), "record_history");
  EXPECT_EQ(CfName(Cf::kStats), "stats");
  EXPECT_EQ(CfName(Cf::kAudit), "audit");
  EXPECT_EQ(CfName(Cf::kModel), "model");
}

TEST(StoreOpenTest, CreatesEveryRegisteredFamily) {
  ScopedTempDir dir;
  ASSERT_NE(OpenOrDie(dir.path()), nullptr);
  std::vector<std::string> names;
  ASSERT_TRUE(
      rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir.path(), &names)
          .ok());
  std::set<std::string> got(names.begin(), names.end());
  for (const CfInfo& info : kCfRegistry) {
    EXPECT_EQ(got.count(std::string(info.name)), 1u) << info.name;
  }
  EXPECT_EQ(got.size(), kNumCfs);
}

TEST(StoreOpenTest, BlockCacheCanBeLentAndGivenBack) {
  ScopedTempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->block_cache_capacity(), size_t{8} << 20);
  store->SetBlockCacheCapacity(size_t{1} << 20);
  EXPECT_EQ(store->block_cache_capacity(), size_t{1} << 20);
  // Reads still work with the smaller cache.
  WriteBatch batch = store->NewBatch();
  batch.Put(Cf::kRecords, K("r"), "v");
  ASSERT_THAT(store->Commit(std::move(batch)), IsOk());
  EXPECT_THAT(store->Get(Cf::kRecords, K("r")),
              IsOkAndHolds(std::optional<std::string>("v")));
  store->SetBlockCacheCapacity(size_t{8} << 20);
  EXPECT_EQ(store->block_cache_capacity(), size_t{8} << 20);
}

TEST(StoreOpenTest, EmptyPathIsInvalid) {
  EXPECT_THAT(Store::Open(StoreOptions{}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(StoreOpenTest, MissingDirectoryWithoutCreateIsNotFound) {
  ScopedTempDir dir;
  StoreOptions o = TestOptions(dir.path());
  o.create_if_missing = false;
  EXPECT_THAT(Store::Open(o),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(dir.path())));
  EXPECT_FALSE(std::filesystem::exists(dir.path()));
}

TEST(StoreOpenTest, SecondOpenInProcessIsFailedPrecondition) {
  ScopedTempDir dir;
  std::unique_ptr<Store> first = OpenOrDie(dir.path());
  ASSERT_NE(first, nullptr);
  EXPECT_THAT(Store::Open(TestOptions(dir.path())),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("data directory " + dir.path() +
                                 " is in use by another process")));
}

TEST(StoreOpenTest, DirectoryLockedByAnotherProcessIsFailedPrecondition) {
  ScopedTempDir dir;
  // Create the database first, then let a child process hold it.
  ASSERT_NE(OpenOrDie(dir.path()), nullptr);
  int ready[2], done[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(done), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Child: a fresh RocksDB lock in another process. Only the file lock
    // matters here, so take it the way RocksDB does (via DB::Open).
    rocksdb::DB* db = nullptr;
    rocksdb::Options o;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const CfInfo& info : kCfRegistry) {
      rocksdb::ColumnFamilyOptions cfo;
      if (info.access == CfAccess::kCounter) {
        cfo.merge_operator = internal::NewInt64AddOperator();
      }
      cfs.emplace_back(std::string(info.name), cfo);
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    const bool ok = rocksdb::DB::Open(o, dir.path(), cfs, &handles, &db).ok();
    char c = ok ? 'y' : 'n';
    if (write(ready[1], &c, 1) != 1) _exit(2);
    if (read(done[0], &c, 1) < 0) _exit(3);
    _exit(0);  // no clean-up: the lock dies with the process
  }
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  EXPECT_THAT(Store::Open(TestOptions(dir.path())),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is in use by another process")));
  ASSERT_EQ(write(done[1], &c, 1), 1);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  // Once the other process is gone, the directory opens again.
  EXPECT_NE(OpenOrDie(dir.path()), nullptr);
  for (int fd : {ready[0], ready[1], done[0], done[1]}) close(fd);
}

TEST(StoreOpenTest, CorruptDirectoryIsDataLossNamingIt) {
  ScopedTempDir dir;
  ASSERT_NE(OpenOrDie(dir.path()), nullptr);
  {
    std::ofstream current(dir.Sub("CURRENT"), std::ios::trunc);
    current << "garbage-without-newline";
  }
  EXPECT_THAT(Store::Open(TestOptions(dir.path())),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr(dir.path())));
}

TEST(StoreOpenTest, NewerSchemaVersionIsRefused) {
  ScopedTempDir dir;
  {
    std::unique_ptr<Store> store = OpenOrDie(dir.path());
    ASSERT_NE(store, nullptr);
    // White-box: the schema version lives at (tag 1) in the default family.
    WriteBatch b = store->NewBatch();
    b.Put(Cf::kDefault, KeyBuilder().AddU8(1).key(),
          std::string("\0\0\0\0\0\0\0\x63", 8));  // 99
    ASSERT_THAT(store->Commit(std::move(b)), IsOk());
  }
  EXPECT_THAT(Store::Open(TestOptions(dir.path())),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("schema version 99")));
}

TEST(StoreOpenTest, UnknownColumnFamilyIsRefused) {
  ScopedTempDir dir;
  {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir.path(), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    rocksdb::ColumnFamilyHandle* h = nullptr;
    ASSERT_TRUE(
        db->CreateColumnFamily(rocksdb::ColumnFamilyOptions(), "future", &h)
            .ok());
    ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  }
  EXPECT_THAT(Store::Open(TestOptions(dir.path())),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("'future' unknown")));
}

TEST(StoreTest, BatchAppliesAcrossFamiliesAtomically) {
  ScopedTempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  WriteBatch b = store->NewBatch();
  EXPECT_EQ(b.count(), 0u);
  const size_t empty_size = b.ApproximateSize();
  b.Put(Cf::kRecords, K("r"), "record");
  b.Put(Cf::kAudit, KeyBuilder().AddU64(1).key(), "audit entry");
  b.AddToCounter(Cf::kStats, K("n"), 2);
  b.Put(Cf::kLinks, K("gone"), "x");
  b.Delete(Cf::kLinks, K("gone"));
  EXPECT_EQ(b.count(), 5u);
  EXPECT_GT(b.ApproximateSize(), empty_size);
  // Nothing is visible before Commit.
  EXPECT_THAT(store->Get(Cf::kRecords, K("r")), IsOkAndHolds(Eq(std::nullopt)));
  ASSERT_THAT(store->Commit(std::move(b)), IsOk());
  EXPECT_THAT(store->Get(Cf::kRecords, K("r")),
              IsOkAndHolds(Optional(Eq("record"))));
  EXPECT_THAT(store->Get(Cf::kAudit, KeyBuilder().AddU64(1).key()),
              IsOkAndHolds(Optional(Eq("audit entry"))));
  EXPECT_THAT(store->GetCounter(Cf::kStats, K("n")), IsOkAndHolds(Eq(2)));
  EXPECT_THAT(store->Get(Cf::kLinks, K("gone")),
              IsOkAndHolds(Eq(std::nullopt)));
  // Families are separate key spaces.
  EXPECT_THAT(store->Get(Cf::kEvents, K("r")), IsOkAndHolds(Eq(std::nullopt)));
}

TEST(StoreTest, ClearEmptiesBatchAndEmptyCommitIsNoOp) {
  ScopedTempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  WriteBatch b = store->NewBatch();
  b.Put(Cf::kRecords, K("a"), "1");
  b.Clear();
  EXPECT_EQ(b.count(), 0u);
  ASSERT_THAT(store->Commit(std::move(b)), IsOk());
  EXPECT_THAT(store->Get(Cf::kRecords, K("a")), IsOkAndHolds(Eq(std::nullopt)));
}

TEST(StoreTest, DeleteRangeRemovesHalfOpenRange) {
  ScopedTempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  WriteBatch b = store->NewBatch();
  for (uint64_t i = 0; i < 10; ++i) b.Put(Cf::kEvents, K("e", i), "v");
  ASSERT_THAT(store->Commit(std::move(b)), IsOk());
  WriteBatch d = store->NewBatch();
  d.DeleteRange(Cf::kEvents, K("e", 3), K("e", 7));
  ASSERT_THAT(store->Commit(std::move(d)), IsOk());
  std::vector<uint64_t> left;
  ASSERT_THAT(store->ScanPrefix(Cf::kEvents, KeyBuilder().AddString("e").key(),
                                [&](std::string_view k, std::string_view) {
                                  absl::StatusOr<KeyReader> r =
                                      KeyReader::Create(k);
                                  EXPECT_THAT(r, IsOk());
                                  EXPECT_THAT(r->ReadString(), IsOk());
                                  left.push_back(*r->ReadU64());
                                  return true;
                                }),
              IsOk());
  EXPECT_THAT(left, ElementsAre(0, 1, 2, 7, 8, 9));
}

// A kPrefixScan family reads a prefix's keys through per-prefix filters:
// the keys of one prefix spread over the memtable and several table files
// (some deleted since), and neighbouring prefixes, must all come back
// exactly, as must scans by a shorter prefix and of the whole family.
TEST(StoreTest, PrefixScansFindEveryKeyOfAPrefixAcrossFiles) {
  const Cf cf = Cf::kBlocks;
  const size_t len = GetCfInfo(cf).prefix_bytes;
  ASSERT_EQ(GetCfInfo(cf).access, CfAccess::kPrefixScan);
  ASSERT_GT(len, 2u);
  ScopedTempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  // Prefixes in pairs differing in their last byte only (one of them 0xff,
  // whose successor is shorter).
  std::vector<std::string> prefixes;
  for (int i = 0; i < 60; ++i) {
    std::string p(len, static_cast<char>(i));
    p[len - 1] = static_cast<char>(i % 2 == 0 ? 0x10 : 0x11);
    if (i == 59) p[len - 1] = static_cast<char>(0xff);
    prefixes.push_back(p);
  }
  std::set<std::string> model;
  for (int round = 0; round < 3; ++round) {
    WriteBatch b = store->NewBatch();
    for (size_t p = 0; p < prefixes.size(); ++p) {
      if ((p + round) % 3 == 0) continue;  // not every prefix in every file
      for (int m = 0; m < 4; ++m) {
        const std::string key =
            prefixes[p] + "member" + std::to_string(round) + std::to_string(m);
        b.Put(cf, key, "");
        model.insert(key);
      }
      if (round == 2) {  // deletes reach keys in older files
        const std::string gone = prefixes[p] + "member00";
        b.Delete(cf, gone);
        model.erase(gone);
      }
    }
    ASSERT_THAT(store->Commit(std::move(b)), IsOk());
    if (round < 2) {  // round 2 stays in the memtable
      ASSERT_THAT(store->Flush(), IsOk());
    }
  }
  auto scan = [&](std::string_view prefix) {
    std::vector<std::string> keys;
    EXPECT_THAT(store->ScanPrefix(cf, prefix,
                                  [&](std::string_view k, std::string_view) {
                                    keys.emplace_back(k);
                                    return true;
                                  }),
                IsOk());
    return keys;
  };
  auto expected = [&](std::string_view prefix) {
    std::vector<std::string> keys;
    for (const std::string& k : model) {
      if (k.compare(0, prefix.size(), prefix) == 0) keys.push_back(k);
    }
    return keys;
  };
  for (const std::string& p : prefixes) {
    EXPECT_EQ(scan(p), expected(p));
    EXPECT_FALSE(expected(p).empty());
  }
  std::string absent = prefixes[0];
  absent[len - 1] = 0x12;
  EXPECT_TRUE(scan(absent).empty());
  EXPECT_EQ(scan(prefixes[3].substr(0, 2)), expected(prefixes[3].substr(0, 2)));
  EXPECT_EQ(scan(""), std::vector<std::string>(model.begin(), model.end()));

  // ScanPrefixes: the same keys per prefix through one iterator, in any
  // order of prefixes (absent ones, the 0xff one, a shorter one and the
  // empty one included); returning false moves on to the next prefix.
  std::vector<std::string> many = {prefixes[7],  absent,
                                   prefixes[59], prefixes[2],
                                   "",           prefixes[3].substr(0, 2),
                                   prefixes[7]};
  std::vector<std::vector<std::string>> got(many.size());
  ASSERT_THAT(
      store->ScanPrefixes(cf, many,
                          [&](size_t i, std::string_view k, std::string_view) {
                            got[i].emplace_back(k);
                            return true;
                          }),
      IsOk());
  for (size_t i = 0; i < many.size(); ++i) {
    EXPECT_EQ(got[i], expected(many[i])) << "prefix " << i;
  }
  std::vector<size_t> firsts(many.size(), 0);
  ASSERT_THAT(
      store->ScanPrefixes(cf, many,
                          [&](size_t i, std::string_view, std::string_view) {
                            ++firsts[i];
                            return false;
                          }),
      IsOk());
  for (size_t i = 0; i < many.size(); ++i) {
    EXPECT_EQ(firsts[i], expected(many[i]).empty() ? 0u : 1u) << i;
  }
  ScanOptions reverse;
  reverse.reverse = true;
  EXPECT_THAT(
      store->ScanPrefixes(
          cf, many,
          [](size_t, std::string_view, std::string_view) { return true; },
          reverse),
      StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(StoreTest, CommitRefusesForeignOrMovedFromBatch) {
  ScopedTempDir dir1, dir2;
  std::unique_ptr<Store> s1 = OpenOrDie(dir1.path());
  std::unique_ptr<Store> s2 = OpenOrDie(dir2.path());
  ASSERT_NE(s1, nullptr);
  ASSERT_NE(s2, nullptr);
  WriteBatch b = s1->NewBatch();
  b.Put(Cf::kRecords, K("a"), "1");
  EXPECT_THAT(s2->Commit(std::move(b)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // `b` was consumed by the failed Commit.
  EXPECT_THAT(s1->Commit(std::move(b)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(s1->Get(Cf::kRecords, K("a")), IsOkAndHolds(Eq(std::nullopt)));
  EXPECT_THAT(s2->Get(Cf::kRecords, K("a")), IsOkAndHolds(Eq(std::nullopt)));
}

TEST(StoreTest, MultiGetKeepsOrderWithMissingAndDuplicateKeys) {
  ScopedTempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  WriteBatch b = store->NewBatch();
  b.Put(Cf::kRecords, K("a"), "A");
  b.Put(Cf::kRecords, K("c"), "C");
  ASSERT_THAT(store->Commit(std::move(b)), IsOk());
  std::vector<std::string> keys = {K("c"), K("b"), K("a"), K("c")};
  EXPECT_THAT(store->MultiGet(Cf::kRecords, keys),
              IsOkAndHolds(ElementsAre(Optional(Eq("C")), Eq(std::nullopt),
                                       Optional(Eq("A")), Optional(Eq("C")))));
  EXPECT_THAT(store->MultiGet(Cf::kRecords, {}),
              IsOkAndHolds(::testing::IsEmpty()));
}

class ScanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenOrDie(dir_.path());
    ASSERT_NE(store_, nullptr);
    WriteBatch b = store_->NewBatch();
    for (std::string_view src : {"a", "b", "bb"}) {
      for (uint64_t i = 0; i < 3; ++i) {
        b.Put(Cf::kOutbox, K(src, i), std::string(src) + std::to_string(i));
      }
    }
    ASSERT_THAT(store_->Commit(std::move(b)), IsOk());
  }

  std::vector<std::string> Collect(std::string_view prefix,
                                   const ScanOptions& o = {}) {
    std::vector<std::string> out;
    EXPECT_THAT(store_->ScanPrefix(
                    Cf::kOutbox, prefix,
                    [&](std::string_view, std::string_view v) {
                      out.emplace_back(v);
                      return true;
                    },
                    o),
                IsOk());
    return out;
  }

  ScopedTempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(ScanTest, PrefixScanSeesOnlyItsPrefixInOrder) {
  EXPECT_THAT(Collect(KeyBuilder().AddString("b").key()),
              ElementsAre("b0", "b1", "b2"));
  EXPECT_THAT(
      Collect(KeyBuilder().key()),
      ElementsAre("a0", "a1", "a2", "b0", "b1", "b2", "bb0", "bb1", "bb2"));
  EXPECT_THAT(Collect(KeyBuilder().AddString("c").key()), ::testing::IsEmpty());
}

TEST_F(ScanTest, ReverseScanStartsAtTheEnd) {
  ScanOptions o;
  o.reverse = true;
  EXPECT_THAT(Collect(KeyBuilder().AddString("b").key(), o),
              ElementsAre("b2", "b1", "b0"));
  EXPECT_THAT(Collect(KeyBuilder().AddString("bb").key(), o),
              ElementsAre("bb2", "bb1", "bb0"));
}

TEST_F(ScanTest, RangeIsHalfOpenAndEmptyEndIsUnbounded) {
  std::vector<std::string> out;
  auto collect = [&](std::string_view, std::string_view v) {
    out.emplace_back(v);
    return true;
  };
  ASSERT_THAT(store_->ScanRange(Cf::kOutbox, K("a", 1), K("b", 1), collect),
              IsOk());
  EXPECT_THAT(out, ElementsAre("a1", "a2", "b0"));
  out.clear();
  ASSERT_THAT(store_->ScanRange(Cf::kOutbox, K("bb", 1), "", collect), IsOk());
  EXPECT_THAT(out, ElementsAre("bb1", "bb2"));
}

TEST_F(ScanTest, CallbackCanStopOrAbort) {
  int seen = 0;
  ASSERT_THAT(store_->ScanPrefix(Cf::kOutbox, "",
                                 [&](std::string_view, std::string_view) {
                                   return ++seen < 2;
                                 }),
              IsOk());
  EXPECT_EQ(seen, 2);
  seen = 0;
  EXPECT_THAT(store_->ScanPrefix(Cf::kOutbox, "",
                                 [&](std::string_view,
                                     std::string_view) -> absl::StatusOr<bool> {
                                   if (++seen == 3)
                                     return absl::CancelledError("stop");
                                   return true;
                                 }),
              StatusIs(absl::StatusCode::kCancelled, HasSubstr("stop")));
  EXPECT_EQ(seen, 3);
}

TEST(StoreTest, SnapshotGivesConsistentViewAcrossFamilies) {
  ScopedTempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  WriteBatch b = store->NewBatch();
  b.Put(Cf::kLinks, K("sui"), "v1");
  b.AddToCounter(Cf::kStats, K("n"), 1);
  ASSERT_THAT(store->Commit(std::move(b)), IsOk());

  Snapshot snap = store->GetSnapshot();
  WriteBatch c = store->NewBatch();
  c.Put(Cf::kLinks, K("sui"), "v2");
  c.Put(Cf::kLinks, K("sui2"), "new");
  c.AddToCounter(Cf::kStats, K("n"), 1);
  ASSERT_THAT(store->Commit(std::move(c)), IsOk());

  EXPECT_THAT(store->Get(Cf::kLinks, K("sui"), &snap),
              IsOkAndHolds(Optional(Eq("v1"))));
  EXPECT_THAT(store->GetCounter(Cf::kStats, K("n"), &snap), IsOkAndHolds(1));
  EXPECT_THAT(store->MultiGet(Cf::kLinks, {K("sui"), K("sui2")}, &snap),
              IsOkAndHolds(ElementsAre(Optional(Eq("v1")), Eq(std::nullopt))));
  int n = 0;
  ScanOptions o;
  o.snapshot = &snap;
  ASSERT_THAT(store->ScanPrefix(
                  Cf::kLinks, "",
                  [&](std::string_view, std::string_view) {
                    ++n;
                    return true;
                  },
                  o),
              IsOk());
  EXPECT_EQ(n, 1);
  // Latest view.
  EXPECT_THAT(store->Get(Cf::kLinks, K("sui")),
              IsOkAndHolds(Optional(Eq("v2"))));
  EXPECT_THAT(store->GetCounter(Cf::kStats, K("n")), IsOkAndHolds(2));

  // Close refuses while the snapshot lives, then succeeds.
  EXPECT_THAT(store->Close(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(store->Get(Cf::kLinks, K("sui")), IsOk());
  { Snapshot gone = std::move(snap); }
  EXPECT_THAT(store->Close(), IsOk());
}

TEST(StoreTest, ForeignSnapshotIsInvalidArgument) {
  ScopedTempDir dir1, dir2;
  std::unique_ptr<Store> s1 = OpenOrDie(dir1.path());
  std::unique_ptr<Store> s2 = OpenOrDie(dir2.path());
  ASSERT_NE(s1, nullptr);
  ASSERT_NE(s2, nullptr);
  Snapshot snap = s1->GetSnapshot();
  EXPECT_THAT(s2->Get(Cf::kRecords, K("a"), &snap),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(StoreTest, CountersAddSubtractAndSurviveReopenAndFlush) {
  ScopedTempDir dir;
  {
    std::unique_ptr<Store> store = OpenOrDie(dir.path());
    ASSERT_NE(store, nullptr);
    EXPECT_THAT(store->GetCounter(Cf::kStats, K("c")), IsOkAndHolds(0));
    for (int64_t d : {5, -2, 10, -13}) {
      WriteBatch b = store->NewBatch();
      b.AddToCounter(Cf::kStats, K("c"), d);
      ASSERT_THAT(store->Commit(std::move(b)), IsOk());
    }
    EXPECT_THAT(store->GetCounter(Cf::kStats, K("c")), IsOkAndHolds(0));
    WriteBatch b = store->NewBatch();
    b.AddToCounter(Cf::kStats, K("c"), 7);
    b.AddToCounter(Cf::kStats, K("big"), int64_t{1} << 40);
    ASSERT_THAT(store->Commit(std::move(b)), IsOk());
  }
  {
    std::unique_ptr<Store> store = OpenOrDie(dir.path());  // WAL replay
    ASSERT_NE(store, nullptr);
    EXPECT_THAT(store->GetCounter(Cf::kStats, K("c")), IsOkAndHolds(7));
    ASSERT_THAT(store->Flush(), IsOk());
    WriteBatch b = store->NewBatch();
    b.AddToCounter(Cf::kStats, K("c"), -1);
    ASSERT_THAT(store->Commit(std::move(b)), IsOk());
    ASSERT_THAT(store->Flush(), IsOk());
  }
  std::unique_ptr<Store> store = OpenOrDie(dir.path());  // from SST files
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(store->GetCounter(Cf::kStats, K("c")), IsOkAndHolds(6));
  EXPECT_THAT(store->GetCounter(Cf::kStats, K("big")),
              IsOkAndHolds(int64_t{1} << 40));
}

TEST(StoreTest, MalformedCounterIsDataLoss) {
  ScopedTempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  WriteBatch b = store->NewBatch();
  b.Put(Cf::kStats, K("bad"), "abc");
  ASSERT_THAT(store->Commit(std::move(b)), IsOk());
  EXPECT_THAT(store->GetCounter(Cf::kStats, K("bad")),
              StatusIs(absl::StatusCode::kDataLoss));
  // A merge on top of it fails inside RocksDB: Corruption -> DATA_LOSS.
  WriteBatch c = store->NewBatch();
  c.AddToCounter(Cf::kStats, K("bad"), 1);
  ASSERT_THAT(store->Commit(std::move(c)), IsOk());
  EXPECT_THAT(store->GetCounter(Cf::kStats, K("bad")),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(DecodeCounter("1234567"), StatusIs(absl::StatusCode::kDataLoss));
}

TEST(StoreDeathTest, AddToCounterOnNonCounterFamilyAborts) {
  ScopedTempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  WriteBatch b = store->NewBatch();
  EXPECT_DEATH(b.AddToCounter(Cf::kRecords, K("x"), 1), "not a counter family");
}

TEST(StoreTest, CheckpointIsAnOpenableCopy) {
  ScopedTempDir dir, backup_root;
  std::unique_ptr<Store> store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  WriteBatch b = store->NewBatch();
  b.Put(Cf::kRecords, K("a"), "before");
  b.AddToCounter(Cf::kStats, K("n"), 3);
  ASSERT_THAT(store->Commit(std::move(b)), IsOk());
  std::filesystem::create_directories(backup_root.path());
  const std::string backup = backup_root.Sub("cp1");
  ASSERT_THAT(store->Checkpoint(backup), IsOk());
  EXPECT_THAT(store->Checkpoint(backup),
              StatusIs(absl::StatusCode::kAlreadyExists));
  WriteBatch c = store->NewBatch();
  c.Put(Cf::kRecords, K("a"), "after");
  ASSERT_THAT(store->Commit(std::move(c)), IsOk());

  std::unique_ptr<Store> copy = OpenOrDie(backup);
  ASSERT_NE(copy, nullptr);
  EXPECT_THAT(copy->Get(Cf::kRecords, K("a")),
              IsOkAndHolds(Optional(Eq("before"))));
  EXPECT_THAT(copy->GetCounter(Cf::kStats, K("n")), IsOkAndHolds(3));
}

TEST(StoreTest, ClosedStoreRefusesCallsAndCloseIsIdempotent) {
  ScopedTempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  WriteBatch b = store->NewBatch();
  b.Put(Cf::kRecords, K("a"), "1");
  ASSERT_THAT(store->Close(), IsOk());
  ASSERT_THAT(store->Close(), IsOk());
  EXPECT_THAT(store->Commit(std::move(b)),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(store->Get(Cf::kRecords, K("a")),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(store->Flush(), StatusIs(absl::StatusCode::kFailedPrecondition));
  // The directory is released: it opens again.
  EXPECT_NE(OpenOrDie(dir.path()), nullptr);
}

TEST(StoreTest, ConcurrentWritersAndReaders) {
  ScopedTempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  constexpr int kThreads = 4;
  constexpr int kCommits = 200;
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCommits; ++i) {
        WriteBatch b = store->NewBatch();
        b.Put(Cf::kEvents, K("t" + std::to_string(t), i), "e");
        b.AddToCounter(Cf::kStats, K("events"), 1);
        CommitOptions no_sync;
        no_sync.sync = false;
        if (!store->Commit(std::move(b), no_sync).ok()) {
          failed = true;
        }
        // Readers interleave with writers; the counter never goes back.
        Snapshot s = store->GetSnapshot();
        absl::StatusOr<int64_t> n =
            store->GetCounter(Cf::kStats, K("events"), &s);
        if (!n.ok() || *n < i + 1) failed = true;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_FALSE(failed);
  EXPECT_THAT(store->GetCounter(Cf::kStats, K("events")),
              IsOkAndHolds(kThreads * kCommits));
  int n = 0;
  ASSERT_THAT(store->ScanPrefix(Cf::kEvents, "",
                                [&](std::string_view, std::string_view) {
                                  ++n;
                                  return true;
                                }),
              IsOk());
  EXPECT_EQ(n, kThreads * kCommits);
}

TEST(FromRocksStatusTest, MapsToCanonicalCodes) {
  using internal::FromRocksStatus;
  using C = absl::StatusCode;
  EXPECT_THAT(FromRocksStatus(rocksdb::Status::OK(), "x"), IsOk());
  EXPECT_THAT(FromRocksStatus(rocksdb::Status::Busy(), "x"),
              StatusIs(C::kUnavailable));
  EXPECT_THAT(FromRocksStatus(rocksdb::Status::TryAgain(), "x"),
              StatusIs(C::kUnavailable));
  EXPECT_THAT(FromRocksStatus(rocksdb::Status::TimedOut(), "x"),
              StatusIs(C::kUnavailable));
  EXPECT_THAT(FromRocksStatus(rocksdb::Status::Corruption("bad block"), "get"),
              StatusIs(C::kDataLoss, HasSubstr("get: Corruption: bad block")));
  EXPECT_THAT(FromRocksStatus(rocksdb::Status::NotFound(), "x"),
              StatusIs(C::kNotFound));
  EXPECT_THAT(FromRocksStatus(rocksdb::Status::InvalidArgument(), "x"),
              StatusIs(C::kInvalidArgument));
  EXPECT_THAT(FromRocksStatus(rocksdb::Status::NotSupported(), "x"),
              StatusIs(C::kUnimplemented));
  EXPECT_THAT(FromRocksStatus(rocksdb::Status::Aborted(), "x"),
              StatusIs(C::kAborted));
  EXPECT_THAT(FromRocksStatus(rocksdb::Status::NoSpace(), "x"),
              StatusIs(C::kResourceExhausted));
  EXPECT_THAT(FromRocksStatus(rocksdb::Status::IOError(), "x"),
              StatusIs(C::kUnavailable));
  EXPECT_THAT(FromRocksStatus(rocksdb::Status::MergeInProgress(), "x"),
              StatusIs(C::kInternal));
}

}  // namespace
}  // namespace linkd::store
