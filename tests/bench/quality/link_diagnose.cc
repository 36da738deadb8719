// link_diagnose: why a linkage missed or made pairs, for developers tuning
// the matcher on synthetic data. Reads the generator's truth.csv, linkctl's
// links CSV and the encoded files that were submitted, and prints the most
// common comparison-level patterns of missed true pairs (same person,
// different SUIs) and of wrong pairs (different persons, one SUI), by source
// pair. Prints levels only: never a token or a clear value.
//
//   link_diagnose TRUTH.csv LINKS.csv FILE.linkd...
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "linkd/ctl/encoded_file.h"
#include "linkd/matcher/comparison.h"

namespace {

using linkd::matcher::CompareField;

std::vector<std::vector<std::string>> ReadCsv(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::vector<std::vector<std::string>> rows;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    rows.push_back(absl::StrSplit(line, ','));
  }
  return rows;
}

std::string Pattern(const linkd::matcher::ComparisonVector& v) {
  std::string out;
  for (size_t f = 0; f < linkd::matcher::kNumCompareFields; ++f) {
    const auto field = static_cast<CompareField>(f);
    absl::StrAppend(&out, f ? " " : "", linkd::matcher::FieldName(field), "=",
                    linkd::matcher::LevelName(field, v.levels[f]));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: link_diagnose TRUTH LINKS FILE...\n");
    return 2;
  }
  absl::flat_hash_map<std::string, std::string> person, sui;
  for (const auto& r : ReadCsv(argv[1])) {
    if (r.size() >= 3) person[r[0] + "|" + r[1]] = r[2];
  }
  for (const auto& r : ReadCsv(argv[2])) {
    if (r.size() >= 3) sui[r[0] + "|" + r[1]] = r[2];
  }
  struct Rec {
    std::string key, source;
    linkd::matcher::DecodedIdentity d;
  };
  std::vector<Rec> recs;
  for (int i = 3; i < argc; ++i) {
    auto reader = linkd::ctl::EncodedFileReader::Open(argv[i]);
    if (!reader.ok()) return 1;
    linkd::v1::IngestItem item;
    while (true) {
      auto more = (*reader)->Next(&item);
      if (!more.ok() || !*more) break;
      Rec r;
      r.source = item.record().source();
      r.key = r.source + "|" + item.record().record_id();
      if (!linkd::matcher::Decode(item.record().identity(), &r.d).ok())
        continue;
      recs.push_back(std::move(r));
    }
  }
  std::map<std::string, std::vector<size_t>> by_person, by_sui;
  for (size_t i = 0; i < recs.size(); ++i) {
    by_person[person[recs[i].key]].push_back(i);
    by_sui[sui[recs[i].key]].push_back(i);
  }
  linkd::matcher::ComparisonOptions opts;
  std::map<std::string, std::map<std::string, int>> missed, wrong;
  int n_missed = 0, n_wrong = 0;
  // LINK_DIAGNOSE_EXAMPLE=<pattern substring>: print a few missed pairs
  // with that pattern (record references and SUIs only).
  const char* example = std::getenv("LINK_DIAGNOSE_EXAMPLE");
  int examples = 0;
  auto pair_name = [&](size_t a, size_t b) {
    return recs[a].source < recs[b].source
               ? recs[a].source + " x " + recs[b].source
               : recs[b].source + " x " + recs[a].source;
  };
  for (const auto& [p, members] : by_person) {
    for (size_t x = 0; x < members.size(); ++x) {
      for (size_t y = x + 1; y < members.size(); ++y) {
        const size_t a = members[x], b = members[y];
        if (sui[recs[a].key] == sui[recs[b].key]) continue;
        ++n_missed;
        const std::string pat =
            Pattern(linkd::matcher::Compare(recs[a].d, recs[b].d, opts));
        ++missed[pair_name(a, b)][pat];
        if (example != nullptr && pat.find(example) != std::string::npos &&
            examples++ < 8) {
          std::printf("example missed: %s (%s) ~ %s (%s)\n",
                      recs[a].key.c_str(), sui[recs[a].key].c_str(),
                      recs[b].key.c_str(), sui[recs[b].key].c_str());
        }
      }
    }
  }
  for (const auto& [s, members] : by_sui) {
    for (size_t x = 0; x < members.size(); ++x) {
      for (size_t y = x + 1; y < members.size(); ++y) {
        const size_t a = members[x], b = members[y];
        if (person[recs[a].key] == person[recs[b].key]) continue;
        ++n_wrong;
        ++wrong[pair_name(a, b)]
               [Pattern(linkd::matcher::Compare(recs[a].d, recs[b].d, opts))];
      }
    }
  }
  auto print = [](const char* what, int total,
                  const std::map<std::string, std::map<std::string, int>>& m) {
    std::printf("== %s pairs: %d\n", what, total);
    for (const auto& [pair, patterns] : m) {
      std::vector<std::pair<int, std::string>> sorted;
      int sum = 0;
      for (const auto& [pat, n] : patterns) {
        sorted.emplace_back(-n, pat);
        sum += n;
      }
      std::sort(sorted.begin(), sorted.end());
      std::printf("-- %s: %d\n", pair.c_str(), sum);
      for (size_t i = 0; i < sorted.size() && i < 12; ++i) {
        std::printf("%6d  %s\n", -sorted[i].first, sorted[i].second.c_str());
      }
    }
  };
  print("missed", n_missed, missed);
  print("wrong", n_wrong, wrong);
  // Levels of the linked true pairs, field by field: what a rule on one
  // field would cost.
  std::map<std::string, std::map<std::string, int>> right;
  for (const auto& [s, members] : by_sui) {
    for (size_t x = 0; x < members.size(); ++x) {
      for (size_t y = x + 1; y < members.size(); ++y) {
        const size_t a = members[x], b = members[y];
        if (person[recs[a].key] != person[recs[b].key]) continue;
        const auto v = linkd::matcher::Compare(recs[a].d, recs[b].d, opts);
        for (size_t f = 0; f < linkd::matcher::kNumCompareFields; ++f) {
          const auto field = static_cast<CompareField>(f);
          ++right[std::string(linkd::matcher::FieldName(field))]
                 [std::string(linkd::matcher::LevelName(field, v.levels[f]))];
        }
      }
    }
  }
  std::printf("== levels of the linked true pairs\n");
  for (const auto& [field, levels] : right) {
    std::printf("%-12s", field.c_str());
    for (const auto& [level, n] : levels) {
      std::printf(" %s=%d", level.c_str(), n);
    }
    std::printf("\n");
  }
  return 0;
}
