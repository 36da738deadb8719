#include "linkd/matcher/model.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace linkd::matcher {
namespace {

constexpr size_t Idx(CompareField f) { return static_cast<size_t>(f); }

// Hand-set prior m and u per level (level order of comparison.h, neutral
// levels 0). They start EM when the deterministic rule finds too few
// matches, stand in for levels the data cannot estimate (min_level_pairs),
// and serve as u until EstimateU runs. Rough figures for children's
// administrative data: dates and names mostly agree in true matches,
// postcodes less so (families move), UPN/NHS numbers are near-unique.
struct Prior {
  double m[kMaxLevels];
  double u[kMaxLevels];
};
constexpr Prior kPriors[kNumCompareFields] = {
    // upn: missing, agree, disagree
    {{0, 0.97, 0.03}, {0, 1e-6, 1 - 1e-6}},
    // nhs_number
    {{0, 0.97, 0.03}, {0, 1e-6, 1 - 1e-6}},
    // dob: missing, exact, transposed, two_parts, year_only, disagree
    {{0, 0.92, 0.015, 0.035, 0.015, 0.015},
     {0, 1.5e-4, 1e-5, 5e-3, 0.05, 0.94484}},
    // sex: missing, agree, disagree
    {{0, 0.98, 0.02}, {0, 0.5, 0.5}},
    // postcode: missing, unit, sector, district, disagree
    {{0, 0.65, 0.1, 0.05, 0.2}, {0, 2e-4, 3e-3, 3e-2, 0.9668}},
    // given_name: missing, not_comparable, high, low, below, swapped
    {{0, 0, 0.88, 0.05, 0.065, 0.005}, {0, 0, 0.01, 0.01, 0.97999, 1e-5}},
    // family_name (swapped is neutral here)
    {{0, 0, 0.85, 0.07, 0.08, 0}, {0, 0, 0.01, 0.01, 0.98, 0}},
};

double Clamp(double p) {
  return std::min(std::max(p, kMinProbability), 1.0 - kMinProbability);
}

// Rescales the non-neutral entries of `v` (m or u of one field) to sum 1
// after clamping each into the allowed range.
void Normalise(CompareField f, double* v) {
  double sum = 0;
  for (int l = 0; l < NumLevels(f); ++l) {
    if (IsNeutralLevel(f, l)) continue;
    v[l] = Clamp(v[l]);
    sum += v[l];
  }
  for (int l = 0; l < NumLevels(f); ++l) {
    if (!IsNeutralLevel(f, l)) v[l] /= sum;
  }
}

// Levels packed 3 bits per field (at most 6 levels), for aggregating
// identical vectors: EM then runs over distinct patterns, not pairs.
uint32_t Pack(const ComparisonVector& v) {
  uint32_t key = 0;
  for (size_t f = 0; f < kNumCompareFields; ++f) key |= v.levels[f] << (3 * f);
  return key;
}
int Unpack(uint32_t key, size_t f) { return (key >> (3 * f)) & 7; }

bool ValidLevel(const ComparisonVector& v) {
  for (size_t f = 0; f < kNumCompareFields; ++f) {
    if (v.levels[f] >= NumLevels(static_cast<CompareField>(f))) return false;
  }
  return true;
}

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool InOpenUnit(double p) { return p > 0.0 && p < 1.0; }

}  // namespace

// ------------------------------------------------------- TokenFrequencyTable

void TokenFrequencyTable::Add(const DecodedIdentity& record) {
  if (record.has(TokenSlot::kDob)) {
    ++dob_[record.token(TokenSlot::kDob)];
    ++dob_total_;
  }
  if (record.has(TokenSlot::kPostcodeUnit)) {
    ++postcode_[record.token(TokenSlot::kPostcodeUnit)];
    ++postcode_total_;
  }
}

