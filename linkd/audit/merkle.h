// RFC 6962 / RFC 9162 Merkle tree hashing for the audit log: leaf and node
// hashes (SHA-256 via libsodium), the compact range ("frontier") that makes
// appends O(log n), inclusion and consistency proofs (generation over any
// source of subtree hashes, and verification as pure functions).
//
//   leaf hash = SHA-256(0x00 || leaf bytes)
//   node hash = SHA-256(0x01 || left || right)
//   MTH({})   = SHA-256("")
//   MTH(D[n]) = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two < n
//
// Proofs are lists of 32-byte hashes ordered from the leaf (or the older tree)
// upwards, exactly as in RFC 9162 sections 2.1.3 and 2.1.4, so proofs from
// other RFC 6962 implementations (certificate-transparency, transparency-dev)
// verify here and vice versa.
//
// Everything here is a pure function of its arguments and thread-safe, except
// CompactRange, a value type (not thread-safe to mutate). None of it needs
// crypto::Init(): libsodium's SHA-256 has no runtime dispatch.
#ifndef LINKD_AUDIT_MERKLE_H_
#define LINKD_AUDIT_MERKLE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace linkd::audit {

inline constexpr size_t kHashBytes = 32;

// A SHA-256 digest.
using Hash = std::array<uint8_t, kHashBytes>;

// The bytes of `h`, viewing it (valid while `h` lives).
inline std::string_view HashBytes(const Hash& h) {
  return std::string_view(reinterpret_cast<const char*>(h.data()), h.size());
}
// `bytes` as a Hash; INVALID_ARGUMENT unless exactly 32 bytes.
absl::StatusOr<Hash> HashFromBytes(std::string_view bytes);
// Lower-case hex, 64 characters.
std::string HashToHex(const Hash& h);
// Parses 64 hex characters; INVALID_ARGUMENT otherwise.
absl::StatusOr<Hash> HashFromHex(std::string_view hex);

// SHA-256(data).
Hash Sha256(std::string_view data);
// RFC 6962 leaf hash of `leaf`.
Hash HashLeaf(std::string_view leaf);
// RFC 6962 interior node hash.
Hash HashChildren(const Hash& left, const Hash& right);
// Root of the empty tree, SHA-256("").
Hash EmptyRoot();

// The compact range [0, size): the roots of the perfect subtrees that cover
// the first `size` leaves, one per set bit of `size`, largest (leftmost)
// first. Appending a leaf merges equal-sized subtrees, O(log n) hashes, and
// the root of the whole tree is computable from it at any time. A value type:
// copyable, not thread-safe to mutate.
class CompactRange {
 public:
  // Called for every perfect subtree root an append creates, including the
  // leaf itself (level 0): it covers leaves [index << level, (index+1) <<
  // level).
  using NodeVisitor =
      absl::FunctionRef<void(int level, uint64_t index, const Hash& hash)>;

  // The empty range.
  CompactRange() = default;
  // A range rebuilt from its size and hashes (e.g. a stored frontier).
  // Returns INVALID_ARGUMENT unless hashes.size() == popcount(size).
  static absl::StatusOr<CompactRange> FromHashes(uint64_t size,
                                                 std::vector<Hash> hashes);

  // Appends one leaf hash.
  void Append(const Hash& leaf_hash);
  void Append(const Hash& leaf_hash, NodeVisitor visit);
  // Appends the root of a perfect subtree of 2^level leaves as if its leaves
  // were appended one by one. Returns INVALID_ARGUMENT (and changes nothing)
  // unless size() is a multiple of 2^level and level < 64.
  absl::Status AppendSubtree(int level, const Hash& root);

  uint64_t size() const { return size_; }
  // Perfect subtree roots, largest first.
  const std::vector<Hash>& hashes() const { return hashes_; }
  // MTH of the first size() leaves; EmptyRoot() when empty.
  Hash Root() const;

 private:
  uint64_t size_ = 0;
  std::vector<Hash> hashes_;
};

// MTH of `leaf_hashes`, computed directly (recursively) in memory.
Hash RootOf(absl::Span<const Hash> leaf_hashes);

// Hash of the subtree over leaves [begin, end) of the tree being proven, as
// needed by proof generation. Proof generation only asks for ranges where
// `begin` is a multiple of the smallest power of two >= end - begin; an error
// aborts the generation and is returned unchanged.
using SubtreeHashFn =
    absl::FunctionRef<absl::StatusOr<Hash>(uint64_t begin, uint64_t end)>;

// RFC 9162 2.1.3.1 inclusion proof (PATH) of leaf `index` in the tree of the
// first `size` leaves. Returns INVALID_ARGUMENT unless index < size.
absl::StatusOr<std::vector<Hash>> InclusionProof(uint64_t index, uint64_t size,
                                                 SubtreeHashFn subtree);
// RFC 9162 2.1.4.1 consistency proof (PROOF) between the trees of the first
// `size1` and `size2` leaves; empty when size1 == size2 or size1 == 0.
// Returns INVALID_ARGUMENT if size1 > size2.
absl::StatusOr<std::vector<Hash>> ConsistencyProof(uint64_t size1,
                                                   uint64_t size2,
                                                   SubtreeHashFn subtree);
// The same two, over leaf hashes held in memory (tests, small tools).
absl::StatusOr<std::vector<Hash>> InclusionProof(
    uint64_t index, absl::Span<const Hash> leaf_hashes);
absl::StatusOr<std::vector<Hash>> ConsistencyProof(
    uint64_t size1, absl::Span<const Hash> leaf_hashes);

// RFC 9162 2.1.3.2: the root implied by an inclusion proof. Returns
// INVALID_ARGUMENT if index >= size or the proof has the wrong number of
// hashes for (index, size).
absl::StatusOr<Hash> RootFromInclusionProof(uint64_t index, uint64_t size,
                                            const Hash& leaf_hash,
                                            absl::Span<const Hash> proof);
// Checks that `proof` shows leaf `index` with hash `leaf_hash` is in the tree
// of `size` leaves with root `root`. Returns OK, INVALID_ARGUMENT for a
// malformed proof (as RootFromInclusionProof), or DATA_LOSS if the proof is
// well formed but leads to another root.
absl::Status VerifyInclusion(uint64_t index, uint64_t size,
                             const Hash& leaf_hash,
                             absl::Span<const Hash> proof, const Hash& root);
// RFC 9162 2.1.4.2: checks that the tree of `size2` leaves with root `root2`
// extends the tree of `size1` leaves with root `root1`. Returns OK,
// INVALID_ARGUMENT if size1 > size2, size1 == 0 < size2 with a non-empty
// proof, or the proof has the wrong number of hashes, or DATA_LOSS if the
// proof does not lead to root1 and root2 (including size1 == size2 with
// root1 != root2, and size1 == 0 with root1 not the empty root).
absl::Status VerifyConsistency(uint64_t size1, uint64_t size2,
                               absl::Span<const Hash> proof, const Hash& root1,
                               const Hash& root2);

// A proof on the wire or in a file: its hashes concatenated.
std::string EncodeProof(absl::Span<const Hash> proof);
// Returns INVALID_ARGUMENT unless `bytes` is a whole number of 32-byte hashes
// (at most 128 of them, more than any tree of 2^64 leaves needs).
absl::StatusOr<std::vector<Hash>> DecodeProof(std::string_view bytes);

}  // namespace linkd::audit

#endif  // LINKD_AUDIT_MERKLE_H_
