#include "linkd/store/record_store.h"

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "linkd/store/store_testing.h"
#include "linkd/util/status_matchers.h"

namespace linkd::store {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::linkd::store::testing::ScopedTempDir;
using ::linkd::store::testing::SyntheticRecords;
using ::linkd::testing::IsOk;
using ::linkd::testing::IsOkAndHolds;
using ::linkd::testing::StatusIs;
using ::linkd::v1::EncodedIdentity;
using ::linkd::v1::EncodedRecord;
using ::linkd::v1::GetStatsResponse;
using ::testing::ElementsAre;
using ::testing::Eq;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

std::unique_ptr<Store> OpenOrDie(const std::string& path) {
  StoreOptions o;
  o.path = path;
  o.block_cache_mib = 8;
  o.memtable_budget_mib = 32;
  absl::StatusOr<std::unique_ptr<Store>> s = Store::Open(o);
  EXPECT_THAT(s, IsOk());
  return s.ok() ? *std::move(s) : nullptr;
}

std::vector<const EncodedRecord*> Ptrs(const std::vector<EncodedRecord>& v) {
  std::vector<const EncodedRecord*> out;
  for (const EncodedRecord& r : v) out.push_back(&r);
  return out;
}

std::vector<IngestResult> Results(const std::vector<IngestOutcome>& v) {
  std::vector<IngestResult> out;
  for (const IngestOutcome& o : v) out.push_back(o.result);
  return out;
}

MATCHER_P(IdentityIs, expected, "") {
  return MessageDifferencer::Equals(arg.identity(), expected);
}

// Stats recomputed the slow way, from the records themselves, so that the
// counters are checked against an independent computation.
GetStatsResponse RecountByScanning(const RecordStore& rs) {
  std::map<std::string, std::map<std::string, uint64_t>> fields;
  std::map<std::string, uint64_t> records, updated;
  const google::protobuf::Descriptor* d = EncodedIdentity::descriptor();
  const google::protobuf::Reflection* refl = EncodedIdentity::GetReflection();
  EXPECT_THAT(
      rs.ForEachRecord(std::nullopt,
                       [&](std::string_view source, std::string_view,
                           const StoredRecord& r) {
                         const std::string s(source);
                         ++records[s];
                         if (r.revision() > 1) ++updated[s];
                         for (int i = 0; i < d->field_count(); ++i) {
                           const auto* f = d->field(i);
                           if (f->name() == "key_check") continue;
                           if (f->type() !=
                               google::protobuf::FieldDescriptor::TYPE_BYTES) {
                             continue;
                           }
                           if (!refl->GetString(r.identity(), f).empty()) {
                             ++fields[s][f->name()];
                           }
                         }
                         return true;
                       }),
      IsOk());
  GetStatsResponse out;
  uint64_t total = 0;
  for (const auto& [source, n] : records) {
    auto* ss = out.add_sources();
    ss->set_source(source);
    ss->set_records(n);
    ss->set_updated_records(updated[source]);
    for (std::string_view name : CoverageFieldNames()) {
      auto it = fields[source].find(std::string(name));
      if (it == fields[source].end()) continue;
      auto* fc = ss->add_fields();
      fc->set_field(std::string(name));
      fc->set_records(it->second);
    }
    total += n;
  }
  out.set_total_records(total);
  return out;
}

void ExpectStatsMatchRecount(const RecordStore& rs) {
  absl::StatusOr<GetStatsResponse> stats = rs.Stats();
  ASSERT_THAT(stats, IsOk());
  GetStatsResponse expected = RecountByScanning(rs);
  EXPECT_TRUE(MessageDifferencer::Equals(*stats, expected))
      << "counters:\n"
      << stats->DebugString() << "recount:\n"
      << expected.DebugString();
}

class RecordStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen() {
    records_.reset();
    store_.reset();
    store_ = OpenOrDie(dir_.path());
    ASSERT_NE(store_, nullptr);
    records_ = std::make_unique<RecordStore>(store_.get());
  }

  // Stage + Commit; returns the outcomes.
  std::vector<IngestOutcome> Ingest(const std::vector<EncodedRecord>& recs,
                                    absl::Time now) {
    WriteBatch batch = store_->NewBatch();
    absl::StatusOr<std::vector<IngestOutcome>> out =
        records_->Stage(Ptrs(recs), now, &batch);
    EXPECT_THAT(out, IsOk());
    EXPECT_THAT(store_->Commit(std::move(batch)), IsOk());
    return out.ok() ? *out : std::vector<IngestOutcome>{};
  }