std::optional<double> TokenFrequencyTable::Frequency(CompareField field,
                                                     uint64_t token) const {
  const absl::flat_hash_map<uint64_t, uint64_t>* counts = nullptr;
  uint64_t total = 0;
  if (field == CompareField::kDob) {
    counts = &dob_;
    total = dob_total_;
  } else if (field == CompareField::kPostcode) {
    counts = &postcode_;
    total = postcode_total_;
  } else {
    return std::nullopt;
  }
  auto it = counts->find(token);
  if (it == counts->end() || total == 0) return std::nullopt;
  return static_cast<double>(it->second) / static_cast<double>(total);
}

// ------------------------------------------------------------------- Model

Model::Model() {
  for (size_t f = 0; f < kNumCompareFields; ++f) {
    const auto field = static_cast<CompareField>(f);
    double m[kMaxLevels], u[kMaxLevels];
    std::copy(kPriors[f].m, kPriors[f].m + kMaxLevels, m);
    std::copy(kPriors[f].u, kPriors[f].u + kMaxLevels, u);
    Normalise(field, m);
    Normalise(field, u);
    for (int l = 0; l < kMaxLevels; ++l) {
      params_[f][l] = IsNeutralLevel(field, l) || l >= NumLevels(field)
                          ? LevelParams{1.0, 1.0, false}
                          : LevelParams{m[l], u[l], false};
    }
  }
  // Thresholds on the posterior log-odds with the random-pair prior. The
  // prior is conservative for a candidate pair (blocking already selected
  // it), and a record joins only the best of its candidate SUIs, so linking
  // below even odds raises recall at little cost in precision: measured on
  // the synthetic population by tests/bench/quality (quality_bench --link
  // --review): -8 and -12 bits gave the best F1 on every seed tried
  // (school census x health 0.9957-0.9960 against 0.9945-0.9956 at -6).
  upper_threshold_ = -8.0;
  lower_threshold_ = -12.0;
  RecomputeWeights();
}

void Model::RecomputeWeights() {
  for (size_t f = 0; f < kNumCompareFields; ++f) {
    const auto field = static_cast<CompareField>(f);
    for (int l = 0; l < kMaxLevels; ++l) {
      weights_[f][l] = IsNeutralLevel(field, l) || l >= NumLevels(field)
                           ? 0.0
                           : std::log2(params_[f][l].m / params_[f][l].u);
    }
  }
  prior_weight_ = std::log2(lambda_ / (1.0 - lambda_));
}

absl::Status Model::set_comparison(const ComparisonOptions& options) {
  absl::Status s = ValidateComparisonOptions(options);
  if (!s.ok()) return s;
  comparison_ = options;
  return absl::OkStatus();
}

absl::Status Model::set_lambda(double lambda) {
  if (!InOpenUnit(lambda)) {
    return absl::InvalidArgumentError("lambda: must be in (0, 1)");
  }
  lambda_ = lambda;
  RecomputeWeights();
  return absl::OkStatus();
}

absl::Status Model::SetThresholds(double lower, double upper) {
  if (!std::isfinite(lower) || !std::isfinite(upper) || lower > upper) {
    return absl::InvalidArgumentError(
        "thresholds: must be finite with lower_threshold <= upper_threshold");
  }
  lower_threshold_ = lower;
  upper_threshold_ = upper;
  return absl::OkStatus();
}

absl::Status Model::SetTermFrequencyAdjusted(CompareField field, bool on) {
  if (field == CompareField::kDob) {
    tf_dob_ = on;
  } else if (field == CompareField::kPostcode) {
    tf_postcode_ = on;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(FieldName(field),
                     ": term-frequency adjustment applies to dob and "
                     "postcode only"));
  }
  return absl::OkStatus();
}

bool Model::term_frequency_adjusted(CompareField field) const {
  return field == CompareField::kDob        ? tf_dob_
         : field == CompareField::kPostcode ? tf_postcode_
                                            : false;
}

absl::Status Model::set_min_term_frequency(double floor) {
  if (!InOpenUnit(floor)) {
    return absl::InvalidArgumentError("min_term_frequency: must be in (0, 1)");
  }
  min_term_frequency_ = floor;
  return absl::OkStatus();
}

