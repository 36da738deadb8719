// privacy_attack_bench: plays the curious operator of linkd against the
// encoding of crypto/ENCODING.md, and measures what name hardening buys and
// what it costs.
//
// The operator holds every encoded record of a synthetic population (three
// sources) and public frequency tables of clear values, computed from an
// independent population generated with another seed (the stand-in for ONS
// name statistics). It tries to give clear values back to encodings:
//   A  frequency alignment: identical encodings are counted, ranked, and rank
//      i is given the i-th most frequent public value;
//   B  the same on clusters of similar name filters (greedy, Dice >= 0.9,
//      MinHash LSH), which also gathers typos and variants;
//   C  attack A inside each salt group (records sharing the salt's token,
//      which the operator holds: dob_unordered, or postcode_unit).
// Encoding v2 holds two salted filters per name (ENCODING.md 6): salted with
// the date of birth, and salted with the postcode unit. Attacks A, B, A' and
// C run on each family, and
//   D  uses both: records sharing an exact filter of either family hold the
//      same name, so they are joined across salt groups (union-find; a
//      record with both salts bridges its dob class and its postcode), and
//      the components are aligned as in A.
// A combined line takes, per record, every attack on every name encoding
// linkd holds (the union: an upper bound, since the operator cannot tell
// which of its guesses are right), against a two-guess chance floor.
// Baselines: the same attacks on unsalted name filters (the same hashing,
// empty salt, under a benchmark key: encoding v2 never builds them, v1 did
// for every record without a date of birth) and on deterministic keyed name
// tokens (BLAKE2b).
// Finally, the linkage cost of salting: over true-match pairs across
// sources, how often names are comparable (salts agree) under the dob salt,
// the postcode salt and either, and the Dice scores.
//
// Usage: privacy_attack_bench [--people N] [--seed S] [--public-seed S]
// Prints a table of figures (not pass/fail) to stdout; timings to stderr.
// Only aggregate shares are printed, never a clear value.
#include <sodium.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "crypto/crypto.h"
#include "crypto/encoder.h"
#include "crypto/linkage_key.h"
#include "crypto/normalize.h"
#include "tests/testing/synth/population.h"
#include "tests/testing/synth/rng.h"

namespace linkd::bench {
namespace {

using crypto::BloomFilter;
using crypto::Token;
using synth::Source;
using synth::SourceRecord;

// ------------------------------------------------------------- interning

// Maps values to dense ids. Values are strings (clear truth) or byte
// strings (encodings).
class Interner {
 public:
  int32_t Id(std::string_view value) {
    auto [it, inserted] = ids_.try_emplace(
        std::string(value), static_cast<int32_t>(values_.size()));
    if (inserted) values_.push_back(it->first);
    return it->second;
  }
  int32_t Find(std::string_view value) const {
    auto it = ids_.find(std::string(value));
    return it == ids_.end() ? -1 : it->second;
  }
  const std::string& Value(int32_t id) const { return values_[id]; }
  size_t size() const { return values_.size(); }

