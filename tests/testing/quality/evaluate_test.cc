#include "tests/testing/quality/evaluate.h"

#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/util/status_matchers.h"
#include "linkd/util/temp_dir.h"
#include "tests/testing/quality/cli.h"
#include "tests/testing/quality/truth.h"
#include "tests/testing/synth/population.h"

namespace linkd::quality {
namespace {

using ::linkd::testing::IsOk;
using ::testing::HasSubstr;

// Six records of three persons, figures worked by hand below.
//   P1 (english):     school s1, social c1, health h1
//   P2 (south_asian): school s2, health h2
//   P3 (south_asian): health h3
// Sources by first appearance: school, social, health. True pairs: 4
// (s1c1, s1h1, c1h1, s2h2), all cross-source: school x social 1,
// school x health 2, social x health 1.
constexpr char kTruth[] =
    "source,record_id,person_id,origin\n"
    "school,s1,P1,english\n"
    "social,c1,P1,english\n"
    "health,h1,P1,english\n"
    "school,s2,P2,south_asian\n"
    "health,h2,P2,south_asian\n"
    "health,h3,P3,south_asian\n";

// `clusters`: the sui of s1, c1, h1, s2, h2, h3 in that order.
QualityReport Score(const std::vector<std::string>& suis) {
  absl::StatusOr<Truth> truth = ParseTruthCsv(kTruth);
  EXPECT_THAT(truth.status(), IsOk());
  const char* ids[6][2] = {{"school", "s1"}, {"social", "c1"},
                           {"health", "h1"}, {"school", "s2"},
                           {"health", "h2"}, {"health", "h3"}};
  std::string links = "source,record_id,sui\n";
  for (size_t i = 0; i < suis.size(); ++i) {
    absl::StrAppend(&links, ids[i][0], ",", ids[i][1], ",", suis[i], "\n");
  }
  absl::StatusOr<Clustering> c = ParseLinksCsv(links, *truth);
  EXPECT_THAT(c.status(), IsOk());
  return Evaluate(*truth, *c);
}

const PairCounts& SourcePair(const QualityReport& r, const std::string& a,
                             const std::string& b) {
  for (const SourcePairFigures& p : r.source_pairs) {
    if (p.source_a == a && p.source_b == b) return p.pairs;
  }
  ADD_FAILURE() << a << " x " << b;
  static const PairCounts none;
  return none;
}

const SubgroupFigures& Origin(const QualityReport& r, const std::string& o) {
  for (const SubgroupFigures& s : r.subgroups) {
    if (s.origin == o) return s;
  }
  ADD_FAILURE() << o;
  static const SubgroupFigures none;
  return none;
}

void ExpectCounts(const PairCounts& p, int64_t t, int64_t l, int64_t c) {
  EXPECT_EQ(p.true_pairs, t);
  EXPECT_EQ(p.linked_pairs, l);
  EXPECT_EQ(p.correct, c);
}

TEST(EvaluateTest, PerfectClustering) {
  const QualityReport r = Score({"A", "A", "A", "B", "B", "C"});
  ExpectCounts(r.all, 4, 4, 4);
  ExpectCounts(r.cross_source, 4, 4, 4);
  EXPECT_EQ(r.all.precision(), 1.0);
  EXPECT_EQ(r.all.recall(), 1.0);
  EXPECT_EQ(r.all.f1(), 1.0);
  EXPECT_EQ(r.clusters.records, 6);
  EXPECT_EQ(r.clusters.persons, 3);
  EXPECT_EQ(r.clusters.clusters, 3);
  EXPECT_EQ(r.clusters.exact_persons, 3);
  EXPECT_EQ(r.clusters.split_persons, 0);
  EXPECT_EQ(r.clusters.merged_clusters, 0);
  EXPECT_EQ(r.clusters.singleton_clusters, 1);
  EXPECT_EQ(r.clusters.bcubed_precision, 1.0);
  EXPECT_EQ(r.clusters.bcubed_recall, 1.0);
  ASSERT_EQ(r.source_pairs.size(), 6u);  // 3 cross + 3 within
  EXPECT_EQ(r.source_pairs[0].source_a, "school");
  EXPECT_EQ(r.source_pairs[0].source_b, "social");
  ExpectCounts(SourcePair(r, "school", "health"), 2, 2, 2);
  ExpectCounts(SourcePair(r, "health", "health"), 0, 0, 0);
  EXPECT_TRUE(std::isnan(SourcePair(r, "health", "health").f1()));
  // Subgroups, largest first (south_asian has 2 persons).
  ASSERT_EQ(r.subgroups.size(), 2u);
  EXPECT_EQ(r.subgroups[0].origin, "south_asian");
  EXPECT_EQ(r.subgroups[0].persons, 2);
  EXPECT_EQ(r.subgroups[0].records, 3);
  EXPECT_EQ(r.subgroups[0].exact_persons, 2);
  ExpectCounts(Origin(r, "english").all, 3, 3, 3);
  ExpectCounts(Origin(r, "south_asian").cross_source, 1, 1, 1);
}

TEST(EvaluateTest, SingletonClustering) {
  const QualityReport r = Score({"1", "2", "3", "4", "5", "6"});
  ExpectCounts(r.all, 4, 0, 0);
  EXPECT_TRUE(std::isnan(r.all.precision()));
  EXPECT_EQ(r.all.recall(), 0.0);
  EXPECT_EQ(r.all.f1(), 0.0);
  EXPECT_EQ(r.clusters.clusters, 6);
  EXPECT_EQ(r.clusters.singleton_clusters, 6);
  EXPECT_EQ(r.clusters.exact_persons, 1);  // P3, alone in truth too
  EXPECT_EQ(r.clusters.split_persons, 2);
  EXPECT_EQ(r.clusters.multi_record_persons, 2);
  EXPECT_EQ(r.clusters.bcubed_precision, 1.0);
  // P1: 3 x 1/3, P2: 2 x 1/2, P3: 1 -> 3 / 6.
  EXPECT_DOUBLE_EQ(r.clusters.bcubed_recall, 0.5);
  EXPECT_EQ(Origin(r, "english").all.recall(), 0.0);
}

TEST(EvaluateTest, SplitPerson) {
  // P1's health record is left apart.
  const QualityReport r = Score({"A", "A", "X", "B", "B", "C"});
  ExpectCounts(r.all, 4, 2, 2);
  EXPECT_EQ(r.all.precision(), 1.0);
  EXPECT_EQ(r.all.recall(), 0.5);
  EXPECT_DOUBLE_EQ(r.all.f1(), 2.0 / 3);
  ExpectCounts(SourcePair(r, "school", "social"), 1, 1, 1);
  ExpectCounts(SourcePair(r, "school", "health"), 2, 1, 1);
  ExpectCounts(SourcePair(r, "social", "health"), 1, 0, 0);
  EXPECT_EQ(r.clusters.exact_persons, 2);
  EXPECT_EQ(r.clusters.split_persons, 1);
  EXPECT_EQ(r.clusters.merged_clusters, 0);
  EXPECT_EQ(r.clusters.bcubed_precision, 1.0);
  // P1: 2 x 2/3 + 1/3, P2: 2, P3: 1 -> (14/3) / 6.
  EXPECT_DOUBLE_EQ(r.clusters.bcubed_recall, 14.0 / 18);
  EXPECT_EQ(Origin(r, "english").exact_persons, 0);
  EXPECT_DOUBLE_EQ(Origin(r, "english").all.recall(), 1.0 / 3);
  EXPECT_EQ(Origin(r, "south_asian").all.recall(), 1.0);
}

TEST(EvaluateTest, MergedPersonsOfOneSubgroup) {
  // P2 and P3 (both south_asian) merged.
  const QualityReport r = Score({"A", "A", "A", "B", "B", "B"});
  ExpectCounts(r.all, 4, 6, 4);
  EXPECT_DOUBLE_EQ(r.all.precision(), 4.0 / 6);
  EXPECT_EQ(r.all.recall(), 1.0);
  EXPECT_DOUBLE_EQ(r.all.f1(), 0.8);
  ExpectCounts(SourcePair(r, "school", "health"), 2, 3, 2);
  // The merge makes a within-source link that is wrong.
  ExpectCounts(SourcePair(r, "health", "health"), 0, 1, 0);
  EXPECT_EQ(SourcePair(r, "health", "health").f1(), 0.0);
  EXPECT_EQ(r.clusters.exact_persons, 1);
  EXPECT_EQ(r.clusters.merged_clusters, 1);
  EXPECT_EQ(r.clusters.records_in_merged_clusters, 3);
  EXPECT_EQ(r.clusters.split_persons, 0);
  // P1: 3, P2: 2 x 2/3, P3: 1/3 -> (14/3) / 6.
  EXPECT_DOUBLE_EQ(r.clusters.bcubed_precision, 14.0 / 18);
  EXPECT_EQ(r.clusters.bcubed_recall, 1.0);
  const SubgroupFigures& sa = Origin(r, "south_asian");
  ExpectCounts(sa.all, 1, 3, 1);
  // Cluster B = {s2, h2, h3}: cross pairs s2h2, s2h3.
  ExpectCounts(sa.cross_source, 1, 2, 1);
  ExpectCounts(Origin(r, "english").all, 3, 3, 3);
}

TEST(EvaluateTest, MergeAcrossSubgroups) {
  // P3 (south_asian) merged into P1 (english): {s1,c1,h1,h3}, {s2,h2}.
  const QualityReport r = Score({"A", "A", "A", "B", "B", "A"});
  ExpectCounts(r.all, 4, 7, 4);
  ExpectCounts(r.cross_source, 4, 6, 4);
  const SubgroupFigures& en = Origin(r, "english");
  const SubgroupFigures& sa = Origin(r, "south_asian");
  // Every pair of cluster A touches english (6); south_asian touches the
  // three pairs with h3 and the pair s2h2.
  ExpectCounts(en.all, 3, 6, 3);
  ExpectCounts(sa.all, 1, 4, 1);
  // Cross-source: A has 5 (all but h1h3): all touch english; h3 makes 2
  // (s1h3, c1h3), plus s2h2.
  ExpectCounts(en.cross_source, 3, 5, 3);
  ExpectCounts(sa.cross_source, 1, 3, 1);
  EXPECT_DOUBLE_EQ(sa.all.precision(), 0.25);
  EXPECT_EQ(sa.exact_persons, 1);  // P2
  EXPECT_EQ(en.exact_persons, 0);
}

// Brute force over every pair of a random case, against the counting.
TEST(EvaluateTest, AgreesWithBruteForcePairEnumeration) {
  std::mt19937_64 rng(1234);
  for (int round = 0; round < 20; ++round) {
    const int persons = 40 + static_cast<int>(rng() % 40);
    const int num_sources = 1 + static_cast<int>(rng() % 4);
    std::string csv = "source,record_id,person_id,origin\n";
    std::vector<int> person, source, origin;
    for (int p = 0; p < persons; ++p) {
      const int o = static_cast<int>(rng() % 3);
      const int k = 1 + static_cast<int>(rng() % 5);
      for (int i = 0; i < k; ++i) {
        const int s = static_cast<int>(rng() % num_sources);
        absl::StrAppend(&csv, "src", s, ",r", person.size(), ",p", p, ",o", o,
                        "\n");
        person.push_back(p);
        source.push_back(s);
        origin.push_back(o);
      }
    }
    absl::StatusOr<Truth> truth = ParseTruthCsv(csv);
    ASSERT_THAT(truth.status(), IsOk());
    // A noisy clustering: mostly the person, sometimes split off, sometimes
    // merged into a neighbour's cluster; a few records left out.
    const size_t n = person.size();
    std::vector<int> cluster(n);
    std::string links = "source,record_id,sui\n";
    for (size_t i = 0; i < n; ++i) {
      const uint64_t u = rng() % 10;
      cluster[i] = u < 6   ? person[i]
                   : u < 8 ? 1000 + static_cast<int>(i)
                           : static_cast<int>((person[i] + 1) % persons);
      if (rng() % 20 == 0) {
        cluster[i] = 5000 + static_cast<int>(i);  // unlinked: not listed
        continue;
      }
      absl::StrAppend(&links, "src", source[i], ",r", i, ",S", cluster[i],
                      "\n");
    }
    absl::StatusOr<Clustering> c = ParseLinksCsv(links, *truth);
    ASSERT_THAT(c.status(), IsOk());
    const QualityReport r = Evaluate(*truth, *c);

    // Brute force. Source ids in the truth are by first appearance.
    std::map<int, uint32_t> sid;
    for (size_t i = 0; i < n; ++i) {
      sid.emplace(source[i], truth->source_of(i));
    }
    std::map<std::pair<uint32_t, uint32_t>, PairCounts> by_pair;
    std::map<int, PairCounts> o_all, o_cross;
    PairCounts all, cross;
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = i + 1; j < n; ++j) {
        const bool same = person[i] == person[j];
        const bool linked = cluster[i] == cluster[j];
        const bool x = source[i] != source[j];
        const uint32_t a = std::min(sid[source[i]], sid[source[j]]);
        const uint32_t b = std::max(sid[source[i]], sid[source[j]]);
        for (PairCounts* p : {&all, &by_pair[{a, b}]}) {
          p->true_pairs += same;
          p->linked_pairs += linked;
          p->correct += same && linked;
        }
        if (x) {
          cross.true_pairs += same;
          cross.linked_pairs += linked;
          cross.correct += same && linked;
        }
        for (int o = 0; o < 3; ++o) {
          const bool touch = origin[i] == o || origin[j] == o;
          if (!touch) continue;
          for (PairCounts* p :
               x ? std::vector<PairCounts*>{&o_all[o], &o_cross[o]}
                 : std::vector<PairCounts*>{&o_all[o]}) {
            p->true_pairs += same;
            p->linked_pairs += linked;
            p->correct += same && linked;
          }
        }
      }
    }
    ExpectCounts(r.all, all.true_pairs, all.linked_pairs, all.correct);
    ExpectCounts(r.cross_source, cross.true_pairs, cross.linked_pairs,
                 cross.correct);
    for (const SourcePairFigures& f : r.source_pairs) {
      const int sa = std::stoi(f.source_a.substr(3));
      const int sb = std::stoi(f.source_b.substr(3));
      const PairCounts& want =
          by_pair[{std::min(sid[sa], sid[sb]), std::max(sid[sa], sid[sb])}];
      ExpectCounts(f.pairs, want.true_pairs, want.linked_pairs, want.correct);
    }
    EXPECT_EQ(r.source_pairs.size(),
              static_cast<size_t>(sid.size() * (sid.size() + 1) / 2));
    for (const SubgroupFigures& s : r.subgroups) {
      const int o = std::stoi(s.origin.substr(1));
      ExpectCounts(s.all, o_all[o].true_pairs, o_all[o].linked_pairs,
                   o_all[o].correct);
      ExpectCounts(s.cross_source, o_cross[o].true_pairs,
                   o_cross[o].linked_pairs, o_cross[o].correct);
    }
    // B-cubed, exact, split and merged, record by record.
    double p3 = 0, r3 = 0;
    int exact = 0, split = 0;
    std::map<int, std::set<int>> persons_in, clusters_of;
    for (size_t i = 0; i < n; ++i) {
      persons_in[cluster[i]].insert(person[i]);
      clusters_of[person[i]].insert(cluster[i]);
      double both = 0, in_cluster = 0, in_person = 0;
      for (size_t j = 0; j < n; ++j) {
        in_cluster += cluster[i] == cluster[j];
        in_person += person[i] == person[j];
        both += cluster[i] == cluster[j] && person[i] == person[j];
      }
      p3 += both / in_cluster;
      r3 += both / in_person;
    }
    for (const auto& [p, cs] : clusters_of) {
      split += cs.size() > 1;
      exact += cs.size() == 1 && persons_in[*cs.begin()].size() == 1;
    }
    int merged = 0;
    for (const auto& [cl, ps] : persons_in) merged += ps.size() > 1;
    EXPECT_NEAR(r.clusters.bcubed_precision, p3 / static_cast<double>(n),
                1e-12);
    EXPECT_NEAR(r.clusters.bcubed_recall, r3 / static_cast<double>(n), 1e-12);
    EXPECT_EQ(r.clusters.exact_persons, exact);
    EXPECT_EQ(r.clusters.split_persons, split);
    EXPECT_EQ(r.clusters.merged_clusters, merged);
    EXPECT_EQ(r.clusters.clusters, static_cast<int64_t>(persons_in.size()));
  }
}