LevelParams Model::params(CompareField field, int level) const {
  if (level < 0 || level >= NumLevels(field) || IsNeutralLevel(field, level)) {
    return LevelParams{1.0, 1.0, false};
  }
  return params_[Idx(field)][level];
}

absl::Status Model::SetParams(CompareField field, int level, double m,
                              double u) {
  if (level < 0 || level >= NumLevels(field) || IsNeutralLevel(field, level)) {
    return absl::InvalidArgumentError(absl::StrCat(
        FieldName(field), ": level ", level, " has no parameters"));
  }
  if (!std::isfinite(m) || !std::isfinite(u)) {
    return absl::InvalidArgumentError(
        absl::StrCat(FieldName(field), ": m and u must be finite"));
  }
  params_[Idx(field)][level].m = Clamp(m);
  params_[Idx(field)][level].u = Clamp(u);
  params_[Idx(field)][level].m_from_prior = false;
  RecomputeWeights();
  return absl::OkStatus();
}

// ----------------------------------------------------------------- scoring

double Model::FieldWeightImpl(const ComparisonVector& v, CompareField field,
                              const TokenFrequencies* tf, double* tf_u) const {
  const int level = v.level(field);
  if (level >= NumLevels(field)) return 0.0;
  if (tf != nullptr) {
    uint64_t token = 0;
    if (field == CompareField::kDob && tf_dob_ &&
        level == static_cast<int>(DobLevel::kExact)) {
      token = v.dob_token;
    } else if (field == CompareField::kPostcode && tf_postcode_ &&
               level == static_cast<int>(PostcodeLevel::kUnit)) {
      token = v.postcode_unit_token;
    }
    if (token != 0) {
      std::optional<double> freq = tf->Frequency(field, token);
      if (freq.has_value() && std::isfinite(*freq)) {
        const double u = std::min(std::max(*freq, min_term_frequency_), 1.0);
        if (tf_u != nullptr) *tf_u = u;
        return std::log2(params_[Idx(field)][level].m / u);
      }
    }
  }
  return weights_[Idx(field)][level];
}

double Model::FieldWeight(const ComparisonVector& v, CompareField field,
                          const TokenFrequencies* tf) const {
  return FieldWeightImpl(v, field, tf, nullptr);
}

double Model::MatchWeight(const ComparisonVector& v,
                          const TokenFrequencies* tf) const {
  double w = prior_weight_;
  for (size_t f = 0; f < kNumCompareFields; ++f) {
    w += FieldWeight(v, static_cast<CompareField>(f), tf);
  }
  return w;
}

double Model::Probability(double match_weight) {
  return 1.0 / (1.0 + std::exp2(-match_weight));
}

Explanation Model::Explain(const ComparisonVector& v,
                           const TokenFrequencies* tf) const {
  Explanation e;
  e.prior_weight = prior_weight_;
  e.total_weight = prior_weight_;
  e.hard_conflict = v.hard_conflict();
  for (size_t f = 0; f < kNumCompareFields; ++f) {
    const auto field = static_cast<CompareField>(f);
    FieldContribution& c = e.fields[f];
    c.field = field;
    c.level = v.level(field);
    c.level_name = LevelName(field, c.level);
    c.neutral = IsNeutralLevel(field, c.level);
    const LevelParams p = params(field, c.level);
    c.m = p.m;
    c.u = p.u;
    double tf_u = -1.0;
    c.weight = FieldWeightImpl(v, field, tf, &tf_u);
    if (tf_u > 0.0) {
      c.tf_adjusted = true;
      c.u = tf_u;
    }
    e.total_weight += c.weight;
  }
  e.probability = Probability(e.total_weight);
  return e;
}

// -------------------------------------------------------------- estimation

