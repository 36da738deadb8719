// Signed checkpoints of the audit log: the log's size and Merkle root at a
// moment, signed with the log's Ed25519 key, in the C2SP tlog-checkpoint
// format (https://c2sp.org/tlog-checkpoint) as a signed note (signer.h).
// The IG team keeps the latest one they received as a witness: the verifier
// then detects a log that was truncated or rewritten since.
//
// A checkpoint file is exactly the signed note, UTF-8, e.g.:
//
//   linkd.example.org/audit               <- origin (= the key name)
//   1048576                               <- tree size, decimal
//   r3P1e1cD1w8wYp0c3I7ym8nVq1e2eJwNw1k5mZg0Tz4=   <- root, base64 (RFC 4648)
//   timestamp 2025-03-01T09:30:00.000000Z <- extension line: signing time, UTC
//                                         <- blank line
//   — linkd.example.org/audit AbCd...==   <- em dash, key name, base64(key
//                                            ID || Ed25519 signature)
//
// The first three lines are the standard checkpoint body, so transparency-
// dev witnesses and verifiers accept it; the timestamp is an extension line
// (other extension lines are accepted and ignored when parsing).
#ifndef LINKD_AUDIT_CHECKPOINT_H_
#define LINKD_AUDIT_CHECKPOINT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "linkd/audit/merkle.h"
#include "linkd/audit/signer.h"

namespace linkd::audit {

// The contents of a checkpoint.
struct Checkpoint {
  std::string origin;
  uint64_t size = 0;
  Hash root = {};
  // Signing time; absl::InfinitePast() when the note has no timestamp line.
  absl::Time time = absl::InfinitePast();

  friend bool operator==(const Checkpoint& a, const Checkpoint& b) {
    return a.origin == b.origin && a.size == b.size && a.root == b.root &&
           a.time == b.time;
  }
};

// The note text of `checkpoint` (body lines and timestamp, each ending in a
// newline). The time is written with microsecond precision.
std::string FormatCheckpointText(const Checkpoint& checkpoint);
// Parses a note text. Returns INVALID_ARGUMENT unless it has an origin line,
// a canonical decimal size, a base64 32-byte root, and non-empty extension
// lines (a "timestamp" one must be well formed).
absl::StatusOr<Checkpoint> ParseCheckpointText(std::string_view text);

// Signs `checkpoint` with `signer`. Returns the signed note, or
// INVALID_ARGUMENT if its origin is not the signer's key name.
absl::StatusOr<std::string> SignCheckpoint(const Checkpoint& checkpoint,
                                           const AuditSigner& signer);
// Verifies a signed checkpoint note against the trusted keys and parses it.
// Returns INVALID_ARGUMENT if malformed (as a note or as a checkpoint),
// UNAUTHENTICATED if no trusted key whose name is the origin signed it (or
// its signature does not verify).
absl::StatusOr<Checkpoint> OpenCheckpoint(
    std::string_view note, absl::Span<const NoteVerifier> trusted);

// Writes `note` to `path`, replacing any file there atomically (temporary
// file, fsync, rename). Returns PERMISSION_DENIED or INTERNAL on I/O errors.
absl::Status WriteCheckpointFile(const std::string& path,
                                 std::string_view note);
// Reads a checkpoint file (at most 64 KiB). NOT_FOUND if missing,
// INVALID_ARGUMENT if too large, PERMISSION_DENIED / INTERNAL on I/O
// errors. Does not verify it: pass the result to OpenCheckpoint.
absl::StatusOr<std::string> ReadCheckpointFile(const std::string& path);

}  // namespace linkd::audit

#endif  // LINKD_AUDIT_CHECKPOINT_H_
