// The audit log verifier: scans a whole log (its stored leaves in Cf::kAudit,
// layout in audit_log.h) and checks, without trusting anything the appender
// wrote besides the entries themselves:
//   - the sequence: keys 0, 1, 2, ... with no gap, each leaf carrying the
//     seq of its key;
//   - the hash chain: each leaf's previous-chain field equals the chain hash
//     recomputed from the leaf before it;
//   - the Merkle root recomputed from the leaves, at the size of the stored
//     head, of every stored signed checkpoint (whose signature must verify)
//     and of a witness checkpoint kept outside linkd by the IG team.
// Every fault is reported with the sequence number of the first entry it
// concerns and its kind; VerifyReport::first_fault() names the first bad
// entry. Works on a stopped daemon's data directory: the caller opens the
// Store (read access is enough) and passes it in.
//
// Cost: every leaf is read once (a forward scan that bypasses the block
// cache) and hashed three times (leaf, chain, tree); the key space is cut
// into aligned shards of 2^k entries hashed on `threads` threads, whose
// compact ranges are then merged, so the scan is O(n) time and O(log n)
// memory.
#ifndef LINKD_AUDIT_VERIFIER_H_
#define LINKD_AUDIT_VERIFIER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "linkd/audit/merkle.h"
#include "linkd/audit/signer.h"
#include "linkd/store/store.h"

namespace linkd::audit {

enum class FaultKind : uint8_t {
  // Entry-level faults: they locate the bad entry.
  kModified,   // an entry's bytes changed: malformed, or its hash breaks the
               // chain
  kDeleted,    // entries missing inside the log (seq .. seq+count-1)
  kSwapped,    // two entries exchanged places (seq and other_seq)
  kMisplaced,  // an entry stored under another entry's sequence number
  // Log-level faults: found by comparing with the head or a checkpoint.
  kTruncated,     // the log ends (at seq) before the size that the head, a
                  // stored checkpoint or the witness records
  kRollback,      // the root at a checkpoint's size differs although the
                  // entries are there: history rewritten or forked, somewhere
                  // in [seq, checkpoint size)
  kBadSignature,  // a checkpoint that is malformed or not signed by a trusted
                  // key (seq: the size it claims, or its storage key)
  kHeadMismatch,  // the head disagrees with the entries (entries beyond it,
                  // or another root or chain hash)
};

// "modified", "deleted", ... for reports.
std::string_view FaultKindName(FaultKind kind);

struct Fault {
  FaultKind kind = FaultKind::kModified;
  // The first entry concerned (see FaultKind).
  uint64_t seq = 0;
  // kDeleted: number of consecutive entries missing. kSwapped: 2.
  uint64_t count = 1;
  // kSwapped / kMisplaced: the other sequence number involved. kTruncated /
  // kRollback / kHeadMismatch: the size of the checkpoint or head compared.
  uint64_t other = 0;
  // One line for humans; never contains entry contents.
  std::string detail;
};

struct VerifyOptions {
  // Keys trusted to sign checkpoints. When empty, the public key recorded in
  // the log's own metadata is used (VerifyReport::used_recorded_key): fine
  // for a self-check, but whoever can rewrite the log can replace that key
  // too, so an audit passes the key the IG team holds.
  std::vector<NoteVerifier> trusted_keys;
  // A checkpoint note kept outside linkd (the IG team's witness). The log
  // must contain it: same root at its size.
  std::optional<std::string> witness;
  // Hashing threads (>= 1).
  int threads = 2;
  // At most this many faults are listed (the rest are counted).
  size_t max_faults = 1000;
};

struct VerifyReport {
  // Leaves scanned, and one past the highest sequence number stored.
  uint64_t entries = 0;
  uint64_t extent = 0;
  // Size recorded by the head (0 without one).
  uint64_t head_size = 0;
  // Root recomputed over the leaves 0..extent-1 (meaningful only when no
  // entry is missing).
  Hash root = EmptyRoot();
  // Stored checkpoints found, and how many verified (signature and root).
  size_t checkpoints = 0;
  size_t checkpoints_verified = 0;
  // A witness was given and verified (signature and root).
  bool witness_verified = false;
  bool used_recorded_key = false;
  // Sorted by seq; at most VerifyOptions::max_faults of them.
  std::vector<Fault> faults;
  // Faults found in total (>= faults.size()).
  size_t fault_count = 0;

  bool ok() const { return fault_count == 0; }
  // The first bad entry: the entry-level fault with the lowest seq if there
  // is one, otherwise the first log-level fault; nullptr when ok().
  const Fault* first_fault() const;
  // A short multi-line summary for operators.
  std::string Summary() const;
};

// Verifies the audit log in `store`. Returns the report (faults are findings,
// not errors), or INVALID_ARGUMENT if options.threads < 1, or a store error
// (UNAVAILABLE, DATA_LOSS for unreadable files, ...). Thread-safe; do not
// append concurrently (the result would describe a moving log).
absl::StatusOr<VerifyReport> Verify(const store::Store& store,
                                    const VerifyOptions& options = {});

}  // namespace linkd::audit

#endif  // LINKD_AUDIT_VERIFIER_H_
