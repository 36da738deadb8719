#include "linkd/linker/linker.h"

#include <filesystem>
#include <memory>
#include <set>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "crypto/crypto.h"
#include "crypto/encoder.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/encode/proto_convert.h"
#include "linkd/store/record_store.h"
#include "linkd/util/status_matchers.h"
#include "linkd/util/temp_dir.h"

namespace linkd::linker {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;
using store::v1::ReviewTask;
using store::v1::SuiInfo;

// Links real encodings of synthetic children through a real store.
class LinkerTest : public ::testing::Test {
 public:  // Rec and Child serve the population helpers below too
  void SetUp() override {
    ASSERT_THAT(crypto::Init(), IsOk());
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
    linker_ =
        std::make_unique<Linker>(store_.get(), index_.get(), LinkerOptions());
  }

  struct Rec {
    std::string source, id;
    crypto::ClearIdentity clear;
  };

  // `recs` encoded as their providers would.
  std::vector<v1::EncodedRecord> EncodeAll(const std::vector<Rec>& recs) {
    std::vector<v1::EncodedRecord> records(recs.size());
    for (size_t i = 0; i < recs.size(); ++i) {
      records[i].set_source(recs[i].source);
      records[i].set_record_id(recs[i].id);
      encode::ToProto(encoder_.Encode(recs[i].clear, nullptr),
                      records[i].mutable_identity());
    }
    return records;
  }

  // Stores and links `recs` in one batch, as the ingest pipeline does.
  std::vector<LinkOutcome> Ingest(const std::vector<Rec>& recs) {
    const std::vector<v1::EncodedRecord> records = EncodeAll(recs);
    std::vector<const v1::EncodedRecord*> ptrs;
    for (const v1::EncodedRecord& r : records) ptrs.push_back(&r);
    store::WriteBatch batch = store_->NewBatch();
    store::RecordStore rs(store_.get());
    auto staged = rs.Stage(ptrs, now_, &batch);
    EXPECT_THAT(staged, IsOk());
    std::vector<std::string> keys;
    for (const auto& r : records) {
      keys.push_back(store::RecordKey(r.source(), r.record_id()));
    }
    std::vector<LinkInput> inputs;
    for (size_t i = 0; i < records.size(); ++i) {
      inputs.push_back(
          {keys[i], &records[i].identity(), (*staged)[i].revision});
    }
    auto outcomes = linker_->Link(inputs, now_, &batch);
    EXPECT_THAT(outcomes, IsOk());
    EXPECT_THAT(store_->Commit(std::move(batch)), IsOk());
    return outcomes.ok() ? *outcomes : std::vector<LinkOutcome>();
  }

  Sui SuiOf(const std::string& source, const std::string& id) {
    auto s = linker_->Resolve(store::RecordKey(source, id));
    EXPECT_THAT(s, IsOk());
    EXPECT_TRUE(s->has_value());
    return s.ok() && s->has_value() ? **s : *Sui::FromBits(1);
  }

  static crypto::ClearIdentity Child(std::string given, std::string family,
                                     std::string dob, std::string sex,
                                     std::string postcode, std::string upn = "",
                                     std::string nhs = "") {
    crypto::ClearIdentity c;
    c.given_name = std::move(given);
    c.family_name = std::move(family);
    c.dob = std::move(dob);
    c.sex = std::move(sex);
    c.postcode = std::move(postcode);
    c.upn = std::move(upn);
    c.nhs_number = std::move(nhs);
    return c;
  }