  ScopedTempDir dir_;
  SyntheticRecords gen_{42};
  std::unique_ptr<Store> store_;
  std::unique_ptr<RecordStore> records_;
};

TEST_F(RecordStoreTest, NewRecordsAreAcceptedAndResubmissionIsUnchanged) {
  std::vector<EncodedRecord> recs = {gen_.Record("school_census", "r1"),
                                     gen_.Record("school_census", "r2"),
                                     gen_.Record("la_cms", "r1")};
  std::vector<IngestOutcome> out = Ingest(recs, kT0);
  EXPECT_THAT(Results(out),
              ElementsAre(IngestResult::kAccepted, IngestResult::kAccepted,
                          IngestResult::kAccepted));
  EXPECT_EQ(out[0].revision, 1u);

  absl::StatusOr<std::optional<StoredRecord>> got =
      records_->Get("la_cms", "r1");
  ASSERT_THAT(got, IsOk());
  ASSERT_TRUE(got->has_value());
  EXPECT_THAT(**got, IdentityIs(recs[2].identity()));
  EXPECT_EQ((*got)->revision(), 1u);
  EXPECT_EQ((*got)->first_seen_micros(), absl::ToUnixMicros(kT0));
  EXPECT_EQ((*got)->stored_micros(), absl::ToUnixMicros(kT0));
  EXPECT_THAT(records_->Get("la_cms", "r2"), IsOkAndHolds(Eq(std::nullopt)));

  // The same records again: nothing at all is written.
  WriteBatch batch = store_->NewBatch();
  absl::StatusOr<std::vector<IngestOutcome>> again =
      records_->Stage(Ptrs(recs), kT0 + absl::Hours(1), &batch);
  ASSERT_THAT(again, IsOk());
  EXPECT_THAT(Results(*again),
              ElementsAre(IngestResult::kUnchanged, IngestResult::kUnchanged,
                          IngestResult::kUnchanged));
  EXPECT_EQ(batch.count(), 0u);
  got = records_->Get("la_cms", "r1");
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ((*got)->stored_micros(), absl::ToUnixMicros(kT0));
}

TEST_F(RecordStoreTest, ChangedIdentityIsUpdateKeepingHistory) {
  EncodedRecord v1 = gen_.Record("school_census", "r1");
  Ingest({v1}, kT0);
  EncodedRecord v2 = v1;
  v2.mutable_identity()->set_postcode_unit(gen_.Bytes(32));
  std::vector<IngestOutcome> out = Ingest({v2}, kT0 + absl::Hours(1));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].result, IngestResult::kUpdated);
  EXPECT_EQ(out[0].revision, 2u);
  EncodedRecord v3 = v2;
  v3.mutable_identity()->clear_upn();
  out = Ingest({v3}, kT0 + absl::Hours(2));
  EXPECT_EQ(out[0].revision, 3u);

  absl::StatusOr<std::optional<StoredRecord>> cur =
      records_->Get("school_census", "r1");
  ASSERT_THAT(cur, IsOk());
  ASSERT_TRUE(cur->has_value());
  EXPECT_THAT(**cur, IdentityIs(v3.identity()));
  EXPECT_EQ((*cur)->revision(), 3u);
  EXPECT_EQ((*cur)->first_seen_micros(), absl::ToUnixMicros(kT0));
  EXPECT_EQ((*cur)->stored_micros(), absl::ToUnixMicros(kT0 + absl::Hours(2)));

  absl::StatusOr<std::vector<StoredRecord>> history =
      records_->History("school_census", "r1");
  ASSERT_THAT(history, IsOk());
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[0].revision(), 1u);
  EXPECT_THAT((*history)[0], IdentityIs(v1.identity()));
  EXPECT_EQ((*history)[1].revision(), 2u);
  EXPECT_THAT((*history)[1], IdentityIs(v2.identity()));
  EXPECT_EQ((*history)[1].stored_micros(),
            absl::ToUnixMicros(kT0 + absl::Hours(1)));
  // History of a never-updated or unknown record is empty; a record id that
  // extends another one does not share its history.
  EXPECT_THAT(records_->History("school_census", "r"), IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(records_->History("school_census", "r10"),
              IsOkAndHolds(IsEmpty()));

  GetStatsResponse stats = *records_->Stats();
  ASSERT_EQ(stats.sources_size(), 1);
  EXPECT_EQ(stats.sources(0).records(), 1u);
  EXPECT_EQ(stats.sources(0).updated_records(), 1u);  // once, not twice
  ExpectStatsMatchRecount(*records_);
}

