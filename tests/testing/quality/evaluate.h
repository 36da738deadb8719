// Linkage-quality figures of a clustering against the ground truth:
// pairwise precision/recall/F1 (overall, cross-source, per pair of sources
// and within each source), cluster-level figures (exact clusters, split
// persons, merged clusters, B-cubed), and the same by origin subgroup.
//
// A "true pair" is two records of one person; a "linked pair" is two
// records in one cluster. Pairs are never enumerated: they are counted from
// group sizes (C(n, 2) per person, per cluster and per person x cluster
// cell), so a million records take well under a second after parsing.
//
//   absl::StatusOr<Truth> truth = ParseTruthCsv(...);
//   absl::StatusOr<Clustering> links = ParseLinksCsv(..., *truth);
//   QualityReport report = Evaluate(*truth, *links);
//   std::cout << FormatText(report);
#ifndef LINKD_TESTS_TESTING_QUALITY_EVALUATE_H_
#define LINKD_TESTS_TESTING_QUALITY_EVALUATE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "tests/testing/quality/truth.h"

namespace linkd::quality {

// Pair counts of one slice of the pairs, and the figures they give. The
// figures are NaN where undefined (precision with no linked pair, recall
// with no true pair, F1 with neither).
struct PairCounts {
  int64_t true_pairs = 0;    // pairs of one person
  int64_t linked_pairs = 0;  // pairs in one cluster
  int64_t correct = 0;       // both: true positives

  double precision() const;  // correct / linked_pairs
  double recall() const;     // correct / true_pairs
  // 2 * correct / (true_pairs + linked_pairs); 0 when nothing is correct.
  double f1() const;
};

// Pairs with one record from `source_a` and one from `source_b`;
// source_a == source_b is the within-source (duplicate registration) pairs.
struct SourcePairFigures {
  std::string source_a;
  std::string source_b;
  PairCounts pairs;
};

// Figures for the persons of one origin subgroup. True pairs are always
// within the subgroup; linked pairs are those with at least one record of
// the subgroup, so precision is "of the links that touch this subgroup,
// the share that are right" and recall is the subgroup's match rate.
struct SubgroupFigures {
  std::string origin;  // "" if the truth has no origin for these persons
  int64_t persons = 0;
  int64_t records = 0;
  int64_t exact_persons = 0;  // see ClusterFigures
  PairCounts all;             // every pair
  PairCounts cross_source;    // pairs of records from different sources
};

struct ClusterFigures {
  int64_t records = 0;
  int64_t persons = 0;
  int64_t clusters = 0;
  int64_t singleton_clusters = 0;
  // Persons whose records form exactly one cluster holding nothing else.
  int64_t exact_persons = 0;
  // Persons whose records are spread over two or more clusters.
  int64_t split_persons = 0;
  // Persons with two or more records (the only ones that can be split).
  int64_t multi_record_persons = 0;
  // Clusters holding records of two or more persons.
  int64_t merged_clusters = 0;
  // Records in a merged cluster.
  int64_t records_in_merged_clusters = 0;
  // B-cubed: the mean over records of |own cluster and own person| divided
  // by |own cluster| (precision) or |own person| (recall).
  double bcubed_precision = 0;
  double bcubed_recall = 0;
  double bcubed_f1 = 0;
};

struct QualityReport {
  ClusterFigures clusters;
  PairCounts all;           // every pair
  PairCounts cross_source;  // pairs of records from different sources
  // Every pair of sources a <= b in order of source id (order of first
  // appearance in the truth), within-source pairs included.
  std::vector<SourcePairFigures> source_pairs;
  // One entry per origin, by decreasing number of persons.
  std::vector<SubgroupFigures> subgroups;
  // Records per source, in source id order.
  std::vector<std::pair<std::string, int64_t>> records_per_source;
  int64_t records_not_in_links = 0;  // copied from the Clustering
  int64_t links_not_in_truth = 0;
};

// Scores `clustering` against `truth`. `clustering.cluster_of` must have
// one entry per truth record (as ClusteringBuilder and the helpers in
// truth.h make it), each below num_clusters. Thread-safe (no shared state).
QualityReport Evaluate(const Truth& truth, const Clustering& clustering);

// A human-readable report (several aligned tables, ends with a newline).
std::string FormatText(const QualityReport& report);
// The same figures as one JSON object (NaN figures are null).
std::string FormatJson(const QualityReport& report);

}  // namespace linkd::quality

#endif  // LINKD_TESTS_TESTING_QUALITY_EVALUATE_H_