  testing::TempDir dir_;
  crypto::LinkageKey key_ = crypto::LinkageKey::Generate(1);
  crypto::Encoder encoder_{key_};
  absl::Time now_ = absl::FromUnixSeconds(1790000000);
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<blocking::KeyGenerator> keys_;
  std::unique_ptr<blocking::BlockingIndex> index_;
  std::unique_ptr<Linker> linker_;
};

// Synthetic identifiers with valid check characters (999-range NHS numbers
// are never issued).
constexpr char kNhsA[] = "9990000018";
constexpr char kNhsB[] = "9990000026";

TEST_F(LinkerTest, SameChildFromTwoSourcesGetsOneSui) {
  auto first =
      Ingest({{"school_census", "P1",
               Child("Amelia", "Okafor", "2015-03-04", "F", "LS6 2AB")}});
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].action, LinkAction::kNewSui);
  // Health spells the name with a typo and writes the date its own way.
  auto second = Ingest(
      {{"health", "H1",
        Child("Amelia", "Okafore", "20150304", "2", "LS6 2AB", "", kNhsA)}});
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].action, LinkAction::kJoined);
  EXPECT_EQ(SuiOf("school_census", "P1"), SuiOf("health", "H1"));
  auto stats = linker_->Stats();
  ASSERT_THAT(stats, IsOk());
  EXPECT_EQ(stats->active_suis, 1);
}

TEST_F(LinkerTest, RecordsInOneBatchSeeEachOther) {
  auto out = Ingest(
      {{"school_census", "P1",
        Child("Noah", "Nowak", "2012-11-30", "M", "M14 4UL")},
       {"health", "H9", Child("Noah", "Nowak", "2012-11-30", "1", "M14 4UL")}});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].action, LinkAction::kJoined);
  EXPECT_EQ(SuiOf("school_census", "P1"), SuiOf("health", "H9"));
}

TEST_F(LinkerTest, TwinsStayApart) {
  Ingest(
      {{"health", "H1", Child("Oliver", "Khan", "2016-05-20", "M", "LS6 2AB")},
       {"health", "H2",
        Child("Olivia", "Khan", "2016-05-20", "F", "LS6 2AB")}});
  EXPECT_NE(SuiOf("health", "H1"), SuiOf("health", "H2"));
  // A later school record of one twin joins that twin only.
  Ingest({{"school_census", "P7",
           Child("Olivia", "Khan", "20/05/2016", "F", "LS6 2AB")}});
  EXPECT_EQ(SuiOf("school_census", "P7"), SuiOf("health", "H2"));
}

TEST_F(LinkerTest, DifferentNhsNumbersAreNeverLinked) {
  Ingest({{"health", "H1",
           Child("Isla", "Jones", "2014-01-09", "F", "LS6 2AB", "", kNhsA)}});
  auto out = Ingest(
      {{"social_care", "C1",
        Child("Isla", "Jones", "2014-01-09", "F", "LS6 2AB", "", kNhsB)}});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].action, LinkAction::kNewSui);
  EXPECT_NE(SuiOf("health", "H1"), SuiOf("social_care", "C1"));
}

// Lookup finds the linked child an encoded identity describes without
// storing it; a stranger is NOT_FOUND, and so is a child whose records carry
// another NHS number (a hard conflict), however well the rest matches.
TEST_F(LinkerTest, LookupFindsTheMatchingChildWithoutStoringIt) {
  Ingest({{"health", "H1",
           Child("Isla", "Jones", "2014-01-09", "F", "LS6 2AB", "", kNhsA)},
          {"school_census", "P1",
           Child("Noah", "Smith", "2012-06-30", "M", "LS6 2AB")}});
  auto encode = [&](const crypto::ClearIdentity& c) {
    v1::EncodedIdentity id;
    encode::ToProto(encoder_.Encode(c, nullptr), &id);
    return id;
  };
  EXPECT_THAT(linker_->Lookup(encode(Child("Isla", "Jones", "09/01/2014", "F",
                                           "LS6 2AB", "", kNhsA))),
              ::linkd::testing::IsOkAndHolds(SuiOf("health", "H1")));
  EXPECT_THAT(linker_->Lookup(
                  encode(Child("Noah", "Smith", "2012-06-30", "M", "LS6 2AB"))),
              ::linkd::testing::IsOkAndHolds(SuiOf("school_census", "P1")));
  EXPECT_THAT(linker_->Lookup(
                  encode(Child("Zara", "Khan", "2010-11-02", "F", "M1 1AE"))),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(linker_->Lookup(encode(Child("Isla", "Jones", "2014-01-09", "F",
                                           "LS6 2AB", "", kNhsB))),
              StatusIs(absl::StatusCode::kNotFound));
  auto stats = linker_->Stats();
  ASSERT_THAT(stats, IsOk());
  EXPECT_EQ(stats->active_suis, 2);
}

TEST_F(LinkerTest, AnUpdatedRecordMovesAndItsOldSuiResolvesToTheNewOne) {
  Ingest({{"health", "H1", Child("Zoe", "Smith", "2011-02-03", "F", "LS6 2AB")},
          {"school_census", "P1",
           Child("Jack", "Brown", "2013-07-08", "M", "M14 4UL")}});
  const Sui old = SuiOf("health", "H1");
  // The provider corrects H1: it was Jack's record all along.
  auto out = Ingest(
      {{"health", "H1", Child("Jack", "Brown", "2013-07-08", "1", "M14 4UL")}});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].action, LinkAction::kMoved);
  EXPECT_EQ(SuiOf("health", "H1"), SuiOf("school_census", "P1"));
  auto info = linker_->GetSui(old);
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->state(), SuiInfo::STATE_RETIRED);
  ASSERT_EQ(info->successors_size(), 1);
  EXPECT_EQ(info->successors(0), SuiOf("health", "H1").bits());
}

