// Internal to linkd/audit: the keys and the leaf format of the audit log in
// Cf::kAudit (documented in audit_log.h), shared by the appender, the
// verifier and the tests that tamper with stored entries. Not a public API.
#ifndef LINKD_AUDIT_LOG_FORMAT_H_
#define LINKD_AUDIT_LOG_FORMAT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "linkd/audit/merkle.h"

namespace linkd::audit::internal {

inline constexpr uint8_t kTagLeaf = 1;
inline constexpr uint8_t kTagSubject = 2;
inline constexpr uint8_t kTagTime = 3;
inline constexpr uint8_t kTagNode = 4;
inline constexpr uint8_t kTagCheckpoint = 5;
inline constexpr uint8_t kTagHead = 6;
inline constexpr uint8_t kTagMeta = 7;

// Perfect subtrees of 2^kMinStoredNodeLevel leaves and more are stored
// (one key per 16 entries); smaller ones are rehashed from the leaves.
inline constexpr int kMinStoredNodeLevel = 4;

inline constexpr uint8_t kLeafFormatV1 = 1;
// version (1) + seq (8) + previous chain hash (32).
inline constexpr size_t kLeafHeaderBytes = 1 + 8 + kHashBytes;

std::string LeafKey(uint64_t seq);
// Prefix of every leaf key.
std::string LeafPrefix();
std::string SubjectKey(std::string_view sui, uint64_t seq);
std::string SubjectPrefix(std::string_view sui);
std::string TimeKey(int64_t time_micros, uint64_t seq);
std::string NodeKey(int level, uint64_t index);
std::string CheckpointKey(uint64_t size);
std::string CheckpointPrefix();
std::string HeadKey();
std::string MetaKey();

// The sequence number of a leaf key; INVALID_ARGUMENT if `key` is not one.
absl::StatusOr<uint64_t> ParseLeafKey(std::string_view key);
// (time, seq) of a time-index key / seq of a subject-index key.
absl::StatusOr<uint64_t> ParseIndexSeq(std::string_view key);
// The tree size of a checkpoint key.
absl::StatusOr<uint64_t> ParseCheckpointKey(std::string_view key);

// A stored leaf split into its parts (views into the stored bytes).
struct LeafView {
  uint64_t seq = 0;
  std::string_view prev_chain;  // 32 bytes
  std::string_view entry;       // serialized linkd.audit.v1.AuditEntry
};
// Splits a stored leaf; DATA_LOSS if it is too short or of an unknown
// format version.
absl::StatusOr<LeafView> ParseLeaf(std::string_view leaf);
// Builds a stored leaf.
std::string EncodeLeaf(uint64_t seq, const Hash& prev_chain,
                       std::string_view entry_bytes);

// chain(seq) = SHA-256(chain(seq-1) || leaf_hash(seq)).
Hash ChainHash(std::string_view prev_chain, const Hash& leaf_hash);
// chain(-1): 32 zero bytes.
inline Hash ZeroHash() { return Hash{}; }

}  // namespace linkd::audit::internal

#endif  // LINKD_AUDIT_LOG_FORMAT_H_