absl::Status Model::EstimateU(absl::Span<const ComparisonVector> random_pairs,
                              absl::Span<const CompareField> fields) {
  if (random_pairs.empty()) {
    return absl::InvalidArgumentError("random_pairs: empty sample");
  }
  bool selected[kNumCompareFields] = {};
  for (CompareField f : fields) selected[Idx(f)] = true;
  if (fields.empty()) std::fill(selected, selected + kNumCompareFields, true);

  uint64_t counts[kNumCompareFields][kMaxLevels] = {};
  for (const ComparisonVector& v : random_pairs) {
    if (!ValidLevel(v)) {
      return absl::InvalidArgumentError("random_pairs: level out of range");
    }
    for (size_t f = 0; f < kNumCompareFields; ++f) ++counts[f][v.levels[f]];
  }
  for (size_t f = 0; f < kNumCompareFields; ++f) {
    if (!selected[f]) continue;
    const auto field = static_cast<CompareField>(f);
    uint64_t total = 0;
    int k = 0;
    for (int l = 0; l < NumLevels(field); ++l) {
      if (IsNeutralLevel(field, l)) continue;
      total += counts[f][l];
      ++k;
    }
    if (total == 0) continue;
    double u[kMaxLevels] = {};
    for (int l = 0; l < NumLevels(field); ++l) {
      if (IsNeutralLevel(field, l)) continue;
      // Jeffreys (add one half): a level never seen among random pairs is
      // rare, not impossible.
      u[l] = (counts[f][l] + 0.5) / (static_cast<double>(total) + 0.5 * k);
    }
    Normalise(field, u);
    for (int l = 0; l < NumLevels(field); ++l) {
      if (!IsNeutralLevel(field, l)) params_[f][l].u = u[l];
    }
  }
  training_.random_pairs = random_pairs.size();
  RecomputeWeights();
  return absl::OkStatus();
}

void PatternCounts::Add(const ComparisonVector& v) {
  if (!ValidLevel(v)) {
    ++invalid_;
    return;
  }
  ++counts_[Pack(v)];
  ++pairs_;
}

void PatternCounts::Merge(const PatternCounts& other) {
  for (const auto& [key, count] : other.counts_) counts_[key] += count;
  pairs_ += other.pairs_;
  invalid_ += other.invalid_;
}

absl::StatusOr<EmResult> Model::EstimateM(
    absl::Span<const ComparisonVector> blocked_pairs,
    const EmOptions& options) {
  PatternCounts counts;
  for (const ComparisonVector& v : blocked_pairs) counts.Add(v);
  return EstimateMFromPatterns(counts, options);
}

