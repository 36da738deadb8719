#include "linkd/linker/model_trainer.h"

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "linkd/blocking/earlier_candidates.h"
#include "linkd/matcher/comparison.h"
#include "linkd/store/record_store.h"
#include "linkd/util/log.h"
#include "linkd/util/parallel.h"
#include "linkd/util/status_macros.h"

namespace linkd::linker {
namespace {

using matcher::CompareField;
using matcher::ComparisonVector;
using matcher::DecodedIdentity;
using matcher::TokenSlot;

// The sample: decoded identities and blocking keys, in record key order.
struct Sample {
  std::vector<const DecodedIdentity*> decoded;
  std::vector<std::vector<blocking::BlockingKey>> keys;
  std::map<std::string, uint64_t> per_source;
  std::vector<DecodedIdentity> owned;  // what `decoded` points to, if read
};

// Reports the next stage, unless estimation is to stop (CANCELLED).
absl::Status Report(const TrainerOptions& options,
                    const TrainerProgress& progress, std::string_view stage) {
  if (options.cancelled && options.cancelled()) {
    return absl::CancelledError("model estimation: stopped");
  }
  if (progress) progress(stage);
  return absl::OkStatus();
}

// A hash of a record's key that is the same in every process (absl::Hash
// is salted per process), so that a restart samples the same records.
// FNV-1a over the bytes, finished with the splitmix64 mixer; not keyed:
// record keys are not secret and the sample is not a security boundary.
uint64_t SampleHash(uint64_t seed, std::string_view source,
                    std::string_view record_id) {
  uint64_t h = 0xcbf29ce484222325ull ^ seed;
  auto mix_in = [&h](std::string_view bytes) {
    for (unsigned char c : bytes) {
      h ^= c;
      h *= 0x100000001b3ull;
    }
    h ^= 0xff;  // separator: ("ab","c") and ("a","bc") differ
    h *= 0x100000001b3ull;
  };
  mix_in(source);
  mix_in(record_id);
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

// The SampleHash cut that keeps about max_records of `total` records: all
// of them (UINT64_MAX) when there are no more.
uint64_t SampleCut(uint64_t total, uint64_t max_records) {
  if (total <= max_records) return UINT64_MAX;
  const double rate =
      static_cast<double>(max_records) / static_cast<double>(total);
  return static_cast<uint64_t>(rate * 18446744073709551615.0);
}

absl::Status ReadSample(store::Store* store, const blocking::KeyGenerator& kg,
                        const TrainerOptions& options, Sample* out) {
  store::RecordStore records(store);
  const store::Snapshot snapshot = store->GetSnapshot();
  LINKD_ASSIGN_OR_RETURN(v1::GetStatsResponse stats, records.Stats());
  // Keep a record when its key hashes below the sampling rate: a uniform,
  // deterministic sample in one pass.
  const uint64_t cut = SampleCut(stats.total_records(), options.max_records);

  struct Pending {
    std::string source;
    v1::EncodedIdentity identity;
  };
  std::vector<Pending> chunk;
  absl::Status failure;
  auto flush = [&]() {
    const size_t base = out->owned.size();
    out->owned.resize(base + chunk.size());
    out->keys.resize(base + chunk.size());
    std::vector<absl::Status> errors(static_cast<size_t>(options.threads));
    util::ParallelFor(chunk.size(), options.threads,
                      [&](size_t begin, size_t end, size_t slice) {
                        for (size_t i = begin; i < end; ++i) {
                          absl::Status s = matcher::Decode(
                              chunk[i].identity, &out->owned[base + i]);
                          if (!s.ok() && errors[slice].ok()) errors[slice] = s;
                          kg.Keys(chunk[i].identity, &out->keys[base + i]);
                        }
                      });
    for (const absl::Status& s : errors) {
      if (!s.ok() && failure.ok()) failure = s;
    }
    for (const Pending& p : chunk) ++out->per_source[p.source];
    chunk.clear();
  };
  LINKD_RETURN_IF_ERROR(records.ForEachRecord(
      std::nullopt,
      [&](std::string_view source, std::string_view,
          const store::StoredRecord& record) -> absl::StatusOr<bool> {
        chunk.push_back(Pending{std::string(source), record.identity()});
        if (chunk.size() == 16384) flush();
        return out->owned.size() + chunk.size() < options.max_records;
      },
      &snapshot,
      [&](std::string_view source, std::string_view record_id) {
        return cut == UINT64_MAX ||
               SampleHash(options.seed, source, record_id) <= cut;
      }));
  flush();
  for (const DecodedIdentity& d : out->owned) out->decoded.push_back(&d);
  return failure;
}

// The sample ReadSample would take if `records` were all the stored
// records: the same records, in the same (key) order.
absl::Status SampleRecords(absl::Span<const SampleRecord> records,
                           const TrainerOptions& options, Sample* out) {
  std::vector<uint32_t> order(records.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  util::ParallelSort(&order, options.threads, [&](uint32_t a, uint32_t b) {
    return records[a].record_key < records[b].record_key;  // as RocksDB
  });
  const uint64_t cut = SampleCut(records.size(), options.max_records);
  for (uint32_t i : order) {
    if (out->decoded.size() >= options.max_records) break;
    std::string_view source, record_id;
    LINKD_RETURN_IF_ERROR(
        store::DecodeRecordKey(records[i].record_key, &source, &record_id));
    if (cut != UINT64_MAX &&
        SampleHash(options.seed, source, record_id) > cut) {
      continue;
    }
    out->decoded.push_back(records[i].decoded);
    out->keys.push_back(*records[i].keys);
    ++out->per_source[std::string(source)];
  }
  return absl::OkStatus();
}

// Comparison vectors of `pairs`, on `threads` threads.
std::vector<ComparisonVector> CompareAll(
    const std::vector<const DecodedIdentity*>& d,
    const std::vector<std::pair<uint32_t, uint32_t>>& pairs,
    const matcher::ComparisonOptions& opts, int threads) {
  std::vector<ComparisonVector> out(pairs.size());
  util::ParallelFor(pairs.size(), threads, [&](size_t b, size_t e, size_t) {
    for (size_t i = b; i < e; ++i) {
      matcher::Compare(*d[pairs[i].first], *d[pairs[i].second], opts, &out[i]);
    }
  });
  return out;
}

// EstimateModel's estimation, from its sample.
absl::StatusOr<matcher::Model> EstimateFromSample(
    Sample sample, const matcher::Model& base, const TrainerOptions& options,
    const TrainerProgress& progress) {
  const size_t n = sample.decoded.size();
  if (n < std::max<uint64_t>(options.min_records, 2)) {
    return absl::FailedPreconditionError(
        absl::StrCat("model estimation needs at least ", options.min_records,
                     " stored records; there are ", n));
  }
  const matcher::ComparisonOptions& opts = base.comparison();
  std::mt19937_64 rng(options.seed);

  LINKD_RETURN_IF_ERROR(Report(options, progress, "finding blocked pairs"));
  // The blocked pairs' level patterns, counted per thread as they are
  // compared: EM needs no more, and millions of vectors would not fit.
  matcher::PatternCounts blocked;
  {
    const blocking::EarlierCandidates found = blocking::FindEarlierCandidates(
        sample.keys, options.max_block_size, options.threads);
    std::vector<std::vector<blocking::BlockingKey>>().swap(sample.keys);
    if (found.earlier.empty()) {
      return absl::FailedPreconditionError(
          "model estimation found no blocked pair among the stored records");
    }
    LINKD_RETURN_IF_ERROR(Report(options, progress, "comparing blocked pairs"));
    const int slices = std::max(1, options.threads);
    std::vector<matcher::PatternCounts> counts(static_cast<size_t>(slices));
    util::ParallelForWeighted(
        found.offsets, slices, [&](size_t begin, size_t end, size_t slice) {
          ComparisonVector v;
          for (size_t b = begin; b < end; ++b) {
            for (uint32_t a : found.of(b)) {
              matcher::Compare(*sample.decoded[a], *sample.decoded[b], opts,
                               &v);
              counts[slice].Add(v);
            }
          }
        });
    for (const matcher::PatternCounts& c : counts) blocked.Merge(c);
  }

  LINKD_RETURN_IF_ERROR(Report(options, progress, "comparing random pairs"));
  std::vector<std::pair<uint32_t, uint32_t>> pairs;
  std::uniform_int_distribution<uint64_t> pick(0, n - 1);
  while (pairs.size() < options.random_pairs) {
    const auto a = static_cast<uint32_t>(pick(rng));
    const auto b = static_cast<uint32_t>(pick(rng));
    if (a != b) pairs.emplace_back(a, b);
  }
  const std::vector<ComparisonVector> random =
      CompareAll(sample.decoded, pairs, opts, options.threads);

  // Names are comparable only under one salt (the dob_unordered token):
  // draw pairs uniformly among same-salt pairs and keep the known
  // non-matches.
  pairs.clear();
  {
    absl::flat_hash_map<uint64_t, std::vector<uint32_t>> by_salt;
    for (uint32_t i = 0; i < n; ++i) {
      const DecodedIdentity& d = *sample.decoded[i];
      if (d.has(TokenSlot::kDobUnordered)) {
        by_salt[d.token(TokenSlot::kDobUnordered)].push_back(i);
      }
    }
    // Salt order, not the hash map's (salted per process): the same sample
    // draws the same pairs, and gives the same model, in every run.
    std::vector<std::pair<uint64_t, const std::vector<uint32_t>*>> salts;
    for (const auto& [salt, members] : by_salt) {
      if (members.size() >= 2) salts.emplace_back(salt, &members);
    }
    std::sort(salts.begin(), salts.end());
    std::vector<const std::vector<uint32_t>*> groups;
    std::vector<uint64_t> cumulative;
    uint64_t total = 0;
    for (const auto& [salt, members] : salts) {
      total += members->size() * (members->size() - 1) / 2;
      groups.push_back(members);
      cumulative.push_back(total);
    }
    if (total > 0) {
      std::uniform_int_distribution<uint64_t> pick_pair(0, total - 1);
      for (uint64_t tries = 0; pairs.size() < options.same_salt_pairs &&
                               tries < 4 * options.same_salt_pairs;
           ++tries) {
        const uint64_t r = pick_pair(rng);
        const size_t g =
            std::upper_bound(cumulative.begin(), cumulative.end(), r) -
            cumulative.begin();
        const std::vector<uint32_t>& m = *groups[g];
        std::uniform_int_distribution<size_t> member(0, m.size() - 1);
        const uint32_t a = m[member(rng)], b = m[member(rng)];
        if (a != b) pairs.emplace_back(a, b);
      }
    }
  }
  std::vector<ComparisonVector> same_salt;
  for (const ComparisonVector& v :
       CompareAll(sample.decoded, pairs, opts, options.threads)) {
    if (v.hard_conflict()) same_salt.push_back(v);
  }

  LINKD_RETURN_IF_ERROR(Report(options, progress, "estimating u and m (EM)"));
  matcher::Model model = base;
  LINKD_RETURN_IF_ERROR(model.EstimateU(random));
  if (!same_salt.empty()) {
    const CompareField names[] = {CompareField::kGivenName,
                                  CompareField::kFamilyName};
    LINKD_RETURN_IF_ERROR(model.EstimateU(same_salt, names));
  }
  matcher::EmOptions em = options.em;
  em.total_pairs = static_cast<uint64_t>(n) * (n - 1) / 2;
  LINKD_ASSIGN_OR_RETURN(matcher::EmResult fit, model.EstimateMFromPatterns(
                                                    blocked, em));  // version+1
  std::string starts;
  for (double ll : fit.start_log_likelihoods) {
    absl::StrAppend(&starts, starts.empty() ? "" : ", ",
                    absl::StrFormat("%.1f", ll));
  }
  util::Log(util::LogLevel::kInfo,
            absl::StrCat("EM on ", fit.pairs, " blocked pairs: kept the fit ",
                         fit.from_rule_seed ? "from the rule's seed"
                                            : "from the current model",
                         " after ", fit.iterations,
                         " iterations (log-likelihood of each start's fit: ",
                         starts, ")"));
  matcher::TrainingInfo* info = model.mutable_training_info();
  info->records_per_source.assign(sample.per_source.begin(),
                                  sample.per_source.end());
  info->random_pairs = random.size();
  return model;
}

}  // namespace

absl::StatusOr<matcher::Model> EstimateModel(store::Store* store,
                                             const blocking::KeyGenerator& kg,
                                             const matcher::Model& base,
                                             const TrainerOptions& options,
                                             const TrainerProgress& progress) {
  LINKD_RETURN_IF_ERROR(
      Report(options, progress, "reading a sample of the stored records"));
  Sample sample;
  LINKD_RETURN_IF_ERROR(ReadSample(store, kg, options, &sample));
  return EstimateFromSample(std::move(sample), base, options, progress);
}

absl::StatusOr<matcher::Model> EstimateModelFromRecords(
    absl::Span<const SampleRecord> records, const matcher::Model& base,
    const TrainerOptions& options, const TrainerProgress& progress) {
  LINKD_RETURN_IF_ERROR(
      Report(options, progress, "sampling the records read for linking"));
  Sample sample;
  LINKD_RETURN_IF_ERROR(SampleRecords(records, options, &sample));
  return EstimateFromSample(std::move(sample), base, options, progress);
}

}  // namespace linkd::linker
