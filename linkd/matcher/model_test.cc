#include "linkd/matcher/model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "linkd/matcher/testing/encoded_population.h"
#include "linkd/util/status_matchers.h"

namespace linkd::matcher {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;
using ::testing::HasSubstr;
using testing::Pair;
using testing::TruthRecord;

template <typename Level>
int L(Level level) {
  return static_cast<int>(level);
}

double W(const Model& m, CompareField f, int level) {
  ComparisonVector v;
  v.levels[static_cast<size_t>(f)] = static_cast<uint8_t>(level);
  return m.FieldWeight(v, f);
}

crypto::ClearIdentity Child() {
  crypto::ClearIdentity c;
  c.given_name = "Amara";
  c.family_name = "Okafor";
  c.dob = "2015-10-02";
  c.sex = "F";
  c.postcode = "LS6 2AB";
  return c;
}

// ------------------------------------------------ the trained model, shared

struct Trained {
  std::vector<TruthRecord> records;
  std::vector<Pair> blocked;
  std::vector<ComparisonVector> blocked_vectors;
  // The pairs u was estimated from.
  std::vector<ComparisonVector> random, same_salt;
  Model model;
  EmOptions options;
  EmResult em;
};

std::vector<ComparisonVector> Vectors(const std::vector<TruthRecord>& records,
                                      const std::vector<Pair>& pairs,
                                      const ComparisonOptions& options) {
  std::vector<ComparisonVector> out(pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) {
    Compare(records[pairs[i].first].decoded, records[pairs[i].second].decoded,
            options, &out[i]);
  }
  return out;
}

constexpr CompareField kNames[] = {CompareField::kGivenName,
                                   CompareField::kFamilyName};

// A 20,000-person population from three sources, encoded for real; u from
// random pairs, m and lambda by EM on blocked pairs.
const Trained& Get() {
  static const Trained* const trained = [] {
    auto* t = new Trained;
    synth::Options o;
    o.seed = 2024;
    o.num_people = 20000;
    t->records = *testing::EncodePopulation(synth::GeneratePopulation(o));
    t->blocked = testing::BlockedPairs(t->records);
    const ComparisonOptions& opts = t->model.comparison();
    t->blocked_vectors = Vectors(t->records, t->blocked, opts);
    std::vector<ComparisonVector>& random = t->random;
    random =
        Vectors(t->records, testing::RandomPairs(t->records, 1000000, 7), opts);
    // Same-salt random pairs that are known non-matches (different UPN or
    // NHS number), for the name u values.
    std::vector<ComparisonVector>& same_salt = t->same_salt;
    for (const ComparisonVector& v :
         Vectors(t->records,
                 testing::RandomSameSaltPairs(t->records, 300000, 8), opts)) {
      if (v.hard_conflict()) same_salt.push_back(v);
    }
    EXPECT_THAT(t->model.EstimateU(random), IsOk());
    EXPECT_THAT(t->model.EstimateU(same_salt, kNames), IsOk());
    t->options.total_pairs = t->records.size() * (t->records.size() - 1) / 2;
    t->em = *t->model.EstimateM(t->blocked_vectors, t->options);
    return t;
  }();
  return *trained;
}

TEST(ModelTest, EmConvergesFromTheDeterministicRule) {
  const Trained& t = Get();
  EXPECT_TRUE(t.em.converged);
  EXPECT_GT(t.em.rule_matches, 1000u);
  EXPECT_EQ(t.em.pairs, t.blocked.size());
  EXPECT_EQ(t.model.version(), 1u);
  EXPECT_EQ(t.model.training_info().blocked_pairs, t.blocked.size());
  // lambda close to the true share of matches among blocked pairs.
  size_t matches = 0;
  for (const auto& [i, j] : t.blocked) {
    matches += t.records[i].person_id == t.records[j].person_id;
  }
  const double truth = static_cast<double>(matches) / t.blocked.size();
  std::printf(
      "records %zu, blocked pairs %zu, true matches %zu (%.4f), EM "
      "blocked share %.4f, lambda %.3g, %d iterations, rule matches "
      "%llu\n",
      t.records.size(), t.blocked.size(), matches, truth, t.em.blocked_lambda,
      t.em.lambda, t.em.iterations,
      static_cast<unsigned long long>(t.em.rule_matches));
  EXPECT_NEAR(t.em.blocked_lambda / truth, 1.0, 0.1);
  EXPECT_NEAR(t.em.lambda,
              t.em.blocked_lambda * t.blocked.size() / t.options.total_pairs,
              1e-12);
}

TEST(ModelTest, EmWithoutTheRuleReachesTheSameFit) {
  const Trained& t = Get();
  Model m = t.model;
  EmOptions options = t.options;
  options.seed_from_rule = false;
  ASSERT_THAT(m.set_lambda(1e-5), IsOk());
  absl::StatusOr<EmResult> r = m.EstimateM(t.blocked_vectors, options);
  ASSERT_THAT(r.status(), IsOk());
  EXPECT_TRUE(r->converged);
  EXPECT_NEAR(r->lambda, t.em.lambda, 0.01 * t.em.lambda);
  EmOptions bad = t.options;
  bad.total_pairs = 10;
  EXPECT_THAT(
      m.EstimateM(t.blocked_vectors, bad).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("total_pairs")));
}