TEST_F(LinkerTest, BorderlinePairsGoToReviewAndDecisionsStick) {
  // Same name and birth date, nothing else: place the thresholds around
  // this pair's weight so that it is borderline under this model.
  const Rec a{"health", "H1", Child("Mohammed", "Ali", "2017-09-10", "", "")};
  const Rec b{"social_care", "C1",
              Child("Mohammed", "Ali", "2017-09-10", "", "")};
  matcher::DecodedIdentity da =
      matcher::Decode(encoder_.Encode(a.clear, nullptr));
  matcher::DecodedIdentity db =
      matcher::Decode(encoder_.Encode(b.clear, nullptr));
  auto model = std::make_shared<matcher::Model>();
  const double w =
      model->MatchWeight(matcher::Compare(da, db, model->comparison()));
  ASSERT_THAT(model->SetThresholds(w - 1, w + 1), IsOk());
  linker_->SetModel(model);

  Ingest({a});
  auto out = Ingest({b});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].action, LinkAction::kNewForReview);
  ASSERT_NE(out[0].review_id, 0u);
  EXPECT_NE(SuiOf("health", "H1"), SuiOf("social_care", "C1"));

  auto open = linker_->ListReviews(/*open_only=*/true);
  ASSERT_THAT(open, IsOk());
  ASSERT_EQ(open->size(), 1u);
  EXPECT_EQ((*open)[0].id(), out[0].review_id);

  // The reviewer says: the same child. The review's SUI retires into the
  // other and resolves to it.
  const Sui retired = SuiOf("social_care", "C1");
  store::WriteBatch batch = store_->NewBatch();
  auto decided = linker_->Decide(out[0].review_id, /*same=*/true, "la/123",
                                 "same child per case notes", now_, &batch);
  ASSERT_THAT(decided, IsOk());
  ASSERT_THAT(store_->Commit(std::move(batch)), IsOk());
  EXPECT_EQ(SuiOf("health", "H1"), SuiOf("social_care", "C1"));
  auto info = linker_->GetSui(retired);
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->state(), SuiInfo::STATE_RETIRED);
  EXPECT_EQ(info->successors(0), SuiOf("health", "H1").bits());

  // Deciding twice is refused.
  store::WriteBatch again = store_->NewBatch();
  EXPECT_THAT(
      linker_->Decide(out[0].review_id, false, "la/123", "", now_, &again),
      StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(LinkerTest, NotSameDecisionsKeepSuisApartLater) {
  const Rec a{"health", "H1", Child("Ava", "Patel", "2018-04-01", "", "")};
  const Rec b{"social_care", "C1", Child("Ava", "Patel", "2018-04-01", "", "")};
  matcher::DecodedIdentity da =
      matcher::Decode(encoder_.Encode(a.clear, nullptr));
  matcher::DecodedIdentity db =
      matcher::Decode(encoder_.Encode(b.clear, nullptr));
  auto model = std::make_shared<matcher::Model>();
  const double w =
      model->MatchWeight(matcher::Compare(da, db, model->comparison()));
  ASSERT_THAT(model->SetThresholds(w - 1, w + 1), IsOk());
  linker_->SetModel(model);
  Ingest({a});
  auto out = Ingest({b});
  ASSERT_EQ(out[0].action, LinkAction::kNewForReview);
  store::WriteBatch batch = store_->NewBatch();
  ASSERT_THAT(linker_->Decide(out[0].review_id, /*same=*/false, "la/123",
                              "different children", now_, &batch),
              IsOk());
  ASSERT_THAT(store_->Commit(std::move(batch)), IsOk());

  // A third record matching both strongly must not merge them.
  auto strict = std::make_shared<matcher::Model>();
  ASSERT_THAT(strict->SetThresholds(w - 20, w - 10), IsOk());
  linker_->SetModel(strict);
  Ingest(
      {{"school_census", "P1", Child("Ava", "Patel", "01/04/2018", "F", "")}});
  EXPECT_NE(SuiOf("health", "H1"), SuiOf("social_care", "C1"));
}

}  // namespace
}  // namespace linkd::linker

