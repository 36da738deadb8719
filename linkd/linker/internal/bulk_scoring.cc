#include "linkd/linker/internal/bulk_scoring.h"

#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "linkd/blocking/earlier_candidates.h"
#include "linkd/store/record_store.h"
#include "linkd/util/parallel.h"
#include "linkd/util/status_macros.h"

namespace linkd::linker::internal {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Candidates of one record from the stored index, with decoded identities
// cached per thread (neighbouring records share many candidates). Each
// distinct candidate key gets a number, in the order first returned.
class IndexCandidates {
 public:
  static constexpr size_t kCacheEntries = 200000;

  IndexCandidates(const blocking::BlockingIndex& index, store::Store* store,
                  const blocking::CandidateLimits& limits,
                  std::vector<std::string>* keys)
      : index_(index), store_(store), limits_(limits), keys_(keys) {}

  // Appends (number, decoded) of every indexed candidate of `keys` to
  // `out`; keys_[number] is the candidate's key.
  absl::Status Find(
      const std::vector<blocking::BlockingKey>& keys,
      std::vector<std::pair<uint32_t, const matcher::DecodedIdentity*>>* out) {
    LINKD_ASSIGN_OR_RETURN(blocking::CandidateResult found,
                           index_.CandidatesForKeys(keys, limits_));
    std::vector<std::string> missing;
    for (const blocking::Candidate& c : found.candidates) {
      if (!cache_.contains(c.record_key)) missing.push_back(c.record_key);
    }
    if (!missing.empty()) {
      // Bounded: dropped whole, before this record's lookups.
      if (cache_.size() + missing.size() > kCacheEntries) {
        cache_.clear();
        missing.clear();
        for (const blocking::Candidate& c : found.candidates) {
          missing.push_back(c.record_key);
        }
      }
      LINKD_ASSIGN_OR_RETURN(std::vector<std::optional<std::string>> values,
                             store_->MultiGet(store::Cf::kRecords, missing));
      store::StoredRecord stored;
      for (size_t i = 0; i < missing.size(); ++i) {
        if (!values[i].has_value()) continue;  // indexed but gone
        if (!stored.ParseFromString(*values[i])) {
          return absl::DataLossError("records: malformed stored record");
        }
        matcher::DecodedIdentity& d = cache_[missing[i]];
        LINKD_RETURN_IF_ERROR(matcher::Decode(stored.identity(), &d));
      }
    }
    for (const blocking::Candidate& c : found.candidates) {
      auto it = cache_.find(c.record_key);
      if (it == cache_.end()) continue;
      auto [number, added] = numbers_.try_emplace(
          c.record_key, static_cast<uint32_t>(keys_->size()));
      if (added) keys_->push_back(c.record_key);
      out->emplace_back(number->second, &it->second);
    }
    return absl::OkStatus();
  }

 private:
  const blocking::BlockingIndex& index_;
  store::Store* const store_;
  const blocking::CandidateLimits limits_;
  std::vector<std::string>* const keys_;
  absl::flat_hash_map<std::string, matcher::DecodedIdentity> cache_;
  absl::flat_hash_map<std::string, uint32_t> numbers_;
};

// How many candidates ahead of the one being compared are fetched.
constexpr size_t kPrefetch = 6;

// Starts fetching what Compare reads of a record: its tokens and the
// dob-salted name filters (the postcode-salted ones only when the dob salt
// differs, which the tokens decide).
void Prefetch(const BulkRecord& r) {
  const char* p = reinterpret_cast<const char*>(&r.decoded);
  __builtin_prefetch(p);
  __builtin_prefetch(p + 64);
  const char* g = reinterpret_cast<const char*>(&r.decoded.given_name);
  const char* f = reinterpret_cast<const char*>(&r.decoded.family_name);
  for (int line = 0; line < 3; ++line) {
    __builtin_prefetch(g + 64 * line);
    __builtin_prefetch(f + 64 * line);
  }
}

}  // namespace

