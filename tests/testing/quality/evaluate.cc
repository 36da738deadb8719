#include "tests/testing/quality/evaluate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace linkd::quality {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

int64_t Choose2(int64_t n) { return n * (n - 1) / 2; }

double Ratio(int64_t num, int64_t den) {
  return den == 0 ? kNaN : static_cast<double>(num) / static_cast<double>(den);
}

// Per-source counts of one group of records, turned into pair counts per
// pair of sources. The group's sources are kept in a touched list, so a
// group costs O(its size), whatever the number of sources.
class SourceCounter {
 public:
  explicit SourceCounter(size_t num_sources) : count_(num_sources, 0) {}

  void Add(uint32_t source) {
    if (count_[source]++ == 0) touched_.push_back(source);
  }
  int64_t count(uint32_t source) const { return count_[source]; }
  // Sum over sources of C(count, 2): the within-source pairs.
  int64_t WithinPairs() const {
    int64_t sum = 0;
    for (uint32_t s : touched_) sum += Choose2(count_[s]);
    return sum;
  }

  // Adds the group's pairs to `matrix` (num_sources^2, entry a * S + b with
  // a <= b), and resets for the next group.
  void Flush(std::vector<int64_t>* matrix) {
    const size_t n = count_.size();
    std::sort(touched_.begin(), touched_.end());
    for (size_t i = 0; i < touched_.size(); ++i) {
      const uint32_t a = touched_[i];
      (*matrix)[a * n + a] += Choose2(count_[a]);
      for (size_t j = i + 1; j < touched_.size(); ++j) {
        const uint32_t b = touched_[j];
        (*matrix)[a * n + b] += count_[a] * count_[b];
      }
    }
    for (uint32_t s : touched_) count_[s] = 0;
    touched_.clear();
  }

 private:
  std::vector<int64_t> count_;
  std::vector<uint32_t> touched_;
};

struct ByPerson {
  uint32_t person;
  uint32_t cluster;
  uint32_t source;
};
struct ByCluster {
  uint32_t cluster;
  uint32_t origin;
  uint32_t source;
};

}  // namespace

double PairCounts::precision() const { return Ratio(correct, linked_pairs); }
double PairCounts::recall() const { return Ratio(correct, true_pairs); }
double PairCounts::f1() const {
  return Ratio(2 * correct, true_pairs + linked_pairs);
}