TEST_F(RecordStoreTest, SameKeyTwiceInOneCall) {
  EncodedRecord a1 = gen_.Record("s", "a");
  EncodedRecord a2 = gen_.Record("s", "a");
  EncodedRecord b = gen_.Record("s", "b");
  std::vector<IngestOutcome> out = Ingest({a1, a1, a2, b, a2}, kT0);
  EXPECT_THAT(Results(out),
              ElementsAre(IngestResult::kAccepted, IngestResult::kUnchanged,
                          IngestResult::kUpdated, IngestResult::kAccepted,
                          IngestResult::kUnchanged));
  EXPECT_EQ(out[2].revision, 2u);
  EXPECT_EQ(out[4].revision, 2u);
  absl::StatusOr<std::optional<StoredRecord>> cur = records_->Get("s", "a");
  ASSERT_THAT(cur, IsOk());
  EXPECT_THAT(**cur, IdentityIs(a2.identity()));
  absl::StatusOr<std::vector<StoredRecord>> history =
      records_->History("s", "a");
  ASSERT_THAT(history, IsOk());
  ASSERT_EQ(history->size(), 1u);
  EXPECT_THAT((*history)[0], IdentityIs(a1.identity()));
  GetStatsResponse stats = *records_->Stats();
  EXPECT_EQ(stats.total_records(), 2u);
  EXPECT_EQ(stats.sources(0).updated_records(), 1u);
  ExpectStatsMatchRecount(*records_);
}

TEST_F(RecordStoreTest, FieldCoverageFollowsUpdates) {
  EncodedRecord r1 = gen_.Record("health", "h1");
  r1.mutable_identity()->clear_upn();
  r1.mutable_identity()->clear_postcode_unit();
  EncodedRecord r2 = gen_.Record("health", "h2");
  Ingest({r1, r2}, kT0);
  auto coverage = [&](std::string_view field) -> uint64_t {
    GetStatsResponse s = *records_->Stats();
    for (const auto& fc : s.sources(0).fields()) {
      if (fc.field() == field) return fc.records();
    }
    return 0;
  };
  EXPECT_EQ(coverage("upn"), 1u);
  EXPECT_EQ(coverage("nhs_number"), 2u);
  // r2 loses its UPN and NHS number; r1 gains a postcode.
  r2.mutable_identity()->clear_upn();
  r2.mutable_identity()->clear_nhs_number();
  r1.mutable_identity()->set_postcode_unit(gen_.Bytes(32));
  Ingest({r1, r2}, kT0 + absl::Minutes(1));
  EXPECT_EQ(coverage("upn"), 0u);
  EXPECT_EQ(coverage("nhs_number"), 1u);
  EXPECT_EQ(coverage("postcode_unit"), 2u);
  ExpectStatsMatchRecount(*records_);
  // A field with no record left is not listed at all.
  absl::StatusOr<GetStatsResponse> stats = records_->Stats();
  ASSERT_THAT(stats, IsOk());
  for (const auto& fc : stats->sources(0).fields()) {
    EXPECT_NE(fc.field(), "upn");
  }
}

TEST_F(RecordStoreTest, RandomIngestKeepsCountersExactAcrossReopen) {
  std::mt19937_64 rng(7);
  const std::vector<std::string> sources = {"school_census", "la_cms", "health",
                                            "school"};
  std::map<std::pair<std::string, std::string>, EncodedRecord> latest;
  for (int round = 0; round < 12; ++round) {
    std::vector<EncodedRecord> batch;
    for (int i = 0; i < 150; ++i) {
      const std::string& src = sources[rng() % sources.size()];
      const std::string id = "rec" + std::to_string(rng() % 120);
      auto it = latest.find({src, id});
      EncodedRecord r;
      if (it != latest.end() && rng() % 3 == 0) {
        r = it->second;  // resubmission, unchanged
      } else {
        r = gen_.Record(src, id);
        // Drop a random subset of fields, as real sources do.
        const auto* d = EncodedIdentity::descriptor();
        const auto* refl = EncodedIdentity::GetReflection();
        for (int f = 0; f < d->field_count(); ++f) {
          if (rng() % 3 == 0)
            refl->ClearField(r.mutable_identity(), d->field(f));
        }
      }
      latest[{src, id}] = r;
      batch.push_back(r);
    }
    Ingest(batch, kT0 + absl::Seconds(round));
    if (round % 4 == 3) {
      ExpectStatsMatchRecount(*records_);
      Reopen();
    }
  }
  ExpectStatsMatchRecount(*records_);
  GetStatsResponse stats = *records_->Stats();
  EXPECT_EQ(stats.total_records(), latest.size());
  // Every record holds its latest identity.
  for (const auto& [key, rec] : latest) {
    absl::StatusOr<std::optional<StoredRecord>> got =
        records_->Get(key.first, key.second);
    ASSERT_THAT(got, IsOk());
    ASSERT_TRUE(got->has_value());
    EXPECT_THAT(**got, IdentityIs(rec.identity()));
  }
  // Sources come out sorted by name.
  std::vector<std::string> names;
  for (const auto& s : stats.sources()) names.push_back(s.source());
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
}

