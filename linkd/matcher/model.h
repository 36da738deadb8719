// linkd::matcher Fellegi-Sunter model: m = P(level | match) and
// u = P(level | non-match) per field and comparison level (comparison.h),
// a prior lambda = P(match) for two records drawn at random (see below),
// match weights in bits
// (log2 Bayes factors), explanations, and estimation:
//   - u from random record pairs (EstimateU);
//   - m and lambda by EM on blocked pairs with u fixed (EstimateM), seeded by
//     a deterministic rule: pairs agreeing on UPN or NHS number are matches;
//   - optional term-frequency adjustment of exact dob and postcode-unit
//     agreement through an injected TokenFrequencies.
// Persisted as linkd.store.v1.LinkageModel (proto/linkd/store/v1/model.proto).
//
// Why lambda is a random-pair prior: u comes from random pairs, so a pair's
// Bayes factor already carries the evidence that made it a blocked pair
// (e.g. dob agreement). Because blocking selects pairs by their tokens,
// P(match | vector) is the same whether or not the pair was blocked, and
// the prior that goes with random-pair u is the random-pair match rate.
// A blocked-pair prior would count the blocking evidence twice (EM then
// collapses to "everything in a block matches"). EmResult reports the
// blocked-pair match share as well.
//
// Privacy: an Explanation holds u values (term-frequency adjusted ones are a
// token's relative frequency) and raw Dice values. linkd must never return
// those through an API; show levels and weights only.
#ifndef LINKD_MATCHER_MODEL_H_
#define LINKD_MATCHER_MODEL_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "linkd/matcher/comparison.h"
#include "linkd/store/v1/model.pb.h"

namespace linkd::matcher {

// Relative frequencies of exact tokens, for term-frequency adjustment.
// Implementations must be thread-safe for concurrent Frequency() calls when
// the model scoring with them is used from several threads.
class TokenFrequencies {
 public:
  virtual ~TokenFrequencies() = default;
  // The share, in (0, 1], of records holding the token with fingerprint
  // `token` (TokenFingerprint()) among the records that have `field`:
  // CompareField::kDob counts full dob tokens, kPostcode postcode-unit
  // tokens. nullopt when unknown (the level's u is then used).
  virtual std::optional<double> Frequency(CompareField field,
                                          uint64_t token) const = 0;
};

// In-memory TokenFrequencies counted from decoded records (tests, batch
// estimation). Add() is not thread-safe; Frequency() is, when no Add() runs.
class TokenFrequencyTable : public TokenFrequencies {
 public:
  // Counts the dob and postcode-unit tokens of `record`.
  void Add(const DecodedIdentity& record);
  std::optional<double> Frequency(CompareField field,
                                  uint64_t token) const override;

 private:
  absl::flat_hash_map<uint64_t, uint64_t> dob_, postcode_;
  uint64_t dob_total_ = 0, postcode_total_ = 0;
};

// Parameters of one non-neutral level.
struct LevelParams {
  double m = 0.5;
  double u = 0.5;
  // True when EM saw too few pairs at this level and m kept its prior.
  bool m_from_prior = false;
};

// What a model was estimated from.
struct TrainingInfo {
  std::vector<std::pair<std::string, uint64_t>> records_per_source;
  uint64_t random_pairs = 0;
  uint64_t blocked_pairs = 0;
  uint64_t rule_matches = 0;
  uint32_t em_iterations = 0;
  bool em_converged = false;
  int64_t trained_at_micros = 0;
  int64_t em_duration_micros = 0;
};

// One field's part in a match weight.
struct FieldContribution {
  CompareField field;
  int level = 0;
  absl::string_view level_name;
  bool neutral = true;  // Bayes factor 1; m and u are then 1
  double m = 1.0;
  double u = 1.0;  // the term frequency when tf_adjusted
  bool tf_adjusted = false;
  double weight = 0.0;  // log2(m / u)
};

struct Explanation {
  std::array<FieldContribution, kNumCompareFields> fields;
  double prior_weight = 0.0;  // log2(lambda / (1 - lambda))
  double total_weight = 0.0;  // prior_weight + sum of field weights
  double probability = 0.0;   // posterior P(match)
  bool hard_conflict = false;
};

struct EmOptions {
  int max_iterations = 200;
  // Converged when no m and not lambda moves by more than this.
  double tolerance = 1e-6;
  // A level seen in fewer blocked pairs than this keeps its prior m (the
  // data says nothing about it, e.g. swapped names in data without swaps).
  uint64_t min_level_pairs = 10;
  // Also start EM from m and lambda seeded by the deterministic rule (UPN
  // or NHS number agrees) when at least min_rule_matches pairs satisfy it;
  // it always starts from the current m and lambda too, and the likelier
  // fit is kept.
  bool seed_from_rule = true;
  uint64_t min_rule_matches = 20;
  // Pseudo-pairs of the prior m in each field's M-step (MAP-EM with a
  // Dirichlet prior): keeps levels the matches never show (a wrong year in
  // a dob block) from a vanishing m and absurd negative weights.
  double prior_pairs = 10.0;
  // The deterministic rule's other half: pairs with a hard conflict
  // (different UPN or NHS number) are non-matches. Without it, twins (same
  // dob, surname, postcode) pull m(disagree) of the identifiers up.
  bool hard_conflicts_are_non_matches = true;
  // Required: the number of record pairs the blocked pairs were drawn from
  // (n(n-1)/2 for n records), so that lambda is a random-pair prior.
  uint64_t total_pairs = 0;
};

// The level patterns of a set of comparison vectors with their counts: all
// that EM needs of the blocked pairs, in memory that does not grow with
// their number (a few hundred distinct patterns for millions of pairs).
// Not thread-safe: count per thread, then Merge.
class PatternCounts {
 public:
  // Counts `v` (its levels only). A vector with a level out of range is
  // counted as invalid, and EstimateM then refuses the counts.
  void Add(const ComparisonVector& v);
  void Merge(const PatternCounts& other);

