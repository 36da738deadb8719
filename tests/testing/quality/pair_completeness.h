// Blocking pair completeness: the share of true pairs (two records of one
// person) that a blocking step keeps as candidates, overall and per pair of
// sources. Generic: candidates come as a predicate or as a list of record
// index pairs of a Truth (see truth.h). Pure functions, thread-safe as long
// as the predicate is.
#ifndef LINKD_TESTS_TESTING_QUALITY_PAIR_COMPLETENESS_H_
#define LINKD_TESTS_TESTING_QUALITY_PAIR_COMPLETENESS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/types/span.h"
#include "tests/testing/quality/truth.h"

namespace linkd::quality {

struct CompletenessCounts {
  int64_t true_pairs = 0;
  int64_t covered = 0;  // true pairs among the candidates
  // covered / true_pairs; NaN if there is no true pair.
  double completeness() const;
};

struct PairCompleteness {
  CompletenessCounts all;
  CompletenessCounts cross_source;
  // Every pair of sources a <= b (a == b: within one source), in the
  // order of Evaluate's source_pairs.
  struct BySourcePair {
    std::string source_a;
    std::string source_b;
    CompletenessCounts counts;
  };
  std::vector<BySourcePair> by_source_pair;
};

// Asks `is_candidate(a, b)` (truth record indexes, a < b) once for every
// true pair; O(true pairs) calls, never all pairs.
PairCompleteness BlockingPairCompleteness(
    const Truth& truth,
    const std::function<bool(uint32_t, uint32_t)>& is_candidate);

// Candidate pairs as a list of truth record indexes, in either order,
// repeats allowed (a pair found by several blocking keys counts once).
// Pairs of a record with itself and indexes >= truth.size() are ignored.
// Memory O(true pairs).
PairCompleteness BlockingPairCompleteness(
    const Truth& truth,
    absl::Span<const std::pair<uint32_t, uint32_t>> candidates);

}  // namespace linkd::quality

#endif  // LINKD_TESTS_TESTING_QUALITY_PAIR_COMPLETENESS_H_