TEST_F(RecordStoreTest, StageRejectsBadInputWithoutTouchingTheBatch) {
  EncodedRecord good = gen_.Record("s", "a");
  EncodedRecord no_source = gen_.Record("", "a");
  EncodedRecord no_id = gen_.Record("s", "");
  WriteBatch batch = store_->NewBatch();
  EXPECT_THAT(records_->Stage(Ptrs({good}), kT0, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(records_->Stage(Ptrs({good, no_source}), kT0, &batch),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("records[1].source")));
  EXPECT_THAT(records_->Stage(Ptrs({no_id}), kT0, &batch),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("records[0].record_id")));
  std::vector<const EncodedRecord*> with_null = {&good, nullptr};
  EXPECT_THAT(records_->Stage(with_null, kT0, &batch),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("records[1] is null")));
  EXPECT_EQ(batch.count(), 0u);
}

TEST_F(RecordStoreTest, MalformedStoredValueIsDataLossWithoutBytes) {
  WriteBatch batch = store_->NewBatch();
  batch.Put(Cf::kRecords, RecordKey("s", "a"), "\xff\xff\xffTOKENBYTES");
  ASSERT_THAT(store_->Commit(std::move(batch)), IsOk());
  absl::StatusOr<std::optional<StoredRecord>> got = records_->Get("s", "a");
  EXPECT_THAT(
      got, StatusIs(absl::StatusCode::kDataLoss, Not(HasSubstr("TOKENBYTES"))));
  EncodedRecord r = gen_.Record("s", "a");
  WriteBatch b2 = store_->NewBatch();
  EXPECT_THAT(records_->Stage(Ptrs({r}), kT0, &b2),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_EQ(b2.count(), 0u);
}

TEST_F(RecordStoreTest, ForEachRecordFiltersBySourceAndCanStop) {
  Ingest({gen_.Record("a", "1"), gen_.Record("ab", "1"), gen_.Record("a", "2"),
          gen_.Record("b", "1")},
         kT0);
  std::vector<std::string> seen;
  auto collect = [&](std::string_view s, std::string_view id,
                     const StoredRecord&) {
    seen.push_back(std::string(s) + "/" + std::string(id));
    return true;
  };
  ASSERT_THAT(records_->ForEachRecord("a", collect), IsOk());
  EXPECT_THAT(seen, ElementsAre("a/1", "a/2"));
  seen.clear();
  ASSERT_THAT(records_->ForEachRecord(std::nullopt, collect), IsOk());
  EXPECT_EQ(seen.size(), 4u);
  int n = 0;
  ASSERT_THAT(records_->ForEachRecord(
                  std::nullopt, [&](std::string_view, std::string_view,
                                    const StoredRecord&) { return ++n < 2; }),
              IsOk());
  EXPECT_EQ(n, 2);
}

TEST_F(RecordStoreTest, SnapshotReadsSeeTheOldRevision) {
  EncodedRecord v1 = gen_.Record("s", "a");
  Ingest({v1}, kT0);
  Snapshot snap = store_->GetSnapshot();
  EncodedRecord v2 = gen_.Record("s", "a");
  Ingest({v2}, kT0 + absl::Seconds(1));
  absl::StatusOr<std::optional<StoredRecord>> old =
      records_->Get("s", "a", &snap);
  ASSERT_THAT(old, IsOk());
  EXPECT_THAT(**old, IdentityIs(v1.identity()));
  EXPECT_THAT(records_->History("s", "a", &snap), IsOkAndHolds(IsEmpty()));
}

TEST_F(RecordStoreTest, CommittedDataSurvivesDestructionWithoutFlush) {
  std::vector<EncodedRecord> recs;
  for (int i = 0; i < 50; ++i) {
    recs.push_back(gen_.Record("s", "r" + std::to_string(i)));
  }
  Ingest(recs, kT0);
  records_.reset();
  store_.reset();  // closes; memtables were never flushed to SST files
  Reopen();
  for (const EncodedRecord& r : recs) {
    absl::StatusOr<std::optional<StoredRecord>> got =
        records_->Get(r.source(), r.record_id());
    ASSERT_THAT(got, IsOk());
    ASSERT_TRUE(got->has_value());
    EXPECT_THAT(**got, IdentityIs(r.identity()));
  }
  EXPECT_EQ(records_->Stats()->total_records(), recs.size());
}

TEST(RecordStoreCrashTest, CommittedBatchSurvivesSigkill) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // The "threadsafe" death-test child re-runs this test from the start; it
  // must use the parent's directory, passed through the environment.
  const char* inherited = std::getenv("LINKD_STORE_CRASH_DIR");
  const std::string path =
      inherited != nullptr ? std::string(inherited)
                           : (std::filesystem::path(::testing::TempDir()) /
                              ("linkd_store_crash_" + std::to_string(getpid())))
                                 .string();
  if (inherited == nullptr) {
    std::filesystem::remove_all(path);
    setenv("LINKD_STORE_CRASH_DIR", path.c_str(), 1);
  }
  SyntheticRecords gen(99);
  std::vector<EncodedRecord> recs;
  for (int i = 0; i < 200; ++i) {
    recs.push_back(gen.Record("school_census", "r" + std::to_string(i)));
  }
  EXPECT_EXIT(
      {
        std::unique_ptr<Store> store = OpenOrDie(path);
        RecordStore rs(store.get());
        for (size_t start = 0; start < recs.size(); start += 50) {
          std::vector<EncodedRecord> part(recs.begin() + start,
                                          recs.begin() + start + 50);
          WriteBatch batch = store->NewBatch();
          if (!rs.Stage(Ptrs(part), kT0, &batch).ok()) std::_Exit(1);
          if (!store->Commit(std::move(batch)).ok()) std::_Exit(1);
        }
        std::raise(SIGKILL);  // no destructors, no flush, no close
      },
      ::testing::KilledBySignal(SIGKILL), "");
  unsetenv("LINKD_STORE_CRASH_DIR");

  std::unique_ptr<Store> store = OpenOrDie(path);
  ASSERT_NE(store, nullptr);
  RecordStore rs(store.get());
  for (const EncodedRecord& r : recs) {
    absl::StatusOr<std::optional<StoredRecord>> got =
        rs.Get(r.source(), r.record_id());
    ASSERT_THAT(got, IsOk());
    ASSERT_TRUE(got->has_value()) << r.record_id();
    EXPECT_THAT(**got, IdentityIs(r.identity()));
  }
  absl::StatusOr<GetStatsResponse> stats = rs.Stats();
  ASSERT_THAT(stats, IsOk());
  EXPECT_EQ(stats->total_records(), recs.size());
  store.reset();
  std::filesystem::remove_all(path);
}

