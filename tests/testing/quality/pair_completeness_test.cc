#include "tests/testing/quality/pair_completeness.h"

#include <cmath>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/util/status_matchers.h"

namespace linkd::quality {
namespace {

using ::linkd::testing::IsOk;

// P1: school s1 (0), social c1 (1), health h1 (2); P2: school s2 (3),
// health h2 (4); P3: health h3 (5). True pairs: s1c1, s1h1, c1h1, s2h2.
Truth HandMade() {
  absl::StatusOr<Truth> t = ParseTruthCsv(
      "source,record_id,person_id\n"
      "school,s1,P1\nsocial,c1,P1\nhealth,h1,P1\n"
      "school,s2,P2\nhealth,h2,P2\nhealth,h3,P3\n");
  EXPECT_THAT(t.status(), IsOk());
  return *std::move(t);
}

const CompletenessCounts& Pair(const PairCompleteness& c, const char* a,
                               const char* b) {
  for (const auto& p : c.by_source_pair) {
    if (p.source_a == a && p.source_b == b) return p.counts;
  }
  ADD_FAILURE() << a << " x " << b;
  static const CompletenessCounts none;
  return none;
}

TEST(PairCompletenessTest, CandidateListByHand) {
  const Truth t = HandMade();
  const std::vector<std::pair<uint32_t, uint32_t>> candidates = {
      {0, 1},  {1, 0},  // s1c1, twice (two blocking keys)
      {4, 3},           // s2h2, reversed
      {0, 3},           // s1s2: not a true pair
      {5, 5},           // a record with itself
      {99, 1},          // out of range
      {2, 5}};          // h1h3: not a true pair
  const PairCompleteness c = BlockingPairCompleteness(t, candidates);
  EXPECT_EQ(c.all.true_pairs, 4);
  EXPECT_EQ(c.all.covered, 2);
  EXPECT_DOUBLE_EQ(c.all.completeness(), 0.5);
  EXPECT_EQ(c.cross_source.true_pairs, 4);
  EXPECT_EQ(Pair(c, "school", "social").covered, 1);
  EXPECT_EQ(Pair(c, "school", "social").true_pairs, 1);
  EXPECT_EQ(Pair(c, "school", "health").covered, 1);
  EXPECT_EQ(Pair(c, "school", "health").true_pairs, 2);
  EXPECT_EQ(Pair(c, "social", "health").covered, 0);
  EXPECT_EQ(Pair(c, "social", "health").completeness(), 0.0);
  EXPECT_TRUE(std::isnan(Pair(c, "health", "health").completeness()));
  EXPECT_EQ(c.by_source_pair.size(), 6u);
}

TEST(PairCompletenessTest, PredicateIsAskedOnlyAboutTruePairs) {
  const Truth t = HandMade();
  std::set<std::pair<uint32_t, uint32_t>> asked;
  const PairCompleteness c =
      BlockingPairCompleteness(t, [&asked](uint32_t a, uint32_t b) {
        asked.insert({a, b});
        return a == 0;  // blocks everything with s1
      });
  EXPECT_EQ(asked, (std::set<std::pair<uint32_t, uint32_t>>{
                       {0, 1}, {0, 2}, {1, 2}, {3, 4}}));
  EXPECT_EQ(c.all.covered, 2);
  EXPECT_EQ(c.all.true_pairs, 4);
}

TEST(PairCompletenessTest, AgreesWithBruteForce) {
  std::mt19937_64 rng(77);
  std::string csv = "source,record_id,person_id\n";
  std::vector<int> person, source;
  for (int p = 0; p < 120; ++p) {
    const int k = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < k; ++i) {
      const int s = static_cast<int>(rng() % 3);
      absl::StrAppend(&csv, "s", s, ",r", person.size(), ",", p, "\n");
      person.push_back(p);
      source.push_back(s);
    }
  }
  absl::StatusOr<Truth> t = ParseTruthCsv(csv);
  ASSERT_THAT(t.status(), IsOk());
  const auto n = static_cast<uint32_t>(person.size());
  // "Blocking": records whose ids agree modulo 7, or a random 30 %.
  std::vector<std::pair<uint32_t, uint32_t>> candidates;
  int64_t true_pairs = 0, covered = 0;
  for (uint32_t a = 0; a < n; ++a) {
    for (uint32_t b = a + 1; b < n; ++b) {
      const bool cand = a % 7 == b % 7 || rng() % 10 < 3;
      if (cand) candidates.push_back({b, a});
      if (person[a] == person[b]) {
        ++true_pairs;
        covered += cand;
      }
    }
  }
  const PairCompleteness c = BlockingPairCompleteness(*t, candidates);
  EXPECT_EQ(c.all.true_pairs, true_pairs);
  EXPECT_EQ(c.all.covered, covered);
  EXPECT_GT(covered, 0);
  EXPECT_LT(covered, true_pairs);
}

}  // namespace
}  // namespace linkd::quality