TEST(ModelTest, EmKeepsTheLikeliestOfItsStarts) {
  const Trained& t = Get();
  EXPECT_EQ(t.em.starts, 2);
  // From the current model alone (one start).
  Model alone = t.model;
  EmOptions options = t.options;
  options.seed_from_rule = false;
  absl::StatusOr<EmResult> one = alone.EstimateM(t.blocked_vectors, options);
  ASSERT_THAT(one.status(), IsOk());
  EXPECT_EQ(one->starts, 1);
  EXPECT_FALSE(one->from_rule_seed);
  // Both starts: never less likely than either.
  Model both = t.model;
  absl::StatusOr<EmResult> two = both.EstimateM(t.blocked_vectors, t.options);
  ASSERT_THAT(two.status(), IsOk());
  EXPECT_EQ(two->starts, 2);
  EXPECT_GE(two->log_likelihood, one->log_likelihood);
  // The likelihood measures the fit: one EM step from the hand-set priors
  // fits worse than EM run to convergence.
  Model early, full;
  for (Model* m : {&early, &full}) {
    ASSERT_THAT(m->EstimateU(t.random), IsOk());
    ASSERT_THAT(m->EstimateU(t.same_salt, kNames), IsOk());
  }
  EmOptions step = options;
  step.max_iterations = 1;
  absl::StatusOr<EmResult> first = early.EstimateM(t.blocked_vectors, step);
  absl::StatusOr<EmResult> last = full.EstimateM(t.blocked_vectors, options);
  ASSERT_THAT(first.status(), IsOk());
  ASSERT_THAT(last.status(), IsOk());
  EXPECT_LT(first->log_likelihood, last->log_likelihood);
}

TEST(ModelTest, AgreementLevelsHaveMAboveU) {
  const Model& m = Get().model;
  const std::pair<CompareField, int> agreements[] = {
      {CompareField::kUpn, L(AgreeLevel::kAgree)},
      {CompareField::kNhsNumber, L(AgreeLevel::kAgree)},
      {CompareField::kDob, L(DobLevel::kExact)},
      {CompareField::kDob, L(DobLevel::kTransposed)},
      {CompareField::kSex, L(AgreeLevel::kAgree)},
      {CompareField::kPostcode, L(PostcodeLevel::kUnit)},
      {CompareField::kGivenName, L(NameLevel::kHigh)},
      {CompareField::kGivenName, L(NameLevel::kLow)},
      {CompareField::kGivenName, L(NameLevel::kSwapped)},
      {CompareField::kFamilyName, L(NameLevel::kHigh)},
      {CompareField::kFamilyName, L(NameLevel::kLow)},
  };
  for (const auto& [field, level] : agreements) {
    const LevelParams p = m.params(field, level);
    EXPECT_GT(p.m, p.u) << FieldName(field) << "." << LevelName(field, level);
  }
  for (size_t f = 0; f < kNumCompareFields; ++f) {
    const auto field = static_cast<CompareField>(f);
    std::printf("%-12s", std::string(FieldName(field)).c_str());
    for (int l = 0; l < NumLevels(field); ++l) {
      if (IsNeutralLevel(field, l)) continue;
      const LevelParams p = m.params(field, l);
      std::printf(" %s m=%.4g u=%.3g w=%+.2f%s",
                  std::string(LevelName(field, l)).c_str(), p.m, p.u,
                  W(m, field, l), p.m_from_prior ? "(prior)" : "");
    }
    std::printf("\n");
  }
}

