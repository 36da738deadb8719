// linkd::audit: the tamper-evident audit log (DESIGN.md section 7).
//
// Every RPC of linkd, accepted or refused, produces exactly one AuditEntry.
// The entry is written in the same store::WriteBatch as the change it
// records, and that batch is committed (fsync'd) by the AuditLog itself, so
// no change exists without its entry and no entry gets a sequence number that
// another commit could also take. Entries are the leaves of an append-only
// RFC 6962 Merkle tree and are also linked by a hash chain; the log signs
// checkpoints (checkpoint.h) that the IG team keeps as witnesses, and
// verifier.h checks a whole log offline and names the first bad entry.
//
// Layout in Cf::kAudit (keys from linkd/store/key_codec.h; the first
// component is a u8 tag):
//   (1, seq u64)                   -> leaf bytes of entry `seq` (below)
//   (2, subject, seq u64)          -> ""   subject index, one per SUI touched
//                                     and per record named (RecordSubject)
//   (3, time micros i64, seq u64)  -> ""   time index (entry time_micros)
//   (4, level u8, index u64)       -> 32-byte root of the perfect subtree over
//                                     entries [index << level, (index+1) <<
//                                     level), for level >= 4 only: a cache
//                                     for proofs, never trusted by Verify
//   (5, tree size u64)             -> a signed checkpoint note (checkpoint.h)
//   (6)                            -> linkd.audit.v1.LogHead: size, root,
//                                     chain hash of the last entry, frontier
//   (7)                            -> linkd.audit.v1.LogMeta: origin, key
// All of these for one append are in the caller's batch, so the head, the
// frontier and the indexes never disagree with the entries after a crash.
//
// Leaf bytes (what is stored, what is hashed; format version 1):
//   byte  0       0x01, the leaf format version
//   bytes 1..8    seq, big-endian
//   bytes 9..40   chain hash of entry seq-1 (32 zero bytes for seq 0)
//   bytes 41..    linkd.audit.v1.AuditEntry, deterministic serialization
// Hashes (SHA-256, libsodium crypto_hash_sha256):
//   leaf_hash(seq) = SHA-256(0x00 || leaf bytes)                (RFC 6962)
//   node           = SHA-256(0x01 || left || right)             (RFC 6962)
//   chain(seq)     = SHA-256(chain(seq-1) || leaf_hash(seq)), chain(-1) = 0^32
// Because each leaf carries its seq and the previous chain hash, a moved,
// swapped, altered or missing entry is visible from the entries alone; the
// Merkle root (and the signed checkpoints over it) also catches a log that
// was rewritten consistently from some point on, or truncated.
#ifndef LINKD_AUDIT_AUDIT_LOG_H_
#define LINKD_AUDIT_AUDIT_LOG_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "linkd/audit/checkpoint.h"
#include "linkd/audit/merkle.h"
#include "linkd/audit/signer.h"
#include "linkd/audit/v1/audit.pb.h"
#include "linkd/store/store.h"
#include "linkd/util/clock.h"

namespace linkd::audit {

struct AuditLogOptions {
  // Origin of the log when it is opened without a signer (with a signer, the
  // signer's key name is the origin). Fixed when the first entry is written.
  std::string origin = "linkd/audit";
  // When > 0, an append that takes the size across a multiple of this signs
  // a checkpoint of the new size and stores it in the same batch. Requires a
  // signer.
  uint64_t checkpoint_interval = 0;
  // Time source for entries with time_micros == 0 and for checkpoints. Not
  // owned; must outlive the log.
  const util::Clock* clock = util::Clock::Real();
  // Largest serialized AuditEntry accepted.
  size_t max_entry_bytes = 1 << 20;
};

// The log's state after some commit.
struct TreeHead {
  uint64_t size = 0;
  Hash root = EmptyRoot();
  Hash chain = {};  // chain hash of entry size-1; zeros when empty
};

struct AppendResult {
  // Sequence number of the first entry appended; the others follow.
  uint64_t first_seq = 0;
  // The head after the commit.
  TreeHead head;
};

// One entry as stored.
struct LoggedEntry {
  uint64_t seq = 0;
  Hash leaf_hash = {};
  v1::AuditEntry entry;
};

// Called for each entry of a query, in order. Return true to continue, false
// to stop, or an error to abort the query with it.
using EntryCallback =
    absl::FunctionRef<absl::StatusOr<bool>(const LoggedEntry& entry)>;

struct SignedCheckpoint {
  Checkpoint checkpoint;
  std::string note;  // the checkpoint file's contents
};

// The audit log of one Store. Thread-safe: any method may be called from any
// thread. Appends (AppendAndCommit, Record, SignCheckpoint) are serialised:
// each holds the log's writer lock across its store commit, including the
// fsync, and the in-memory head advances only after the commit succeeded, so
// sequence numbers have no gaps and the log cannot fork. Callers amortise
// the fsync by putting many entries (or a group commit's worth of changes)
// in one batch. Queries run concurrently with appends and see committed
// entries only.
//
// At most one AuditLog may be open on a Store at a time (checked), and
// nothing else may write Cf::kAudit.
class AuditLog {
 public:
  // Opens the log kept in `store` (not owned; must outlive the log). Reads
  // the head (O(log n): no scan) and checks that it agrees with the last
  // entry. `signer` (not owned, may be null) signs checkpoints and must
  // outlive the log; without one, SignCheckpoint fails. Returns
  //   INVALID_ARGUMENT    if store is null, or checkpoint_interval > 0
  //                       without a signer, or options.clock is null;
  //   FAILED_PRECONDITION if another AuditLog is open on `store`, or the log
  //                       was created with another origin or public key;
  //   DATA_LOSS           if the head is unreadable or disagrees with the
  //                       entries (run Verify to find out more);
  //   store errors otherwise.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(
      store::Store* store, const AuditSigner* signer,
      const AuditLogOptions& options = {});

  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Adds `entries` (one per audited RPC, in order) to `batch` and commits the
  // batch, durably unless options.sync is false (which only benchmarks and
  // bulk tests should do). Entries with time_micros == 0 get the clock's time.
  // On success returns the first sequence number and the new head. On any
  // error nothing of the batch is committed and the log is unchanged.
  // Returns INVALID_ARGUMENT if `entries` is empty or an entry lacks its
  // organisation, method or decision, has an empty or over-long (> 64 bytes)
  // SUI, or is larger than max_entry_bytes (nothing is added to the batch
  // then), or the Store's Commit errors (INVALID_ARGUMENT for a batch of
  // another store, UNAVAILABLE, ...). After an ambiguous commit error (one
  // where the write might have reached the disk) the next append first
  // reloads the head from the store.
  absl::StatusOr<AppendResult> AppendAndCommit(
      store::WriteBatch batch, absl::Span<const v1::AuditEntry> entries,
      const store::CommitOptions& options = {});
  absl::StatusOr<AppendResult> AppendAndCommit(
      store::WriteBatch batch, const v1::AuditEntry& entry,
      const store::CommitOptions& options = {});
  // Appends one entry on its own, for RPCs that change nothing else (refused
  // requests, reads). As AppendAndCommit with a fresh batch.
  absl::StatusOr<AppendResult> Record(const v1::AuditEntry& entry);

