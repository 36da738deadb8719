// The parallel half of Linker::LinkBulk: decoding, blocking keys, candidate
// pairs and their weights, for records in arrival order. Internal to
// linkd::linker.
#ifndef LINKD_LINKER_INTERNAL_BULK_SCORING_H_
#define LINKD_LINKER_INTERNAL_BULK_SCORING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "linkd/blocking/blocking_index.h"
#include "linkd/blocking/earlier_candidates.h"
#include "linkd/linker/linker.h"
#include "linkd/matcher/comparison.h"
#include "linkd/matcher/model.h"
#include "linkd/store/store.h"

namespace linkd::linker::internal {

// A candidate of a record of the run, with its match weight and whether
// the pair has a hard conflict (different UPN or NHS number).
struct ScoredCandidate {
  // Below the run's record count: the index of an earlier record of the
  // run; from there up, BulkScores::indexed[ref - records], a record from
  // the stored index.
  uint32_t ref = 0;
  bool conflict = false;
  double weight = 0;
};

// The scores of the run's records [first, first + offsets.size() - 1).
struct BulkScores {
  size_t first = 0;
  // Record i's candidates are, in the concatenation of parts' candidates,
  // [offsets[i - first], offsets[i - first + 1]). A part holds the
  // candidates of the consecutive records from its `first` (kept as
  // scored: no copy into one array, which would double the peak).
  struct Part {
    size_t first = 0;
    uint64_t base = 0;  // offset of its first candidate
    std::vector<ScoredCandidate> candidates;
  };
  std::vector<uint64_t> offsets;
  std::vector<Part> parts;
  // Keys of the candidates found in the stored index.
  std::vector<std::string> indexed;
  BulkStats stats;

  absl::Span<const ScoredCandidate> of(size_t i) const {
    size_t p = parts.size() - 1;
    while (p > 0 && parts[p].first > i) --p;
    const size_t k = i - first;
    return absl::MakeConstSpan(
        parts[p].candidates.data() + (offsets[k] - parts[p].base),
        offsets[k + 1] - offsets[k]);
  }
};

// Scores records [begin, end) of the run `records` (see Linker::LinkBulk;
// candidates refer to all of `records`): each record against the earlier
// records of the run sharing a block (`earlier`, from blocking::RunBlocks,
// holding at least the rows of [begin, end)) and, when `use_index`, against the
// records in `index` (found from `keys[i]`, the blocking keys of records[i];
// not read otherwise). Keeps the pairs that can change a decision: those with a
// hard conflict and those weighing at least the model's lower threshold.
// DATA_LOSS for a malformed record, or a Store error.
absl::Status ScoreBulk(
    absl::Span<const BulkRecord> records,
    const blocking::EarlierCandidates& earlier,
    absl::Span<const std::vector<blocking::BlockingKey>> keys,
    const blocking::BlockingIndex& index, store::Store* store,
    const matcher::Model& model, const blocking::CandidateLimits& limits,
    bool use_index, size_t begin, size_t end, int threads, BulkScores* out);

}  // namespace linkd::linker::internal

#endif  // LINKD_LINKER_INTERNAL_BULK_SCORING_H_