namespace linkd::linker {
namespace {

// A bulk run stops at its next check once cancelled (e.g. at shutdown):
// what it committed stays linked, the rest is left for later.
TEST_F(LinkerTest, BulkRunStopsWhenCancelledKeepingWhatItCommitted) {
  const std::vector<Rec> recs = {
      {"school_census", "P1",
       Child("Amelia", "Okafor", "2015-03-04", "F", "LS6 2AB")},
      {"health", "H1", Child("Amelia", "Okafor", "2015-03-04", "F", "LS6 2AB")},
      {"health", "H2", Child("Noah", "Price", "2012-11-30", "M", "M14 4UL")}};
  const std::vector<v1::EncodedRecord> records = EncodeAll(recs);
  std::vector<const v1::EncodedRecord*> ptrs;
  for (const v1::EncodedRecord& r : records) ptrs.push_back(&r);
  store::WriteBatch batch = store_->NewBatch();  // stored, not linked
  ASSERT_THAT(store::RecordStore(store_.get()).Stage(ptrs, now_, &batch),
              IsOk());
  ASSERT_THAT(store_->Commit(std::move(batch)), IsOk());
  std::vector<BulkRecord> bulk;
  for (const v1::EncodedRecord& r : records) {
    absl::StatusOr<BulkRecord> b = linker_->PrepareBulk(
        store::RecordKey(r.source(), r.record_id()), r.identity(), 1);
    ASSERT_THAT(b, IsOk());
    bulk.push_back(*std::move(b));
  }
  BulkOptions options;
  options.records_per_batch = 1;
  int commits = 0;
  options.cancelled = [&] { return commits >= 1; };
  absl::StatusOr<BulkStats> stats = linker_->LinkBulk(
      std::move(bulk), now_, options, [&](store::WriteBatch b, size_t) {
        ++commits;
        return store_->Commit(std::move(b));
      });
  EXPECT_THAT(stats, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_EQ(commits, 1);
  auto first = linker_->Resolve(store::RecordKey("school_census", "P1"));
  ASSERT_THAT(first, IsOk());
  EXPECT_TRUE(first->has_value());
  for (const char* id : {"H1", "H2"}) {
    auto rest = linker_->Resolve(store::RecordKey("health", id));
    ASSERT_THAT(rest, IsOk());
    EXPECT_FALSE(rest->has_value()) << id;
  }
  // Linked later, the rest joins as it would have: H1 with P1.
  std::vector<LinkInput> inputs;
  std::vector<std::string> keys = {store::RecordKey("health", "H1"),
                                   store::RecordKey("health", "H2")};
  inputs.push_back({keys[0], &records[1].identity(), 1});
  inputs.push_back({keys[1], &records[2].identity(), 1});
  store::WriteBatch later = store_->NewBatch();
  ASSERT_THAT(linker_->Link(inputs, now_, &later), IsOk());
  ASSERT_THAT(store_->Commit(std::move(later)), IsOk());
  EXPECT_EQ(SuiOf("health", "H1"), SuiOf("school_census", "P1"));
  EXPECT_NE(SuiOf("health", "H2"), SuiOf("school_census", "P1"));
}

// Re-linking after the model changes: SUIs follow the new clusters with as
// few changes as possible, and what retires resolves to where it went.
TEST_F(LinkerTest, RelinkFollowsANewModelKeepingSuisWherePossible) {
  // Under a strict model nothing links: three SUIs.
  {
    matcher::Model strict = *linker_->model();
    ASSERT_THAT(strict.SetThresholds(100, 200), IsOk());
    linker_->SetModel(std::make_shared<const matcher::Model>(strict));
  }
  Ingest(
      {{"school_census", "P1",
        Child("Amelia", "Okafor", "2015-03-04", "F", "LS6 2AB")},
       {"health", "H1",
        Child("Amelia", "Okafor", "2015-03-04", "F", "LS6 2AB")},
       {"health", "H2", Child("Noah", "Price", "2012-11-30", "M", "M14 4UL")}});
  const Sui p1 = SuiOf("school_census", "P1");
  const Sui h1 = SuiOf("health", "H1");
  const Sui h2 = SuiOf("health", "H2");
  EXPECT_NE(p1, h1);
  absl::StatusOr<LinkStats> before = linker_->Stats();
  ASSERT_THAT(before, IsOk());
  EXPECT_EQ(before->active_suis, 3);

  // The built-in thresholds link Amelia's two records; Noah stays alone.
  linker_->SetModel(std::make_shared<const matcher::Model>());
  absl::StatusOr<Linker::RelinkStats> stats =
      linker_->Relink(dir_.Sub("scratch"), now_, BulkOptions(),
                      [&](store::WriteBatch batch, size_t) {
                        return store_->Commit(std::move(batch));
                      });
  ASSERT_THAT(stats, IsOk());
  EXPECT_EQ(stats->records, 3u);
  EXPECT_EQ(stats->moved, 1u);
  EXPECT_EQ(stats->new_suis, 0u);
  EXPECT_EQ(stats->retired_suis, 1u);
  const Sui amelia = SuiOf("school_census", "P1");
  EXPECT_EQ(SuiOf("health", "H1"), amelia);
  EXPECT_TRUE(amelia == p1 || amelia == h1);
  EXPECT_EQ(SuiOf("health", "H2"), h2);  // unchanged
  // The SUI that lost its record resolves to Amelia's.
  const Sui gone = amelia == p1 ? h1 : p1;
  absl::StatusOr<Sui> now_is = linker_->Current(gone);
  ASSERT_THAT(now_is, IsOk());
  EXPECT_EQ(*now_is, amelia);
  absl::StatusOr<std::vector<Sui>> lineage = linker_->Lineage(amelia);
  ASSERT_THAT(lineage, IsOk());
  EXPECT_THAT(*lineage, ::testing::UnorderedElementsAre(amelia, gone));
  absl::StatusOr<LinkStats> after = linker_->Stats();
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(after->active_suis, 2);
  // The scratch database is gone.
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("scratch")));

