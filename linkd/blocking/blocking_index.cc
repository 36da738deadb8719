#include "linkd/blocking/blocking_index.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "linkd/store/key_codec.h"
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

// The rule of a blocking counter key (kBlockCounterTag, rule, hash), or
// DATA_LOSS if the key is malformed.
absl::StatusOr<uint8_t> ParseCounterKey(std::string_view key) {
  const absl::Status bad =
      absl::DataLossError("blocking index: malformed counter key");
  absl::StatusOr<store::KeyReader> reader = store::KeyReader::Create(key);
  if (!reader.ok()) return bad;
  absl::StatusOr<uint8_t> tag = reader->ReadU8();
  absl::StatusOr<uint8_t> rule = reader->ReadU8();
  absl::StatusOr<std::string_view> hash = reader->ReadString();
  if (!tag.ok() || !rule.ok() || !hash.ok() || *tag != kBlockCounterTag ||
      !IsValidRule(*rule) || hash->size() != kBlockHashBytes ||
      !reader->done()) {
    return bad;
  }
  return *rule;
}

}  // namespace

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

std::string BlockingIndex::CounterKey(const BlockingKey& key) {
  return KeyBuilder()
      .AddU8(kBlockCounterTag)
      .AddU8(static_cast<uint8_t>(key.rule))
      .AddString(key.hash_view())
      .key();
}

void BlockingIndex::AddKeys(std::string_view record_key,
                            const std::vector<BlockingKey>& keys, int64_t delta,
                            store::WriteBatch* batch) const {
  for (const BlockingKey& key : keys) {
    if (delta > 0) {
      batch->Put(Cf::kBlocks, EntryKey(key, record_key), std::string_view());
    } else {
      batch->Delete(Cf::kBlocks, EntryKey(key, record_key));
    }
    batch->AddToCounter(Cf::kStats, CounterKey(key), delta);
  }
}

absl::Status BlockingIndex::Add(std::string_view record_key,
                                const linkd::v1::EncodedIdentity& identity,
                                store::WriteBatch* batch) const {
  LINKD_RETURN_IF_ERROR(CheckArgs(record_key, batch));
  std::vector<BlockingKey> keys;
  keys_->Keys(identity, &keys);
  AddKeys(record_key, keys, +1, batch);
  return absl::OkStatus();
}

absl::Status BlockingIndex::Remove(std::string_view record_key,
                                   const linkd::v1::EncodedIdentity& identity,
                                   store::WriteBatch* batch) const {
  LINKD_RETURN_IF_ERROR(CheckArgs(record_key, batch));
  std::vector<BlockingKey> keys;
  keys_->Keys(identity, &keys);
  AddKeys(record_key, keys, -1, batch);
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
  AddKeys(record_key, gone, -1, batch);
  AddKeys(record_key, added, +1, batch);
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
  // Counters and entries must be read at one point in time, or a block could
  // grow past the cap between the two reads.
  std::optional<store::Snapshot> own;
  if (snapshot == nullptr) {
    own.emplace(store_->GetSnapshot());
    snapshot = &*own;
  }
  std::vector<std::string> counter_keys;
  counter_keys.reserve(keys.size());
  for (const BlockingKey& key : keys) counter_keys.push_back(CounterKey(key));
  LINKD_ASSIGN_OR_RETURN(std::vector<std::optional<std::string>> counts,
                         store_->MultiGet(Cf::kStats, counter_keys, snapshot));

  absl::flat_hash_map<std::string, RuleMask> found;
  store::ScanOptions scan_options;
  scan_options.snapshot = snapshot;
  for (size_t i = 0; i < keys.size() && !result.truncated; ++i) {
    int64_t members = 0;
    if (counts[i].has_value()) {
      LINKD_ASSIGN_OR_RETURN(members, store::DecodeCounter(*counts[i]));
    }
    if (members <= 0 || (limits.query_indexed && members == 1)) continue;
    const RuleMask bit = RuleBit(keys[i].rule);
    if (members > limits.max_block_size) {
      ++result.blocks_oversize;
      result.oversize_rules |= bit;
      continue;
    }
    ++result.blocks_read;
    const std::string prefix = BlockPrefix(keys[i]);
    LINKD_RETURN_IF_ERROR(store_->ScanPrefix(
        Cf::kBlocks, prefix,
        [&](std::string_view entry,
            std::string_view /*value*/) -> absl::StatusOr<bool> {
          std::optional<std::string_view> record =
              RecordKeyAfter(entry, prefix.size());
          if (!record.has_value()) {
            return absl::DataLossError("blocking index: malformed entry key");
          }
          if (*record == exclude_record_key) return true;
          auto [it, inserted] = found.try_emplace(std::string(*record), 0);
          it->second |= bit;
          if (inserted && limits.max_candidates != 0 &&
              found.size() >= limits.max_candidates) {
            result.truncated = true;
            return false;
          }
          return true;
        },
        scan_options));
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
  const std::string prefix = KeyBuilder().AddU8(kBlockCounterTag).key();
  store::ScanOptions options;
  options.fill_cache = false;
  LINKD_RETURN_IF_ERROR(store_->ScanPrefix(
      Cf::kStats, prefix,
      [&](std::string_view key,
          std::string_view value) -> absl::StatusOr<bool> {
        absl::StatusOr<uint8_t> rule = ParseCounterKey(key);
        if (!rule.ok()) return rule.status();
        LINKD_ASSIGN_OR_RETURN(int64_t members, store::DecodeCounter(value));
        if (members < 0) {
          return absl::DataLossError("blocking index: negative block size");
        }
        if (members == 0) return true;  // emptied by removals
        for (RuleStats* s : {&stats.rules[*rule], &stats.total}) {
          ++s->blocks;
          s->entries += members;
          s->largest_block = std::max(s->largest_block, members);
          if (members > oversize_threshold) {
            ++s->oversize_blocks;
            s->oversize_entries += members;
          }
        }
        return true;
      },
      options));
  return stats;
}

}  // namespace linkd::blocking