TEST(ModelTest, WeightsAreMonotoneInTheLevels) {
  const Model& m = Get().model;
  auto check = [&m](CompareField f, std::vector<int> best_to_worst) {
    for (size_t i = 1; i < best_to_worst.size(); ++i) {
      EXPECT_GT(W(m, f, best_to_worst[i - 1]), W(m, f, best_to_worst[i]))
          << FieldName(f) << " " << LevelName(f, best_to_worst[i - 1]) << " vs "
          << LevelName(f, best_to_worst[i]);
    }
  };
  check(CompareField::kUpn, {L(AgreeLevel::kAgree), L(AgreeLevel::kDisagree)});
  check(CompareField::kNhsNumber,
        {L(AgreeLevel::kAgree), L(AgreeLevel::kDisagree)});
  check(CompareField::kSex, {L(AgreeLevel::kAgree), L(AgreeLevel::kDisagree)});
  // dob "disagree" is not ordered against "year_only": blocked pairs hold
  // almost no true match with a wrong year, so both rest on thin evidence.
  check(CompareField::kDob, {L(DobLevel::kExact), L(DobLevel::kTransposed),
                             L(DobLevel::kTwoParts), L(DobLevel::kYearOnly)});
  check(CompareField::kPostcode,
        {L(PostcodeLevel::kUnit), L(PostcodeLevel::kSector),
         L(PostcodeLevel::kDistrict), L(PostcodeLevel::kDisagree)});
  for (CompareField f : {CompareField::kGivenName, CompareField::kFamilyName}) {
    check(f, {L(NameLevel::kHigh), L(NameLevel::kLow), L(NameLevel::kBelow)});
  }
  // Disagreement is evidence against.
  EXPECT_LT(W(m, CompareField::kDob, L(DobLevel::kDisagree)), 0);
  EXPECT_LT(W(m, CompareField::kFamilyName, L(NameLevel::kBelow)), 0);
  EXPECT_LT(W(m, CompareField::kUpn, L(AgreeLevel::kDisagree)), -10);
  EXPECT_LT(W(m, CompareField::kNhsNumber, L(AgreeLevel::kDisagree)), -10);
}

TEST(ModelTest, SeparatesTrueMatchesOnBlockedPairs) {
  const Trained& t = Get();
  // Pairwise precision / recall over the blocked pairs at several weight
  // thresholds, overall and for school census x health (no shared
  // identifier).
  struct Counts {
    size_t tp = 0, fp = 0, fn = 0;
  };
  const double thresholds[] = {-5, 0, 5, 10};
  Counts all[4], sch_health[4];
  std::vector<double> weights(t.blocked.size());
  for (size_t k = 0; k < t.blocked.size(); ++k) {
    const TruthRecord& a = t.records[t.blocked[k].first];
    const TruthRecord& b = t.records[t.blocked[k].second];
    const double w = t.model.MatchWeight(t.blocked_vectors[k]);
    weights[k] = w;
    const bool truth = a.person_id == b.person_id;
    const bool sh = (a.source == synth::Source::kSchoolCensus &&
                     b.source == synth::Source::kHealth) ||
                    (b.source == synth::Source::kSchoolCensus &&
                     a.source == synth::Source::kHealth);
    for (int i = 0; i < 4; ++i) {
      // As the clusterer will: a hard conflict is never a match.
      const bool predicted =
          w >= thresholds[i] && !t.blocked_vectors[k].hard_conflict();
      for (Counts* c : {&all[i], sh ? &sch_health[i] : nullptr}) {
        if (c == nullptr) continue;
        if (predicted && truth) ++c->tp;
        if (predicted && !truth) ++c->fp;
        if (!predicted && truth) ++c->fn;
      }
    }
  }
  auto report = [](const char* what, double th, const Counts& c) {
    const double p = c.tp / static_cast<double>(c.tp + c.fp);
    const double r = c.tp / static_cast<double>(c.tp + c.fn);
    std::printf(
        "%-18s weight>=%+5.1f precision %.4f recall %.4f F1 %.4f "
        "(tp %zu fp %zu fn %zu)\n",
        what, th, p, r, 2 * p * r / (p + r), c.tp, c.fp, c.fn);
    return 2 * p * r / (p + r);
  };
  double f1_at_zero = 0, f1_sh_at_zero = 0;
  for (int i = 0; i < 4; ++i) {
    const double f1 = report("all sources", thresholds[i], all[i]);
    const double f1_sh =
        report("school x health", thresholds[i], sch_health[i]);
    if (thresholds[i] == 0) {
      f1_at_zero = f1;
      f1_sh_at_zero = f1_sh;
    }
  }
  EXPECT_GT(f1_at_zero, 0.97);
  EXPECT_GT(f1_sh_at_zero, 0.97);
}