absl::StatusOr<EmResult> Model::EstimateMFromPatterns(
    const PatternCounts& blocked, const EmOptions& options) {
  if (blocked.invalid() > 0) {
    return absl::InvalidArgumentError("blocked_pairs: level out of range");
  }
  const uint64_t blocked_pairs = blocked.pairs();
  if (blocked_pairs == 0) {
    return absl::InvalidArgumentError("blocked_pairs: empty sample");
  }
  if (options.max_iterations < 1 || !(options.tolerance > 0.0) ||
      !(options.prior_pairs >= 0.0)) {
    return absl::InvalidArgumentError(
        "em_options: max_iterations >= 1, tolerance > 0 and prior_pairs >= 0 "
        "required");
  }
  if (options.total_pairs < blocked_pairs) {
    return absl::InvalidArgumentError(
        "em_options.total_pairs: must be at least the number of blocked "
        "pairs");
  }
  const auto start = std::chrono::steady_clock::now();

  // Per-level pair counts and the rule's counts, from the patterns.
  uint64_t level_pairs[kNumCompareFields][kMaxLevels] = {};
  uint64_t rule_matches = 0, rule_decidable = 0;
  double rule_counts[kNumCompareFields][kMaxLevels] = {};
  const int agree = static_cast<int>(AgreeLevel::kAgree);
  const int disagree = static_cast<int>(AgreeLevel::kDisagree);
  for (const auto& [key, count] : blocked.counts()) {
    for (size_t f = 0; f < kNumCompareFields; ++f)
      level_pairs[f][Unpack(key, f)] += count;
    const int upn = Unpack(key, Idx(CompareField::kUpn));
    const int nhs = Unpack(key, Idx(CompareField::kNhsNumber));
    if (upn != 0 || nhs != 0) rule_decidable += count;
    if (upn == agree || nhs == agree) {
      rule_matches += count;
      for (size_t f = 0; f < kNumCompareFields; ++f)
        rule_counts[f][Unpack(key, f)] += count;
    }
  }
  // In key order: the sums below then do not depend on the hash map's
  // (per-process) iteration order, so one sample always gives one model.
  std::vector<std::pair<uint32_t, double>> patterns(blocked.counts().begin(),
                                                    blocked.counts().end());
  std::sort(patterns.begin(), patterns.end());

  // A start (and, once run, a fit) of EM. Working copies: the model
  // changes only on success.
  struct Fit {
    double m[kNumCompareFields][kMaxLevels];
    double lambda = 0;
    int iterations = 0;
    bool converged = false;
    double log_likelihood = 0;
  };
  std::vector<Fit> fits(1);
  fits.reserve(2);
  for (size_t f = 0; f < kNumCompareFields; ++f) {
    for (int l = 0; l < kMaxLevels; ++l) fits[0].m[f][l] = params_[f][l].m;
  }
  fits[0].lambda = lambda_;
  bool from_prior[kNumCompareFields][kMaxLevels] = {};
  for (size_t f = 0; f < kNumCompareFields; ++f) {
    const auto field = static_cast<CompareField>(f);
    for (int l = 0; l < NumLevels(field); ++l) {
      from_prior[f][l] = !IsNeutralLevel(field, l) &&
                         level_pairs[f][l] < options.min_level_pairs;
    }
  }

  // The prior from a deterministic rule: pairs agreeing on UPN or NHS
  // number are matches. They seed m for every other field (the identifier
  // fields themselves would be biased to "agree" by the rule, so they keep
  // their current m), and lambda is their share among the pairs where the
  // rule can decide.
  if (options.seed_from_rule && rule_matches >= options.min_rule_matches) {
    Fit& seeded = fits.emplace_back(fits[0]);
    auto& m = seeded.m;
    for (size_t f = 0; f < kNumCompareFields; ++f) {
      const auto field = static_cast<CompareField>(f);
      if (field == CompareField::kUpn || field == CompareField::kNhsNumber) {
        continue;
      }
      double total = 0;
      for (int l = 0; l < NumLevels(field); ++l) {
        if (!IsNeutralLevel(field, l)) total += rule_counts[f][l];
      }
      if (total == 0) continue;
      for (int l = 0; l < NumLevels(field); ++l) {
        if (!IsNeutralLevel(field, l))
          m[f][l] = (rule_counts[f][l] + 0.5) / total;
      }
      Normalise(field, m[f]);
    }
    const double blocked_share =
        static_cast<double>(rule_matches) / rule_decidable;
    seeded.lambda = Clamp(blocked_share * blocked_pairs / options.total_pairs);
  }

  // Natural-log Bayes factors per level, refreshed every iteration.
  double log_u[kNumCompareFields][kMaxLevels] = {};
  for (size_t f = 0; f < kNumCompareFields; ++f) {
    for (int l = 0; l < kMaxLevels; ++l)
      log_u[f][l] = std::log(params_[f][l].u);
  }
  EmResult result;
  result.pairs = blocked_pairs;
  result.rule_matches = rule_matches;
  const double n = static_cast<double>(options.total_pairs);
  auto hard_conflict = [&](uint32_t key) {
    return options.hard_conflicts_are_non_matches &&
           (Unpack(key, Idx(CompareField::kUpn)) == disagree ||
            Unpack(key, Idx(CompareField::kNhsNumber)) == disagree);
  };
  auto run = [&](Fit* fit) {
    auto& m = fit->m;
    double& lambda = fit->lambda;
    for (int it = 1; it <= options.max_iterations; ++it) {
      double log_bf[kNumCompareFields][kMaxLevels] = {};
      for (size_t f = 0; f < kNumCompareFields; ++f) {
        const auto field = static_cast<CompareField>(f);
        for (int l = 0; l < NumLevels(field); ++l) {
          if (!IsNeutralLevel(field, l))
            log_bf[f][l] = std::log(m[f][l]) - log_u[f][l];
        }
      }
      const double log_prior = std::log(lambda / (1.0 - lambda));
      double acc[kNumCompareFields][kMaxLevels] = {};
      double matches = 0;
      for (const auto& [key, count] : patterns) {
        if (hard_conflict(key)) continue;  // p = 0
        double lo = log_prior;
        for (size_t f = 0; f < kNumCompareFields; ++f)
          lo += log_bf[f][Unpack(key, f)];
        const double p = 1.0 / (1.0 + std::exp(-lo));
        const double w = p * count;
        matches += w;
        for (size_t f = 0; f < kNumCompareFields; ++f)
          acc[f][Unpack(key, f)] += w;
      }

      double delta = 0;
      for (size_t f = 0; f < kNumCompareFields; ++f) {
        const auto field = static_cast<CompareField>(f);
        double held = 0, free_total = 0;
        for (int l = 0; l < NumLevels(field); ++l) {
          if (IsNeutralLevel(field, l)) continue;
          if (from_prior[f][l]) {
            held += kPriors[f].m[l];
          } else {
            free_total += acc[f][l];
          }
        }
        if (free_total <= 0) continue;  // no evidence on this field
        // MAP estimate: observed expected counts plus prior pseudo-pairs.
        double prior_free = 0;
        for (int l = 0; l < NumLevels(field); ++l) {
          if (!IsNeutralLevel(field, l) && !from_prior[f][l]) {
            prior_free += kPriors[f].m[l];
          }
        }
        double next[kMaxLevels] = {};
        for (int l = 0; l < NumLevels(field); ++l) {
          if (IsNeutralLevel(field, l)) continue;
          const double pseudo =
              prior_free > 0
                  ? options.prior_pairs * kPriors[f].m[l] / prior_free
                  : 0.0;
          next[l] = from_prior[f][l] ? kPriors[f].m[l]
                                     : (1.0 - held) * (acc[f][l] + pseudo) /
                                           (free_total + options.prior_pairs);
        }
        Normalise(field, next);
        for (int l = 0; l < NumLevels(field); ++l) {
          if (IsNeutralLevel(field, l)) continue;
          delta = std::max(delta, std::fabs(next[l] - m[f][l]));
          m[f][l] = next[l];
        }
      }
      const double next_lambda = Clamp(matches / n);
      delta = std::max(delta, std::fabs(next_lambda - lambda));
      lambda = next_lambda;
      fit->iterations = it;
      if (delta < options.tolerance) {
        fit->converged = true;
        break;
      }
    }
    // The log-likelihood of the blocked patterns under the fitted mixture,
    // plus that of the other pairs as non-matches (their patterns are not
    // known; u is fixed, so only their (1 - lambda) depends on the fit).
    double ll = (n - static_cast<double>(blocked_pairs)) * std::log1p(-lambda);
    for (const auto& [key, count] : patterns) {
      double log_m = std::log(lambda), log_nm = std::log1p(-lambda);
      for (size_t f = 0; f < kNumCompareFields; ++f) {
        const auto field = static_cast<CompareField>(f);
        const int l = Unpack(key, f);
        if (IsNeutralLevel(field, l)) continue;
        log_m += std::log(m[f][l]);
        log_nm += log_u[f][l];
      }
      if (hard_conflict(key)) {
        ll += count * log_nm;  // the rule: never a match
        continue;
      }
      const double hi = std::max(log_m, log_nm);
      ll +=
          count * (hi + std::log(std::exp(log_m - hi) + std::exp(log_nm - hi)));
    }
    fit->log_likelihood = ll;
  };

  // EM from each start; the likeliest fit wins (EM finds a local maximum,
  // and on children's data, where siblings and twins share most fields,
  // the rule's seed and the previous model can lead to different ones).
  for (Fit& fit : fits) run(&fit);
  const Fit* best = &fits.back();
  for (const Fit& fit : fits) {
    if (fit.log_likelihood > best->log_likelihood) best = &fit;
    result.start_log_likelihoods.push_back(fit.log_likelihood);
  }
  result.starts = static_cast<int>(fits.size());
  result.iterations = best->iterations;
  result.converged = best->converged;
  result.log_likelihood = best->log_likelihood;
  result.from_rule_seed = best == &fits.back() && fits.size() > 1;
  for (size_t f = 0; f < kNumCompareFields; ++f) {
    const auto field = static_cast<CompareField>(f);
    for (int l = 0; l < NumLevels(field); ++l) {
      if (IsNeutralLevel(field, l)) continue;
      params_[f][l].m = best->m[f][l];
      params_[f][l].m_from_prior = from_prior[f][l];
    }
  }
  lambda_ = best->lambda;
  result.lambda = best->lambda;
  result.blocked_lambda = best->lambda * n / blocked_pairs;
  RecomputeWeights();
  ++version_;
  training_.blocked_pairs = blocked_pairs;
  training_.rule_matches = rule_matches;
  training_.em_iterations = static_cast<uint32_t>(result.iterations);
  training_.em_converged = result.converged;
  training_.trained_at_micros = NowMicros();
  training_.em_duration_micros =
      std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::steady_clock::now() - start)
          .count();
  return result;
}