  // Re-linking again under the same model changes nothing.
  stats = linker_->Relink(dir_.Sub("scratch"), now_, BulkOptions(),
                          [&](store::WriteBatch batch, size_t) {
                            return store_->Commit(std::move(batch));
                          });
  ASSERT_THAT(stats, IsOk());
  EXPECT_EQ(stats->moved, 0u);
  EXPECT_EQ(stats->retired_suis, 0u);
}

// Households of synthetic children, each registered by two or three
// sources, some with a typo in a name, a day/month swap or a new postcode;
// siblings share a surname and an address, some are twins. Ties (a record
// matching two SUIs with equal weights, decided by the SUIs' random bits)
// are avoided: each move goes to its own address.
std::vector<LinkerTest::Rec> Population(int households) {
  static const char* const kGiven[] = {
      "Amelia", "Noah",  "Olivia", "Muhammad", "Isla",  "Oliver", "Ava",
      "George", "Freya", "Leo",    "Aisha",    "Jacob", "Zara",   "Theo"};
  static const char* const kFamily[] = {"Okafor", "Price",  "Khan",  "Smith",
                                        "Nowak",  "Wilson", "Patel", "Evans",
                                        "Hughes", "Begum",  "Jones", "Ali"};
  static const char* const kSources[] = {"school_census", "health",
                                         "social_care"};
  std::vector<LinkerTest::Rec> out;
  uint64_t x = 12345;
  auto next = [&x](uint64_t n) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    return (x >> 33) % n;
  };
  for (int h = 0; h < households; ++h) {
    const std::string family = kFamily[next(12)];
    const std::string postcode =
        absl::StrCat("LS", 1 + next(9), " ", 1 + next(9), "AB");
    const int children = 1 + static_cast<int>(next(3));
    int twin_day = -1;
    for (int c = 0; c < children; ++c) {
      const int year = 2010 + static_cast<int>(next(8));
      int month = 1 + static_cast<int>(next(12));
      int day = 1 + static_cast<int>(next(28));
      if (c > 0 && twin_day > 0 && next(3) == 0) day = twin_day;
      twin_day = day;
      const std::string given = kGiven[next(14)];
      const std::string sex = next(2) == 0 ? "F" : "M";
      const int copies = 2 + static_cast<int>(next(2));
      for (int k = 0; k < copies; ++k) {
        std::string g = given, pc = postcode;
        int d = day, m = month;
        const uint64_t noise = next(10);
        if (noise == 0) g[g.size() / 2] = 'x';       // a typo
        if (noise == 1 && d <= 12) std::swap(d, m);  // day/month swapped
        if (noise == 2)
          pc = absl::StrCat("M", 1 + h % 9, " ", c, "UL");  // moved
        const std::string dob = absl::StrFormat("%04d-%02d-%02d", year, m, d);
        out.push_back({kSources[k], absl::StrCat("R", h, "-", c, "-", k),
                       LinkerTest::Child(g, family, dob, sex, pc)});
      }
    }
  }
  return out;
}