// linkd-synth's truth.csv, scored with the perfect and the null linker.
TEST(EvaluateTest, SyntheticPopulationSanity) {
  linkd::testing::TempDir dir;
  synth::Options options;
  options.seed = 3;
  options.num_people = 3000;
  ASSERT_THAT(synth::WritePopulation(options, dir.path()).status(), IsOk());
  std::ifstream in(dir.Sub("truth.csv"));
  const std::string text((std::istreambuf_iterator<char>(in)),
                         std::istreambuf_iterator<char>());
  absl::StatusOr<Truth> truth = ParseTruthCsv(text);
  ASSERT_THAT(truth.status(), IsOk());
  EXPECT_EQ(truth->num_sources(), 3u);
  EXPECT_GE(truth->num_origins(), 8u);

  const QualityReport perfect = Evaluate(*truth, TruthAsClustering(*truth));
  EXPECT_EQ(perfect.all.f1(), 1.0);
  EXPECT_EQ(perfect.cross_source.f1(), 1.0);
  EXPECT_EQ(perfect.clusters.exact_persons, perfect.clusters.persons);
  EXPECT_GT(perfect.all.true_pairs, 1000);
  // Duplicate registrations give within-source true pairs.
  int64_t within = 0;
  for (const SourcePairFigures& p : perfect.source_pairs) {
    if (p.source_a == p.source_b) within += p.pairs.true_pairs;
  }
  EXPECT_GT(within, 0);
  for (const SubgroupFigures& s : perfect.subgroups) {
    EXPECT_FALSE(s.origin.empty());
    if (s.all.true_pairs > 0) {
      EXPECT_EQ(s.all.recall(), 1.0) << s.origin;
    }
  }

  const QualityReport none = Evaluate(*truth, SingletonClustering(*truth));
  EXPECT_EQ(none.all.recall(), 0.0);
  EXPECT_EQ(none.all.f1(), 0.0);
  EXPECT_EQ(none.all.linked_pairs, 0);
  EXPECT_EQ(none.all.true_pairs, perfect.all.true_pairs);
  EXPECT_EQ(none.clusters.clusters, none.clusters.records);
}

