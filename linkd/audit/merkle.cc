#include "linkd/audit/merkle.h"

#include <sodium.h>

#include <utility>

#include "absl/numeric/bits.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "linkd/util/status_macros.h"

namespace linkd::audit {
namespace {

absl::string_view Av(std::string_view s) { return {s.data(), s.size()}; }

// Largest power of two strictly less than n (n >= 2).
uint64_t SplitPoint(uint64_t n) { return absl::bit_floor(n - 1); }

int BitLength(uint64_t v) { return 64 - absl::countl_zero(v); }

// RFC 9162 2.1.3.1 PATH(m, D[begin:end]), m relative to begin.
absl::Status PathInto(uint64_t m, uint64_t begin, uint64_t end,
                      SubtreeHashFn subtree, std::vector<Hash>* out) {
  const uint64_t n = end - begin;
  if (n <= 1) return absl::OkStatus();
  const uint64_t k = SplitPoint(n);
  if (m < k) {
    LINKD_RETURN_IF_ERROR(PathInto(m, begin, begin + k, subtree, out));
    LINKD_ASSIGN_OR_RETURN(Hash h, subtree(begin + k, end));
    out->push_back(h);
  } else {
    LINKD_RETURN_IF_ERROR(PathInto(m - k, begin + k, end, subtree, out));
    LINKD_ASSIGN_OR_RETURN(Hash h, subtree(begin, begin + k));
    out->push_back(h);
  }
  return absl::OkStatus();
}

// RFC 9162 2.1.4.1 SUBPROOF(m, D[begin:end], b), m relative to begin.
absl::Status SubproofInto(uint64_t m, uint64_t begin, uint64_t end,
                          bool complete, SubtreeHashFn subtree,
                          std::vector<Hash>* out) {
  const uint64_t n = end - begin;
  if (m == n) {
    if (!complete) {
      LINKD_ASSIGN_OR_RETURN(Hash h, subtree(begin, end));
      out->push_back(h);
    }
    return absl::OkStatus();
  }
  const uint64_t k = SplitPoint(n);
  if (m <= k) {
    LINKD_RETURN_IF_ERROR(
        SubproofInto(m, begin, begin + k, complete, subtree, out));
    LINKD_ASSIGN_OR_RETURN(Hash h, subtree(begin + k, end));
    out->push_back(h);
  } else {
    LINKD_RETURN_IF_ERROR(
        SubproofInto(m - k, begin + k, end, false, subtree, out));
    LINKD_ASSIGN_OR_RETURN(Hash h, subtree(begin, begin + k));
    out->push_back(h);
  }
  return absl::OkStatus();
}

// Lengths of the two parts of an inclusion proof for (index, size): the
// "inner" hashes below the point where the paths to `index` and to `size-1`
// diverge, and the "border" hashes above it (left siblings only).
void DecomposeInclusion(uint64_t index, uint64_t size, int* inner,
                        int* border) {
  *inner = BitLength(index ^ (size - 1));
  *border = absl::popcount(index >> *inner);
}

// Hashes `seed` up through `proof`, taking the side of each sibling from the
// bits of `index`.
Hash ChainInner(Hash seed, absl::Span<const Hash> proof, uint64_t index) {
  for (size_t i = 0; i < proof.size(); ++i) {
    seed = ((index >> i) & 1) == 0 ? HashChildren(seed, proof[i])
                                   : HashChildren(proof[i], seed);
  }
  return seed;
}

// As ChainInner but keeping only left siblings: the same subtree as it was
// before the leaves to the right of the path were added.
Hash ChainInnerRight(Hash seed, absl::Span<const Hash> proof, uint64_t index) {
  for (size_t i = 0; i < proof.size(); ++i) {
    if (((index >> i) & 1) == 1) seed = HashChildren(proof[i], seed);
  }
  return seed;
}

Hash ChainBorderRight(Hash seed, absl::Span<const Hash> proof) {
  for (const Hash& h : proof) seed = HashChildren(h, seed);
  return seed;
}

absl::Status RootMismatch(const char* what) {
  return absl::DataLossError(
      absl::StrCat(what, ": the proof leads to a different root"));
}

}  // namespace

absl::StatusOr<Hash> HashFromBytes(std::string_view bytes) {
  if (bytes.size() != kHashBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("hash must be 32 bytes, got ", bytes.size()));
  }
  Hash h;
  std::copy(bytes.begin(), bytes.end(), reinterpret_cast<char*>(h.data()));
  return h;
}

std::string HashToHex(const Hash& h) {
  return absl::BytesToHexString(Av(HashBytes(h)));
}

absl::StatusOr<Hash> HashFromHex(std::string_view hex) {
  if (hex.size() != 2 * kHashBytes) {
    return absl::InvalidArgumentError("hex hash must be 64 characters");
  }
  for (char c : hex) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError("hex hash has a non-hex character");
    }
  }
  return HashFromBytes(absl::HexStringToBytes(Av(hex)));
}

