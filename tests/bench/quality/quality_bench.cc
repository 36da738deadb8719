// quality_bench: linkage quality of the real daemon, end to end, at default
// settings, on the synthetic population (tests/testing/synth).
//
//   quality_bench [--people N] [--seed S] [--link BITS --review BITS]
//                 [--keep DIR]
//
// Generates N synthetic children (default 50000) as three providers hold
// them, encodes each source with linkd-encode (its own columns and date
// format), starts linkd on a fresh data directory, submits the three files
// over gRPC (linkd estimates its model from the stored records and links the
// backlog in bulk), lists every record's SUI and scores the clustering
// against the generator's ground truth:
//   - pairwise precision, recall and F1, overall and per pair of sources
//     (targets: school census x health F1 >= 0.995; all sources >= 0.99);
//   - cluster-level figures (exact clusters, split persons, merged clusters,
//     B-cubed);
//   - blocking pair completeness: true pairs sharing a blocking key under
//     the daemon's rules and block cap;
//   - match rates by name-origin subgroup.
// Prints figures, never a clear value or a token.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "linkd/blocking/blocking_index.h"
#include "linkd/blocking/blocking_keys.h"
#include "linkd/blocking/earlier_candidates.h"
#include "linkd/ctl/encoded_file.h"
#include "linkd/ctl/submit.h"
#include "linkd/util/temp_dir.h"
#include "tests/bench/quality/bench_pipeline.h"
#include "tests/testing/quality/evaluate.h"
#include "tests/testing/quality/pair_completeness.h"
#include "tests/testing/quality/truth.h"

namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

int Fail(const std::string& what) {
  std::fprintf(stderr, "quality_bench: %s\n", what.c_str());
  return 1;
}

// Pair completeness of the daemon's blocking rules over the encoded files.
absl::StatusOr<linkd::quality::PairCompleteness> Completeness(
    const std::vector<std::string>& files, const linkd::quality::Truth& truth) {
  auto keys =
      linkd::blocking::KeyGenerator::Create(linkd::blocking::BlockingConfig());
  if (!keys.ok()) return keys.status();
  std::vector<std::vector<linkd::blocking::BlockingKey>> record_keys;
  std::vector<int64_t> index;  // truth index of each record
  for (const std::string& f : files) {
    auto reader = linkd::ctl::EncodedFileReader::Open(f);
    if (!reader.ok()) return reader.status();
    linkd::v1::IngestItem item;
    for (;;) {
      absl::StatusOr<bool> more = (*reader)->Next(&item);
      if (!more.ok()) return more.status();
      if (!*more) break;
      if (!item.has_record()) continue;
      record_keys.emplace_back();
      (*keys)->Keys(item.record().identity(), &record_keys.back());
      index.push_back(
          truth.Find(item.record().source(), item.record().record_id()));
    }
  }
  // As the index does: a record meets the earlier members of its blocks,
  // up to the default cap.
  const linkd::blocking::EarlierCandidates found =
      linkd::blocking::FindEarlierCandidates(
          record_keys, linkd::blocking::CandidateLimits().max_block_size, 2);
  std::vector<std::pair<uint32_t, uint32_t>> pairs;
  for (size_t b = 0; b < found.records(); ++b) {
    if (index[b] < 0) continue;
    for (uint32_t a : found.of(b)) {
      if (index[a] < 0) continue;
      pairs.emplace_back(static_cast<uint32_t>(index[a]),
                         static_cast<uint32_t>(index[b]));
    }
  }
  return linkd::quality::BlockingPairCompleteness(truth, pairs);
}

}  // namespace

