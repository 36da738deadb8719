#include "tests/testing/quality/pair_completeness.h"

#include <algorithm>
#include <limits>

#include "absl/container/flat_hash_set.h"

namespace linkd::quality {

double CompletenessCounts::completeness() const {
  return true_pairs == 0
             ? std::numeric_limits<double>::quiet_NaN()
             : static_cast<double>(covered) / static_cast<double>(true_pairs);
}

PairCompleteness BlockingPairCompleteness(
    const Truth& truth,
    const std::function<bool(uint32_t, uint32_t)>& is_candidate) {
  const size_t n = truth.size();
  const size_t num_sources = truth.num_sources();
  // Records grouped by person (counting sort).
  std::vector<uint32_t> start(truth.num_persons() + 1, 0);
  for (size_t i = 0; i < n; ++i) ++start[truth.person_of(i) + 1];
  for (size_t p = 0; p < truth.num_persons(); ++p) start[p + 1] += start[p];
  std::vector<uint32_t> records(n);
  {
    std::vector<uint32_t> next(start.begin(), start.end() - 1);
    for (size_t i = 0; i < n; ++i) {
      records[next[truth.person_of(i)]++] = static_cast<uint32_t>(i);
    }
  }
  std::vector<CompletenessCounts> m(num_sources * num_sources);
  for (size_t p = 0; p < truth.num_persons(); ++p) {
    for (uint32_t x = start[p]; x < start[p + 1]; ++x) {
      for (uint32_t y = x + 1; y < start[p + 1]; ++y) {
        const uint32_t a = std::min(records[x], records[y]);
        const uint32_t b = std::max(records[x], records[y]);
        const uint32_t sa = std::min(truth.source_of(a), truth.source_of(b));
        const uint32_t sb = std::max(truth.source_of(a), truth.source_of(b));
        CompletenessCounts& c = m[sa * num_sources + sb];
        ++c.true_pairs;
        if (is_candidate(a, b)) ++c.covered;
      }
    }
  }
  PairCompleteness result;
  for (int within = 0; within < 2; ++within) {
    for (size_t a = 0; a < num_sources; ++a) {
      for (size_t b = a; b < num_sources; ++b) {
        if ((a == b) != (within == 1)) continue;
        const CompletenessCounts& c = m[a * num_sources + b];
        result.by_source_pair.push_back(
            {truth.source_name(static_cast<uint32_t>(a)),
             truth.source_name(static_cast<uint32_t>(b)), c});
        result.all.true_pairs += c.true_pairs;
        result.all.covered += c.covered;
        if (a != b) {
          result.cross_source.true_pairs += c.true_pairs;
          result.cross_source.covered += c.covered;
        }
      }
    }
  }
  return result;
}

PairCompleteness BlockingPairCompleteness(
    const Truth& truth,
    absl::Span<const std::pair<uint32_t, uint32_t>> candidates) {
  // Keep only the true pairs among the candidates: memory stays O(true
  // pairs) however many candidates there are.
  absl::flat_hash_set<uint64_t> covered;
  for (const auto& [x, y] : candidates) {
    if (x == y || x >= truth.size() || y >= truth.size()) continue;
    if (truth.person_of(x) != truth.person_of(y)) continue;
    const uint64_t a = std::min(x, y), b = std::max(x, y);
    covered.insert(a << 32 | b);
  }
  return BlockingPairCompleteness(truth, [&covered](uint32_t a, uint32_t b) {
    return covered.contains(uint64_t{a} << 32 | b);
  });
}

}  // namespace linkd::quality
