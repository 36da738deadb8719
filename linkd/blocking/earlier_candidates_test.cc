// FindEarlierCandidates against a direct replay of arrival order: each
// record reads every block it belongs to that holds at most the cap of
// earlier members, then joins it.
#include "linkd/blocking/earlier_candidates.h"

#include <algorithm>
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

TEST(EarlierCandidatesTest, RangesOfRecordsGiveTheRowsOfTheWholeRun) {
  const auto keys = RandomKeys(3000, 4);
  const RunBlocks blocks(keys, 2);
  ASSERT_EQ(blocks.records(), keys.size());
  for (int64_t cap : {1, 7, 1000}) {
    const Expected want = Replay(keys, cap);
    for (size_t range : {1u, 333u, 2999u, 3000u}) {
      SCOPED_TRACE(testing::Message() << "cap " << cap << " range " << range);
      int64_t skips = 0;
      for (size_t first = 0; first < keys.size(); first += range) {
        const size_t last = std::min(keys.size(), first + range);
        const EarlierCandidates got = blocks.Earlier(first, last, cap, 2);
        ASSERT_EQ(got.first, first);
        ASSERT_EQ(got.records(), last - first);
        skips += got.oversize_skips;
        for (size_t r = first; r < last; ++r) {
          const absl::Span<const uint32_t> of = got.of(r);
          const std::vector<uint32_t> have(of.begin(), of.end());
          const std::vector<uint32_t> expected(want.earlier[r].begin(),
                                               want.earlier[r].end());
          ASSERT_EQ(have, expected) << "record " << r;
        }
      }
      EXPECT_EQ(skips, want.oversize_skips);
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