// ------------------------------------------------------------- persistence

void Model::ToProto(linkd::store::v1::LinkageModel* out) const {
  out->Clear();
  out->set_model_version(version_);
  out->mutable_comparison()->set_name_high_cutoff(comparison_.name_high_cutoff);
  out->mutable_comparison()->set_name_low_cutoff(comparison_.name_low_cutoff);
  for (size_t f = 0; f < kNumCompareFields; ++f) {
    const auto field = static_cast<CompareField>(f);
    linkd::store::v1::FieldParameters* fp = out->add_fields();
    fp->set_field(std::string(FieldName(field)));
    fp->set_term_frequency_adjusted(term_frequency_adjusted(field));
    for (int l = 0; l < NumLevels(field); ++l) {
      if (IsNeutralLevel(field, l)) continue;
      linkd::store::v1::LevelParameters* lp = fp->add_levels();
      lp->set_level(std::string(LevelName(field, l)));
      lp->set_m(params_[f][l].m);
      lp->set_u(params_[f][l].u);
      lp->set_m_from_prior(params_[f][l].m_from_prior);
    }
  }
  out->set_lambda(lambda_);
  out->set_upper_threshold(upper_threshold_);
  out->set_lower_threshold(lower_threshold_);
  out->set_min_term_frequency(min_term_frequency_);
  linkd::store::v1::TrainingInfo* t = out->mutable_trained_on();
  for (const auto& [source, records] : training_.records_per_source) {
    linkd::store::v1::SourceRecordCount* c = t->add_records_per_source();
    c->set_source(source);
    c->set_records(records);
  }
  t->set_random_pairs(training_.random_pairs);
  t->set_blocked_pairs(training_.blocked_pairs);
  t->set_rule_matches(training_.rule_matches);
  t->set_em_iterations(training_.em_iterations);
  t->set_em_converged(training_.em_converged);
  t->set_trained_at_micros(training_.trained_at_micros);
  t->set_em_duration_micros(training_.em_duration_micros);
}