Hash Sha256(std::string_view data) {
  Hash h;
  crypto_hash_sha256(h.data(), reinterpret_cast<const uint8_t*>(data.data()),
                     data.size());
  return h;
}

Hash HashLeaf(std::string_view leaf) {
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  const uint8_t prefix = 0x00;
  crypto_hash_sha256_update(&st, &prefix, 1);
  crypto_hash_sha256_update(&st, reinterpret_cast<const uint8_t*>(leaf.data()),
                            leaf.size());
  Hash h;
  crypto_hash_sha256_final(&st, h.data());
  return h;
}

Hash HashChildren(const Hash& left, const Hash& right) {
  uint8_t buf[1 + 2 * kHashBytes];
  buf[0] = 0x01;
  std::copy(left.begin(), left.end(), buf + 1);
  std::copy(right.begin(), right.end(), buf + 1 + kHashBytes);
  Hash h;
  crypto_hash_sha256(h.data(), buf, sizeof(buf));
  return h;
}

Hash EmptyRoot() { return Sha256(""); }

absl::StatusOr<CompactRange> CompactRange::FromHashes(
    uint64_t size, std::vector<Hash> hashes) {
  if (hashes.size() != static_cast<size_t>(absl::popcount(size))) {
    return absl::InvalidArgumentError(
        absl::StrCat("a compact range of size ", size, " has ",
                     absl::popcount(size), " hashes, not ", hashes.size()));
  }
  CompactRange r;
  r.size_ = size;
  r.hashes_ = std::move(hashes);
  return r;
}

void CompactRange::Append(const Hash& leaf_hash) {
  Hash h = leaf_hash;
  // Each trailing one bit of the old size is a subtree of the same height as
  // the one being carried: merge them.
  for (uint64_t s = size_; (s & 1) == 1; s >>= 1) {
    h = HashChildren(hashes_.back(), h);
    hashes_.pop_back();
  }
  hashes_.push_back(h);
  ++size_;
}

void CompactRange::Append(const Hash& leaf_hash, NodeVisitor visit) {
  const uint64_t index = size_;
  Hash h = leaf_hash;
  visit(0, index, h);
  int level = 0;
  for (uint64_t s = size_; (s & 1) == 1; s >>= 1) {
    h = HashChildren(hashes_.back(), h);
    hashes_.pop_back();
    ++level;
    visit(level, index >> level, h);
  }
  hashes_.push_back(h);
  ++size_;
}

absl::Status CompactRange::AppendSubtree(int level, const Hash& root) {
  if (level < 0 || level >= 64 || (size_ & ((uint64_t{1} << level) - 1)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot append a subtree of level ", level,
                     " to a compact range of size ", size_));
  }
  Hash h = root;
  for (uint64_t s = size_ >> level; (s & 1) == 1; s >>= 1) {
    h = HashChildren(hashes_.back(), h);
    hashes_.pop_back();
  }
  hashes_.push_back(h);
  size_ += uint64_t{1} << level;
  return absl::OkStatus();
}

Hash CompactRange::Root() const {
  if (hashes_.empty()) return EmptyRoot();
  Hash h = hashes_.back();
  for (size_t i = hashes_.size() - 1; i-- > 0;) h = HashChildren(hashes_[i], h);
  return h;
}

Hash RootOf(absl::Span<const Hash> leaf_hashes) {
  if (leaf_hashes.empty()) return EmptyRoot();
  if (leaf_hashes.size() == 1) return leaf_hashes[0];
  const size_t k = SplitPoint(leaf_hashes.size());
  return HashChildren(RootOf(leaf_hashes.subspan(0, k)),
                      RootOf(leaf_hashes.subspan(k)));
}

absl::StatusOr<std::vector<Hash>> InclusionProof(uint64_t index, uint64_t size,
                                                 SubtreeHashFn subtree) {
  if (index >= size) {
    return absl::InvalidArgumentError(
        absl::StrCat("leaf index ", index, " is not in a tree of size ", size));
  }
  std::vector<Hash> out;
  LINKD_RETURN_IF_ERROR(PathInto(index, 0, size, subtree, &out));
  return out;
}

absl::StatusOr<std::vector<Hash>> ConsistencyProof(uint64_t size1,
                                                   uint64_t size2,
                                                   SubtreeHashFn subtree) {
  if (size1 > size2) {
    return absl::InvalidArgumentError(
        absl::StrCat("no consistency proof from size ", size1,
                     " to the smaller size ", size2));
  }
  std::vector<Hash> out;
  if (size1 == 0 || size1 == size2) return out;
  LINKD_RETURN_IF_ERROR(SubproofInto(size1, 0, size2, true, subtree, &out));
  return out;
}

absl::StatusOr<std::vector<Hash>> InclusionProof(
    uint64_t index, absl::Span<const Hash> leaf_hashes) {
  return InclusionProof(
      index, leaf_hashes.size(),
      [&](uint64_t begin, uint64_t end) -> absl::StatusOr<Hash> {
        return RootOf(leaf_hashes.subspan(begin, end - begin));
      });
}