 private:
  absl::flat_hash_map<std::string, int32_t> ids_;
  std::vector<std::string> values_;
};

std::string_view Bytes(const BloomFilter& bf) {
  return {reinterpret_cast<const char*>(bf.data()), bf.size()};
}
std::string_view Bytes(const Token& t) {
  return {reinterpret_cast<const char*>(t.data()), t.size()};
}

// -------------------------------------------------------------- fields

enum NameField { kGiven = 0, kFamily = 1 };
enum ExactField {
  kDob = 0,
  kBirthYear,
  kSex,
  kDistrict,
  kSector,
  kUnit,
  kNumExact
};
constexpr const char* kExactNames[kNumExact] = {
    "dob",          "birth_year", "sex", "postcode_district", "postcode_sector",
    "postcode_unit"};

// Normalised clear values of one record; empty = absent or unusable.
struct Clear {
  std::string name[2];
  std::vector<std::string> parts[2];
  std::string exact[kNumExact];
};

std::string Two(int v) {
  return std::string{static_cast<char>('0' + v / 10 % 10),
                     static_cast<char>('0' + v % 10)};
}

Clear Normalise(const SourceRecord& r, const crypto::Date& latest) {
  Clear c;
  const std::string* names[2] = {&r.given_name, &r.family_name};
  for (int f = 0; f < 2; ++f) {
    auto parts = crypto::NormalizeName(*names[f]);
    if (parts.ok()) {
      c.name[f] = absl::StrJoin(*parts, " ");
      c.parts[f] = std::move(*parts);
    }
  }
  auto dob =
      crypto::NormalizeDateOfBirth(r.dob, crypto::DateFormat::Auto(), latest);
  if (dob.ok()) {
    c.exact[kBirthYear] = std::to_string(dob->year);
    c.exact[kDob] =
        c.exact[kBirthYear] + "-" + Two(dob->month) + "-" + Two(dob->day);
  }
  auto sex = crypto::NormalizeSex(r.sex);
  if (sex.ok()) c.exact[kSex] = std::string(1, *sex);
  auto pc = crypto::NormalizePostcode(r.postcode);
  if (pc.ok()) {
    c.exact[kDistrict] = pc->district;
    c.exact[kSector] = pc->sector;
    c.exact[kUnit] = pc->unit;
  }
  return c;
}

// What the operator holds about one record, plus the truth to score it.
struct Rec {
  uint32_t person = 0;
  uint8_t source = 0;
  int32_t truth_name[2] = {-1, -1};  // Interner `clear_names`
  int32_t truth_exact[kNumExact];    // Interner `clear_exact`
  int32_t salted[2] = {-1, -1};      // filter ids, salted with the dob
  int32_t pc_salted[2] = {-1, -1};   // filter ids, salted with the postcode
  int32_t unsalted[2] = {-1, -1};    // filter ids, unsalted (baseline)
  int32_t det[2] = {-1, -1};         // deterministic token ids
  int32_t exact[kNumExact];          // token ids
  int32_t salt = -1;                 // dob_unordered token id
};

// Distinct Bloom filters with dense ids (one copy of each filter).
struct FilterSet {
  absl::flat_hash_map<uint64_t, int32_t> by_hash;
  std::vector<BloomFilter> filters;
  int32_t Add(const BloomFilter& bf) {
    uint64_t h = absl::HashOf(Bytes(bf));
    for (;; ++h) {  // open addressing over the 64-bit hash on collision
      auto [it, inserted] =
          by_hash.try_emplace(h, static_cast<int32_t>(filters.size()));
      if (inserted) {
        filters.push_back(bf);
        return it->second;
      }
      if (filters[it->second] == bf) return it->second;
    }
  }
};

// A name filter with the hashing of ENCODING.md 6 and the empty salt, as
// version 1 built for records without a date of birth: the unhardened
// baseline, under the benchmark's own key (version 2 never builds one).
BloomFilter UnsaltedFilter(const std::vector<std::string>& parts,
                           const std::array<uint8_t, 32>& key) {
  BloomFilter bf{};
  for (const std::string& part : parts) {
    const std::string padded = "_" + part + "_";
    for (size_t i = 0; i + 1 < padded.size(); ++i) {
      const uint8_t msg[3] = {0x1F, static_cast<uint8_t>(padded[i]),
                              static_cast<uint8_t>(padded[i + 1])};
      uint8_t h[64];
      crypto_generichash(h, sizeof(h), msg, sizeof(msg), key.data(),
                         key.size());
      for (int k = 0; k < 20; ++k) {
        const uint32_t pos = (h[2 * k] | (uint32_t{h[2 * k + 1]} << 8)) % 1024;
        bf[pos / 8] |= static_cast<uint8_t>(1u << (pos % 8));
      }
    }
  }
  return bf;
}

// ------------------------------------------------------------ public table

// Values of one field ranked by descending public frequency.
struct PublicTable {
  std::vector<int32_t> ranked;  // value ids (in the shared clear interner)
};

PublicTable Rank(const absl::flat_hash_map<int32_t, int64_t>& counts) {
  std::vector<std::pair<int64_t, int32_t>> v;
  v.reserve(counts.size());
  for (const auto& [id, n] : counts) v.push_back({n, id});
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  PublicTable t;
  for (const auto& [n, id] : v) t.ranked.push_back(id);
  return t;
}

// --------------------------------------------------------------- attacks

// Attack A on one field: `enc[i]` is record i's encoding id (or -1), and
// `truth[i]` its clear value id. Returns, per record, whether it was
// recovered.
// The operator's guess: encoding id -> clear value id, aligning encodings
// ranked by count with the public ranking.
absl::flat_hash_map<int32_t, int32_t> GuessMap(const std::vector<int32_t>& enc,
                                               const PublicTable& table) {
  absl::flat_hash_map<int32_t, int64_t> counts;
  for (int32_t e : enc) {
    if (e >= 0) ++counts[e];
  }
  const PublicTable ranked = Rank(counts);
  absl::flat_hash_map<int32_t, int32_t> guess;
  for (size_t i = 0; i < ranked.ranked.size() && i < table.ranked.size(); ++i) {
    guess[ranked.ranked[i]] = table.ranked[i];
  }
  return guess;
}

std::vector<bool> AlignByIdentity(const std::vector<int32_t>& enc,
                                  const std::vector<int32_t>& truth,
                                  const PublicTable& table) {
  const absl::flat_hash_map<int32_t, int32_t> guess = GuessMap(enc, table);
  std::vector<bool> hit(enc.size(), false);
  for (size_t i = 0; i < enc.size(); ++i) {
    if (enc[i] < 0) continue;
    auto it = guess.find(enc[i]);
    hit[i] = it != guess.end() && it->second == truth[i];
  }
  return hit;
}

// Attack A run separately inside groups of records (`group[i]`, -1 = none),
// each group aligned with its own public table (`table_of(group)`, null =
// skip the group).
std::vector<bool> AlignWithinGroups(
    const std::vector<int32_t>& enc, const std::vector<int32_t>& group,
    const std::vector<int32_t>& truth,
    const std::function<const PublicTable*(int32_t)>& table_of) {
  absl::flat_hash_map<int32_t, std::vector<size_t>> groups;
  for (size_t i = 0; i < enc.size(); ++i) {
    if (enc[i] >= 0 && group[i] >= 0) groups[group[i]].push_back(i);
  }
  std::vector<bool> hit(enc.size(), false);
  std::vector<int32_t> sub_enc, sub_truth;
  for (const auto& [g, members] : groups) {
    const PublicTable* table = table_of(g);
    if (table == nullptr) continue;
    sub_enc.clear();
    sub_truth.clear();
    for (size_t i : members) {
      sub_enc.push_back(enc[i]);
      sub_truth.push_back(truth[i]);
    }
    const std::vector<bool> h = AlignByIdentity(sub_enc, sub_truth, *table);
    for (size_t k = 0; k < members.size(); ++k) hit[members[k]] = h[k];
  }
  return hit;
}

// The chance floor: every record guessed as the most common public value,
// or, with `guesses` > 1, right if its value is one of the `guesses` most
// common (the floor for a union of that many attacks' guesses).
std::vector<bool> BlindGuess(const std::vector<int32_t>& truth,
                             const PublicTable& table, size_t guesses = 1) {
  std::vector<bool> hit(truth.size(), false);
  for (size_t i = 0; i < truth.size(); ++i) {
    for (size_t g = 0; g < guesses && g < table.ranked.size(); ++g) {
      if (truth[i] == table.ranked[g]) hit[i] = true;
    }
  }
  return hit;
}

// Attack D's first step: records that share an exact filter of either salt
// family hold the same name, so the operator can join them across salt
// groups (a record with both a dob and a postcode bridges its dob class and
// its postcode). Returns, per record, its component (a record index), or -1
// for a record with neither filter.
std::vector<int32_t> LinkAcrossSalts(const std::vector<int32_t>& a,
                                     const std::vector<int32_t>& b) {
  const size_t n = a.size();
  std::vector<int32_t> parent(n);
  for (size_t i = 0; i < n; ++i) parent[i] = static_cast<int32_t>(i);
  const auto find = [&](int32_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  };
  for (const std::vector<int32_t>* enc : {&a, &b}) {
    absl::flat_hash_map<int32_t, int32_t> first;  // filter id -> record
    for (size_t i = 0; i < n; ++i) {
      if ((*enc)[i] < 0) continue;
      auto [it, inserted] =
          first.try_emplace((*enc)[i], static_cast<int32_t>(i));
      if (!inserted) parent[find(static_cast<int32_t>(i))] = find(it->second);
    }
  }
  std::vector<int32_t> component(n, -1);
  for (size_t i = 0; i < n; ++i) {
    if (a[i] >= 0 || b[i] >= 0) component[i] = find(static_cast<int32_t>(i));
  }
  return component;
}

// MinHash LSH over the set bits of 1024-bit filters.
constexpr int kBands = 12;
constexpr int kRows = 5;
constexpr int kHashes = kBands * kRows;

class MinHasher {
 public:
  MinHasher() {
    synth::Rng rng(0x5EED);
    for (auto& table : perm_) {
      for (auto& v : table) v = static_cast<uint16_t>(rng.Next());
    }
  }
  std::array<uint64_t, kBands> Bands(const BloomFilter& bf) const {
    std::array<uint16_t, kHashes> mins;
    mins.fill(0xFFFF);
    for (size_t byte = 0; byte < bf.size(); ++byte) {
      for (uint8_t bits = bf[byte]; bits != 0; bits &= bits - 1) {
        const int pos = static_cast<int>(byte * 8) + __builtin_ctz(bits);
        for (int h = 0; h < kHashes; ++h) {
          mins[h] = std::min(mins[h], perm_[h][pos]);
        }
      }
    }
    std::array<uint64_t, kBands> bands;
    for (int b = 0; b < kBands; ++b) {
      uint64_t key = static_cast<uint64_t>(b) << 60;
      for (int r = 0; r < kRows; ++r) key = key * 65599 + mins[b * kRows + r];
      bands[b] = key;
    }
    return bands;
  }