absl::StatusOr<Model> Model::FromProto(
    const linkd::store::v1::LinkageModel& proto) {
  Model model;
  ComparisonOptions comparison;
  comparison.name_high_cutoff = proto.comparison().name_high_cutoff();
  comparison.name_low_cutoff = proto.comparison().name_low_cutoff();
  absl::Status s = ValidateComparisonOptions(comparison);
  if (!s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("comparison.", s.message()));
  }
  model.comparison_ = comparison;

  bool seen_field[kNumCompareFields] = {};
  for (const linkd::store::v1::FieldParameters& fp : proto.fields()) {
    std::optional<CompareField> field = FieldFromName(fp.field());
    if (!field.has_value()) {
      return absl::InvalidArgumentError("fields: unknown field name");
    }
    const size_t f = Idx(*field);
    const std::string where = absl::StrCat("fields[", FieldName(*field), "]");
    if (seen_field[f]) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": repeated"));
    }
    seen_field[f] = true;
    if (fp.term_frequency_adjusted()) {
      absl::Status tf = model.SetTermFrequencyAdjusted(*field, true);
      if (!tf.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ".term_frequency_adjusted: not supported for this field"));
      }
    }
    bool seen_level[kMaxLevels] = {};
    double m_sum = 0, u_sum = 0;
    for (const linkd::store::v1::LevelParameters& lp : fp.levels()) {
      const int l = LevelFromName(*field, lp.level());
      if (l < 0 || IsNeutralLevel(*field, l)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ".levels: unknown or neutral level"));
      }
      const std::string lwhere =
          absl::StrCat(where, ".levels[", lp.level(), "]");
      if (seen_level[l]) {
        return absl::InvalidArgumentError(absl::StrCat(lwhere, ": repeated"));
      }
      seen_level[l] = true;
      if (!InOpenUnit(lp.m())) {
        return absl::InvalidArgumentError(
            absl::StrCat(lwhere, ".m: must be in (0, 1)"));
      }
      if (!InOpenUnit(lp.u())) {
        return absl::InvalidArgumentError(
            absl::StrCat(lwhere, ".u: must be in (0, 1)"));
      }
      model.params_[f][l] = LevelParams{lp.m(), lp.u(), lp.m_from_prior()};
      m_sum += lp.m();
      u_sum += lp.u();
    }
    for (int l = 0; l < NumLevels(*field); ++l) {
      if (!IsNeutralLevel(*field, l) && !seen_level[l]) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ".levels: level ", LevelName(*field, l), " missing"));
      }
    }
    constexpr double kSumTolerance = 1e-6;
    if (std::fabs(m_sum - 1.0) > kSumTolerance) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".levels: m values must sum to 1"));
    }
    if (std::fabs(u_sum - 1.0) > kSumTolerance) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".levels: u values must sum to 1"));
    }
  }
  for (size_t f = 0; f < kNumCompareFields; ++f) {
    if (!seen_field[f]) {
      return absl::InvalidArgumentError(
          absl::StrCat("fields: field ",
                       FieldName(static_cast<CompareField>(f)), " missing"));
    }
  }
  if (!InOpenUnit(proto.lambda())) {
    return absl::InvalidArgumentError("lambda: must be in (0, 1)");
  }
  model.lambda_ = proto.lambda();
  s = model.SetThresholds(proto.lower_threshold(), proto.upper_threshold());
  if (!s.ok()) return s;
  s = model.set_min_term_frequency(proto.min_term_frequency());
  if (!s.ok()) return s;
  model.version_ = proto.model_version();
  const linkd::store::v1::TrainingInfo& t = proto.trained_on();
  for (const linkd::store::v1::SourceRecordCount& c : t.records_per_source()) {
    model.training_.records_per_source.emplace_back(c.source(), c.records());
  }
  model.training_.random_pairs = t.random_pairs();
  model.training_.blocked_pairs = t.blocked_pairs();
  model.training_.rule_matches = t.rule_matches();
  model.training_.em_iterations = t.em_iterations();
  model.training_.em_converged = t.em_converged();
  model.training_.trained_at_micros = t.trained_at_micros();
  model.training_.em_duration_micros = t.em_duration_micros();
  model.RecomputeWeights();
  return model;
}

}  // namespace linkd::matcher