TEST(ModelTest, SwappedNamesScoreAsAMatch) {
  const Model& m = Get().model;
  crypto::ClearIdentity b = Child();
  std::swap(b.given_name, b.family_name);
  const DecodedIdentity da = Decode(testing::EncodeClear(Child()));
  const DecodedIdentity db = Decode(testing::EncodeClear(b));
  const ComparisonVector swapped = Compare(da, db, m.comparison());
  ASSERT_EQ(swapped.level(CompareField::kGivenName), L(NameLevel::kSwapped));
  crypto::ClearIdentity other = Child();
  other.given_name = "Priya";
  other.family_name = "Novak";
  const ComparisonVector different =
      Compare(da, Decode(testing::EncodeClear(other)), m.comparison());
  EXPECT_GT(m.MatchWeight(swapped), m.upper_threshold());
  EXPECT_GT(m.MatchWeight(swapped), m.MatchWeight(different) + 10);
}

TEST(ModelTest, ExplainAddsUp) {
  const Trained& t = Get();
  for (size_t k = 0; k < t.blocked_vectors.size(); k += 997) {
    const ComparisonVector& v = t.blocked_vectors[k];
    const Explanation e = t.model.Explain(v);
    double sum = e.prior_weight;
    for (const FieldContribution& c : e.fields) {
      sum += c.weight;
      EXPECT_EQ(c.level, v.level(c.field));
      EXPECT_EQ(c.level_name, LevelName(c.field, c.level));
      if (c.neutral) {
        EXPECT_EQ(c.weight, 0.0);
      } else {
        EXPECT_NEAR(c.weight, std::log2(c.m / c.u), 1e-9);
      }
    }
    EXPECT_NEAR(e.total_weight, sum, 1e-9);
    EXPECT_NEAR(e.total_weight, t.model.MatchWeight(v), 1e-9);
    EXPECT_NEAR(e.probability, Model::Probability(e.total_weight), 1e-12);
    EXPECT_EQ(e.hard_conflict, v.hard_conflict());
  }
}

// ------------------------------------------------- term-frequency adjustment