 private:
  uint16_t perm_[kHashes][crypto::kBloomBits];
};

// Attack B: greedy clustering of distinct filters (most frequent first) at
// Dice >= `threshold`, then alignment of cluster sizes with the public
// table. Returns per record whether it was recovered.
std::vector<bool> AlignByClusters(const std::vector<int32_t>& enc,
                                  const std::vector<int32_t>& truth,
                                  const FilterSet& set,
                                  const PublicTable& table, double threshold,
                                  size_t* num_clusters) {
  const size_t n = set.filters.size();
  std::vector<int64_t> count(n, 0);
  for (int32_t e : enc) {
    if (e >= 0) ++count[e];
  }
  std::vector<int32_t> order;
  for (size_t i = 0; i < n; ++i) {
    if (count[i] > 0) order.push_back(static_cast<int32_t>(i));
  }
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return count[a] != count[b] ? count[a] > count[b] : a < b;
  });
  static const MinHasher* const hasher = new MinHasher;
  std::unordered_map<uint64_t, std::vector<int32_t>> index;  // band -> centres
  std::vector<int32_t> cluster_of(n, -1);
  std::vector<int32_t> centres;
  std::vector<int64_t> size;
  for (int32_t f : order) {
    const auto bands = hasher->Bands(set.filters[f]);
    int32_t best = -1;
    double best_dice = threshold;
    for (uint64_t key : bands) {
      auto it = index.find(key);
      if (it == index.end()) continue;
      for (int32_t c : it->second) {
        const double d = crypto::Dice(set.filters[f], set.filters[centres[c]]);
        if (d >= best_dice &&
            (best < 0 || d > best_dice || size[c] > size[best])) {
          best = c;
          best_dice = d;
        }
      }
    }
    if (best < 0) {
      best = static_cast<int32_t>(centres.size());
      centres.push_back(f);
      size.push_back(0);
      for (uint64_t key : bands) index[key].push_back(best);
    }
    cluster_of[f] = best;
    size[best] += count[f];
  }
  *num_clusters = centres.size();
  std::vector<int32_t> by_cluster(enc.size(), -1);
  for (size_t i = 0; i < enc.size(); ++i) {
    if (enc[i] >= 0) by_cluster[i] = cluster_of[enc[i]];
  }
  return AlignByIdentity(by_cluster, truth, table);
}