int main(int argc, char** argv) {
  int people = 50000;
  uint64_t seed = 20261201;
  std::string link, review, keep;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--people") (void)absl::SimpleAtoi(argv[i + 1], &people);
    if (flag == "--seed") (void)absl::SimpleAtoi(argv[i + 1], &seed);
    if (flag == "--link") link = argv[i + 1];
    if (flag == "--review") review = argv[i + 1];
    if (flag == "--keep") keep = argv[i + 1];
  }
  linkd::testing::TempDir tmp;
  const std::string dir = keep.empty() ? tmp.path() : keep;
  std::printf("quality_bench: %d synthetic children, seed %llu\n", people,
              static_cast<unsigned long long>(seed));
  auto t = Clock::now();
  absl::StatusOr<linkd::bench::EncodedPopulation> pop =
      linkd::bench::EncodePopulation(dir, people, seed);
  if (!pop.ok()) return Fail(std::string(pop.status().message()));
  std::printf("generated and encoded in %.1f s\n", Since(t));

  std::vector<std::string> args;
  if (!link.empty() || !review.empty()) {
    const std::string config = dir + "/thresholds.textproto";
    std::ofstream(config) << "link_threshold_bits: " << link
                          << "\nreview_threshold_bits: " << review << "\n";
    args = {"--config", config};
  }
  absl::StatusOr<std::unique_ptr<linkd::bench::Daemon>> daemon =
      linkd::bench::Daemon::Start(dir, args);
  if (!daemon.ok()) return Fail(std::string(daemon.status().message()));
  t = Clock::now();
  const linkd::ctl::SubmitSummary summary =
      linkd::ctl::Submit((*daemon)->channel(), pop->files, {}, nullptr);
  if (!summary.status.ok()) return Fail(summary.status.ToString());
  const double submit_secs = Since(t);
  const absl::Status linked =
      linkd::bench::WaitLinked((*daemon)->channel().get(), summary.link_seq);
  if (!linked.ok()) return Fail(std::string(linked.message()));
  const double total_secs = Since(t);
  std::printf(
      "submitted %llu records in %.1f s; all linked %.1f s after the first "
      "byte (model estimated, then bulk linking); linkd peak RSS %.0f MiB\n",
      static_cast<unsigned long long>(summary.acknowledged), submit_secs,
      total_secs, (*daemon)->PeakRssMib());

  absl::StatusOr<std::string> links =
      linkd::bench::LinksCsv((*daemon)->channel().get());
  if (!links.ok()) return Fail(std::string(links.status().message()));
  if (!keep.empty()) std::ofstream(dir + "/links.csv") << *links;
  absl::StatusOr<std::string> truth_csv =
      linkd::quality::ReadFileOrStdin(pop->truth_csv);
  if (!truth_csv.ok()) return Fail(std::string(truth_csv.status().message()));
  absl::StatusOr<linkd::quality::Truth> truth =
      linkd::quality::ParseTruthCsv(*truth_csv);
  if (!truth.ok()) return Fail(std::string(truth.status().message()));
  absl::StatusOr<linkd::quality::Clustering> clustering =
      linkd::quality::ParseLinksCsv(*links, *truth);
  if (!clustering.ok()) return Fail(std::string(clustering.status().message()));
  const linkd::quality::QualityReport report =
      linkd::quality::Evaluate(*truth, *clustering);
  std::printf("\n%s", linkd::quality::FormatText(report).c_str());

  absl::StatusOr<linkd::quality::PairCompleteness> pc =
      Completeness(pop->files, *truth);
  if (!pc.ok()) return Fail(std::string(pc.status().message()));
  std::printf("\nblocking pair completeness (true pairs sharing a key)\n");
  std::printf("  %-32s %9.5f  (%lld of %lld)\n", "all pairs",
              pc->all.completeness(), static_cast<long long>(pc->all.covered),
              static_cast<long long>(pc->all.true_pairs));
  for (const auto& sp : pc->by_source_pair) {
    std::printf("  %-32s %9.5f\n",
                absl::StrCat(sp.source_a, " x ", sp.source_b).c_str(),
                sp.counts.completeness());
  }

  // The headline figures against the targets.
  double sh = 0;
  for (const auto& sp : report.source_pairs) {
    if ((sp.source_a == "school_census" && sp.source_b == "health") ||
        (sp.source_a == "health" && sp.source_b == "school_census")) {
      sh = sp.pairs.f1();
    }
  }
  std::printf(
      "\nheadline: school census x health pairwise F1 %.4f (target >= "
      "0.995); all sources F1 %.4f (target >= 0.99)\n",
      sh, report.all.f1());
  return 0;
}
