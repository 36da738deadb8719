// The parallel half of Linker::LinkBulk: decoding, blocking keys, candidate
// pairs and their weights, for records in arrival order. Internal to
// linkd::linker.
#ifndef LINKD_LINKER_INTERNAL_BULK_SCORING_H_
#define LINKD_LINKER_INTERNAL_BULK_SCORING_H_

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "linkd/blocking/blocking_index.h"
#include "linkd/linker/linker.h"
#include "linkd/matcher/comparison.h"
#include "linkd/matcher/model.h"
#include "linkd/store/store.h"

namespace linkd::linker::internal {

struct BulkScores {
  // Record i's candidates are candidates[offsets[i] .. offsets[i + 1]).
  std::vector<uint64_t> offsets;
  std::vector<ScoredCandidate> candidates;
  // Storage of the keys of candidates found in the stored index (one deque
  // per thread: elements never move).
  std::vector<std::deque<std::string>> index_keys;
  BulkStats stats;

  absl::Span<const ScoredCandidate> of(size_t i) const {
    return absl::MakeConstSpan(candidates.data() + offsets[i],
                               offsets[i + 1] - offsets[i]);
  }
};

// Scores `records` (see Linker::LinkBulk): each record against the earlier
// records of the run sharing a block and, when `use_index`, against the
// records in `index`. Keeps the pairs that can change a decision: those with
// a hard conflict and those weighing at least the model's lower threshold.
// DATA_LOSS for a malformed record, or a Store error.
// `keys[i]` are the blocking keys of records[i].
absl::Status ScoreBulk(
    absl::Span<const BulkRecord> records,
    absl::Span<const std::vector<blocking::BlockingKey>> keys,
    const blocking::BlockingIndex& index, store::Store* store,
    const matcher::Model& model, const blocking::CandidateLimits& limits,
    bool use_index, int threads, BulkScores* out);

}  // namespace linkd::linker::internal

#endif  // LINKD_LINKER_INTERNAL_BULK_SCORING_H_
