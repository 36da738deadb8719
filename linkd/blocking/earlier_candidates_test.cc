// FindEarlierCandidates against a direct replay of arrival order: each
// record reads every block it belongs to that holds at most the cap of
// earlier members, then joins it.
#include "linkd/blocking/earlier_candidates.h"

#include <map>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace linkd::blocking {
namespace {

BlockingKey Key(Rule rule, uint8_t a, uint8_t b) {
  BlockingKey k{rule, {}};
  k.hash[0] = a;
  k.hash[1] = b;
  return k;
}

// Random keys over few distinct blocks, so that many blocks pass the cap;
// some records repeat a key.
std::vector<std::vector<BlockingKey>> RandomKeys(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<BlockingKey>> keys(n);
  const Rule rules[] = {Rule::kDob, Rule::kPostcodeUnit, Rule::kNameLsh};
  for (auto& k : keys) {
    const int count = static_cast<int>(rng() % 5);  // records with no key too
    for (int i = 0; i < count; ++i) {
      k.push_back(Key(rules[rng() % 3], static_cast<uint8_t>(rng() % 40),
                      static_cast<uint8_t>(rng() % 3)));
    }
    if (!k.empty() && rng() % 4 == 0) k.push_back(k.front());
  }
  return keys;
}

struct Expected {
  std::vector<std::set<uint32_t>> earlier;
  int64_t oversize_skips = 0;
};

Expected Replay(const std::vector<std::vector<BlockingKey>>& keys,
                int64_t cap) {
  Expected out;
  out.earlier.resize(keys.size());
  std::map<std::pair<int, BlockHash>, std::vector<uint32_t>> blocks;
  for (uint32_t r = 0; r < keys.size(); ++r) {
    std::set<std::pair<int, BlockHash>> mine;
    for (const BlockingKey& k : keys[r]) {
      mine.insert({static_cast<int>(k.rule), k.hash});
    }
    for (const auto& block : mine) {
      std::vector<uint32_t>& members = blocks[block];
      if (static_cast<int64_t>(members.size()) > cap) {
        ++out.oversize_skips;
      } else {
        out.earlier[r].insert(members.begin(), members.end());
      }
    }
    for (const auto& block : mine) blocks[block].push_back(r);
  }
  return out;
}

TEST(EarlierCandidatesTest, MatchesArrivalOrderReplayOnAnyThreadCount) {
  for (uint64_t seed : {1u, 2u, 3u}) {
    const auto keys = RandomKeys(4000, seed);
    for (int64_t cap : {1, 7, 60, 1000}) {
      const Expected want = Replay(keys, cap);
      for (int threads : {1, 2, 3}) {
        SCOPED_TRACE(testing::Message() << "seed " << seed << " cap " << cap
                                        << " threads " << threads);
        const EarlierCandidates got = FindEarlierCandidates(keys, cap, threads);
        ASSERT_EQ(got.records(), keys.size());
        EXPECT_EQ(got.oversize_skips, want.oversize_skips);
        for (size_t r = 0; r < keys.size(); ++r) {
          const absl::Span<const uint32_t> of = got.of(r);
          const std::vector<uint32_t> have(of.begin(), of.end());
          const std::vector<uint32_t> expected(want.earlier[r].begin(),
                                               want.earlier[r].end());
          ASSERT_EQ(have, expected) << "record " << r;
        }
      }
    }
  }
}

TEST(EarlierCandidatesTest, NoRecordsNoPairs) {
  const EarlierCandidates got = FindEarlierCandidates({}, 10, 2);
  EXPECT_EQ(got.records(), 0u);
  EXPECT_TRUE(got.earlier.empty());
}

}  // namespace
}  // namespace linkd::blocking