// ---------------------------------------------------------------- report

double Share(const std::vector<bool>& hit,
             const std::vector<int32_t>& present) {
  int64_t n = 0, h = 0;
  for (size_t i = 0; i < hit.size(); ++i) {
    if (present[i] < 0) continue;
    ++n;
    h += hit[i];
  }
  return n == 0 ? 0.0 : 100.0 * static_cast<double>(h) / static_cast<double>(n);
}

double ShareEither(const std::vector<bool>& a, const std::vector<bool>& b) {
  int64_t h = 0;
  for (size_t i = 0; i < a.size(); ++i) h += a[i] || b[i];
  return a.empty()
             ? 0.0
             : 100.0 * static_cast<double>(h) / static_cast<double>(a.size());
}

struct Stats {
  double mean = 0, p10 = 0;
  int64_t n = 0;
};
Stats Summarise(std::vector<double> v) {
  Stats s;
  s.n = static_cast<int64_t>(v.size());
  if (v.empty()) return s;
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  std::sort(v.begin(), v.end());
  s.p10 = v[v.size() / 10];
  return s;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since)
      .count();
}

struct Args {
  int64_t people = 200000;
  uint64_t seed = 1;
  uint64_t public_seed = 0;  // 0: seed + 1000
};

bool ParseArgs(int argc, char** argv, Args* args) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return false;
    const std::string value = argv[++i];
    if (arg == "--people") {
      if (!absl::SimpleAtoi(value, &args->people) || args->people <= 0)
        return false;
    } else if (arg == "--seed") {
      if (!absl::SimpleAtoi(value, &args->seed)) return false;
    } else if (arg == "--public-seed") {
      if (!absl::SimpleAtoi(value, &args->public_seed)) return false;
    } else {
      return false;
    }
  }
  if (args->public_seed == 0) args->public_seed = args->seed + 1000;
  return args->public_seed != args->seed;
}