absl::StatusOr<std::vector<Hash>> ConsistencyProof(
    uint64_t size1, absl::Span<const Hash> leaf_hashes) {
  return ConsistencyProof(
      size1, leaf_hashes.size(),
      [&](uint64_t begin, uint64_t end) -> absl::StatusOr<Hash> {
        return RootOf(leaf_hashes.subspan(begin, end - begin));
      });
}

absl::StatusOr<Hash> RootFromInclusionProof(uint64_t index, uint64_t size,
                                            const Hash& leaf_hash,
                                            absl::Span<const Hash> proof) {
  if (index >= size) {
    return absl::InvalidArgumentError(
        absl::StrCat("leaf index ", index, " is not in a tree of size ", size));
  }
  int inner, border;
  DecomposeInclusion(index, size, &inner, &border);
  if (proof.size() != static_cast<size_t>(inner + border)) {
    return absl::InvalidArgumentError(
        absl::StrCat("inclusion proof for leaf ", index, " of ", size, " has ",
                     proof.size(), " hashes, not ", inner + border));
  }
  const Hash h = ChainInner(leaf_hash, proof.subspan(0, inner), index);
  return ChainBorderRight(h, proof.subspan(inner));
}

absl::Status VerifyInclusion(uint64_t index, uint64_t size,
                             const Hash& leaf_hash,
                             absl::Span<const Hash> proof, const Hash& root) {
  LINKD_ASSIGN_OR_RETURN(Hash got,
                         RootFromInclusionProof(index, size, leaf_hash, proof));
  if (sodium_memcmp(got.data(), root.data(), kHashBytes) != 0) {
    return RootMismatch("inclusion proof");
  }
  return absl::OkStatus();
}

absl::Status VerifyConsistency(uint64_t size1, uint64_t size2,
                               absl::Span<const Hash> proof, const Hash& root1,
                               const Hash& root2) {
  if (size1 > size2) {
    return absl::InvalidArgumentError(
        absl::StrCat("size1 ", size1, " is larger than size2 ", size2));
  }
  if (size1 == size2 || size1 == 0) {
    if (!proof.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("a consistency proof from size ", size1, " to ", size2,
                       " must be empty"));
    }
    if (size1 == size2 ? root1 != root2 : root1 != EmptyRoot()) {
      return RootMismatch("consistency proof");
    }
    return absl::OkStatus();
  }
  // 0 < size1 < size2. The proof is the suffix of the inclusion proof of
  // leaf size1-1 in the tree of size2 above the level where size1's rightmost
  // perfect subtree sits, prefixed by that subtree's root unless it is the
  // whole old tree.
  int inner, border;
  DecomposeInclusion(size1 - 1, size2, &inner, &border);
  const int shift = absl::countr_zero(size1);
  inner -= shift;
  Hash seed = root1;
  size_t start = 0;
  if (size1 != (uint64_t{1} << shift)) {
    if (proof.empty()) {
      return absl::InvalidArgumentError("consistency proof is empty");
    }
    seed = proof[0];
    start = 1;
  }
  if (proof.size() != start + inner + border) {
    return absl::InvalidArgumentError(
        absl::StrCat("consistency proof from ", size1, " to ", size2, " has ",
                     proof.size(), " hashes, not ", start + inner + border));
  }
  const absl::Span<const Hash> rest = proof.subspan(start);
  const uint64_t mask = (size1 - 1) >> shift;
  Hash hash1 = ChainInnerRight(seed, rest.subspan(0, inner), mask);
  hash1 = ChainBorderRight(hash1, rest.subspan(inner));
  Hash hash2 = ChainInner(seed, rest.subspan(0, inner), mask);
  hash2 = ChainBorderRight(hash2, rest.subspan(inner));
  if (sodium_memcmp(hash1.data(), root1.data(), kHashBytes) != 0 ||
      sodium_memcmp(hash2.data(), root2.data(), kHashBytes) != 0) {
    return RootMismatch("consistency proof");
  }
  return absl::OkStatus();
}

std::string EncodeProof(absl::Span<const Hash> proof) {
  std::string out;
  out.reserve(proof.size() * kHashBytes);
  for (const Hash& h : proof) out.append(HashBytes(h));
  return out;
}

absl::StatusOr<std::vector<Hash>> DecodeProof(std::string_view bytes) {
  constexpr size_t kMaxProofHashes = 128;
  if (bytes.size() % kHashBytes != 0) {
    return absl::InvalidArgumentError(
        "proof is not a whole number of 32-byte hashes");
  }
  if (bytes.size() / kHashBytes > kMaxProofHashes) {
    return absl::InvalidArgumentError("proof has too many hashes");
  }
  std::vector<Hash> out;
  out.reserve(bytes.size() / kHashBytes);
  for (size_t i = 0; i < bytes.size(); i += kHashBytes) {
    LINKD_ASSIGN_OR_RETURN(Hash h, HashFromBytes(bytes.substr(i, kHashBytes)));
    out.push_back(h);
  }
  return out;
}

}  // namespace linkd::audit