// Each record's cluster named by the first record of it in `keys` order.
std::vector<size_t> Clusters(Linker* linker,
                             const std::vector<std::string>& keys) {
  std::vector<size_t> out(keys.size());
  absl::flat_hash_map<uint64_t, size_t> first;
  for (size_t i = 0; i < keys.size(); ++i) {
    absl::StatusOr<std::optional<Sui>> s = linker->Resolve(keys[i]);
    EXPECT_TRUE(s.ok() && s->has_value()) << keys[i];
    if (!s.ok() || !s->has_value()) continue;
    out[i] = first.try_emplace((*s)->bits(), i).first->second;
  }
  return out;
}

// Bulk linking makes the clusters that linking the records one at a time in
// the same order makes, however the run is cut into scoring chunks and
// commits, and whether or not records were linked before it.
TEST_F(LinkerTest, BulkLinkingMakesTheClustersOfLinkingOneByOne) {
  const std::vector<Rec> recs = Population(120);
  const std::vector<v1::EncodedRecord> records = EncodeAll(recs);
  std::vector<std::string> keys;
  for (const auto& r : records) {
    keys.push_back(store::RecordKey(r.source(), r.record_id()));
  }
  for (const Rec& r : recs) Ingest({r});  // one at a time
  const std::vector<size_t> one_by_one = Clusters(linker_.get(), keys);
  std::set<size_t> distinct(one_by_one.begin(), one_by_one.end());
  ASSERT_GT(distinct.size(), recs.size() / 4);  // not all apart or together
  ASSERT_LT(distinct.size(), recs.size() * 3 / 4);

  // `split`: records before it are bulk linked in a first run (so the
  // second run also reads the stored index).
  for (size_t split : {size_t{0}, recs.size() / 3}) {
    SCOPED_TRACE(::testing::Message() << "first run of " << split);
    store::StoreOptions options;
    options.path = dir_.Sub(absl::StrCat("bulk", split));
    auto store = store::Store::Open(options);
    ASSERT_THAT(store, IsOk());
    blocking::BlockingIndex index(store->get(), keys_.get());
    Linker bulk_linker(store->get(), &index, LinkerOptions());
    std::vector<const v1::EncodedRecord*> ptrs;
    for (const v1::EncodedRecord& r : records) ptrs.push_back(&r);
    store::WriteBatch batch = (*store)->NewBatch();
    ASSERT_THAT(store::RecordStore(store->get()).Stage(ptrs, now_, &batch),
                IsOk());
    ASSERT_THAT((*store)->Commit(std::move(batch)), IsOk());
    BulkOptions bulk;
    bulk.records_per_batch = 5;
    bulk.score_chunk_records = 7;
    for (auto [from, to] : {std::pair<size_t, size_t>{0, split},
                            std::pair<size_t, size_t>{split, recs.size()}}) {
      std::vector<BulkRecord> run;
      for (size_t i = from; i < to; ++i) {
        absl::StatusOr<BulkRecord> b =
            bulk_linker.PrepareBulk(keys[i], records[i].identity(), 1);
        ASSERT_THAT(b, IsOk());
        run.push_back(*std::move(b));
      }
      if (run.empty()) continue;
      ASSERT_THAT(bulk_linker.LinkBulk(std::move(run), now_, bulk,
                                       [&](store::WriteBatch b, size_t) {
                                         return (*store)->Commit(std::move(b));
                                       }),
                  IsOk());
    }
    const std::vector<size_t> bulk_clusters = Clusters(&bulk_linker, keys);
    for (size_t i = 0; i < keys.size(); ++i) {
      EXPECT_EQ(bulk_clusters[i], one_by_one[i]) << "record " << i;
    }
  }
}

