#include "linkd/audit/verifier.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/numeric/bits.h"
#include "absl/strings/str_cat.h"
#include "crypto/crypto.h"
#include "linkd/audit/checkpoint.h"
#include "linkd/audit/log_format.h"
#include "linkd/audit/v1/audit.pb.h"
#include "linkd/store/key_codec.h"
#include "linkd/util/status_macros.h"

namespace linkd::audit {
namespace {

using store::Cf;
namespace fmt = internal;

constexpr uint64_t kMinShard = uint64_t{1} << 10;
constexpr uint64_t kMaxShard = uint64_t{1} << 22;

enum class Source : uint8_t { kHead, kStored, kWitness };

// A size at which the recomputed tree is compared with a recorded root.
struct Target {
  uint64_t size = 0;
  Source source = Source::kHead;
  Hash root = {};
};

// State of the recomputed tree at a target size inside one shard.
struct Snap {
  uint64_t size = 0;
  std::vector<Hash> hashes;  // the shard's compact range [lo, size)
};

// One aligned range of sequence numbers [lo, hi), scanned by one thread.
struct Shard {
  uint64_t lo = 0;
  uint64_t hi = 0;
  bool unbounded = false;  // the last shard: every key from lo on

  absl::Status status;
  bool any = false;
  uint64_t count = 0;
  uint64_t first_key = 0;
  uint64_t last_key = 0;
  bool first_parsed = false;
  Hash first_prev = {};  // previous-chain field of the first entry
  bool last_chain_valid = false;
  Hash last_chain = {};    // chain hash recomputed at the last entry
  bool contiguous = true;  // keys lo, lo+1, ..., last_key
  CompactRange range;      // leaves lo .. (first gap)
  std::vector<Snap> snaps;
  std::vector<uint64_t> breaks;  // j where leaf j's previous-chain is wrong
  std::vector<Fault> faults;
  std::vector<std::pair<uint64_t, uint64_t>> misplaced;  // key, seq carried
};

bool IsEntryLevel(FaultKind k) {
  return k == FaultKind::kModified || k == FaultKind::kDeleted ||
         k == FaultKind::kSwapped || k == FaultKind::kMisplaced;
}

absl::string_view Av(std::string_view s) { return {s.data(), s.size()}; }

absl::string_view SourceName(Source s) {
  switch (s) {
    case Source::kHead:
      return "the head";
    case Source::kStored:
      return "a stored checkpoint";
    case Source::kWitness:
      return "the witness checkpoint";
  }
  return "?";
}

Fault MakeFault(FaultKind kind, uint64_t seq, std::string detail,
                uint64_t count = 1, uint64_t other = 0) {
  Fault f;
  f.kind = kind;
  f.seq = seq;
  f.count = count;
  f.other = other;
  f.detail = std::move(detail);
  return f;
}

uint64_t ReadBigEndian64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// Fast path for the 10-byte leaf keys (version, tag, seq).
bool DecodeLeafKey(std::string_view key, uint64_t* seq) {
  if (key.size() == 10 &&
      static_cast<uint8_t>(key[0]) == store::kKeyFormatVersion &&
      static_cast<uint8_t>(key[1]) == fmt::kTagLeaf) {
    *seq = ReadBigEndian64(key.data() + 2);
    return true;
  }
  absl::StatusOr<uint64_t> s = fmt::ParseLeafKey(key);
  if (!s.ok()) return false;
  *seq = *s;
  return true;
}

void ScanShard(const store::Store& store, const std::vector<uint64_t>& sizes,
               Shard* shard) {
  auto next_target =
      std::lower_bound(sizes.begin(), sizes.end(), shard->lo + 1);
  bool have_prev = false;
  uint64_t prev_key = 0;
  bool prev_chain_valid = false;
  Hash prev_chain = {};
  const Hash zero = fmt::ZeroHash();
  store::ScanOptions scan;
  scan.fill_cache = false;
  const std::string begin = fmt::LeafKey(shard->lo);
  const std::string end = shard->unbounded
                              ? store::PrefixSuccessor(fmt::LeafPrefix())
                              : fmt::LeafKey(shard->hi);
  shard->status = store.ScanRange(
      Cf::kAudit, begin, end,
      [&](std::string_view key,
          std::string_view value) -> absl::StatusOr<bool> {
        uint64_t k;
        if (!DecodeLeafKey(key, &k)) {
          shard->faults.push_back(MakeFault(
              FaultKind::kModified, have_prev ? prev_key + 1 : shard->lo,
              "a key that is not an entry key lies among the entries"));
          return true;
        }
        if (!have_prev) {
          shard->any = true;
          shard->first_key = k;
          if (k != shard->lo) shard->contiguous = false;
        } else if (k != prev_key + 1) {
          shard->faults.push_back(
              MakeFault(FaultKind::kDeleted, prev_key + 1,
                        absl::StrCat(k - prev_key - 1, " entries missing from ",
                                     prev_key + 1, " to ", k - 1),
                        k - prev_key - 1));
          shard->contiguous = false;
          prev_chain_valid = false;
        }
        const Hash leaf_hash = HashLeaf(value);
        bool chain_valid = false;
        Hash chain = {};
        if (value.size() < fmt::kLeafHeaderBytes ||
            static_cast<uint8_t>(value[0]) != fmt::kLeafFormatV1) {
          shard->faults.push_back(MakeFault(FaultKind::kModified, k,
                                            "malformed leaf (bad header)"));
        } else {
          const uint64_t carried = ReadBigEndian64(value.data() + 1);
          if (carried != k) shard->misplaced.emplace_back(k, carried);
          const std::string_view prev = value.substr(9, kHashBytes);
          if (!have_prev) {
            shard->first_parsed = true;
            std::copy(prev.begin(), prev.end(),
                      reinterpret_cast<char*>(shard->first_prev.data()));
            if (k == 0 && prev != HashBytes(zero)) shard->breaks.push_back(0);
          } else if (k == prev_key + 1 && prev_chain_valid &&
                     prev != HashBytes(prev_chain)) {
            shard->breaks.push_back(k);
          }
          chain = fmt::ChainHash(prev, leaf_hash);
          chain_valid = true;
        }
        if (shard->contiguous) shard->range.Append(leaf_hash);
        while (next_target != sizes.end() && *next_target <= k + 1) {
          if (*next_target == k + 1 && shard->contiguous) {
            Snap snap;
            snap.size = k + 1;
            snap.hashes = shard->range.hashes();
            shard->snaps.push_back(std::move(snap));
          }
          ++next_target;
        }
        have_prev = true;
        prev_key = k;
        prev_chain_valid = chain_valid;
        prev_chain = chain;
        shard->last_key = k;
        shard->last_chain_valid = chain_valid;
        shard->last_chain = chain;
        ++shard->count;
        return true;
      },
      scan);
}

// Appends the compact range of leaves [lo, lo + local_size) (its hashes,
// largest first) to `range`, whose size must be lo.
absl::Status AppendRange(uint64_t local_size, const std::vector<Hash>& hashes,
                         CompactRange* range) {
  size_t i = 0;
  for (int level = 63; level >= 0; --level) {
    if (((local_size >> level) & 1) == 0) continue;
    if (i >= hashes.size()) return absl::InternalError("compact range size");
    LINKD_RETURN_IF_ERROR(range->AppendSubtree(level, hashes[i++]));
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view FaultKindName(FaultKind kind) {
  switch (kind) {
    case FaultKind::kModified:
      return "modified";
    case FaultKind::kDeleted:
      return "deleted";
    case FaultKind::kSwapped:
      return "swapped";
    case FaultKind::kMisplaced:
      return "misplaced";
    case FaultKind::kTruncated:
      return "truncated";
    case FaultKind::kRollback:
      return "rollback";
    case FaultKind::kBadSignature:
      return "bad signature";
    case FaultKind::kHeadMismatch:
      return "head mismatch";
  }
  return "unknown";
}

const Fault* VerifyReport::first_fault() const {
  const Fault* best = nullptr;
  for (const Fault& f : faults) {
    if (IsEntryLevel(f.kind) && (best == nullptr || f.seq < best->seq)) {
      best = &f;
    }
  }
  if (best != nullptr) return best;
  return faults.empty() ? nullptr : &faults.front();
}

std::string VerifyReport::Summary() const {
  std::string out = absl::StrCat(
      ok() ? "OK" : "FAILED", ": ", entries, " entries (extent ", extent,
      ", head size ", head_size, "), root ", HashToHex(root), ", ",
      checkpoints_verified, "/", checkpoints, " stored checkpoints verified",
      witness_verified ? ", witness verified" : "",
      used_recorded_key ? " (with the key recorded in the log)" : "", "\n");
  if (const Fault* f = first_fault()) {
    absl::StrAppend(&out, "first bad entry: ", f->seq, " (",
                    Av(FaultKindName(f->kind)), "): ", f->detail, "\n");
  }
  for (const Fault& f : faults) {
    absl::StrAppend(&out, "  ", Av(FaultKindName(f.kind)), " at ", f.seq, ": ",
                    f.detail, "\n");
  }
  if (fault_count > faults.size()) {
    absl::StrAppend(&out, "  ... and ", fault_count - faults.size(), " more\n");
  }
  return out;
}

absl::StatusOr<VerifyReport> Verify(const store::Store& store,
                                    const VerifyOptions& options) {
  if (options.threads < 1) {
    return absl::InvalidArgumentError("threads must be >= 1");
  }
  LINKD_RETURN_IF_ERROR(crypto::Init());
  VerifyReport report;
  std::vector<Fault> faults;

  // Identity and head.
  LINKD_ASSIGN_OR_RETURN(std::optional<std::string> meta_bytes,
                         store.Get(Cf::kAudit, fmt::MetaKey()));
  v1::LogMeta meta;
  if (meta_bytes.has_value() && !meta.ParseFromString(*meta_bytes)) {
    faults.push_back(MakeFault(FaultKind::kHeadMismatch, 0,
                               "the log's metadata does not parse"));
  }
  std::vector<NoteVerifier> trusted = options.trusted_keys;
  if (trusted.empty() && !meta.public_key().empty()) {
    absl::StatusOr<NoteVerifier> v =
        NoteVerifier::FromPublicKey(meta.origin(), meta.public_key());
    if (v.ok()) {
      trusted.push_back(*std::move(v));
      report.used_recorded_key = true;
    }
  }

  std::vector<Target> targets;
  LINKD_ASSIGN_OR_RETURN(std::optional<std::string> head_bytes,
                         store.Get(Cf::kAudit, fmt::HeadKey()));
  v1::LogHead head;
  bool head_ok = false;
  Hash head_chain = {};
  if (head_bytes.has_value()) {
    absl::StatusOr<Hash> root;
    absl::StatusOr<Hash> chain;
    if (head.ParseFromString(*head_bytes) &&
        (root = HashFromBytes(head.root_hash())).ok() &&
        (chain = HashFromBytes(head.chain_hash())).ok()) {
      head_ok = true;
      head_chain = *chain;
      report.head_size = head.size();
      targets.push_back(Target{head.size(), Source::kHead, *root});
    } else {
      faults.push_back(
          MakeFault(FaultKind::kHeadMismatch, 0, "the head does not parse"));
    }
  }

  // Stored checkpoints.
  LINKD_RETURN_IF_ERROR(store.ScanPrefix(
      Cf::kAudit, fmt::CheckpointPrefix(),
      [&](std::string_view key, std::string_view note) -> absl::StatusOr<bool> {
        ++report.checkpoints;
        const absl::StatusOr<uint64_t> key_size = fmt::ParseCheckpointKey(key);
        const uint64_t at = key_size.ok() ? *key_size : 0;
        absl::StatusOr<Checkpoint> c = OpenCheckpoint(note, trusted);
        if (!c.ok()) {
          faults.push_back(MakeFault(
              FaultKind::kBadSignature, at,
              absl::StrCat("stored checkpoint of size ", at,
                           " does not verify: ", c.status().message()),
              1, at));
        } else if (meta_bytes.has_value() && c->origin != meta.origin()) {
          faults.push_back(MakeFault(FaultKind::kBadSignature, at,
                                     absl::StrCat("stored checkpoint of size ",
                                                  at, " is for another log"),
                                     1, at));
        } else {
          targets.push_back(Target{c->size, Source::kStored, c->root});
        }
        return true;
      }));

  // The witness.
  if (options.witness.has_value()) {
    absl::StatusOr<Checkpoint> c = OpenCheckpoint(*options.witness, trusted);
    if (!c.ok() || (meta_bytes.has_value() && c->origin != meta.origin())) {
      uint64_t claimed = 0;
      const size_t split = options.witness->rfind("\n\n");
      if (split != std::string::npos) {
        absl::StatusOr<Checkpoint> parsed =
            ParseCheckpointText(options.witness->substr(0, split + 1));
        if (parsed.ok()) claimed = parsed->size;
      }
      faults.push_back(MakeFault(
          FaultKind::kBadSignature, claimed,
          c.ok() ? std::string("the witness checkpoint is for another log")
                 : absl::StrCat("the witness checkpoint does not verify: ",
                                c.status().message()),
          1, claimed));
    } else {
      targets.push_back(Target{c->size, Source::kWitness, c->root});
    }
  }

  // Plan the shards over the stored keys, [0, last key + 1). Recorded sizes
  // beyond that are truncations and need no shard (and a forged witness
  // claiming 2^60 entries must not make us allocate for them).
  uint64_t last_stored = 0;
  bool any_leaf = false;
  store::ScanOptions reverse;
  reverse.reverse = true;
  LINKD_RETURN_IF_ERROR(store.ScanPrefix(
      Cf::kAudit, fmt::LeafPrefix(),
      [&](std::string_view key, std::string_view) -> absl::StatusOr<bool> {
        any_leaf = DecodeLeafKey(key, &last_stored);
        return !any_leaf;  // skip non-entry keys at the end, if any
      },
      reverse));
  const uint64_t plan = any_leaf ? last_stored + 1 : 0;
  std::vector<uint64_t> sizes;
  for (const Target& t : targets) sizes.push_back(t.size);
  std::sort(sizes.begin(), sizes.end());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());

  uint64_t shard_len = absl::bit_ceil(std::max<uint64_t>(
      1, plan / (static_cast<uint64_t>(options.threads) * 8)));
  shard_len = std::clamp(shard_len, kMinShard, kMaxShard);
  const uint64_t num_shards =
      std::max<uint64_t>(1, (plan + shard_len - 1) / shard_len);
  std::vector<Shard> shards(num_shards);
  for (uint64_t i = 0; i < num_shards; ++i) {
    shards[i].lo = i * shard_len;
    shards[i].hi = (i + 1) * shard_len;
    shards[i].unbounded = i + 1 == num_shards;
  }
  std::atomic<size_t> next{0};
  auto work = [&]() {
    for (size_t i = next.fetch_add(1); i < shards.size();
         i = next.fetch_add(1)) {
      ScanShard(store, sizes, &shards[i]);
    }
  };
  const size_t extra =
      std::min<size_t>(static_cast<size_t>(options.threads), shards.size()) - 1;
  std::vector<std::thread> threads;
  threads.reserve(extra);
  for (size_t i = 0; i < extra; ++i) threads.emplace_back(work);
  work();
  for (std::thread& t : threads) t.join();
  for (const Shard& s : shards) LINKD_RETURN_IF_ERROR(s.status);

  // Merge the shards in order: sequence gaps at shard boundaries, chain
  // links across them, and the global tree.
  CompactRange tree;
  bool tree_valid = true;  // no entry missing so far
  bool have_last = false;
  uint64_t last_key = 0;
  bool last_chain_valid = false;
  Hash last_chain = {};
  // Recomputed roots at the target sizes.
  absl::flat_hash_map<uint64_t, Hash> computed;
  computed[0] = EmptyRoot();
  std::vector<uint64_t> breaks;
  std::vector<std::pair<uint64_t, uint64_t>> misplaced;
  for (Shard& s : shards) {
    report.entries += s.count;
    for (Fault& f : s.faults) faults.push_back(std::move(f));
    breaks.insert(breaks.end(), s.breaks.begin(), s.breaks.end());
    misplaced.insert(misplaced.end(), s.misplaced.begin(), s.misplaced.end());
    if (!s.any) continue;
    const uint64_t expected = have_last ? last_key + 1 : 0;
    if (s.first_key != expected) {
      faults.push_back(MakeFault(
          FaultKind::kDeleted, expected,
          absl::StrCat(s.first_key - expected, " entries missing from ",
                       expected, " to ", s.first_key - 1),
          s.first_key - expected));
      tree_valid = false;
    } else if (have_last && last_chain_valid && s.first_parsed &&
               s.first_prev != last_chain) {
      breaks.push_back(s.first_key);
    }
    if (tree_valid) {
      for (const Snap& snap : s.snaps) {
        CompactRange at = tree;
        LINKD_RETURN_IF_ERROR(AppendRange(snap.size - s.lo, snap.hashes, &at));
        computed[snap.size] = at.Root();
      }
      if (s.contiguous) {
        LINKD_RETURN_IF_ERROR(
            AppendRange(s.last_key + 1 - s.lo, s.range.hashes(), &tree));
      }
    }
    if (!s.contiguous) tree_valid = false;
    have_last = true;
    last_key = s.last_key;
    last_chain_valid = s.last_chain_valid;
    last_chain = s.last_chain;
  }
  report.extent = have_last ? last_key + 1 : 0;
  if (tree_valid) report.root = tree.Root();

  // Compare with the recorded sizes and roots, smallest first, so that a
  // rollback is located after the last checkpoint that matched.
  std::sort(targets.begin(), targets.end(),
            [](const Target& a, const Target& b) { return a.size < b.size; });
  uint64_t last_good = 0;
  bool head_root_matched = false;
  for (const Target& t : targets) {
    if (t.size > report.extent) {
      faults.push_back(MakeFault(
          FaultKind::kTruncated, report.extent,
          absl::StrCat("the log ends after ", report.extent, " entries but ",
                       SourceName(t.source), " records ", t.size),
          1, t.size));
      continue;
    }
    auto it = computed.find(t.size);
    if (it == computed.end()) continue;  // entries missing: reported above
    if (it->second == t.root) {
      last_good = std::max(last_good, t.size);
      if (t.source == Source::kStored) ++report.checkpoints_verified;
      if (t.source == Source::kWitness) report.witness_verified = true;
      if (t.source == Source::kHead) head_root_matched = true;
    } else if (t.source == Source::kHead) {
      faults.push_back(MakeFault(
          FaultKind::kHeadMismatch, t.size,
          absl::StrCat("the head's root differs from the root of its ", t.size,
                       " entries"),
          1, t.size));
    } else {
      faults.push_back(
          MakeFault(FaultKind::kRollback, last_good,
                    absl::StrCat(SourceName(t.source), " of size ", t.size,
                                 " has another root: entries in [", last_good,
                                 ", ", t.size, ") were rewritten"),
                    1, t.size));
    }
  }
  if (!head_bytes.has_value() && report.extent > 0) {
    faults.push_back(MakeFault(FaultKind::kHeadMismatch, 0,
                               "the log has entries but no head"));
  }
  if (head_ok && head.size() < report.extent) {
    faults.push_back(
        MakeFault(FaultKind::kHeadMismatch, head.size(),
                  absl::StrCat("entries ", head.size(), " to ",
                               report.extent - 1, " lie beyond the head"),
                  report.extent - head.size(), head.size()));
  }
  // The head's chain hash acts as the previous-chain field of the entry
  // after the last: a mismatch there is the last entry's fault unless the
  // head's root matched (then the head was edited).
  if (head_ok && head.size() == report.extent && last_chain_valid &&
      head_chain != last_chain) {
    if (head_root_matched) {
      faults.push_back(MakeFault(FaultKind::kHeadMismatch, head.size(),
                                 "the head's chain hash differs", 1,
                                 head.size()));
    } else {
      breaks.push_back(report.extent);
    }
  }

  // Attribute chain breaks: an entry whose bytes changed breaks the link to
  // the next entry; one whose previous-chain field changed also breaks its
  // own link. Breaks explained by a moved entry are dropped.
  absl::flat_hash_set<uint64_t> structural;
  for (const auto& [key, carried] : misplaced) structural.insert(key);
  for (const Fault& f : faults) {
    if (f.kind == FaultKind::kModified) structural.insert(f.seq);
  }
  std::sort(breaks.begin(), breaks.end());
  breaks.erase(std::unique(breaks.begin(), breaks.end()), breaks.end());
  for (size_t i = 0; i < breaks.size();) {
    const uint64_t j = breaks[i];
    uint64_t bad;
    if (i + 1 < breaks.size() && breaks[i + 1] == j + 1) {
      bad = j;
      i += 2;
    } else {
      bad = j == 0 ? 0 : j - 1;
      i += 1;
    }
    if (structural.contains(bad) || structural.contains(bad + 1) ||
        (bad > 0 && structural.contains(bad - 1))) {
      continue;
    }
    faults.push_back(MakeFault(
        FaultKind::kModified, bad,
        absl::StrCat("entry ", bad, " does not match the hash chain")));
  }

  // Pair entries that exchanged places.
  absl::flat_hash_map<uint64_t, uint64_t> carried_at;
  for (const auto& [key, carried] : misplaced) carried_at[key] = carried;
  for (const auto& [key, carried] : misplaced) {
    auto other = carried_at.find(carried);
    if (other != carried_at.end() && other->second == key) {
      if (key < carried) {
        faults.push_back(MakeFault(
            FaultKind::kSwapped, key,
            absl::StrCat("entries ", key, " and ", carried, " were swapped"), 2,
            carried));
      }
    } else {
      faults.push_back(MakeFault(
          FaultKind::kMisplaced, key,
          absl::StrCat("the entry stored as ", key, " carries seq ", carried),
          1, carried));
    }
  }

  std::stable_sort(faults.begin(), faults.end(),
                   [](const Fault& a, const Fault& b) {
                     if (a.seq != b.seq) return a.seq < b.seq;
                     return static_cast<int>(a.kind) < static_cast<int>(b.kind);
                   });
  report.fault_count = faults.size();
  if (faults.size() > options.max_faults) faults.resize(options.max_faults);
  report.faults = std::move(faults);
  return report;
}

}  // namespace linkd::audit