TEST(ModelTest, TermFrequencyAdjustmentRewardsRareDates) {
  Model m;
  TokenFrequencyTable tf;
  // 1 record born on the rare date, 50 on the common one, 49 others.
  crypto::ClearIdentity rare = Child(), common = Child();
  common.dob = "2015-01-01";
  tf.Add(Decode(testing::EncodeClear(rare)));
  for (int i = 0; i < 50; ++i) tf.Add(Decode(testing::EncodeClear(common)));
  for (int i = 0; i < 49; ++i) {
    crypto::ClearIdentity c = Child();
    c.dob = absl::StrCat("2016-02-", 10 + i % 18);
    tf.Add(Decode(testing::EncodeClear(c)));
  }
  const ComparisonVector v_rare =
      Compare(Decode(testing::EncodeClear(rare)),
              Decode(testing::EncodeClear(rare)), m.comparison());
  const ComparisonVector v_common =
      Compare(Decode(testing::EncodeClear(common)),
              Decode(testing::EncodeClear(common)), m.comparison());
  ASSERT_EQ(v_rare.level(CompareField::kDob), L(DobLevel::kExact));

  // Off by default: the frequencies change nothing.
  EXPECT_EQ(m.MatchWeight(v_rare, &tf), m.MatchWeight(v_rare));
  ASSERT_THAT(m.SetTermFrequencyAdjusted(CompareField::kDob, true), IsOk());
  const double m_exact = m.params(CompareField::kDob, L(DobLevel::kExact)).m;
  EXPECT_NEAR(m.FieldWeight(v_rare, CompareField::kDob, &tf),
              std::log2(m_exact / 0.01), 1e-9);
  EXPECT_NEAR(m.FieldWeight(v_common, CompareField::kDob, &tf),
              std::log2(m_exact / 0.5), 1e-9);
  EXPECT_GT(m.MatchWeight(v_rare, &tf), m.MatchWeight(v_common, &tf));
  // Without a provider, or for an unknown token, the level's u applies.
  EXPECT_EQ(m.MatchWeight(v_rare, nullptr), m.MatchWeight(v_rare));
  ComparisonVector unknown = v_rare;
  unknown.dob_token ^= 1;
  EXPECT_EQ(m.MatchWeight(unknown, &tf), m.MatchWeight(unknown));

  const Explanation e = m.Explain(v_rare, &tf);
  const FieldContribution& dob =
      e.fields[static_cast<size_t>(CompareField::kDob)];
  EXPECT_TRUE(dob.tf_adjusted);
  EXPECT_NEAR(dob.u, 0.01, 1e-12);
  EXPECT_FALSE(e.fields[static_cast<size_t>(CompareField::kSex)].tf_adjusted);

  // A floor keeps a singleton token from dominating.
  ASSERT_THAT(m.set_min_term_frequency(0.1), IsOk());
  EXPECT_NEAR(m.FieldWeight(v_rare, CompareField::kDob, &tf),
              std::log2(m_exact / 0.1), 1e-9);

  EXPECT_THAT(m.SetTermFrequencyAdjusted(CompareField::kUpn, true),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("upn")));
}

TEST(ModelTest, PostcodeTermFrequencies) {
  Model m;
  ASSERT_THAT(m.SetTermFrequencyAdjusted(CompareField::kPostcode, true),
              IsOk());
  TokenFrequencyTable tf;
  const DecodedIdentity d = Decode(testing::EncodeClear(Child()));
  tf.Add(d);
  tf.Add(d);
  crypto::ClearIdentity c = Child();
  c.postcode = "M1 1AA";
  tf.Add(Decode(testing::EncodeClear(c)));
  tf.Add(Decode(testing::EncodeClear(c)));
  const ComparisonVector v = Compare(d, d, m.comparison());
  EXPECT_NEAR(m.FieldWeight(v, CompareField::kPostcode, &tf),
              std::log2(m.params(CompareField::kPostcode, 1).m / 0.5), 1e-9);
}

// ------------------------------------------------------------ validation

