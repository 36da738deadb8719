// blocking_bench: how well linkd's blocking keeps true pairs, and at what
// cost, on a synthetic population encoded with the real encoder under a
// fresh key.
//
// Reports, per rule and for the configured union:
//   - pair completeness: the share of true-match record pairs across sources
//     (same person per the generator's truth) that share at least one
//     blocking key, overall and per pair of sources (school_census x health
//     share no identifier);
//   - candidate pairs and the reduction ratio, the largest blocks and the
//     oversize blocks;
//   - through the real RocksDB index (BlockingIndex over a Store in a temp
//     dir): time to index, time to generate candidates per record,
//     candidates per record, and pair completeness after the block cap;
//   - the index as bulk linking writes it (BlockingIndex::BulkAdd: sorted
//     table files, ingested): time and size on disk;
//   - why the missed pairs were missed (which tokens agree), as counts.
// Per-rule figures are computed in memory with every rule on, so rules not
// in force can be judged too.
//
// Usage: blocking_bench [--people N] [--seed S] [--rules a,b,...]
//                       [--bands B] [--rows R] [--cap N] [--db DIR]
//                       [--bulk-index-only]
// --bulk-index-only stops after the bulk index figures.
// Prints figures (not pass/fail). Never prints a clear value or a token.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "crypto/crypto.h"
#include "crypto/encoder.h"
#include "crypto/linkage_key.h"
#include "crypto/normalize.h"
#include "linkd/blocking/blocking_index.h"
#include "linkd/blocking/blocking_keys.h"
#include "linkd/encode/proto_convert.h"
#include "linkd/store/record_store.h"
#include "linkd/store/store.h"
#include "tests/testing/synth/population.h"

namespace linkd::bench {
namespace {

using blocking::BlockingKey;
using blocking::Rule;
using blocking::RuleBit;
using blocking::RuleMask;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

struct Args {
  int64_t people = 100000;
  uint64_t seed = 42;
  blocking::BlockingConfig config;
  int64_t cap = 1000;
  std::string db;
  bool bulk_index_only = false;
};

bool ParseArgs(int argc, char** argv, Args* args) {
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--bulk-index-only") {
      args->bulk_index_only = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "missing value for %s\n", flag.c_str());
      return false;
    }
    const std::string value = argv[++i];
    bool ok = true;
    if (flag == "--people") {
      ok = absl::SimpleAtoi(value, &args->people) && args->people > 0;
    } else if (flag == "--seed") {
      ok = absl::SimpleAtoi(value, &args->seed);
    } else if (flag == "--bands") {
      ok = absl::SimpleAtoi(value, &args->config.lsh_bands);
    } else if (flag == "--rows") {
      ok = absl::SimpleAtoi(value, &args->config.lsh_rows);
    } else if (flag == "--cap") {
      ok = absl::SimpleAtoi(value, &args->cap) && args->cap > 0;
    } else if (flag == "--db") {
      args->db = value;
    } else if (flag == "--rules") {
      args->config.rules = 0;
      for (absl::string_view name : absl::StrSplit(value, ',')) {
        absl::StatusOr<Rule> r =
            blocking::RuleFromName(std::string_view(name.data(), name.size()));
        if (!r.ok()) {
          std::fprintf(stderr, "unknown rule in --rules\n");
          return false;
        }
        args->config.rules |= RuleBit(*r);
      }
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "bad flag or value: %s\n", flag.c_str());
      return false;
    }
  }
  return true;
}

struct Rec {
  uint32_t person;
  uint8_t source;
  std::string key;  // store::RecordKey
  linkd::v1::EncodedIdentity id;
};

constexpr int kNumSourcePairs = 3;  // (0,1) (0,2) (1,2)
int PairIndex(int a, int b) {
  if (a > b) std::swap(a, b);
  return a == 0 ? (b == 1 ? 0 : 1) : 2;
}
const char* const kPairNames[kNumSourcePairs] = {"school_census x social_care",
                                                 "school_census x health",
                                                 "social_care x health"};