  // Signs a checkpoint of the current head, stores it (synced) and returns
  // it. FAILED_PRECONDITION without a signer; store errors otherwise.
  absl::StatusOr<SignedCheckpoint> SignCheckpoint();
  // The stored checkpoint of the largest size, if any, as stored (not
  // verified: use OpenCheckpoint or Verify). DATA_LOSS if unparseable.
  absl::StatusOr<std::optional<SignedCheckpoint>> LatestCheckpoint() const;

  // Committed state. Cheap.
  uint64_t Size() const;
  TreeHead Head() const;
  const std::string& origin() const { return origin_; }

  // Entry `seq`. NOT_FOUND if seq >= Size(); DATA_LOSS if the stored leaf is
  // missing, malformed or carries another seq.
  absl::StatusOr<LoggedEntry> Get(uint64_t seq) const;
  // The subject-index name of a source record: entries are indexed by each
  // SUI they touch and by each record they name, so that subject access
  // finds the uses of a child's records before they were linked too.
  static std::string RecordSubject(std::string_view source,
                                   std::string_view record_id);

  // Subject access: every entry whose SUIs include `sui` (exact string, the
  // SUI's printed form), or, for a RecordSubject() name, whose records
  // include that record, in sequence order. Errors as Get, or the
  // callback's.
  absl::Status Subject(std::string_view sui, EntryCallback fn) const;
  // The same, collected; at most `limit` entries.
  absl::StatusOr<std::vector<LoggedEntry>> Subject(std::string_view sui,
                                                   size_t limit = 100000) const;
  // Entries with since <= time < until, in (time, seq) order, streamed.
  // Errors as Get, or the callback's.
  absl::Status Export(absl::Time since, absl::Time until,
                      EntryCallback fn) const;

  // RFC 9162 inclusion proof of entry `seq` in the tree of the first
  // `tree_size` entries, and consistency proof between two sizes, from the
  // stored subtree cache and leaves (O(log n) reads). INVALID_ARGUMENT
  // unless seq < tree_size <= Size() (resp. size1 <= size2 <= Size());
  // DATA_LOSS if entries are missing.
  absl::StatusOr<std::vector<Hash>> InclusionProof(uint64_t seq,
                                                   uint64_t tree_size) const;
  absl::StatusOr<std::vector<Hash>> ConsistencyProof(uint64_t size1,
                                                     uint64_t size2) const;
  // Root of the tree of the first `size` entries (size <= Size()).
  absl::StatusOr<Hash> RootAt(uint64_t size) const;

 private:
  struct State {
    uint64_t size = 0;
    Hash chain = {};
    CompactRange range;
    bool meta_written = false;
  };

  AuditLog(store::Store* store, const AuditSigner* signer,
           const AuditLogOptions& options, std::string origin);
  absl::Status LoadState(State* state) const;
  absl::Status EnsureStateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::StatusOr<SignedCheckpoint> MakeCheckpoint(uint64_t size,
                                                  const Hash& root) const;
  absl::StatusOr<Hash> SubtreeHash(uint64_t begin, uint64_t end) const;
  absl::Status FetchEntries(absl::Span<const uint64_t> seqs, EntryCallback fn,
                            const store::Snapshot* snapshot, bool* more) const;

  store::Store* const store_;
  const AuditSigner* const signer_;
  const AuditLogOptions options_;
  const std::string origin_;

  // Serialises appends; held across the store commit.
  absl::Mutex write_mu_;
  // True when state_ is known to match the store (false after an ambiguous
  // commit error, until reloaded).
  bool state_valid_ ABSL_GUARDED_BY(write_mu_) = true;

  // The committed state, for readers; changed only with write_mu_ held too.
  mutable absl::Mutex state_mu_;
  State state_ ABSL_GUARDED_BY(state_mu_);
};

}  // namespace linkd::audit

#endif  // LINKD_AUDIT_AUDIT_LOG_H_