  uint64_t pairs() const { return pairs_; }
  uint64_t invalid() const { return invalid_; }
  // Packed level pattern (3 bits per field, CompareField order) -> pairs.
  const absl::flat_hash_map<uint32_t, uint64_t>& counts() const {
    return counts_;
  }

 private:
  absl::flat_hash_map<uint32_t, uint64_t> counts_;
  uint64_t pairs_ = 0;
  uint64_t invalid_ = 0;
};

struct EmResult {
  int iterations = 0;
  bool converged = false;
  uint64_t pairs = 0;
  uint64_t rule_matches = 0;
  double lambda = 0.0;          // random-pair prior
  double blocked_lambda = 0.0;  // expected share of matches among blocked pairs
  // EM runs from the current model and, when the rule can seed it, from
  // the rule's seed; the fit of the higher log-likelihood is kept.
  int starts = 0;
  bool from_rule_seed = false;  // the kept fit started from the rule's seed
  double log_likelihood = 0.0;  // of the kept fit (natural log)
  // Each start's fit: from the current model, then from the rule's seed.
  std::vector<double> start_log_likelihoods;
};

// Probabilities are kept in [kMinProbability, 1 - kMinProbability].
inline constexpr double kMinProbability = 1e-9;

// A Fellegi-Sunter linkage model. A value type: copyable, movable. Const
// methods are thread-safe; mutating methods need external synchronisation.
class Model {
 public:
  // A model with hand-set prior m and u values (a reasonable starting point
  // for children's administrative data, documented in model.cc), lambda
  // 1e-5, default cut-offs and thresholds, term-frequency adjustment off.
  Model();

  // --- configuration
  const ComparisonOptions& comparison() const { return comparison_; }
  // INVALID_ARGUMENT (see ValidateComparisonOptions) leaves the model as it
  // was. Change cut-offs before estimation, not after.
  absl::Status set_comparison(const ComparisonOptions& options);

  double lambda() const { return lambda_; }
  // INVALID_ARGUMENT unless 0 < lambda < 1.
  absl::Status set_lambda(double lambda);

  // Clustering thresholds on the total match weight in bits.
  double upper_threshold() const { return upper_threshold_; }
  double lower_threshold() const { return lower_threshold_; }
  // INVALID_ARGUMENT unless both are finite and lower <= upper.
  absl::Status SetThresholds(double lower, double upper);

  // Term-frequency adjustment of dob "exact" and postcode "unit".
  // INVALID_ARGUMENT for any other field.
  absl::Status SetTermFrequencyAdjusted(CompareField field, bool on);
  bool term_frequency_adjusted(CompareField field) const;
  // Floor for adjusted u values; INVALID_ARGUMENT unless in (0, 1).
  absl::Status set_min_term_frequency(double floor);
  double min_term_frequency() const { return min_term_frequency_; }

