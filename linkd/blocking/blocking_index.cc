#include "linkd/blocking/blocking_index.h"

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "linkd/store/key_codec.h"
#include "linkd/util/parallel.h"
#include "linkd/util/status_macros.h"

namespace linkd::blocking {
namespace {

using store::Cf;
using store::KeyBuilder;

absl::Status CheckArgs(std::string_view record_key,
                       const store::WriteBatch* batch) {
  if (batch == nullptr) {
    return absl::InvalidArgumentError("blocking index: batch is null");
  }
  if (record_key.empty()) {
    return absl::InvalidArgumentError("blocking index: record key is empty");
  }
  return absl::OkStatus();
}

// The record key stored after a block prefix: a 4-byte big-endian length and
// the bytes (KeyBuilder::AddString). nullopt if malformed.
std::optional<std::string_view> RecordKeyAfter(std::string_view entry,
                                               size_t prefix_size) {
  if (entry.size() < prefix_size + 4) return std::nullopt;
  const auto* p =
      reinterpret_cast<const unsigned char*>(entry.data() + prefix_size);
  const uint32_t len = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
                       (uint32_t{p[2]} << 8) | uint32_t{p[3]};
  if (entry.size() - prefix_size - 4 != len) return std::nullopt;
  return entry.substr(prefix_size + 4);
}

}  // namespace

// Cf::kBlocks is scanned block by block, through a filter on each block's
// prefix (BlockPrefix: key format version, rule, length-prefixed hash).
static_assert(store::GetCfInfo(Cf::kBlocks).prefix_bytes ==
                  1 + 1 + 4 + kBlockHashBytes,
              "the registry's prefix length for kBlocks must be BlockPrefix's");

BlockingIndex::BlockingIndex(store::Store* store, const KeyGenerator* keys)
    : store_(store), keys_(keys) {}

std::string BlockingIndex::BlockPrefix(const BlockingKey& key) {
  return KeyBuilder()
      .AddU8(static_cast<uint8_t>(key.rule))
      .AddString(key.hash_view())
      .key();
}

std::string BlockingIndex::EntryKey(const BlockingKey& key,
                                    std::string_view record_key) {
  return KeyBuilder()
      .AddU8(static_cast<uint8_t>(key.rule))
      .AddString(key.hash_view())
      .AddString(record_key)
      .key();
}

void BlockingIndex::ApplyKeys(std::string_view record_key,
                              const std::vector<BlockingKey>& keys,
                              int64_t delta, store::WriteBatch* batch) const {
  for (const BlockingKey& key : keys) {
    if (delta > 0) {
      batch->Put(Cf::kBlocks, EntryKey(key, record_key), std::string_view());
    } else {
      batch->Delete(Cf::kBlocks, EntryKey(key, record_key));
    }
  }
}

absl::Status BlockingIndex::Add(std::string_view record_key,
                                const linkd::v1::EncodedIdentity& identity,
                                store::WriteBatch* batch) const {
  LINKD_RETURN_IF_ERROR(CheckArgs(record_key, batch));
  std::vector<BlockingKey> keys;
  keys_->Keys(identity, &keys);
  ApplyKeys(record_key, keys, +1, batch);
  return absl::OkStatus();
}

absl::Status BlockingIndex::BulkAdd(
    absl::Span<const std::string_view> record_keys,
    absl::Span<const std::vector<BlockingKey>> keys, int threads,
    size_t held_entries) const {
  const size_t n = record_keys.size();
  // Entry keys sort by (rule, hash, record key), and the key codec orders
  // strings by (length, bytes): rank the records in that order once, then
  // sort compact entries.
  std::vector<uint32_t> order(n);
  for (uint32_t i = 0; i < n; ++i) order[i] = i;
  util::ParallelSort(&order, threads, [&](uint32_t a, uint32_t b) {
    const std::string_view x = record_keys[a], y = record_keys[b];
    return x.size() != y.size() ? x.size() < y.size() : x < y;
  });
  std::vector<uint32_t> rank(n);
  for (uint32_t r = 0; r < n; ++r) rank[order[r]] = r;
  // Each record key as it ends an entry key (KeyBuilder::AddString, which
  // appends: entry key = BlockPrefix + this), packed by rank: the entries
  // below read them in hash order, i.e. at random, and scattered strings
  // would cost a cache miss or two each.
  std::vector<uint64_t> packed_at(n + 1, 0);
  std::string packed;
  for (uint32_t r = 0; r < n; ++r) {
    const std::string encoded =
        KeyBuilder().AddString(record_keys[order[r]]).key();
    packed.append(encoded, 1);  // the key format version is in BlockPrefix
    packed_at[r + 1] = packed.size();
  }
  std::vector<uint32_t>().swap(order);
  auto record_suffix = [&](uint32_t r) {
    return std::string_view(packed.data() + packed_at[r],
                            packed_at[r + 1] - packed_at[r]);
  };
  // Entries are written in passes over ranges of (rule, first hash byte),
  // in key order, so that only one range's entries are held and sorted at
  // a time; each pass writes its own table files.
  auto bucket = [](const BlockingKey& k) {
    return (static_cast<size_t>(k.rule) << 8) | k.hash[0];
  };
  // Entries per bucket in each slice of the records (as ParallelFor slices
  // them), so that each pass can fill its entries on every thread, each
  // slice writing its own part.
  constexpr size_t kBuckets = size_t{1} << 16;
  const auto slices = static_cast<size_t>(std::max(threads, 1));
  std::vector<std::vector<uint64_t>> slice_buckets(
      slices, std::vector<uint64_t>(kBuckets, 0));
  util::ParallelFor(n, threads, [&](size_t b, size_t e, size_t slice) {
    std::vector<uint64_t>& counts = slice_buckets[slice];
    for (size_t i = b; i < e; ++i) {
      for (const BlockingKey& k : keys[i]) ++counts[bucket(k)];
    }
  });
  std::vector<uint64_t> per_bucket(kBuckets, 0);
  size_t total = 0;
  for (const std::vector<uint64_t>& counts : slice_buckets) {
    for (size_t b = 0; b < kBuckets; ++b) per_bucket[b] += counts[b];
  }
  for (uint64_t c : per_bucket) total += c;
  const size_t pass_entries = std::max<size_t>(held_entries, 1);
  // An entry as integers, in key order: the hash as two big-endian words
  // compares like its bytes.
  struct Entry {
    uint64_t hi, lo;  // hash bytes 0-7 and 8-15
    uint32_t record;  // rank
    uint8_t rule;
    bool operator<(const Entry& o) const {
      if (rule != o.rule) return rule < o.rule;
      if (hi != o.hi) return hi < o.hi;
      if (lo != o.lo) return lo < o.lo;
      return record < o.record;
    }
    bool operator==(const Entry& o) const {
      return hi == o.hi && lo == o.lo && rule == o.rule && record == o.record;
    }
    bool SameBlock(const Entry& o) const {
      return hi == o.hi && lo == o.lo && rule == o.rule;
    }
  };
  auto big_endian = [](const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
    return v;
  };
  std::vector<Entry> entries;
  entries.reserve(std::min(total, pass_entries + pass_entries / 2));
  std::vector<store::SortedLoad> loads;
  for (size_t lo = 0; lo < per_bucket.size();) {
    // The pass takes buckets up to pass_entries entries (at least one).
    size_t hi = lo, held = 0;
    while (hi < per_bucket.size() &&
           (hi == lo || held + per_bucket[hi] <= pass_entries)) {
      held += per_bucket[hi++];
    }
    const size_t first_bucket = lo;
    lo = hi;
    if (held == 0) continue;
    std::vector<size_t> write_at(slices, 0);
    for (size_t slice = 0, at = 0; slice < slices; ++slice) {
      write_at[slice] = at;
      for (size_t b = first_bucket; b < hi; ++b) {
        at += slice_buckets[slice][b];
      }
    }
    entries.resize(held);
    util::ParallelFor(n, threads, [&](size_t b, size_t e, size_t slice) {
      size_t at = write_at[slice];
      for (size_t i = b; i < e; ++i) {
        for (const BlockingKey& k : keys[i]) {
          const size_t kb = bucket(k);
          if (kb >= first_bucket && kb < hi) {
            entries[at++] = {big_endian(k.hash.data()),
                             big_endian(k.hash.data() + 8), rank[i],
                             static_cast<uint8_t>(k.rule)};
          }
        }
      }
    });
    util::ParallelSort(&entries, threads);
    const size_t parts = std::max<size_t>(
        1, std::min<size_t>(static_cast<size_t>(std::max(threads, 1)),
                            entries.size() / 100000 + 1));
    const size_t first_load = loads.size();
    for (size_t p = 0; p < parts; ++p) {
      LINKD_ASSIGN_OR_RETURN(store::SortedLoad load,
                             store_->NewSortedLoad(Cf::kBlocks));
      loads.push_back(std::move(load));
    }
    std::vector<absl::Status> errors(parts);
    util::ParallelFor(
        entries.size(), static_cast<int>(parts),
        [&](size_t b, size_t e, size_t part) {
          store::SortedLoad& load = loads[first_load + part];
          std::string entry_key;  // the block's prefix, then a record's
          size_t prefix_size = 0;
          for (size_t i = b; i < e; ++i) {
            const Entry& entry = entries[i];
            if (i > b && entry == entries[i - 1]) {
              continue;  // a repeated key of one record
            }
            if (i == b || !entry.SameBlock(entries[i - 1])) {
              BlockingKey key;
              key.rule = static_cast<Rule>(entry.rule);
              for (int j = 0; j < 8; ++j) {
                key.hash[j] = static_cast<uint8_t>(entry.hi >> (56 - 8 * j));
                key.hash[8 + j] =
                    static_cast<uint8_t>(entry.lo >> (56 - 8 * j));
              }
              entry_key = BlockPrefix(key);
              prefix_size = entry_key.size();
            }
            entry_key.resize(prefix_size);
            entry_key.append(record_suffix(entry.record));
            absl::Status s = load.Add(entry_key, std::string_view());
            if (!s.ok()) {
              errors[part] = std::move(s);
              return;
            }
          }
        });
    for (const absl::Status& s : errors) LINKD_RETURN_IF_ERROR(s);
  }
  return store_->Ingest(std::move(loads));
}

absl::Status BlockingIndex::Remove(std::string_view record_key,
                                   const linkd::v1::EncodedIdentity& identity,
                                   store::WriteBatch* batch) const {
  LINKD_RETURN_IF_ERROR(CheckArgs(record_key, batch));
  std::vector<BlockingKey> keys;
  keys_->Keys(identity, &keys);
  ApplyKeys(record_key, keys, -1, batch);
  return absl::OkStatus();
}

absl::Status BlockingIndex::Update(
    std::string_view record_key, const linkd::v1::EncodedIdentity& old_identity,
    const linkd::v1::EncodedIdentity& new_identity,
    store::WriteBatch* batch) const {
  LINKD_RETURN_IF_ERROR(CheckArgs(record_key, batch));
  std::vector<BlockingKey> old_keys, new_keys, gone, added;
  keys_->Keys(old_identity, &old_keys);
  keys_->Keys(new_identity, &new_keys);
  std::set_difference(old_keys.begin(), old_keys.end(), new_keys.begin(),
                      new_keys.end(), std::back_inserter(gone));
  std::set_difference(new_keys.begin(), new_keys.end(), old_keys.begin(),
                      old_keys.end(), std::back_inserter(added));
  ApplyKeys(record_key, gone, -1, batch);
  ApplyKeys(record_key, added, +1, batch);
  return absl::OkStatus();
}

absl::StatusOr<CandidateResult> BlockingIndex::Candidates(
    const linkd::v1::EncodedIdentity& identity, const CandidateLimits& limits,
    std::string_view exclude_record_key,
    const store::Snapshot* snapshot) const {
  std::vector<BlockingKey> keys;
  keys_->Keys(identity, &keys);
  return CandidatesForKeys(keys, limits, exclude_record_key, snapshot);
}

absl::StatusOr<CandidateResult> BlockingIndex::CandidatesForKeys(
    const std::vector<BlockingKey>& keys, const CandidateLimits& limits,
    std::string_view exclude_record_key,
    const store::Snapshot* snapshot) const {
  if (limits.max_block_size < 1) {
    return absl::InvalidArgumentError(
        "blocking index: max_block_size must be >= 1");
  }
  CandidateResult result;
  if (keys.empty()) return result;
  // Every block is read through one iterator (one point in time), up to
  // one member past the cap: more than the cap members (the query's own
  // entry not counted) makes it oversize.
  std::vector<std::string> prefixes;
  prefixes.reserve(keys.size());
  for (const BlockingKey& key : keys) prefixes.push_back(BlockPrefix(key));
  std::vector<std::vector<std::string>> members(keys.size());
  std::vector<bool> oversize(keys.size(), false);
  store::ScanOptions scan_options;
  scan_options.snapshot = snapshot;
  LINKD_RETURN_IF_ERROR(store_->ScanPrefixes(
      Cf::kBlocks, prefixes,
      [&](size_t i, std::string_view entry,
          std::string_view /*value*/) -> absl::StatusOr<bool> {
        std::optional<std::string_view> record =
            RecordKeyAfter(entry, prefixes[i].size());
        if (!record.has_value()) {
          return absl::DataLossError("blocking index: malformed entry key");
        }
        if (*record == exclude_record_key) return true;
        if (static_cast<int64_t>(members[i].size()) >= limits.max_block_size) {
          oversize[i] = true;
          members[i].clear();
          return false;
        }
        members[i].emplace_back(*record);
        return true;
      },
      scan_options));
  absl::flat_hash_map<std::string, RuleMask> found;
  for (size_t i = 0; i < keys.size() && !result.truncated; ++i) {
    const RuleMask bit = RuleBit(keys[i].rule);
    if (oversize[i]) {
      ++result.blocks_oversize;
      result.oversize_rules |= bit;
      continue;
    }
    if (members[i].empty()) continue;
    ++result.blocks_read;
    for (std::string& record : members[i]) {
      auto [it, inserted] = found.try_emplace(std::move(record), 0);
      it->second |= bit;
      if (inserted && limits.max_candidates != 0 &&
          found.size() >= limits.max_candidates) {
        result.truncated = true;
        break;
      }
    }
  }
  result.candidates.reserve(found.size());
  for (auto& [record_key, rules] : found) {
    result.candidates.push_back(Candidate{record_key, rules});
  }
  std::sort(result.candidates.begin(), result.candidates.end(),
            [](const Candidate& a, const Candidate& b) {
              return a.record_key < b.record_key;
            });
  return result;
}

absl::StatusOr<IndexStats> BlockingIndex::Stats(
    int64_t oversize_threshold) const {
  IndexStats stats;
  auto close_block = [&](uint8_t rule, int64_t members) {
    if (members == 0) return;
    for (RuleStats* s : {&stats.rules[rule], &stats.total}) {
      ++s->blocks;
      s->entries += members;
      s->largest_block = std::max(s->largest_block, members);
      if (members > oversize_threshold) {
        ++s->oversize_blocks;
        s->oversize_entries += members;
      }
    }
  };
  std::string block;  // (rule, hash) prefix of the block being counted
  uint8_t rule = 0;
  int64_t members = 0;
  store::ScanOptions options;
  options.fill_cache = false;
  LINKD_RETURN_IF_ERROR(store_->ScanPrefix(
      Cf::kBlocks, "",
      [&](std::string_view key, std::string_view) -> absl::StatusOr<bool> {
        const absl::Status bad =
            absl::DataLossError("blocking index: malformed entry key");
        absl::StatusOr<store::KeyReader> reader = store::KeyReader::Create(key);
        if (!reader.ok()) return bad;
        absl::StatusOr<uint8_t> r = reader->ReadU8();
        absl::StatusOr<std::string_view> hash = reader->ReadString();
        if (!r.ok() || !hash.ok() || !IsValidRule(*r) ||
            hash->size() != kBlockHashBytes) {
          return bad;
        }
        const size_t prefix = key.size() - reader->remaining();
        if (key.substr(0, prefix) != block) {
          close_block(rule, members);
          block.assign(key.data(), prefix);
          rule = *r;
          members = 0;
        }
        ++members;
        return true;
      },
      options));
  close_block(rule, members);
  return stats;
}

}  // namespace linkd::blocking