// How candidates are read is not a matter of decision: reads split over
// threads (down to one key each) and an identity cache trimmed to one entry
// between calls link records as serial reads with a large cache do.
TEST_F(LinkerTest, ParallelReadsAndATinyCacheMakeTheSameClusters) {
  const std::vector<Rec> recs = Population(120);
  std::vector<std::string> keys;
  for (const auto& r : EncodeAll(recs)) {
    keys.push_back(store::RecordKey(r.source(), r.record_id()));
  }
  LinkerOptions serial;
  serial.read_threads = 1;
  LinkerOptions split;
  split.read_threads = 3;
  split.parallel_read_keys = 1;
  split.identity_cache_entries = 1;
  std::vector<std::vector<size_t>> clusters;
  for (const LinkerOptions& options : {serial, split}) {
    linker_.reset();
    index_.reset();
    store_.reset();
    store::StoreOptions so;
    so.path = dir_.Sub(absl::StrCat("reads", clusters.size()));
    auto s = store::Store::Open(so);
    ASSERT_THAT(s, IsOk());
    store_ = *std::move(s);
    index_ =
        std::make_unique<blocking::BlockingIndex>(store_.get(), keys_.get());
    linker_ = std::make_unique<Linker>(store_.get(), index_.get(), options);
    for (size_t i = 0; i < recs.size(); i += 3) {  // batches of three
      Ingest(std::vector<Rec>(recs.begin() + i,
                              recs.begin() + std::min(i + 3, recs.size())));
    }
    clusters.push_back(Clusters(linker_.get(), keys));
  }
  std::set<size_t> distinct(clusters[0].begin(), clusters[0].end());
  ASSERT_GT(distinct.size(), recs.size() / 4);
  ASSERT_LT(distinct.size(), recs.size() * 3 / 4);
  EXPECT_EQ(clusters[1], clusters[0]);
}

}  // namespace
}  // namespace linkd::linker