  // m and u of a non-neutral level; for neutral or out-of-range levels a
  // {1, 1} placeholder.
  LevelParams params(CompareField field, int level) const;
  // Sets m and u of a non-neutral level (tests, manual tuning). Values are
  // clamped into [kMinProbability, 1 - kMinProbability]; the caller keeps
  // each field's m and u summing to 1 over its non-neutral levels.
  // INVALID_ARGUMENT for a neutral or unknown level.
  absl::Status SetParams(CompareField field, int level, double m, double u);

  uint64_t version() const { return version_; }
  void set_version(uint64_t version) { version_ = version; }
  const TrainingInfo& training_info() const { return training_; }
  TrainingInfo* mutable_training_info() { return &training_; }

  // --- scoring
  // log2 Bayes factor of `field` in `v`; 0 for neutral levels. Uses `tf`
  // (may be null) for adjusted fields.
  double FieldWeight(const ComparisonVector& v, CompareField field,
                     const TokenFrequencies* tf = nullptr) const;
  // Total match weight in bits: log2(lambda / (1 - lambda)) plus every
  // field's weight. `tf` may be null (no adjustment).
  double MatchWeight(const ComparisonVector& v,
                     const TokenFrequencies* tf = nullptr) const;
  // Posterior match probability of a total match weight.
  static double Probability(double match_weight);
  // Every field's level, m, u and weight, and the totals.
  Explanation Explain(const ComparisonVector& v,
                      const TokenFrequencies* tf = nullptr) const;

  // --- estimation
  // Sets u of `fields` (all when empty) from comparison vectors of random
  // record pairs, assumed non-matches: per field, the share of each
  // non-neutral level among the pairs where that field is not neutral
  // (Jeffreys smoothing, so unseen levels get a small non-zero u). Fields
  // with no non-neutral pair keep their u. Name fields need pairs with equal
  // salts: random pairs rarely have them. Pass, in a second call with just
  // the name fields, random pairs drawn within one dob_unordered token that
  // are known non-matches: keep those with hard_conflict() (different UPN
  // or NHS number; independent of names). Unfiltered same-salt pairs hold
  // many true matches (a salt class is small) and would inflate u.
  // INVALID_ARGUMENT if `random_pairs` is empty.
  absl::Status EstimateU(absl::Span<const ComparisonVector> random_pairs,
                         absl::Span<const CompareField> fields = {});

  // Estimates m and lambda by EM on `blocked_pairs` with u fixed
  // (conditional independence; neutral levels drop out). Rule-seeded as
  // described in EmOptions. On success updates m, lambda and the training
  // info (pairs, rule matches, iterations, convergence, duration) and bumps
  // version(). INVALID_ARGUMENT if `blocked_pairs` is empty or the options
  // are out of range (total_pairs < blocked_pairs.size() included); the
  // model is then unchanged.
  absl::StatusOr<EmResult> EstimateM(
      absl::Span<const ComparisonVector> blocked_pairs,
      const EmOptions& options = EmOptions());
  // The same from the blocked pairs' level patterns (INVALID_ARGUMENT also
  // if any was invalid).
  absl::StatusOr<EmResult> EstimateMFromPatterns(
      const PatternCounts& blocked_pairs,
      const EmOptions& options = EmOptions());

  // --- persistence
  void ToProto(linkd::store::v1::LinkageModel* out) const;
  // INVALID_ARGUMENT naming the first bad field (unknown or repeated field
  // or level, a level missing, m or u outside (0, 1) or not summing to 1,
  // lambda outside (0, 1), bad cut-offs or thresholds, term-frequency
  // adjustment on a field that has none).
  static absl::StatusOr<Model> FromProto(
      const linkd::store::v1::LinkageModel& proto);

 private:
  void RecomputeWeights();
  // FieldWeight(); sets *tf_u (if not null) to the adjusted u when the
  // term frequency was used, else leaves it alone.
  double FieldWeightImpl(const ComparisonVector& v, CompareField field,
                         const TokenFrequencies* tf, double* tf_u) const;

  ComparisonOptions comparison_;
  std::array<std::array<LevelParams, kMaxLevels>, kNumCompareFields> params_;
  // log2(m / u) per level, 0 for neutral levels.
  std::array<std::array<double, kMaxLevels>, kNumCompareFields> weights_{};
  double lambda_ = 1e-5;
  double prior_weight_ = 0.0;
  double upper_threshold_ = 0.0;
  double lower_threshold_ = 0.0;
  bool tf_dob_ = false;
  bool tf_postcode_ = false;
  double min_term_frequency_ = 1e-6;
  uint64_t version_ = 0;
  TrainingInfo training_;
};

}  // namespace linkd::matcher

#endif  // LINKD_MATCHER_MODEL_H_