TEST(ModelTest, SettersValidate) {
  Model m;
  EXPECT_THAT(m.set_lambda(0), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(m.set_lambda(1), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(m.SetThresholds(5, 1),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(m.SetThresholds(-2, 9), IsOk());
  EXPECT_EQ(m.lower_threshold(), -2);
  ComparisonOptions bad;
  bad.name_low_cutoff = 2;
  EXPECT_THAT(m.set_comparison(bad),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(m.SetParams(CompareField::kDob, 0, 0.5, 0.5),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(m.EstimateU({}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(m.EstimateM({}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(Model::Probability(0), 0.5);
  EXPECT_NEAR(Model::Probability(10), 1.0 - 1.0 / 1025, 1e-12);
}

TEST(ModelTest, ProtoRoundTrip) {
  Model m = Get().model;
  ASSERT_THAT(m.SetTermFrequencyAdjusted(CompareField::kDob, true), IsOk());
  ASSERT_THAT(m.SetThresholds(-3, 7), IsOk());
  m.mutable_training_info()->records_per_source = {{"school_census", 18000},
                                                   {"health", 19000}};
  linkd::store::v1::LinkageModel proto;
  m.ToProto(&proto);
  absl::StatusOr<Model> back = Model::FromProto(proto);
  ASSERT_THAT(back.status(), IsOk());
  linkd::store::v1::LinkageModel again;
  back->ToProto(&again);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(proto, again));
  EXPECT_EQ(back->version(), m.version());
  EXPECT_TRUE(back->term_frequency_adjusted(CompareField::kDob));
  EXPECT_EQ(back->training_info().records_per_source.size(), 2u);
  EXPECT_EQ(back->training_info().em_iterations,
            m.training_info().em_iterations);
  for (size_t k = 0; k < Get().blocked_vectors.size(); k += 101) {
    const ComparisonVector& v = Get().blocked_vectors[k];
    EXPECT_DOUBLE_EQ(back->MatchWeight(v), m.MatchWeight(v));
  }
}

TEST(ModelTest, BadProtosAreRejectedNamingTheField) {
  linkd::store::v1::LinkageModel good;
  Model().ToProto(&good);
  ASSERT_THAT(Model::FromProto(good).status(), IsOk());

  struct Case {
    const char* expect;
    void (*mutate)(linkd::store::v1::LinkageModel*);
  };
  const Case cases[] = {
      {"lambda", [](auto* p) { p->set_lambda(0); }},
      {"lambda", [](auto* p) { p->set_lambda(NAN); }},
      {"name_low_cutoff",
       [](auto* p) { p->mutable_comparison()->set_name_low_cutoff(0.99); }},
      {"name_high_cutoff",
       [](auto* p) { p->mutable_comparison()->set_name_high_cutoff(0); }},
      {"thresholds", [](auto* p) { p->set_lower_threshold(100); }},
      {"min_term_frequency", [](auto* p) { p->set_min_term_frequency(0); }},
      {"fields: field family_name missing",
       [](auto* p) { p->mutable_fields()->RemoveLast(); }},
      {"fields: unknown",
       [](auto* p) { p->mutable_fields(0)->set_field("x"); }},
      {"fields[upn]: repeated",
       [](auto* p) { *p->add_fields() = p->fields(0); }},
      {"fields[dob].levels: unknown",
       [](auto* p) {
         p->mutable_fields(2)->mutable_levels(0)->set_level("unit");
       }},
      {"fields[dob].levels: unknown",
       [](auto* p) {
         p->mutable_fields(2)->mutable_levels(0)->set_level("missing");
       }},
      {"fields[dob].levels[exact]: repeated",
       [](auto* p) {
         *p->mutable_fields(2)->add_levels() = p->fields(2).levels(0);
       }},
      {"fields[dob].levels: level disagree missing",
       [](auto* p) { p->mutable_fields(2)->mutable_levels()->RemoveLast(); }},
      {"fields[sex].levels[agree].m",
       [](auto* p) { p->mutable_fields(3)->mutable_levels(0)->set_m(1.0); }},
      {"fields[sex].levels[agree].u",
       [](auto* p) { p->mutable_fields(3)->mutable_levels(0)->set_u(-0.1); }},
      {"fields[sex].levels: m values must sum to 1",
       [](auto* p) { p->mutable_fields(3)->mutable_levels(0)->set_m(0.5); }},
      {"fields[sex].levels: u values must sum to 1",
       [](auto* p) { p->mutable_fields(3)->mutable_levels(0)->set_u(0.9); }},
      {"fields[upn].term_frequency_adjusted",
       [](auto* p) {
         p->mutable_fields(0)->set_term_frequency_adjusted(true);
       }},
  };
  for (const Case& c : cases) {
    linkd::store::v1::LinkageModel bad = good;
    c.mutate(&bad);
    EXPECT_THAT(
        Model::FromProto(bad).status(),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.expect)))
        << c.expect;
  }
}

}  // namespace
}  // namespace linkd::matcher