struct TruePair {
  uint32_t a, b;
  uint8_t pair_index;
  RuleMask shared = 0;  // rules (all rules on) under which they share a key
};

struct KeyHash {
  size_t operator()(const BlockingKey& k) const {
    size_t h;
    std::memcpy(&h, k.hash.data(), sizeof(h));
    return h ^ static_cast<size_t>(k.rule);
  }
};

double Ratio(int64_t a, int64_t b) {
  return b == 0 ? 0.0 : static_cast<double>(a) / static_cast<double>(b);
}

int Run(const Args& args) {
  if (!crypto::Init().ok()) return 1;
  absl::Status valid = blocking::ValidateConfig(args.config);
  if (!valid.ok()) {
    std::fprintf(stderr, "%s\n", std::string(valid.message()).c_str());
    return 2;
  }
  const auto t_start = Clock::now();

  // ---- population, encoded with a fresh key per source's date format.
  const crypto::LinkageKey key = crypto::LinkageKey::Generate(1);
  synth::Options options;
  options.seed = args.seed;
  options.num_people = args.people;
  crypto::EncodeOptions enc_options;
  enc_options.latest_dob =
      crypto::Date{options.reference_date.year, options.reference_date.month,
                   options.reference_date.day};
  std::array<std::unique_ptr<crypto::Encoder>, synth::kNumSources> encoders;
  for (int s = 0; s < synth::kNumSources; ++s) {
    absl::StatusOr<crypto::DateFormat> f = crypto::DateFormat::FromPattern(
        synth::ColumnsOf(static_cast<synth::Source>(s)).date_pattern);
    if (!f.ok()) return 1;
    enc_options.date_format = *f;
    encoders[s] = std::make_unique<crypto::Encoder>(key, enc_options);
  }
  std::vector<Rec> recs;
  recs.reserve(static_cast<size_t>(args.people) * 3 / 2);
  {
    synth::PopulationGenerator gen(options);
    synth::RecordExtractor extractor(options);
    synth::Person person;
    std::vector<synth::SourceRecord> records;
    while (gen.Next(&person)) {
      extractor.Extract(person, &records);
      for (const synth::SourceRecord& r : records) {
        crypto::ClearIdentity in;
        in.given_name = r.given_name;
        in.family_name = r.family_name;
        in.dob = r.dob;
        in.sex = r.sex;
        in.postcode = r.postcode;
        in.upn = r.upn;
        in.nhs_number = r.nhs_number;
        Rec rec;
        rec.person = static_cast<uint32_t>(r.person_id);
        rec.source = static_cast<uint8_t>(r.source);
        rec.key = store::RecordKey(synth::SourceName(r.source), r.record_id);
        encode::ToProto(
            encoders[static_cast<int>(r.source)]->Encode(in, nullptr), &rec.id);
        recs.push_back(std::move(rec));
      }
    }
  }
  const auto t_encoded = Clock::now();
  const int64_t n = static_cast<int64_t>(recs.size());
  std::printf("blocking_bench: %lld people, %lld records, seed %llu\n",
              static_cast<long long>(args.people), static_cast<long long>(n),
              static_cast<unsigned long long>(args.seed));
  std::printf("config: rules");
  for (Rule r : blocking::AllRules()) {
    if (args.config.rules & RuleBit(r)) {
      std::printf(" %s", std::string(blocking::RuleName(r)).c_str());
    }
  }
  std::printf("; name_lsh %d bands x %d rows; cap %lld members\n",
              args.config.lsh_bands, args.config.lsh_rows,
              static_cast<long long>(args.cap));

  // ---- in memory, every rule on: blocks and true pairs.
  blocking::BlockingConfig all = args.config;
  all.rules = 0;
  for (Rule r : blocking::AllRules()) all.rules |= RuleBit(r);
  absl::StatusOr<std::unique_ptr<blocking::KeyGenerator>> all_gen =
      blocking::KeyGenerator::Create(all);
  absl::StatusOr<std::unique_ptr<blocking::KeyGenerator>> gen =
      blocking::KeyGenerator::Create(args.config);
  if (!all_gen.ok() || !gen.ok()) return 1;
  std::vector<std::vector<BlockingKey>> keys(recs.size());
  absl::flat_hash_map<BlockingKey, std::vector<uint32_t>, KeyHash> blocks;
  for (size_t i = 0; i < recs.size(); ++i) {
    (*all_gen)->Keys(recs[i].id, &keys[i]);
    for (const BlockingKey& k : keys[i]) {
      blocks[k].push_back(static_cast<uint32_t>(i));
    }
  }
  std::vector<TruePair> pairs;
  {
    size_t begin = 0;
    while (begin < recs.size()) {
      size_t end = begin;
      while (end < recs.size() && recs[end].person == recs[begin].person) {
        ++end;
      }
      for (size_t a = begin; a < end; ++a) {
        for (size_t b = a + 1; b < end; ++b) {
          if (recs[a].source == recs[b].source) continue;
          TruePair p{
              static_cast<uint32_t>(a), static_cast<uint32_t>(b),
              static_cast<uint8_t>(PairIndex(recs[a].source, recs[b].source))};
          std::vector<BlockingKey> both;
          std::set_intersection(keys[a].begin(), keys[a].end(), keys[b].begin(),
                                keys[b].end(), std::back_inserter(both));
          for (const BlockingKey& k : both) p.shared |= RuleBit(k.rule);
          pairs.push_back(p);
        }
      }
      begin = end;
    }
  }

  // Per rule: completeness (overall and per source pair), blocks, largest,
  // candidate pairs within blocks (before dedup across rules).
  std::printf("\n%-20s %2s %9s %9s %9s %9s %9s %8s %8s %12s\n", "rule", "on",
              "PC all", "PC sc-sa", "PC sc-h", "PC sa-h", "only", "blocks",
              "largest", "block pairs");
  const int64_t total_pairs = static_cast<int64_t>(pairs.size());
  std::array<int64_t, kNumSourcePairs> per_pair_total{};
  for (const TruePair& p : pairs) ++per_pair_total[p.pair_index];
  for (Rule r : blocking::AllRules()) {
    const RuleMask bit = RuleBit(r);
    int64_t hit = 0, only = 0;
    std::array<int64_t, kNumSourcePairs> hit_pair{};
    for (const TruePair& p : pairs) {
      if (p.shared & bit) {
        ++hit;
        ++hit_pair[p.pair_index];
        if ((p.shared & args.config.rules & ~bit) == 0) ++only;
      }
    }
    int64_t nblocks = 0, largest = 0;
    double block_pairs = 0;
    for (const auto& [k, members] : blocks) {
      if (k.rule != r) continue;
      ++nblocks;
      const auto m = static_cast<int64_t>(members.size());
      largest = std::max(largest, m);
      block_pairs += 0.5 * static_cast<double>(m) * static_cast<double>(m - 1);
    }
    std::printf("%-20s %2s %9.5f %9.5f %9.5f %9.5f %9lld %8lld %8lld %12.0f\n",
                std::string(blocking::RuleName(r)).c_str(),
                (args.config.rules & bit) ? "*" : "", Ratio(hit, total_pairs),
                Ratio(hit_pair[0], per_pair_total[0]),
                Ratio(hit_pair[1], per_pair_total[1]),
                Ratio(hit_pair[2], per_pair_total[2]),
                static_cast<long long>(only), static_cast<long long>(nblocks),
                static_cast<long long>(largest), block_pairs);
  }
  int64_t union_hit = 0;
  std::array<int64_t, kNumSourcePairs> union_pair{};
  for (const TruePair& p : pairs) {
    if (p.shared & args.config.rules) {
      ++union_hit;
      ++union_pair[p.pair_index];
    }
  }
  std::printf(
      "%-20s %2s %9.5f %9.5f %9.5f %9.5f   (true pairs: %lld; "
      "%lld / %lld / %lld)\n",
      "union (in force)", "*", Ratio(union_hit, total_pairs),
      Ratio(union_pair[0], per_pair_total[0]),
      Ratio(union_pair[1], per_pair_total[1]),
      Ratio(union_pair[2], per_pair_total[2]),
      static_cast<long long>(total_pairs),
      static_cast<long long>(per_pair_total[0]),
      static_cast<long long>(per_pair_total[1]),
      static_cast<long long>(per_pair_total[2]));

  // Why missed pairs were missed: which tokens the two records agree on.
  {
    int64_t missed = 0, dob_un_eq = 0, dob_missing = 0, dob_other = 0,
            unit_eq = 0, sector_eq = 0, district_eq = 0, names_missing = 0;
    for (const TruePair& p : pairs) {
      if (p.shared & args.config.rules) continue;
      ++missed;
      const auto& a = recs[p.a].id;
      const auto& b = recs[p.b].id;
      if (a.dob_unordered().empty() || b.dob_unordered().empty()) {
        ++dob_missing;
      } else if (a.dob_unordered() == b.dob_unordered()) {
        ++dob_un_eq;
      } else {
        ++dob_other;
      }
      if (!a.postcode_unit().empty() &&
          a.postcode_unit() == b.postcode_unit()) {
        ++unit_eq;
      } else if (!a.postcode_sector().empty() &&
                 a.postcode_sector() == b.postcode_sector()) {
        ++sector_eq;
      } else if (!a.postcode_district().empty() &&
                 a.postcode_district() == b.postcode_district()) {
        ++district_eq;
      }
      // A side has names if it has a name filter of either salt family
      // (only the dob-salted ones give name_lsh bands).
      const auto no_names = [](const linkd::v1::EncodedIdentity& id) {
        return id.given_name_bf().empty() && id.family_name_bf().empty() &&
               id.given_name_pc_bf().empty() && id.family_name_pc_bf().empty();
      };
      if (no_names(a) || no_names(b)) ++names_missing;
    }
    std::printf(
        "\nmissed pairs: %lld. dob: same up to swap %lld, missing on a side "
        "%lld, differs %lld. postcode: same unit %lld, else same sector "
        "%lld, else same district %lld. all names missing on a side %lld\n",
        static_cast<long long>(missed), static_cast<long long>(dob_un_eq),
        static_cast<long long>(dob_missing), static_cast<long long>(dob_other),
        static_cast<long long>(unit_eq), static_cast<long long>(sector_eq),
        static_cast<long long>(district_eq),
        static_cast<long long>(names_missing));
  }
  keys.clear();
  keys.shrink_to_fit();
  blocks.clear();

  // Key derivation alone (configured rules), as a bulk pass would use it.
  double keys_us = 0;
  {
    std::vector<BlockingKey> k;
    size_t total = 0;
    const auto t0 = Clock::now();
    for (const Rec& r : recs) {
      (*gen)->Keys(r.id, &k);
      total += k.size();
    }
    keys_us = 1e6 * Seconds(t0, Clock::now()) / static_cast<double>(n);
    if (total == 0) std::printf("(no keys)\n");
  }

  // ---- the index as bulk linking writes it: sorted table files, ingested.
  {
    double bulk_seconds = 0;
    uintmax_t bulk_table_bytes = 0;
    size_t bulk_entries = 0;
    std::vector<std::vector<BlockingKey>> all(recs.size());
    std::vector<std::string_view> record_keys;
    record_keys.reserve(recs.size());
    for (size_t i = 0; i < recs.size(); ++i) {
      (*gen)->Keys(recs[i].id, &all[i]);
      bulk_entries += all[i].size();
      record_keys.push_back(recs[i].key);
    }
    char tmpl[] = "/tmp/linkd-blocking-bulk-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return 1;
    store::StoreOptions bulk_options;
    bulk_options.path = std::string(tmpl) + "/db";
    absl::StatusOr<std::unique_ptr<store::Store>> bulk_store =
        store::Store::Open(bulk_options);
    if (!bulk_store.ok()) return 1;
    blocking::BlockingIndex bulk_index(bulk_store->get(), gen->get());
    const auto t0 = Clock::now();
    absl::Status added = bulk_index.BulkAdd(record_keys, all, /*threads=*/2);
    bulk_seconds = Seconds(t0, Clock::now());
    if (!added.ok()) {
      std::fprintf(stderr, "bulk index: %s\n",
                   std::string(added.message()).c_str());
      return 1;
    }
    bulk_store->reset();
    for (const auto& f :
         std::filesystem::directory_iterator(bulk_options.path)) {
      if (f.path().extension() == ".sst") bulk_table_bytes += f.file_size();
    }
    std::error_code ec;
    std::filesystem::remove_all(tmpl, ec);
    std::printf(
        "\nbulk index: %.2f s, %.2f us/record (sorted table files, 2 "
        "threads; %zu entries, %.1f MiB of table files)\n",
        bulk_seconds, 1e6 * bulk_seconds / static_cast<double>(n), bulk_entries,
        static_cast<double>(bulk_table_bytes) / (1024.0 * 1024.0));
    std::fflush(stdout);
    if (args.bulk_index_only) return 0;
  }

  // ---- the real index.
  std::string db = args.db;
  bool remove_db = false;
  if (db.empty()) {
    char tmpl[] = "/tmp/linkd-blocking-bench-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return 1;
    db = std::string(tmpl) + "/db";
    remove_db = true;
  }
  store::StoreOptions store_options;
  store_options.path = db;
  absl::StatusOr<std::unique_ptr<store::Store>> st =
      store::Store::Open(store_options);
  if (!st.ok()) {
    std::fprintf(stderr, "store: %s\n",
                 std::string(st.status().message()).c_str());
    return 1;
  }
  blocking::BlockingIndex index(st->get(), gen->get());
  const auto t_index0 = Clock::now();
  constexpr size_t kBatch = 1000;
  store::CommitOptions no_sync;
  no_sync.sync = false;
  for (size_t i = 0; i < recs.size(); i += kBatch) {
    store::WriteBatch batch = (*st)->NewBatch();
    for (size_t j = i; j < std::min(recs.size(), i + kBatch); ++j) {
      if (!index.Add(recs[j].key, recs[j].id, &batch).ok()) return 1;
    }
    if (!(*st)->Commit(std::move(batch), no_sync).ok()) return 1;
  }
  const auto t_index1 = Clock::now();

  blocking::CandidateLimits limits;
  limits.max_block_size = args.cap;
  absl::flat_hash_map<std::string, uint32_t> index_of;
  for (size_t i = 0; i < recs.size(); ++i) {
    index_of[recs[i].key] = static_cast<uint32_t>(i);
  }
  std::vector<std::vector<uint32_t>> cands(recs.size());
  std::vector<int> per_record;
  per_record.reserve(recs.size());
  int64_t cand_total = 0, cross_total = 0, oversize_hits = 0,
          records_with_oversize = 0;
  const auto t_cand0 = Clock::now();
  for (size_t i = 0; i < recs.size(); ++i) {
    absl::StatusOr<blocking::CandidateResult> r =
        index.Candidates(recs[i].id, limits, recs[i].key);
    if (!r.ok()) {
      std::fprintf(stderr, "candidates: %s\n",
                   std::string(r.status().message()).c_str());
      return 1;
    }
    oversize_hits += r->blocks_oversize;
    records_with_oversize += r->blocks_oversize > 0;
    per_record.push_back(static_cast<int>(r->candidates.size()));
    cand_total += static_cast<int64_t>(r->candidates.size());
    for (const blocking::Candidate& c : r->candidates) {
      const uint32_t j = index_of.at(c.record_key);
      cands[i].push_back(j);
      cross_total += recs[j].source != recs[i].source;
    }
    std::sort(cands[i].begin(), cands[i].end());
  }
  const auto t_cand1 = Clock::now();
  int64_t found = 0;
  std::array<int64_t, kNumSourcePairs> found_pair{};
  for (const TruePair& p : pairs) {
    if (std::binary_search(cands[p.a].begin(), cands[p.a].end(), p.b)) {
      ++found;
      ++found_pair[p.pair_index];
    }
  }
  std::sort(per_record.begin(), per_record.end());
  const auto pct = [&](double q) {
    return per_record[std::min(per_record.size() - 1,
                               static_cast<size_t>(q * per_record.size()))];
  };
  const double all_pairs = 0.5 * static_cast<double>(n) * (n - 1);
  std::printf("\nreal index (RocksDB, cap %lld):\n",
              static_cast<long long>(args.cap));
  std::printf("  pair completeness   %.5f  (%s %.5f, %s %.5f, %s %.5f)\n",
              Ratio(found, total_pairs), kPairNames[0],
              Ratio(found_pair[0], per_pair_total[0]), kPairNames[1],
              Ratio(found_pair[1], per_pair_total[1]), kPairNames[2],
              Ratio(found_pair[2], per_pair_total[2]));
  std::printf(
      "  candidate pairs     %lld (%lld across sources); reduction "
      "ratio %.7f\n",
      static_cast<long long>(cand_total / 2),
      static_cast<long long>(cross_total / 2),
      1.0 - static_cast<double>(cand_total / 2) / all_pairs);
  std::printf("  candidates/record   mean %.2f, median %d, p99 %d, max %d\n",
              Ratio(cand_total, n), pct(0.5), pct(0.99), per_record.back());
  std::printf("  oversize blocks hit %lld times, by %lld records\n",
              static_cast<long long>(oversize_hits),
              static_cast<long long>(records_with_oversize));
  std::printf(
      "  index:      %.2f s, %.1f us/record (batches of %zu, no "
      "fsync)\n",
      Seconds(t_index0, t_index1),
      1e6 * Seconds(t_index0, t_index1) / static_cast<double>(n), kBatch);
  std::printf("  keys only:  %.2f us/record (derivation, no I/O)\n", keys_us);
  std::printf("  candidates: %.2f s, %.1f us/record\n",
              Seconds(t_cand0, t_cand1),
              1e6 * Seconds(t_cand0, t_cand1) / static_cast<double>(n));

  absl::StatusOr<blocking::IndexStats> stats = index.Stats(args.cap);
  if (!stats.ok()) return 1;
  std::printf("\n%-20s %9s %9s %8s %9s %9s\n", "index stats", "blocks",
              "entries", "largest", "oversize", "ovs.entr");
  for (Rule r : blocking::AllRules()) {
    if (!(args.config.rules & RuleBit(r))) continue;
    const blocking::RuleStats& s = stats->rules[static_cast<int>(r)];
    std::printf("%-20s %9lld %9lld %8lld %9lld %9lld\n",
                std::string(blocking::RuleName(r)).c_str(),
                static_cast<long long>(s.blocks),
                static_cast<long long>(s.entries),
                static_cast<long long>(s.largest_block),
                static_cast<long long>(s.oversize_blocks),
                static_cast<long long>(s.oversize_entries));
  }
  std::printf("%-20s %9lld %9lld %8lld %9lld %9lld  (%.1f keys/record)\n",
              "total", static_cast<long long>(stats->total.blocks),
              static_cast<long long>(stats->total.entries),
              static_cast<long long>(stats->total.largest_block),
              static_cast<long long>(stats->total.oversize_blocks),
              static_cast<long long>(stats->total.oversize_entries),
              Ratio(stats->total.entries, n));
  std::fprintf(stderr, "generate+encode %.1f s, total %.1f s\n",
               Seconds(t_start, t_encoded), Seconds(t_start, Clock::now()));
  st->reset();
  if (remove_db) {
    std::error_code ec;
    std::filesystem::remove_all(std::filesystem::path(db).parent_path(), ec);
  }
  return 0;
}

}  // namespace
}  // namespace linkd::bench

int main(int argc, char** argv) {
  linkd::bench::Args args;
  if (!linkd::bench::ParseArgs(argc, argv, &args)) {
    std::fprintf(stderr,
                 "usage: blocking_bench [--people N] [--seed S] [--rules "
                 "a,b,...] [--bands B] [--rows R] [--cap N] [--db DIR] "
                 "[--bulk-index-only]\n");
    return 2;
  }
  return linkd::bench::Run(args);
}