TEST(RecordKeyTest, RoundTripsAndRejectsMalformed) {
  const std::string key = RecordKey("la_cms", "case-17");
  std::string_view source, id;
  ASSERT_THAT(DecodeRecordKey(key, &source, &id), IsOk());
  EXPECT_EQ(source, "la_cms");
  EXPECT_EQ(id, "case-17");
  EXPECT_THAT(DecodeRecordKey(key.substr(0, key.size() - 1), &source, &id),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(DecodeRecordKey(key + "x", &source, &id),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(CoverageFieldsTest, AreEveryIdentityBytesFieldButKeyCheck) {
  std::vector<std::string_view> expected;
  const auto* d = EncodedIdentity::descriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const auto* f = d->field(i);
    if (f->type() == google::protobuf::FieldDescriptor::TYPE_BYTES &&
        f->name() != "key_check") {
      expected.push_back(f->name());
    }
  }
  EXPECT_EQ(CoverageFieldNames(), expected);
}

TEST(IngestResultTest, Names) {
  EXPECT_EQ(IngestResultName(IngestResult::kAccepted), "accepted");
  EXPECT_EQ(IngestResultName(IngestResult::kUnchanged), "unchanged");
  EXPECT_EQ(IngestResultName(IngestResult::kUpdated), "updated");
}

}  // namespace
}  // namespace linkd::store
