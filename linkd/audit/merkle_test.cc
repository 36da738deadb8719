#include "linkd/audit/merkle.h"

#include <sodium.h>

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/util/status_matchers.h"

namespace linkd::audit {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;

Hash H(std::string_view hex) {
  absl::StatusOr<Hash> h = HashFromHex(hex);
  EXPECT_TRUE(h.ok()) << hex;
  return h.value_or(Hash{});
}

// The RFC 6962 test tree used by certificate-transparency and
// transparency-dev/merkle (proof/verify_test.go): its eight leaves, the
// roots of the trees of their first 1..8 leaves, and published proofs.
const std::vector<std::string>& TestLeaves() {
  static const auto* leaves = new std::vector<std::string>{
      absl::HexStringToBytes(""),
      absl::HexStringToBytes("00"),
      absl::HexStringToBytes("10"),
      absl::HexStringToBytes("2021"),
      absl::HexStringToBytes("3031"),
      absl::HexStringToBytes("40414243"),
      absl::HexStringToBytes("5051525354555657"),
      absl::HexStringToBytes("606162636465666768696a6b6c6d6e6f"),
  };
  return *leaves;
}

const std::vector<Hash>& TestRoots() {
  static const auto* roots = new std::vector<Hash>{
      H("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
      H("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
      H("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
      H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
      H("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
      H("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
      H("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
      H("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
  };
  return *roots;
}

std::vector<Hash> TestLeafHashes() {
  std::vector<Hash> out;
  for (const std::string& l : TestLeaves()) out.push_back(HashLeaf(l));
  return out;
}

const Hash kSomeHash =
    H("abacaba000000000000000000000000000000000000000000060061e00123456");

// Published inclusion proofs: (leaf index, tree size, proof).
struct InclusionVector {
  uint64_t index;
  uint64_t size;
  std::vector<Hash> proof;
};
const std::vector<InclusionVector>& InclusionVectors() {
  static const auto* v = new std::vector<InclusionVector>{
      {0, 1, {}},
      {0,
       8,
       {H("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")}},
      {5,
       8,
       {H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        H("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
        H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")}},
      {2,
       3,
       {H("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")}},
      {1,
       5,
       {H("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")}},
  };
  return *v;
}

// Published consistency proofs: (size1, size2, proof).
struct ConsistencyVector {
  uint64_t size1;
  uint64_t size2;
  std::vector<Hash> proof;
};
const std::vector<ConsistencyVector>& ConsistencyVectors() {
  static const auto* v = new std::vector<ConsistencyVector>{
      {1, 1, {}},
      {1,
       8,
       {H("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")}},
      {6,
       8,
       {H("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        H("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
        H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")}},
      {2,
       5,
       {H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")}},
      {6,
       7,
       {H("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        H("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")}},
  };
  return *v;
}

// An independent, deliberately naive RFC 6962 implementation: byte strings,
// explicit prefixes, recursion on the definition. Used to cross-check the
// library on trees the published vectors do not cover.
std::string NaiveSha(const std::string& data) {
  unsigned char out[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(out, reinterpret_cast<const unsigned char*>(data.data()),
                     data.size());
  return std::string(reinterpret_cast<char*>(out), sizeof(out));
}
std::string NaiveMth(const std::vector<std::string>& leaves, size_t begin,
                     size_t end) {
  const size_t n = end - begin;
  if (n == 0) return NaiveSha("");
  if (n == 1) return NaiveSha(std::string(1, '\0') + leaves[begin]);
  size_t k = 1;
  while (k * 2 < n) k *= 2;
  return NaiveSha(std::string(1, '\1') + NaiveMth(leaves, begin, begin + k) +
                  NaiveMth(leaves, begin + k, end));
}

// Distinct leaves of random lengths (two equal neighbours would make
// "index +- 1" a true statement, not a corruption).
std::vector<std::string> RandomLeaves(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) {
    std::string s(rng() % 40, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    out.push_back(absl::StrCat(i, ":", s));
  }
  return out;
}

std::vector<Hash> Extend(std::vector<Hash> proof, const Hash& h) {
  proof.push_back(h);
  return proof;
}
std::vector<Hash> Prepend(std::vector<Hash> proof, const Hash& h) {
  proof.insert(proof.begin(), h);
  return proof;
}

struct InclusionProbe {
  uint64_t index;
  uint64_t size;
  Hash root;
  Hash leaf;
  std::vector<Hash> proof;
  std::string desc;
};

// The negative cases of transparency-dev/merkle's corruptInclusionProof,
// plus swapped components.
std::vector<InclusionProbe> CorruptInclusion(uint64_t index, uint64_t size,
                                             const std::vector<Hash>& proof,
                                             const Hash& root,
                                             const Hash& leaf) {
  const Hash zero = {};
  std::vector<InclusionProbe> out = {
      {index - 1, size, root, leaf, proof, "index - 1"},
      {index + 1, size, root, leaf, proof, "index + 1"},
      {index ^ 2, size, root, leaf, proof, "index ^ 2"},
      {index, size * 2, root, leaf, proof, "size * 2"},
      {index, size / 2, root, leaf, proof, "size / 2"},
      {index, size, root, HashLeaf("WrongLeaf"), proof, "wrong leaf"},
      {index, size, EmptyRoot(), leaf, proof, "empty root"},
      {index, size, kSomeHash, leaf, proof, "random root"},
      {index, size, root, leaf, Extend(proof, zero), "trailing garbage"},
      {index, size, root, leaf, Extend(proof, root), "trailing root"},
      {index, size, root, leaf, Prepend(proof, zero), "preceding garbage"},
      {index, size, root, leaf, Prepend(proof, root), "preceding root"},
  };
  for (size_t i = 0; i < proof.size(); ++i) {
    std::vector<Hash> p = proof;
    p[i][0] ^= 8;
    out.push_back(
        {index, size, root, leaf, p, absl::StrCat("proof[", i, "] bit 3")});
  }
  if (!proof.empty()) {
    std::vector<Hash> p(proof.begin(), proof.end() - 1);
    out.push_back({index, size, root, leaf, p, "removed component"});
  }
  if (proof.size() > 1) {
    std::vector<Hash> p = proof;
    p.insert(p.begin() + 1, kSomeHash);
    out.push_back({index, size, root, leaf, p, "inserted component"});
  }
  for (size_t i = 0; i + 1 < proof.size(); ++i) {
    if (proof[i] == proof[i + 1]) continue;
    std::vector<Hash> p = proof;
    std::swap(p[i], p[i + 1]);
    out.push_back({index, size, root, leaf, p, absl::StrCat("swapped ", i)});
  }
  return out;
}

struct ConsistencyProbe {
  uint64_t size1;
  uint64_t size2;
  Hash root1;
  Hash root2;
  std::vector<Hash> proof;
  std::string desc;
};

// transparency-dev/merkle's corruptConsistencyProof, plus swapped
// components.
std::vector<ConsistencyProbe> CorruptConsistency(
    uint64_t size1, uint64_t size2, const Hash& root1, const Hash& root2,
    const std::vector<Hash>& proof) {
  const Hash zero = {};
  const Hash wrong = HashLeaf("WrongRoot");
  std::vector<ConsistencyProbe> out = {
      {size1 - 1, size2, root1, root2, proof, "size1 - 1"},
      {size1 + 1, size2, root1, root2, proof, "size1 + 1"},
      {size1 ^ 2, size2, root1, root2, proof, "size1 ^ 2"},
      {size1, size2 * 2, root1, root2, proof, "size2 * 2"},
      {size1, size2 / 2, root1, root2, proof, "size2 / 2"},
      {size1, size2, wrong, root2, proof, "wrong root1"},
      {size1, size2, root1, wrong, proof, "wrong root2"},
      {size1, size2, root2, root1, proof, "swapped roots"},
      {size1, size2, root1, root2, {}, "empty proof"},
      {size1, size2, root1, root2, Extend(proof, zero), "trailing garbage"},
      {size1, size2, root1, root2, Extend(proof, root1), "trailing root1"},
      {size1, size2, root1, root2, Extend(proof, root2), "trailing root2"},
      {size1, size2, root1, root2, Prepend(proof, zero), "preceding garbage"},
      {size1, size2, root1, root2, Prepend(proof, root1), "preceding root1"},
      {size1, size2, root1, root2, Prepend(proof, root2), "preceding root2"},
      {size1, size2, root1, root2, Prepend(proof, proof[0]),
       "preceding proof[0]"},
  };
  out.push_back({size1, size2, root1, root2,
                 std::vector<Hash>(proof.begin(), proof.end() - 1),
                 "truncated proof"});
  for (size_t i = 0; i < proof.size(); ++i) {
    std::vector<Hash> p = proof;
    p[i][0] ^= 16;
    out.push_back(
        {size1, size2, root1, root2, p, absl::StrCat("proof[", i, "] bit 4")});
  }
  for (size_t i = 0; i + 1 < proof.size(); ++i) {
    if (proof[i] == proof[i + 1]) continue;
    std::vector<Hash> p = proof;
    std::swap(p[i], p[i + 1]);
    out.push_back({size1, size2, root1, root2, p, absl::StrCat("swapped ", i)});
  }
  return out;
}

// Checks a good inclusion proof and that every corruption of it fails.
void CheckInclusion(uint64_t index, uint64_t size,
                    const std::vector<Hash>& proof, const Hash& root,
                    const Hash& leaf) {
  SCOPED_TRACE(absl::StrCat("inclusion of ", index, " in ", size));
  ASSERT_THAT(VerifyInclusion(index, size, leaf, proof, root), IsOk());
  for (const InclusionProbe& p :
       CorruptInclusion(index, size, proof, root, leaf)) {
    EXPECT_FALSE(VerifyInclusion(p.index, p.size, p.leaf, p.proof, p.root).ok())
        << "accepted: " << p.desc;
  }
  // The same proof as bytes, with garbage appended or cut short.
  const std::string wire = EncodeProof(proof);
  EXPECT_THAT(DecodeProof(wire + "x"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  if (!wire.empty()) {
    EXPECT_THAT(DecodeProof(wire.substr(0, wire.size() - 1)),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
  absl::StatusOr<std::vector<Hash>> back = DecodeProof(wire);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(*back, proof);
}

void CheckConsistency(uint64_t size1, uint64_t size2,
                      const std::vector<Hash>& proof, const Hash& root1,
                      const Hash& root2) {
  SCOPED_TRACE(absl::StrCat("consistency ", size1, " -> ", size2));
  ASSERT_THAT(VerifyConsistency(size1, size2, proof, root1, root2), IsOk());
  if (proof.empty()) return;  // trivial proofs: covered separately
  for (const ConsistencyProbe& p :
       CorruptConsistency(size1, size2, root1, root2, proof)) {
    EXPECT_FALSE(
        VerifyConsistency(p.size1, p.size2, p.proof, p.root1, p.root2).ok())
        << "accepted: " << p.desc;
  }
}

TEST(MerkleTest, EmptyRootIsSha256OfNothing) {
  EXPECT_EQ(HashToHex(EmptyRoot()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(CompactRange().Root(), EmptyRoot());
  EXPECT_EQ(RootOf({}), EmptyRoot());
}

TEST(MerkleTest, PublishedRootsOfTheTestTree) {
  const std::vector<Hash> leaves = TestLeafHashes();
  CompactRange range;
  for (size_t n = 1; n <= leaves.size(); ++n) {
    range.Append(leaves[n - 1]);
    EXPECT_EQ(HashToHex(range.Root()), HashToHex(TestRoots()[n - 1]))
        << "size " << n;
    EXPECT_EQ(RootOf(absl::MakeConstSpan(leaves).subspan(0, n)),
              TestRoots()[n - 1]);
  }
}

TEST(MerkleTest, CompactRangeMatchesNaiveRecursion) {
  const std::vector<std::string> leaves = RandomLeaves(300, 1);
  CompactRange range;
  std::vector<Hash> hashes;
  for (size_t n = 1; n <= leaves.size(); ++n) {
    hashes.push_back(HashLeaf(leaves[n - 1]));
    range.Append(hashes.back());
    ASSERT_EQ(HashBytes(range.Root()), NaiveMth(leaves, 0, n)) << n;
    ASSERT_EQ(range.Root(), RootOf(hashes));
    ASSERT_EQ(range.hashes().size(),
              static_cast<size_t>(__builtin_popcountll(n)));
  }
}

TEST(MerkleTest, NodeVisitorReportsEveryPerfectSubtree) {
  const std::vector<std::string> leaves = RandomLeaves(70, 2);
  std::vector<Hash> hashes;
  for (const std::string& l : leaves) hashes.push_back(HashLeaf(l));
  CompactRange range;
  int visits = 0;
  for (const Hash& h : hashes) {
    range.Append(h, [&](int level, uint64_t index, const Hash& node) {
      ++visits;
      const uint64_t begin = index << level;
      const uint64_t end = (index + 1) << level;
      EXPECT_EQ(HashBytes(node), NaiveMth(leaves, begin, end))
          << "level " << level << " index " << index;
    });
  }
  // Every leaf, and one merge per leaf except one per perfect subtree left
  // on the frontier (70 = 64 + 4 + 2).
  EXPECT_EQ(visits, 70 + (70 - 3));
}

TEST(MerkleTest, FromHashesAndAppendSubtree) {
  const std::vector<Hash> leaves = TestLeafHashes();
  CompactRange six;
  for (int i = 0; i < 6; ++i) six.Append(leaves[i]);
  absl::StatusOr<CompactRange> copy = CompactRange::FromHashes(6, six.hashes());
  ASSERT_THAT(copy, IsOk());
  copy->Append(leaves[6]);
  EXPECT_EQ(copy->Root(), TestRoots()[6]);
  EXPECT_THAT(CompactRange::FromHashes(7, six.hashes()),
              StatusIs(absl::StatusCode::kInvalidArgument));

  // Four leaves as one level-2 subtree.
  CompactRange four;
  ASSERT_THAT(four.AppendSubtree(2, TestRoots()[3]), IsOk());
  EXPECT_EQ(four.size(), 4u);
  ASSERT_THAT(four.AppendSubtree(1, HashChildren(leaves[4], leaves[5])),
              IsOk());
  ASSERT_THAT(four.AppendSubtree(0, leaves[6]), IsOk());
  EXPECT_EQ(four.Root(), TestRoots()[6]);
  // Size 7 is not a multiple of 2: a level-1 subtree cannot follow.
  EXPECT_THAT(four.AppendSubtree(1, leaves[0]),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(four.size(), 7u);
}

TEST(MerkleTest, PublishedInclusionProofs) {
  const std::vector<Hash> leaves = TestLeafHashes();
  for (const InclusionVector& v : InclusionVectors()) {
    absl::StatusOr<std::vector<Hash>> proof =
        InclusionProof(v.index, absl::MakeConstSpan(leaves).subspan(0, v.size));
    ASSERT_THAT(proof, IsOk());
    EXPECT_EQ(*proof, v.proof) << v.index << " in " << v.size;
    CheckInclusion(v.index, v.size, v.proof, TestRoots()[v.size - 1],
                   leaves[v.index]);
  }
}

TEST(MerkleTest, PublishedConsistencyProofs) {
  const std::vector<Hash> leaves = TestLeafHashes();
  for (const ConsistencyVector& v : ConsistencyVectors()) {
    absl::StatusOr<std::vector<Hash>> proof = ConsistencyProof(
        v.size1, absl::MakeConstSpan(leaves).subspan(0, v.size2));
    ASSERT_THAT(proof, IsOk());
    EXPECT_EQ(*proof, v.proof) << v.size1 << " -> " << v.size2;
    CheckConsistency(v.size1, v.size2, v.proof, TestRoots()[v.size1 - 1],
                     TestRoots()[v.size2 - 1]);
  }
}

TEST(MerkleTest, EveryProofOfSmallTreesVerifiesAndResistsCorruption) {
  const std::vector<std::string> leaves = RandomLeaves(33, 3);
  std::vector<Hash> hashes;
  for (const std::string& l : leaves) hashes.push_back(HashLeaf(l));
  const auto span = absl::MakeConstSpan(hashes);
  for (uint64_t n = 1; n <= hashes.size(); ++n) {
    const Hash root = RootOf(span.subspan(0, n));
    ASSERT_EQ(HashBytes(root), NaiveMth(leaves, 0, n));
    for (uint64_t m = 0; m < n; ++m) {
      absl::StatusOr<std::vector<Hash>> proof =
          InclusionProof(m, span.subspan(0, n));
      ASSERT_THAT(proof, IsOk());
      CheckInclusion(m, n, *proof, root, hashes[m]);
    }
    for (uint64_t m = 1; m <= n; ++m) {
      absl::StatusOr<std::vector<Hash>> proof =
          ConsistencyProof(m, span.subspan(0, n));
      ASSERT_THAT(proof, IsOk());
      CheckConsistency(m, n, *proof, RootOf(span.subspan(0, m)), root);
    }
  }
}

TEST(MerkleTest, InclusionEdgeCases) {
  const Hash leaf = HashLeaf("data");
  // A one-leaf tree: the root is the leaf hash, the proof is empty.
  EXPECT_THAT(VerifyInclusion(0, 1, leaf, {}, leaf), IsOk());
  EXPECT_THAT(VerifyInclusion(0, 1, leaf, {}, EmptyRoot()),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(VerifyInclusion(0, 1, EmptyRoot(), {}, leaf),
              StatusIs(absl::StatusCode::kDataLoss));
  // Index beyond the tree, or an empty tree.
  for (auto [index, size] : std::vector<std::pair<uint64_t, uint64_t>>{
           {0, 0}, {1, 0}, {1, 1}, {2, 1}}) {
    EXPECT_THAT(VerifyInclusion(index, size, kSomeHash, {}, EmptyRoot()),
                StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(InclusionProof(index, std::vector<Hash>(size, kSomeHash)),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
  EXPECT_THAT(DecodeProof(""), IsOk());
  EXPECT_THAT(DecodeProof(std::string(129 * 32, 'a')),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(MerkleTest, ConsistencyEdgeCases) {
  const Hash r1 = HashLeaf("don't care 1");
  const Hash r2 = HashLeaf("don't care 2");
  // Equal sizes: equal roots and an empty proof.
  EXPECT_THAT(VerifyConsistency(1, 1, {}, r2, r2), IsOk());
  EXPECT_THAT(VerifyConsistency(1, 1, {}, r1, r2),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(VerifyConsistency(1, 1, {EmptyRoot()}, r1, r1),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // The empty tree precedes every tree, with an empty proof.
  EXPECT_THAT(VerifyConsistency(0, 5, {}, EmptyRoot(), r2), IsOk());
  EXPECT_THAT(VerifyConsistency(0, 0, {}, EmptyRoot(), EmptyRoot()), IsOk());
  EXPECT_THAT(VerifyConsistency(0, 5, {}, r1, r2),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(VerifyConsistency(0, 1, {EmptyRoot()}, EmptyRoot(), r2),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // Time travel.
  EXPECT_THAT(VerifyConsistency(2, 1, {}, r1, r2),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ConsistencyProof(2, std::vector<Hash>(1, r1)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // A non-trivial pair needs a proof.
  EXPECT_THAT(VerifyConsistency(1, 2, {}, r1, r2),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(MerkleTest, HexAndBytes) {
  EXPECT_THAT(HashFromHex("00"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(HashFromHex(std::string(64, 'g')),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(HashFromBytes(std::string(31, 'a')),
              StatusIs(absl::StatusCode::kInvalidArgument));
  const Hash h = HashLeaf("x");
  EXPECT_EQ(*HashFromHex(HashToHex(h)), h);
  EXPECT_EQ(*HashFromBytes(HashBytes(h)), h);
}

}  // namespace
}  // namespace linkd::audit