QualityReport Evaluate(const Truth& truth, const Clustering& clustering) {
  const size_t n = truth.size();
  const size_t num_sources = truth.num_sources();
  const size_t num_origins = truth.num_origins();
  const size_t num_clusters = clustering.num_clusters;
  QualityReport report;
  report.records_not_in_links = clustering.records_not_in_links;
  report.links_not_in_truth = clustering.links_not_in_truth;

  std::vector<int64_t> cluster_size(num_clusters, 0);
  std::vector<int64_t> per_source(num_sources, 0);
  for (size_t i = 0; i < n; ++i) {
    ++cluster_size[clustering.cluster_of[i]];
    ++per_source[truth.source_of(i)];
  }

  // True pairs (by person) and correct pairs (by person x cluster cell),
  // per pair of sources and per origin.
  std::vector<int64_t> true_m(num_sources * num_sources, 0);
  std::vector<int64_t> correct_m(num_sources * num_sources, 0);
  std::vector<int64_t> linked_m(num_sources * num_sources, 0);
  std::vector<SubgroupFigures> sub(num_origins);
  std::vector<int64_t> cells_in_cluster(num_clusters, 0);
  ClusterFigures& cf = report.clusters;
  double b3_precision = 0, b3_recall = 0;
  {
    std::vector<ByPerson> v(n);
    for (size_t i = 0; i < n; ++i) {
      v[i] = {truth.person_of(i), clustering.cluster_of[i], truth.source_of(i)};
    }
    std::sort(v.begin(), v.end(), [](const ByPerson& a, const ByPerson& b) {
      return a.person != b.person     ? a.person < b.person
             : a.cluster != b.cluster ? a.cluster < b.cluster
                                      : a.source < b.source;
    });
    SourceCounter person_counter(num_sources), cell_counter(num_sources);
    for (size_t b = 0; b < n;) {
      const uint32_t person = v[b].person;
      size_t e = b;
      while (e < n && v[e].person == person) ++e;
      const int64_t person_size = static_cast<int64_t>(e - b);
      SubgroupFigures& s = sub[truth.origin_of_person(person)];
      ++s.persons;
      s.records += person_size;
      int cells = 0;
      for (size_t cb = b; cb < e;) {
        const uint32_t cluster = v[cb].cluster;
        size_t ce = cb;
        while (ce < e && v[ce].cluster == cluster) {
          person_counter.Add(v[ce].source);
          cell_counter.Add(v[ce].source);
          ++ce;
        }
        const auto cell = static_cast<int64_t>(ce - cb);
        const int64_t within = cell_counter.WithinPairs();
        s.all.correct += Choose2(cell);
        s.cross_source.correct += Choose2(cell) - within;
        cell_counter.Flush(&correct_m);
        b3_precision += static_cast<double>(cell) * static_cast<double>(cell) /
                        static_cast<double>(cluster_size[cluster]);
        b3_recall += static_cast<double>(cell) * static_cast<double>(cell) /
                     static_cast<double>(person_size);
        ++cells_in_cluster[cluster];
        ++cells;
        if (cells == 1 && cell == person_size &&
            cluster_size[cluster] == person_size) {
          ++s.exact_persons;
        }
        cb = ce;
      }
      const int64_t within = person_counter.WithinPairs();
      s.all.true_pairs += Choose2(person_size);
      s.cross_source.true_pairs += Choose2(person_size) - within;
      person_counter.Flush(&true_m);
      if (person_size >= 2) ++cf.multi_record_persons;
      if (cells >= 2) ++cf.split_persons;
      b = e;
    }
  }

  // Linked pairs by cluster, per pair of sources, and per origin (pairs
  // with at least one record of the origin).
  {
    std::vector<ByCluster> v(n);
    for (size_t i = 0; i < n; ++i) {
      v[i] = {clustering.cluster_of[i],
              truth.origin_of_person(truth.person_of(i)), truth.source_of(i)};
    }
    std::sort(v.begin(), v.end(), [](const ByCluster& a, const ByCluster& b) {
      return a.cluster != b.cluster ? a.cluster < b.cluster
             : a.origin != b.origin ? a.origin < b.origin
                                    : a.source < b.source;
    });
    SourceCounter counter(num_sources);
    for (size_t b = 0; b < n;) {
      const uint32_t cluster = v[b].cluster;
      size_t e = b;
      while (e < n && v[e].cluster == cluster) counter.Add(v[e++].source);
      const auto size = static_cast<int64_t>(e - b);
      const int64_t within = counter.WithinPairs();
      const int64_t cross = Choose2(size) - within;
      for (size_t ob = b; ob < e;) {
        const uint32_t origin = v[ob].origin;
        size_t oe = ob;
        int64_t within_delta = 0;  // within-source pairs that touch origin
        while (oe < e && v[oe].origin == origin) {
          const uint32_t source = v[oe].source;
          size_t se = oe;
          while (se < e && v[se].origin == origin && v[se].source == source) {
            ++se;
          }
          const int64_t all_s = counter.count(source);
          within_delta +=
              Choose2(all_s) - Choose2(all_s - static_cast<int64_t>(se - oe));
          oe = se;
        }
        const int64_t rest = size - static_cast<int64_t>(oe - ob);
        const int64_t cross_without = Choose2(rest) - (within - within_delta);
        sub[origin].all.linked_pairs += Choose2(size) - Choose2(rest);
        sub[origin].cross_source.linked_pairs += cross - cross_without;
        ob = oe;
      }
      counter.Flush(&linked_m);
      if (size == 1) ++cf.singleton_clusters;
      if (cells_in_cluster[cluster] >= 2) {
        ++cf.merged_clusters;
        cf.records_in_merged_clusters += size;
      }
      b = e;
    }
  }

  cf.records = static_cast<int64_t>(n);
  cf.persons = static_cast<int64_t>(truth.num_persons());
  cf.clusters = static_cast<int64_t>(std::count_if(
      cluster_size.begin(), cluster_size.end(), [](int64_t s) { return s; }));
  for (const SubgroupFigures& s : sub) cf.exact_persons += s.exact_persons;
  if (n > 0) {
    cf.bcubed_precision = b3_precision / static_cast<double>(n);
    cf.bcubed_recall = b3_recall / static_cast<double>(n);
    cf.bcubed_f1 = 2 * cf.bcubed_precision * cf.bcubed_recall /
                   (cf.bcubed_precision + cf.bcubed_recall);
  } else {
    cf.bcubed_precision = cf.bcubed_recall = cf.bcubed_f1 = kNaN;
  }

  // Source pairs: cross-source first, then within each source.
  for (int within = 0; within < 2; ++within) {
    for (size_t a = 0; a < num_sources; ++a) {
      for (size_t b = a; b < num_sources; ++b) {
        if ((a == b) != (within == 1)) continue;
        const size_t k = a * num_sources + b;
        SourcePairFigures f;
        f.source_a = truth.source_name(static_cast<uint32_t>(a));
        f.source_b = truth.source_name(static_cast<uint32_t>(b));
        f.pairs = {true_m[k], linked_m[k], correct_m[k]};
        PairCounts& total = report.all;
        total.true_pairs += true_m[k];
        total.linked_pairs += linked_m[k];
        total.correct += correct_m[k];
        if (a != b) {
          report.cross_source.true_pairs += true_m[k];
          report.cross_source.linked_pairs += linked_m[k];
          report.cross_source.correct += correct_m[k];
        }
        report.source_pairs.push_back(std::move(f));
      }
    }
  }

  for (size_t o = 0; o < num_origins; ++o) {
    sub[o].origin = truth.origin_name(static_cast<uint32_t>(o));
  }
  sub.erase(std::remove_if(sub.begin(), sub.end(),
                           [](const SubgroupFigures& s) { return !s.persons; }),
            sub.end());
  std::stable_sort(sub.begin(), sub.end(),
                   [](const SubgroupFigures& a, const SubgroupFigures& b) {
                     return a.persons > b.persons;
                   });
  report.subgroups = std::move(sub);
  for (size_t s = 0; s < num_sources; ++s) {
    report.records_per_source.emplace_back(
        truth.source_name(static_cast<uint32_t>(s)), per_source[s]);
  }
  return report;
}

