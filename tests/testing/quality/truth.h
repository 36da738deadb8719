// Ground truth and the clustering under test, for linkage-quality figures.
//
// A Truth says which person each source record belongs to (and that
// person's origin subgroup); a Clustering says which cluster (SUI) a linker
// put each of those records in. Both are read from CSV files:
//   truth.csv   source,record_id,person_id[,origin]   (linkd-synth writes it)
//   links.csv   source,record_id,sui       (linkctl links --format csv)
// Columns are found by header name, so their order does not matter and
// other columns are ignored. Fields may be quoted as in RFC 4180 (no line
// breaks inside a field). Error messages give the line and column, never a
// value.
#ifndef LINKD_TESTS_TESTING_QUALITY_TRUTH_H_
#define LINKD_TESTS_TESTING_QUALITY_TRUTH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace linkd::quality {

// Which person each record is. Records are numbered 0..size()-1 in the
// order they were added; sources, persons and origins get dense ids in
// order of first appearance. Not thread-safe while being built; const
// methods may be called concurrently afterwards.
class Truth {
 public:
  Truth() = default;
  Truth(Truth&&) = default;
  Truth& operator=(Truth&&) = default;

  // Adds one record of `person_id`, whose origin subgroup is `origin` (may
  // be empty: unknown). Returns INVALID_ARGUMENT if source, record_id or
  // person_id is empty, if (source, record_id) was added before, or if the
  // person was given another origin before.
  absl::Status Add(absl::string_view source, absl::string_view record_id,
                   absl::string_view person_id, absl::string_view origin);

  // The index of a record, or -1 if there is no such record.
  int64_t Find(absl::string_view source, absl::string_view record_id) const;

  size_t size() const { return person_.size(); }
  uint32_t source_of(size_t record) const { return source_[record]; }
  uint32_t person_of(size_t record) const { return person_[record]; }
  uint32_t origin_of_person(uint32_t person) const {
    return person_origin_[person];
  }

  size_t num_sources() const { return source_names_.size(); }
  const std::string& source_name(uint32_t source) const {
    return source_names_[source];
  }
  size_t num_persons() const { return person_origin_.size(); }
  size_t num_origins() const { return origin_names_.size(); }
  // "" for records given without an origin.
  const std::string& origin_name(uint32_t origin) const {
    return origin_names_[origin];
  }

 private:
  uint32_t InternSource(absl::string_view source);

  std::vector<uint32_t> source_;  // per record
  std::vector<uint32_t> person_;  // per record
  std::vector<uint32_t> person_origin_;
  std::vector<std::string> source_names_;
  std::vector<std::string> origin_names_;
  absl::flat_hash_map<std::string, uint32_t> source_ids_;
  absl::flat_hash_map<std::string, uint32_t> origin_ids_;
  absl::flat_hash_map<std::string, uint32_t> person_ids_;
  // Per source: record_id -> record index.
  std::vector<absl::flat_hash_map<std::string, uint32_t>> records_;
  // Speeds up files grouped by person (as linkd-synth writes them).
  std::string last_person_;
  uint32_t last_person_id_ = 0;
};

// A clustering of a Truth's records: cluster_of[i] is the dense cluster id
// (0..num_clusters-1) of truth record i.
struct Clustering {
  std::vector<uint32_t> cluster_of;
  uint32_t num_clusters = 0;
  // Truth records that the links did not mention; each is scored as a
  // cluster of its own (an unlinked record).
  int64_t records_not_in_links = 0;
  // Links rows whose record the truth does not know; ignored.
  int64_t links_not_in_truth = 0;
};

// Builds a Clustering from (source, record_id, sui) rows. `truth` must
// outlive the builder. Not thread-safe.
class ClusteringBuilder {
 public:
  explicit ClusteringBuilder(const Truth& truth);

  // Puts the record in the cluster named `sui`. Returns INVALID_ARGUMENT if
  // sui is empty or the record was given before. A record unknown to the
  // truth is counted in links_not_in_truth and otherwise ignored.
  absl::Status Add(absl::string_view source, absl::string_view record_id,
                   absl::string_view sui);

  // The clustering; records never added become singleton clusters. Call
  // once; the builder is empty afterwards.
  Clustering Finish();

 private:
  static constexpr uint32_t kUnassigned = ~uint32_t{0};
  const Truth& truth_;
  Clustering result_;
  absl::flat_hash_map<std::string, uint32_t> sui_ids_;
};

// The truth itself as a clustering (one cluster per person) and the
// clustering where every record is alone: the perfect and the null linker.
Clustering TruthAsClustering(const Truth& truth);
Clustering SingletonClustering(const Truth& truth);

// Parses a truth CSV (header with source, record_id, person_id and
// optionally origin). Returns INVALID_ARGUMENT naming the line (1-based) and
// the reason: missing header column, malformed quoting, too few fields, or
// anything Truth::Add refuses.
absl::StatusOr<Truth> ParseTruthCsv(absl::string_view csv);

// Parses a links CSV (header with source, record_id, sui) against `truth`.
// Errors as ParseTruthCsv, plus anything ClusteringBuilder::Add refuses.
absl::StatusOr<Clustering> ParseLinksCsv(absl::string_view csv,
                                         const Truth& truth);

// Reads a whole file ("-" is standard input). NOT_FOUND naming the path if
// it cannot be opened, INTERNAL if reading fails.
absl::StatusOr<std::string> ReadFileOrStdin(const std::string& path);

}  // namespace linkd::quality

#endif  // LINKD_TESTS_TESTING_QUALITY_TRUTH_H_
