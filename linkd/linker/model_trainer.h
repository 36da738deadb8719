// linkd::linker model estimation from the records linkd stores (DESIGN.md
// section 4): u probabilities from random record pairs, name u from random
// same-salt pairs known to be different people (different UPN or NHS
// number), and m and lambda by EM on blocked pairs, rule-seeded (UPN or NHS
// number agrees). The blocked pairs are those incremental linking would
// compare, found in memory (blocking/earlier_candidates.h) over a sample of
// the stored records.
//
// Nothing here leaves linkd: the estimated model holds m and u per level
// only, never a token or a token frequency.
#ifndef LINKD_LINKER_MODEL_TRAINER_H_
#define LINKD_LINKER_MODEL_TRAINER_H_

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "linkd/blocking/blocking_keys.h"
#include "linkd/matcher/model.h"
#include "linkd/store/store.h"

namespace linkd::linker {

struct TrainerOptions {
  // Records sampled from the store (all of them when fewer are stored).
  uint64_t max_records = 300000;
  // Estimation needs at least this many records (and some blocked pairs).
  uint64_t min_records = 200;
  uint64_t random_pairs = 1000000;
  uint64_t same_salt_pairs = 300000;
  // As the linker's CandidateLimits::max_block_size.
  int64_t max_block_size = 1000;
  int threads = 2;
  uint64_t seed = 0x6C696E6B64454D31ull;
  matcher::EmOptions em;  // total_pairs is filled in from the sample
  // Polled between stages; once it returns true estimation stops with
  // CANCELLED. E.g. set when the daemon shuts down.
  std::function<bool()> cancelled;
};

// Where estimation is; for progress output. Called from the estimating
// thread.
using TrainerProgress = std::function<void(std::string_view stage)>;

// Estimates a model from the records in `store`, starting from `base` (its
// comparison cut-offs, thresholds, priors and term-frequency settings).
// The result has version base.version() + 1 and its training info filled
// in. Returns FAILED_PRECONDITION if fewer than options.min_records records
// are stored or no blocked pair is found, DATA_LOSS for a malformed record,
// INVALID_ARGUMENT from EM for bad options, CANCELLED once
// options.cancelled says so, or a Store error. Thread-safe;
// reads run alongside writers (from one snapshot). `store` is not owned.
absl::StatusOr<matcher::Model> EstimateModel(
    store::Store* store, const blocking::KeyGenerator& keys,
    const matcher::Model& base, const TrainerOptions& options,
    const TrainerProgress& progress = nullptr);

// One record already read and prepared (e.g. for a bulk load): its key in
// Cf::kRecords (store::RecordKey), decoded identity and blocking keys. Not
// owned; they outlive the call they are passed to.
struct SampleRecord {
  std::string_view record_key;
  const matcher::DecodedIdentity* decoded = nullptr;
  const std::vector<blocking::BlockingKey>* keys = nullptr;
};

// As EstimateModel, from `records` in memory instead of the store: samples
// them as EstimateModel samples the stored records (the same hash of the
// record key, in key order, whatever the order of `records`), so that when
// `records` are all the stored records the model is the same, without
// reading them again. Returns INVALID_ARGUMENT for a malformed record key,
// and EstimateModel's errors otherwise.
absl::StatusOr<matcher::Model> EstimateModelFromRecords(
    absl::Span<const SampleRecord> records, const matcher::Model& base,
    const TrainerOptions& options, const TrainerProgress& progress = nullptr);

}  // namespace linkd::linker

#endif  // LINKD_LINKER_MODEL_TRAINER_H_