// ------------------------------------------------------------- formatting

namespace {

std::string Fig(double x) {
  return std::isnan(x) ? std::string("-") : absl::StrFormat("%.5f", x);
}

std::string Share(int64_t num, int64_t den) { return Fig(Ratio(num, den)); }

std::string PairRow(const std::string& label, const PairCounts& p) {
  return absl::StrFormat("%-32s %13d %13d %13d %9s %9s %9s\n", label,
                         p.true_pairs, p.linked_pairs, p.correct,
                         Fig(p.precision()), Fig(p.recall()), Fig(p.f1()));
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20) {
      out += absl::StrFormat("\\u%04x", u);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

std::string JsonNumber(double x) {
  return std::isnan(x) ? std::string("null") : absl::StrFormat("%.6f", x);
}

std::string JsonPairs(const PairCounts& p) {
  return absl::StrCat(
      "{\"true_pairs\":", p.true_pairs, ",\"linked_pairs\":", p.linked_pairs,
      ",\"correct\":", p.correct, ",\"precision\":", JsonNumber(p.precision()),
      ",\"recall\":", JsonNumber(p.recall()), ",\"f1\":", JsonNumber(p.f1()),
      "}");
}

}  // namespace

std::string FormatText(const QualityReport& r) {
  const ClusterFigures& c = r.clusters;
  std::string out;
  absl::StrAppend(&out, "records ", c.records, " (");
  for (size_t i = 0; i < r.records_per_source.size(); ++i) {
    absl::StrAppend(&out, i ? ", " : "", r.records_per_source[i].first, " ",
                    r.records_per_source[i].second);
  }
  absl::StrAppend(&out, "), persons ", c.persons, ", clusters ", c.clusters,
                  "\n");
  absl::StrAppend(&out, "records missing from the links ",
                  r.records_not_in_links,
                  " (scored as unlinked), links rows not in the truth ",
                  r.links_not_in_truth, "\n\n");

  out += absl::StrFormat("%-32s %13s %13s %13s %9s %9s %9s\n", "pairwise",
                         "true pairs", "linked pairs", "correct", "precision",
                         "recall", "F1");
  out += PairRow("all pairs", r.all);
  out += PairRow("cross-source pairs", r.cross_source);
  for (const SourcePairFigures& p : r.source_pairs) {
    const std::string label = p.source_a == p.source_b
                                  ? p.source_a + " (within source)"
                                  : p.source_a + " x " + p.source_b;
    out += PairRow(label, p.pairs);
  }

  out += "\nclusters\n";
  const auto line = [&out](const char* label, int64_t num, int64_t den,
                           const char* of) {
    out += absl::StrFormat("  %-26s %10d of %10d %-24s %s\n", label, num, den,
                           of, Share(num, den));
  };
  line("exact cluster match", c.exact_persons, c.persons, "persons");
  line("split persons", c.split_persons, c.multi_record_persons,
       "persons with 2+ records");
  line("merged clusters", c.merged_clusters, c.clusters, "clusters");
  line("records in merged clusters", c.records_in_merged_clusters, c.records,
       "records");
  line("singleton clusters", c.singleton_clusters, c.clusters, "clusters");
  out += absl::StrFormat("  %-26s precision %s  recall %s  F1 %s\n", "B-cubed",
                         Fig(c.bcubed_precision), Fig(c.bcubed_recall),
                         Fig(c.bcubed_f1));

  out += absl::StrFormat("\n%-18s %9s %9s %9s %9s %9s %9s %9s %9s\n",
                         "by origin", "persons", "records", "exact", "recall",
                         "precision", "x-recall", "x-precis.", "x-F1");
  for (const SubgroupFigures& s : r.subgroups) {
    out += absl::StrFormat(
        "%-18s %9d %9d %9s %9s %9s %9s %9s %9s\n",
        s.origin.empty() ? std::string("(unknown)") : s.origin, s.persons,
        s.records, Share(s.exact_persons, s.persons), Fig(s.all.recall()),
        Fig(s.all.precision()), Fig(s.cross_source.recall()),
        Fig(s.cross_source.precision()), Fig(s.cross_source.f1()));
  }
  out +=
      "(exact: share of persons with an exact cluster; x-: pairs of records "
      "from\ndifferent sources; recall is the match rate of the subgroup's "
      "true pairs,\nprecision counts the links touching the subgroup)\n";
  return out;
}

std::string FormatJson(const QualityReport& r) {
  const ClusterFigures& c = r.clusters;
  std::string out = "{";
  absl::StrAppend(&out, "\"records\":", c.records, ",\"persons\":", c.persons,
                  ",\"clusters\":", c.clusters,
                  ",\"records_not_in_links\":", r.records_not_in_links,
                  ",\"links_not_in_truth\":", r.links_not_in_truth,
                  ",\"records_per_source\":{");
  for (size_t i = 0; i < r.records_per_source.size(); ++i) {
    absl::StrAppend(&out, i ? "," : "",
                    JsonString(r.records_per_source[i].first), ":",
                    r.records_per_source[i].second);
  }
  absl::StrAppend(&out, "},\"pairwise\":{\"all\":", JsonPairs(r.all),
                  ",\"cross_source\":", JsonPairs(r.cross_source),
                  ",\"by_source_pair\":[");
  for (size_t i = 0; i < r.source_pairs.size(); ++i) {
    const SourcePairFigures& p = r.source_pairs[i];
    absl::StrAppend(&out, i ? "," : "",
                    "{\"source_a\":", JsonString(p.source_a),
                    ",\"source_b\":", JsonString(p.source_b),
                    ",\"pairs\":", JsonPairs(p.pairs), "}");
  }
  absl::StrAppend(
      &out, "]},\"clusters\":{\"exact_persons\":", c.exact_persons,
      ",\"exact_share\":", JsonNumber(Ratio(c.exact_persons, c.persons)),
      ",\"split_persons\":", c.split_persons,
      ",\"multi_record_persons\":", c.multi_record_persons,
      ",\"merged_clusters\":", c.merged_clusters,
      ",\"records_in_merged_clusters\":", c.records_in_merged_clusters,
      ",\"singleton_clusters\":", c.singleton_clusters,
      ",\"bcubed_precision\":", JsonNumber(c.bcubed_precision),
      ",\"bcubed_recall\":", JsonNumber(c.bcubed_recall),
      ",\"bcubed_f1\":", JsonNumber(c.bcubed_f1), "},\"by_origin\":[");
  for (size_t i = 0; i < r.subgroups.size(); ++i) {
    const SubgroupFigures& s = r.subgroups[i];
    absl::StrAppend(&out, i ? "," : "", "{\"origin\":", JsonString(s.origin),
                    ",\"persons\":", s.persons, ",\"records\":", s.records,
                    ",\"exact_persons\":", s.exact_persons,
                    ",\"all\":", JsonPairs(s.all),
                    ",\"cross_source\":", JsonPairs(s.cross_source), "}");
  }
  out += "]}\n";
  return out;
}

}  // namespace linkd::quality