absl::Status ScoreBulk(
    absl::Span<const BulkRecord> records,
    const blocking::EarlierCandidates& earlier,
    absl::Span<const std::vector<blocking::BlockingKey>> keys,
    const blocking::BlockingIndex& index, store::Store* store,
    const matcher::Model& model, const blocking::CandidateLimits& limits,
    bool use_index, size_t begin, size_t end, int threads, BulkScores* out) {
  const size_t n = end - begin;  // records scored
  const int slices = std::max(1, threads);
  *out = BulkScores();
  out->first = begin;
  out->stats.records = n;
  std::vector<absl::Status> errors(static_cast<size_t>(slices));
  const auto t = Clock::now();
  const matcher::ComparisonOptions& opts = model.comparison();
  struct Slice {
    size_t begin = 0;
    std::vector<uint32_t> counts;
    std::vector<ScoredCandidate> kept;
    std::vector<std::string> indexed;  // keys of this slice's index refs
    uint64_t from_index = 0;
  };
  std::vector<Slice> parts(static_cast<size_t>(slices));
  // Slices of about equal work: later records have more earlier candidates
  // (a record reading the stored index counts as 32 pairs).
  std::vector<uint64_t> work(n + 1);
  for (size_t k = 0; k <= n; ++k) {
    work[k] = earlier.offsets[begin - earlier.first + k] -
              earlier.offsets[begin - earlier.first] + (use_index ? 32 * k : k);
  }
  const auto records_ref = static_cast<uint32_t>(records.size());
  util::ParallelForWeighted(
      work, slices, [&](size_t local_b, size_t local_e, size_t slice) {
        const size_t b = begin + local_b, e = begin + local_e;
        Slice& part = parts[slice];
        part.begin = b;
        part.counts.assign(e - b, 0);
        std::optional<IndexCandidates> indexed;
        if (use_index) indexed.emplace(index, store, limits, &part.indexed);
        std::vector<std::pair<uint32_t, const matcher::DecodedIdentity*>>
            from_index;
        matcher::ComparisonVector v;
        auto consider = [&](size_t i, uint32_t ref,
                            const matcher::DecodedIdentity& other) {
          matcher::Compare(records[i].decoded, other, opts, &v);
          const double w = LinkWeight(model, v);
          if (CanChangeDecision(model, w, v.hard_conflict())) {
            part.kept.push_back(ScoredCandidate{ref, v.hard_conflict(), w});
            ++part.counts[i - b];
          }
        };
        for (size_t i = b; i < e; ++i) {
          if (indexed.has_value()) {
            from_index.clear();
            absl::Status s = indexed->Find(keys[i], &from_index);
            if (!s.ok()) {
              if (errors[slice].ok()) errors[slice] = std::move(s);
              return;
            }
            part.from_index += from_index.size();
            // Numbered per slice for now; renumbered when slices are joined.
            for (const auto& [number, d] : from_index) {
              consider(i, records_ref + number, *d);
            }
          }
          const absl::Span<const uint32_t> mine = earlier.of(i);
          for (size_t k = 0; k < mine.size(); ++k) {
            // The candidates are scattered over the records: fetch ahead.
            if (k + kPrefetch < mine.size())
              Prefetch(records[mine[k + kPrefetch]]);
            consider(i, mine[k], records[mine[k]].decoded);
          }
        }
      });
  for (const absl::Status& s : errors) LINKD_RETURN_IF_ERROR(s);
  out->offsets.assign(n + 1, 0);
  std::sort(parts.begin(), parts.end(),
            [](const Slice& a, const Slice& b) { return a.begin < b.begin; });
  uint64_t base = 0;
  for (Slice& part : parts) {
    if (part.counts.empty()) continue;  // an empty slice
    for (size_t k = 0; k < part.counts.size(); ++k) {
      out->offsets[part.begin - begin + k + 1] = part.counts[k];
    }
    const auto shift = static_cast<uint32_t>(out->indexed.size());
    if (shift > 0) {
      for (ScoredCandidate& c : part.kept) {
        if (c.ref >= records_ref) c.ref += shift;
      }
    }
    for (std::string& k : part.indexed) out->indexed.push_back(std::move(k));
    out->stats.committed_candidates += part.from_index;
    BulkScores::Part& kept = out->parts.emplace_back();
    kept.first = part.begin;
    kept.base = base;
    base += part.kept.size();
    kept.candidates = std::move(part.kept);
  }
  if (out->parts.empty()) out->parts.emplace_back();
  for (size_t i = 0; i < n; ++i) out->offsets[i + 1] += out->offsets[i];
  out->stats.kept_pairs = base;
  out->stats.score_seconds = Since(t);
  return absl::OkStatus();
}

}  // namespace linkd::linker::internal