TEST(FormatTest, TextAndJsonCarryTheFigures) {
  const QualityReport r = Score({"A", "A", "X", "B", "B", "C"});
  const std::string text = FormatText(r);
  EXPECT_THAT(text, HasSubstr("all pairs"));
  EXPECT_THAT(text, HasSubstr("school x health"));
  EXPECT_THAT(text, HasSubstr("health (within source)"));
  EXPECT_THAT(text, HasSubstr("0.66667"));  // F1 of all pairs
  EXPECT_THAT(text, HasSubstr("south_asian"));
  const std::string json = FormatJson(r);
  EXPECT_THAT(json, HasSubstr("\"all\":{\"true_pairs\":4,\"linked_pairs\":2,"
                              "\"correct\":2,\"precision\":1.000000,"
                              "\"recall\":0.500000,\"f1\":0.666667}"));
  // Undefined figures are null, never NaN.
  EXPECT_THAT(json, HasSubstr("\"precision\":null"));
  EXPECT_THAT(json, ::testing::Not(HasSubstr("nan")));
  EXPECT_EQ(json.front(), '{');
  EXPECT_EQ(json.substr(json.size() - 2), "}\n");
}

TEST(CliTest, RunsOnFilesAndChecksThresholds) {
  linkd::testing::TempDir dir;
  std::ofstream(dir.Sub("truth.csv")) << kTruth;
  std::ofstream(dir.Sub("links.csv"))
      << "source,record_id,sui\nschool,s1,A\nsocial,c1,A\nhealth,h1,X\n"
         "school,s2,B\nhealth,h2,B\nhealth,h3,C\n";
  std::string out, err;
  EXPECT_EQ(RunQualityCommand({"--truth", dir.Sub("truth.csv"), "--links",
                               dir.Sub("links.csv")},
                              &out, &err),
            0)
      << err;
  EXPECT_THAT(out, HasSubstr("B-cubed"));
  out.clear();
  EXPECT_EQ(RunQualityCommand(
                {"--truth", dir.Sub("truth.csv"), "--links",
                 dir.Sub("links.csv"), "--format", "json", "--min-f1", "0.6"},
                &out, &err),
            0);
  EXPECT_THAT(out, HasSubstr("\"by_origin\""));
  err.clear();
  EXPECT_EQ(RunQualityCommand({"--truth", dir.Sub("truth.csv"), "--links",
                               dir.Sub("links.csv"), "--min-f1", "0.7"},
                              &out, &err),
            3);
  EXPECT_THAT(err, HasSubstr("below"));
  EXPECT_EQ(RunQualityCommand({"--truth", dir.Sub("truth.csv")}, &out, &err),
            2);
  EXPECT_EQ(RunQualityCommand({"--truth", dir.Sub("truth.csv"), "--links",
                               dir.Sub("links.csv"), "--format", "xml"},
                              &out, &err),
            2);
  err.clear();
  EXPECT_EQ(RunQualityCommand({"--truth", dir.Sub("missing.csv"), "--links",
                               dir.Sub("links.csv")},
                              &out, &err),
            1);
  EXPECT_THAT(err, HasSubstr("cannot open"));
  std::ofstream(dir.Sub("bad.csv")) << "source,record_id,sui\nschool,s1,\n";
  err.clear();
  EXPECT_EQ(RunQualityCommand({"--truth", dir.Sub("truth.csv"), "--links",
                               dir.Sub("bad.csv")},
                              &out, &err),
            1);
  EXPECT_THAT(err, HasSubstr("line 2: empty sui"));
}

}  // namespace
}  // namespace linkd::quality
