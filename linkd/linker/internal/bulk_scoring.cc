#include "linkd/linker/internal/bulk_scoring.h"

#include <chrono>
#include <optional>
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
// cached per thread (neighbouring records share many candidates).
class IndexCandidates {
 public:
  static constexpr size_t kCacheEntries = 200000;

  IndexCandidates(const blocking::BlockingIndex& index, store::Store* store,
                  const blocking::CandidateLimits& limits,
                  std::deque<std::string>* keys)
      : index_(index), store_(store), limits_(limits), keys_(keys) {}

  // Appends (key, decoded) of every indexed candidate of `keys` to `out`.
  absl::Status Find(
      const std::vector<blocking::BlockingKey>& keys,
      std::vector<std::pair<std::string_view, const matcher::DecodedIdentity*>>*
          out) {
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
        Entry& e = cache_[missing[i]];
        LINKD_RETURN_IF_ERROR(matcher::Decode(stored.identity(), &e.decoded));
      }
    }
    for (const blocking::Candidate& c : found.candidates) {
      auto it = cache_.find(c.record_key);
      if (it == cache_.end()) continue;
      if (it->second.key == nullptr) {
        keys_->push_back(c.record_key);
        it->second.key = &keys_->back();
      }
      out->emplace_back(*it->second.key, &it->second.decoded);
    }
    return absl::OkStatus();
  }

 private:
  struct Entry {
    matcher::DecodedIdentity decoded;
    const std::string* key = nullptr;  // in *keys_, once a candidate
  };
  const blocking::BlockingIndex& index_;
  store::Store* const store_;
  const blocking::CandidateLimits limits_;
  std::deque<std::string>* const keys_;
  absl::flat_hash_map<std::string, Entry> cache_;
};

}  // namespace

absl::Status ScoreBulk(
    absl::Span<const BulkRecord> records,
    absl::Span<const std::vector<blocking::BlockingKey>> keys,
    const blocking::BlockingIndex& index, store::Store* store,
    const matcher::Model& model, const blocking::CandidateLimits& limits,
    bool use_index, int threads, BulkScores* out) {
  const size_t n = records.size();
  const int slices = std::max(1, threads);
  out->stats.records = n;

  std::vector<absl::Status> errors(static_cast<size_t>(slices));
  auto t = Clock::now();
  const blocking::EarlierCandidates earlier =
      blocking::FindEarlierCandidates(keys, limits.max_block_size, slices);
  out->stats.candidate_pairs = earlier.earlier.size();
  out->stats.oversize_skips = earlier.oversize_skips;
  out->stats.block_seconds = Since(t);

  t = Clock::now();
  const double lower = model.lower_threshold();
  const matcher::ComparisonOptions& opts = model.comparison();
  struct Slice {
    size_t begin = 0;
    std::vector<uint32_t> counts;
    std::vector<ScoredCandidate> kept;
    uint64_t from_index = 0;
  };
  std::vector<Slice> parts(static_cast<size_t>(slices));
  out->index_keys.clear();
  out->index_keys.resize(static_cast<size_t>(slices));
  util::ParallelFor(n, slices, [&](size_t b, size_t e, size_t slice) {
    Slice& part = parts[slice];
    part.begin = b;
    part.counts.assign(e - b, 0);
    std::optional<IndexCandidates> indexed;
    if (use_index) {
      indexed.emplace(index, store, limits, &out->index_keys[slice]);
    }
    std::vector<std::pair<std::string_view, const matcher::DecodedIdentity*>>
        from_index;
    matcher::ComparisonVector v;
    auto consider = [&](size_t i, std::string_view key,
                        const matcher::DecodedIdentity& other) {
      matcher::Compare(records[i].decoded, other, opts, &v);
      const double w = LinkWeight(model, v);
      if (w >= lower || v.hard_conflict()) {
        part.kept.push_back(ScoredCandidate{key, w, v.hard_conflict()});
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
        for (const auto& [key, d] : from_index) consider(i, key, *d);
      }
      for (uint32_t a : earlier.of(i)) {
        consider(i, records[a].record_key, records[a].decoded);
      }
    }
  });
  for (const absl::Status& s : errors) LINKD_RETURN_IF_ERROR(s);
  out->offsets.assign(n + 1, 0);
  out->candidates.clear();
  for (Slice& part : parts) {
    for (size_t k = 0; k < part.counts.size(); ++k) {
      out->offsets[part.begin + k + 1] = part.counts[k];
    }
    out->candidates.insert(out->candidates.end(), part.kept.begin(),
                           part.kept.end());
    out->stats.committed_candidates += part.from_index;
    std::vector<ScoredCandidate>().swap(part.kept);
  }
  for (size_t i = 0; i < n; ++i) out->offsets[i + 1] += out->offsets[i];
  out->stats.kept_pairs = out->candidates.size();
  out->stats.score_seconds = Since(t);
  return absl::OkStatus();
}

}  // namespace linkd::linker::internal