int Run(const Args& args) {
  if (!crypto::Init().ok()) {
    std::fprintf(stderr, "privacy_attack_bench: libsodium failed to start\n");
    return 1;
  }
  const auto t0 = std::chrono::steady_clock::now();

  // A key derived from the seed, so runs are reproducible.
  std::string key_bytes(crypto::kLinkageKeyBytes, '\0');
  synth::Rng key_rng(synth::MixSeed(args.seed, 0x6B6579));
  for (char& c : key_bytes) c = static_cast<char>(key_rng.Next());
  absl::StatusOr<crypto::LinkageKey> key =
      crypto::LinkageKey::FromBytes(key_bytes, 1);
  if (!key.ok()) return 1;
  // The tokens of the deterministic-name baseline get their own key, and so
  // do the unsalted filters of the other baseline.
  std::array<uint8_t, crypto_generichash_KEYBYTES> det_key;
  for (auto& b : det_key) b = static_cast<uint8_t>(key_rng.Next());
  std::array<uint8_t, 32> unsalted_key;
  for (auto& b : unsalted_key) b = static_cast<uint8_t>(key_rng.Next());

  synth::Options target_opts;
  target_opts.seed = args.seed;
  target_opts.num_people = args.people;
  const crypto::Date latest{target_opts.reference_date.year,
                            target_opts.reference_date.month,
                            target_opts.reference_date.day};
  crypto::EncodeOptions enc_opts;
  enc_opts.latest_dob = latest;
  const crypto::Encoder encoder(*key, enc_opts);

  Interner clear_names, clear_exact;
  FilterSet salted[2], pc_salted[2], unsalted[2];
  Interner det_tokens[2], exact_tokens[kNumExact], salt_tokens;
  std::vector<Rec> recs;
  recs.reserve(static_cast<size_t>(args.people) * 3 / 2);

  // ---- target population: encode every record.
  {
    synth::PopulationGenerator gen(target_opts);
    synth::RecordExtractor extractor(target_opts);
    synth::Person person;
    std::vector<SourceRecord> records;
    while (gen.Next(&person)) {
      extractor.Extract(person, &records);
      for (const SourceRecord& r : records) {
        Rec rec;
        rec.person = static_cast<uint32_t>(r.person_id);
        rec.source = static_cast<uint8_t>(r.source);
        const Clear c = Normalise(r, latest);
        for (int f = 0; f < 2; ++f) {
          if (!c.name[f].empty()) rec.truth_name[f] = clear_names.Id(c.name[f]);
        }
        for (int e = 0; e < kNumExact; ++e) {
          rec.truth_exact[e] =
              c.exact[e].empty() ? -1 : clear_exact.Id(c.exact[e]);
        }
        crypto::ClearIdentity id;
        id.given_name = r.given_name;
        id.family_name = r.family_name;
        id.dob = r.dob;
        id.sex = r.sex;
        id.postcode = r.postcode;
        const crypto::EncodedIdentity e = encoder.Encode(id, nullptr);
        const std::optional<BloomFilter>* sbf[2] = {&e.given_name_bf,
                                                    &e.family_name_bf};
        const std::optional<BloomFilter>* pbf[2] = {&e.given_name_pc_bf,
                                                    &e.family_name_pc_bf};
        for (int f = 0; f < 2; ++f) {
          if (sbf[f]->has_value()) rec.salted[f] = salted[f].Add(**sbf[f]);
          if (pbf[f]->has_value()) {
            rec.pc_salted[f] = pc_salted[f].Add(**pbf[f]);
          }
          if (!c.parts[f].empty()) {
            rec.unsalted[f] =
                unsalted[f].Add(UnsaltedFilter(c.parts[f], unsalted_key));
          }
          if (!c.name[f].empty()) {
            Token t;
            crypto_generichash(
                t.data(), t.size(),
                reinterpret_cast<const uint8_t*>(c.name[f].data()),
                c.name[f].size(), det_key.data(), det_key.size());
            rec.det[f] = det_tokens[f].Id(Bytes(t));
          }
        }
        const std::optional<Token>* tok[kNumExact] = {&e.dob,
                                                      &e.birth_year,
                                                      &e.sex,
                                                      &e.postcode_district,
                                                      &e.postcode_sector,
                                                      &e.postcode_unit};
        for (int x = 0; x < kNumExact; ++x) {
          rec.exact[x] =
              tok[x]->has_value() ? exact_tokens[x].Id(Bytes(**tok[x])) : -1;
        }
        if (e.dob_unordered.has_value())
          rec.salt = salt_tokens.Id(Bytes(*e.dob_unordered));
        recs.push_back(rec);
      }
    }
  }
  std::fprintf(stderr, "encoded %zu records in %.1f s\n", recs.size(),
               Seconds(t0));

  // ---- public tables from an independent population.
  const auto t1 = std::chrono::steady_clock::now();
  absl::flat_hash_map<int32_t, int64_t> name_counts[2], exact_counts[kNumExact];
  // Name counts by clear sex value id: sex_name_counts[f][sex id].
  absl::flat_hash_map<int32_t, absl::flat_hash_map<int32_t, int64_t>>
      sex_name_counts[2];
  int64_t public_records = 0;
  {
    synth::Options public_opts = target_opts;
    public_opts.seed = args.public_seed;
    synth::PopulationGenerator gen(public_opts);
    synth::RecordExtractor extractor(public_opts);
    synth::Person person;
    std::vector<SourceRecord> records;
    while (gen.Next(&person)) {
      extractor.Extract(person, &records);
      for (const SourceRecord& r : records) {
        ++public_records;
        const Clear c = Normalise(r, latest);
        for (int f = 0; f < 2; ++f) {
          if (c.name[f].empty()) continue;
          const int32_t id = clear_names.Id(c.name[f]);
          ++name_counts[f][id];
          if (!c.exact[kSex].empty()) {
            ++sex_name_counts[f][clear_exact.Id(c.exact[kSex])][id];
          }
        }
        for (int x = 0; x < kNumExact; ++x) {
          if (!c.exact[x].empty())
            ++exact_counts[x][clear_exact.Id(c.exact[x])];
        }
      }
    }
  }
  PublicTable name_table[2] = {Rank(name_counts[0]), Rank(name_counts[1])};
  absl::flat_hash_map<int32_t, PublicTable> sex_name_table[2];
  for (int f = 0; f < 2; ++f) {
    for (const auto& [sex, counts] : sex_name_counts[f]) {
      sex_name_table[f][sex] = Rank(counts);
    }
  }
  std::fprintf(stderr, "public tables from %lld records in %.1f s\n",
               static_cast<long long>(public_records), Seconds(t1));

  // ---- columns.
  const size_t n = recs.size();
  std::vector<int32_t> truth[2], sal[2], pcs[2], uns[2], det[2], salt(n);
  for (int f = 0; f < 2; ++f) {
    truth[f].resize(n);
    sal[f].resize(n);
    pcs[f].resize(n);
    uns[f].resize(n);
    det[f].resize(n);
    for (size_t i = 0; i < n; ++i) {
      truth[f][i] = recs[i].truth_name[f];
      sal[f][i] = recs[i].salted[f];
      pcs[f][i] = recs[i].pc_salted[f];
      uns[f][i] = recs[i].unsalted[f];
      det[f][i] = recs[i].det[f];
    }
  }
  std::vector<int32_t> sex_tok(n), sex_truth(n), unit_tok(n);
  for (size_t i = 0; i < n; ++i) {
    salt[i] = recs[i].salt;
    unit_tok[i] = recs[i].exact[kUnit];
    sex_tok[i] = recs[i].exact[kSex];
    sex_truth[i] = recs[i].truth_exact[kSex];
  }
  // The operator labels the sex tokens by frequency (two values), then
  // aligns names within each sex with the public table of that sex.
  const absl::flat_hash_map<int32_t, int32_t> sex_guess =
      GuessMap(sex_tok, Rank(exact_counts[kSex]));
  const auto by_sex = [&](int f) {
    return [&, f](int32_t token) -> const PublicTable* {
      auto g = sex_guess.find(token);
      if (g == sex_guess.end()) return nullptr;
      auto t = sex_name_table[f].find(g->second);
      return t == sex_name_table[f].end() ? nullptr : &t->second;
    };
  };
  const auto global = [&](int f) {
    return [&, f](int32_t) -> const PublicTable* { return &name_table[f]; };
  };

  struct Row {
    std::string label;
    std::vector<bool> hit[2];
    double share[2];
    std::string note;
  };
  std::vector<Row> rows;
  const auto add_row =
      [&](std::string label, std::vector<bool> g, std::vector<bool> f,
          const std::vector<int32_t>* present, std::string note) {
        Row r;
        r.label = std::move(label);
        r.share[0] = Share(g, present[0]);
        r.share[1] = Share(f, present[1]);
        r.hit[0] = std::move(g);
        r.hit[1] = std::move(f);
        r.note = std::move(note);
        rows.push_back(std::move(r));
      };

  const auto t2 = std::chrono::steady_clock::now();
  size_t clusters[2];
  // The four attacks on one family of salted filters (`enc`, ids into
  // `set`), with `group` the salt token that the operator holds.
  const auto hardened = [&](const char* salt_name, std::vector<int32_t>* enc,
                            FilterSet* set, const std::vector<int32_t>& group,
                            size_t groups) {
    add_row("A  exact-filter frequency alignment",
            AlignByIdentity(enc[0], truth[0], name_table[0]),
            AlignByIdentity(enc[1], truth[1], name_table[1]), enc,
            absl::StrCat(set[0].filters.size(), "+", set[1].filters.size(),
                         " distinct filters"));
    std::vector<bool> g = AlignByClusters(enc[0], truth[0], set[0],
                                          name_table[0], 0.9, &clusters[0]);
    std::vector<bool> f = AlignByClusters(enc[1], truth[1], set[1],
                                          name_table[1], 0.9, &clusters[1]);
    add_row("B  Dice>=0.9 cluster alignment", std::move(g), std::move(f), enc,
            absl::StrCat(clusters[0], "+", clusters[1], " clusters"));
    add_row("A' exact filters, aligned within sex",
            AlignWithinGroups(enc[0], sex_tok, truth[0], by_sex(0)),
            AlignWithinGroups(enc[1], sex_tok, truth[1], by_sex(1)), enc, "");
    add_row(absl::StrCat("C  alignment within ", salt_name, " groups"),
            AlignWithinGroups(enc[0], group, truth[0], global(0)),
            AlignWithinGroups(enc[1], group, truth[1], global(1)), enc,
            absl::StrCat(groups, " salt groups"));
  };
  hardened("dob_unordered", sal, salted, salt, salt_tokens.size());
  const size_t pc_rows = rows.size();
  hardened("postcode_unit", pcs, pc_salted, unit_tok,
           exact_tokens[kUnit].size());
  {
    // D: both families at once (what only v2 makes possible).
    std::vector<int32_t> linked[2];
    size_t components[2];
    for (int f = 0; f < 2; ++f) {
      linked[f] = LinkAcrossSalts(sal[f], pcs[f]);
      absl::flat_hash_map<int32_t, int> distinct;
      for (int32_t c : linked[f]) {
        if (c >= 0) distinct[c] = 1;
      }
      components[f] = distinct.size();
    }
    add_row("D  equal filters joined across salts, then A",
            AlignByIdentity(linked[0], truth[0], name_table[0]),
            AlignByIdentity(linked[1], truth[1], name_table[1]), linked,
            absl::StrCat(components[0], "+", components[1], " components"));
  }
  const size_t hardened_rows = rows.size();
  // Per record: recovered by any attack on any of its name encodings.
  {
    std::vector<bool> any[2];
    for (int f = 0; f < 2; ++f) {
      any[f].assign(n, false);
      for (size_t r = 0; r < hardened_rows; ++r) {
        for (size_t i = 0; i < n; ++i) {
          if (rows[r].hit[f][i]) any[f][i] = true;
        }
      }
    }
    add_row("*  union of the attacks above, both salts", std::move(any[0]),
            std::move(any[1]), truth, "share of records with the name");
  }
  const size_t union_row = rows.size() - 1;
  // Records without a valid date of birth: version 1 gave their names
  // unsalted filters, version 2 only postcode-salted ones (or none).
  int64_t no_dob = 0, no_dob_hit = 0, no_dob_v1_hit = 0;
  const size_t unsalted_row = rows.size();  // the next row, added below
  add_row("A  unsalted filters",
          AlignByIdentity(uns[0], truth[0], name_table[0]),
          AlignByIdentity(uns[1], truth[1], name_table[1]), uns,
          absl::StrCat(unsalted[0].filters.size(), "+",
                       unsalted[1].filters.size(), " distinct filters"));
  {
    std::vector<bool> g = AlignByClusters(uns[0], truth[0], unsalted[0],
                                          name_table[0], 0.9, &clusters[0]);
    std::vector<bool> f = AlignByClusters(uns[1], truth[1], unsalted[1],
                                          name_table[1], 0.9, &clusters[1]);
    add_row("B  unsalted filters, Dice>=0.9 clusters", std::move(g),
            std::move(f), uns,
            absl::StrCat(clusters[0], "+", clusters[1], " clusters"));
  }
  add_row("A  deterministic keyed name tokens",
          AlignByIdentity(det[0], truth[0], name_table[0]),
          AlignByIdentity(det[1], truth[1], name_table[1]), det,
          absl::StrCat(det_tokens[0].size(), "+", det_tokens[1].size(),
                       " distinct tokens"));
  add_row("A' deterministic tokens, aligned within sex",
          AlignWithinGroups(det[0], sex_tok, truth[0], by_sex(0)),
          AlignWithinGroups(det[1], sex_tok, truth[1], by_sex(1)), det, "");
  add_row("A' unsalted filters, aligned within sex",
          AlignWithinGroups(uns[0], sex_tok, truth[0], by_sex(0)),
          AlignWithinGroups(uns[1], sex_tok, truth[1], by_sex(1)), uns, "");
  const size_t baseline_rows = rows.size();
  for (size_t i = 0; i < n; ++i) {
    if (recs[i].salt >= 0 || (truth[0][i] < 0 && truth[1][i] < 0)) continue;
    ++no_dob;
    no_dob_hit += rows[union_row].hit[0][i] || rows[union_row].hit[1][i];
    no_dob_v1_hit +=
        rows[unsalted_row].hit[0][i] || rows[unsalted_row].hit[1][i];
  }
  const size_t floor_row = rows.size();
  add_row("-  blind guess of the commonest name",
          BlindGuess(truth[0], name_table[0]),
          BlindGuess(truth[1], name_table[1]), truth,
          "no encoding used: the chance floor");
  add_row("-  blind guess, two commonest names",
          BlindGuess(truth[0], name_table[0], 2),
          BlindGuess(truth[1], name_table[1], 2), truth,
          "the floor for a union of two guesses (C on each salt)");
  std::fprintf(stderr, "name attacks in %.1f s\n", Seconds(t2));

  // ---- exact tokens, attack A.
  double exact_share[kNumExact];
  size_t exact_distinct[kNumExact];
  for (int x = 0; x < kNumExact; ++x) {
    std::vector<int32_t> enc(n), tr(n);
    for (size_t i = 0; i < n; ++i) {
      enc[i] = recs[i].exact[x];
      tr[i] = recs[i].truth_exact[x];
    }
    exact_share[x] =
        Share(AlignByIdentity(enc, tr, Rank(exact_counts[x])), enc);
    exact_distinct[x] = exact_tokens[x].size();
  }

  // ---- linkage cost of salting: true-match pairs across sources.
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return recs[a].person < recs[b].person;
  });
  int64_t pairs = 0, comparable = 0, pc_comparable = 0, either = 0;
  std::vector<double> sd[2], pd[2], ud[2];
  for (size_t lo = 0; lo < n;) {
    size_t hi = lo;
    while (hi < n && recs[order[hi]].person == recs[order[lo]].person) ++hi;
    for (size_t a = lo; a < hi; ++a) {
      for (size_t b = a + 1; b < hi; ++b) {
        const Rec& x = recs[order[a]];
        const Rec& y = recs[order[b]];
        if (x.source == y.source) continue;
        ++pairs;
        const bool same_salt = x.salt >= 0 && x.salt == y.salt;
        const bool same_unit =
            x.exact[kUnit] >= 0 && x.exact[kUnit] == y.exact[kUnit];
        comparable += same_salt;
        pc_comparable += same_unit;
        either += same_salt || same_unit;
        for (int f = 0; f < 2; ++f) {
          if (same_salt && x.salted[f] >= 0 && y.salted[f] >= 0) {
            sd[f].push_back(crypto::Dice(salted[f].filters[x.salted[f]],
                                         salted[f].filters[y.salted[f]]));
          }
          if (same_unit && x.pc_salted[f] >= 0 && y.pc_salted[f] >= 0) {
            pd[f].push_back(crypto::Dice(pc_salted[f].filters[x.pc_salted[f]],
                                         pc_salted[f].filters[y.pc_salted[f]]));
          }
          if (x.unsalted[f] >= 0 && y.unsalted[f] >= 0) {
            ud[f].push_back(crypto::Dice(unsalted[f].filters[x.unsalted[f]],
                                         unsalted[f].filters[y.unsalted[f]]));
          }
        }
      }
    }
    lo = hi;
  }

  // ---- report.
  std::printf("\nlinkd privacy attack benchmark (encoding v%u)\n",
              crypto::kEncodingVersion);
  std::printf(
      "target: %lld people (seed %llu) -> %zu encoded records from 3 sources\n",
      static_cast<long long>(args.people),
      static_cast<unsigned long long>(args.seed), n);
  std::printf(
      "public frequency tables: independent population (seed %llu), "
      "%lld records\n\n",
      static_cast<unsigned long long>(args.public_seed),
      static_cast<long long>(public_records));
  std::printf(
      "Share of records whose name is recovered by the curious operator\n");
  std::printf("%-44s %8s %8s %10s   %s\n", "attack", "given", "family",
              "given|fam", "");
  std::printf("%s\n", std::string(100, '-').c_str());
  for (size_t i = 0; i < rows.size(); ++i) {
    if (i == 0)
      std::printf(
          "hardened: name filters salted with the dob (day/month unordered)\n");
    if (i == pc_rows)
      std::printf("hardened: name filters salted with the postcode unit\n");
    if (i == pc_rows + 4)
      std::printf("hardened: both salt families together\n");
    if (i == union_row)
      std::printf("hardened: every name encoding linkd holds\n");
    if (i == union_row + 1) std::printf("baselines: unhardened encodings\n");
    if (i == baseline_rows) std::printf("reference\n");
    const Row& r = rows[i];
    std::printf("  %-42s %7.2f%% %7.2f%% %9.2f%%   %s\n", r.label.c_str(),
                r.share[0], r.share[1], ShareEither(r.hit[0], r.hit[1]),
                r.note.c_str());
  }
  double worst[2] = {0, 0};  // dob-salted, postcode-salted
  for (size_t i = 0; i < hardened_rows; ++i) {
    double& w = worst[i < pc_rows ? 0 : 1];
    w = std::max(w, ShareEither(rows[i].hit[0], rows[i].hit[1]));
  }
  std::printf(
      "  target for the hardened encoding: given-or-family <= 1%%; worst "
      "single attack: dob-salted %.2f%%, postcode-salted %.2f%%, over every "
      "name encoding linkd holds %.2f%% (chance floor %.2f%%); union of all "
      "attacks %.2f%% (two-guess floor %.2f%%)\n",
      worst[0], worst[1], std::max(worst[0], worst[1]),
      ShareEither(rows[floor_row].hit[0], rows[floor_row].hit[1]),
      ShareEither(rows[union_row].hit[0], rows[union_row].hit[1]),
      ShareEither(rows[floor_row + 1].hit[0], rows[floor_row + 1].hit[1]));
  std::printf(
      "  records without a valid dob: %lld (%.2f%% of records with a name); "
      "name recovered by the union of attacks: %.2f%% (unsalted filters, as "
      "v1 gave them: %.2f%%)\n\n",
      static_cast<long long>(no_dob),
      n == 0 ? 0.0
             : 100.0 * static_cast<double>(no_dob) / static_cast<double>(n),
      no_dob == 0 ? 0.0
                  : 100.0 * static_cast<double>(no_dob_hit) /
                        static_cast<double>(no_dob),
      no_dob == 0 ? 0.0
                  : 100.0 * static_cast<double>(no_dob_v1_hit) /
                        static_cast<double>(no_dob));

  std::printf(
      "Exact tokens, attack A (share of records whose value is recovered)\n");
  for (int x = 0; x < kNumExact; ++x) {
    std::printf("  %-20s %7.2f%%   %zu distinct tokens\n", kExactNames[x],
                exact_share[x], exact_distinct[x]);
  }

  std::printf(
      "\nLinkage cost of salting: %lld true-match pairs across sources\n",
      static_cast<long long>(pairs));
  const auto pct = [pairs](int64_t k) {
    return pairs == 0
               ? 0.0
               : 100.0 * static_cast<double>(k) / static_cast<double>(pairs);
  };
  std::printf(
      "  names comparable under the dob salt (same dob_unordered):    %.2f%% "
      "of pairs\n",
      pct(comparable));
  std::printf(
      "  names comparable under the postcode salt (same unit):        %.2f%% "
      "of pairs\n",
      pct(pc_comparable));
  std::printf(
      "  names comparable under either salt:                          %.2f%% "
      "of pairs (%.2f%% of the pairs the dob salt leaves out)\n",
      pct(either),
      pairs == comparable ? 0.0
                          : 100.0 * static_cast<double>(either - comparable) /
                                static_cast<double>(pairs - comparable));
  const char* fname[2] = {"given", "family"};
  for (int f = 0; f < 2; ++f) {
    const Stats s = Summarise(sd[f]), p = Summarise(pd[f]),
                u = Summarise(ud[f]);
    std::printf(
        "  %-6s Dice  dob-salted (comparable pairs): mean %.3f p10 %.3f "
        "n=%lld | postcode-salted (comparable pairs): mean %.3f p10 %.3f "
        "n=%lld | unsalted (all pairs): mean %.3f p10 %.3f n=%lld\n",
        fname[f], s.mean, s.p10, static_cast<long long>(s.n), p.mean, p.p10,
        static_cast<long long>(p.n), u.mean, u.p10,
        static_cast<long long>(u.n));
  }
  std::fprintf(stderr, "total %.1f s\n", Seconds(t0));
  return 0;
}

}  // namespace
}  // namespace linkd::bench

int main(int argc, char** argv) {
  linkd::bench::Args args;
  if (!linkd::bench::ParseArgs(argc, argv, &args)) {
    std::fprintf(stderr,
                 "usage: privacy_attack_bench [--people N] [--seed S] "
                 "[--public-seed S]\n");
    return 2;
  }
  return linkd::bench::Run(args);
}
