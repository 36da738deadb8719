#include "linkd/audit/log_format.h"

#include <sodium.h>

#include "absl/strings/str_cat.h"
#include "linkd/store/key_codec.h"
#include "linkd/util/status_macros.h"

namespace linkd::audit::internal {

using store::KeyBuilder;
using store::KeyReader;

std::string LeafKey(uint64_t seq) {
  return KeyBuilder().AddU8(kTagLeaf).AddU64(seq).key();
}
std::string LeafPrefix() { return KeyBuilder().AddU8(kTagLeaf).key(); }
std::string SubjectKey(std::string_view sui, uint64_t seq) {
  return KeyBuilder().AddU8(kTagSubject).AddString(sui).AddU64(seq).key();
}
std::string SubjectPrefix(std::string_view sui) {
  return KeyBuilder().AddU8(kTagSubject).AddString(sui).key();
}
std::string TimeKey(int64_t time_micros, uint64_t seq) {
  return KeyBuilder().AddU8(kTagTime).AddI64(time_micros).AddU64(seq).key();
}
std::string NodeKey(int level, uint64_t index) {
  return KeyBuilder()
      .AddU8(kTagNode)
      .AddU8(static_cast<uint8_t>(level))
      .AddU64(index)
      .key();
}
std::string CheckpointKey(uint64_t size) {
  return KeyBuilder().AddU8(kTagCheckpoint).AddU64(size).key();
}
std::string CheckpointPrefix() {
  return KeyBuilder().AddU8(kTagCheckpoint).key();
}
std::string HeadKey() { return KeyBuilder().AddU8(kTagHead).key(); }
std::string MetaKey() { return KeyBuilder().AddU8(kTagMeta).key(); }

namespace {

absl::StatusOr<uint64_t> ParseTagU64(std::string_view key, uint8_t tag) {
  LINKD_ASSIGN_OR_RETURN(KeyReader r, KeyReader::Create(key));
  LINKD_ASSIGN_OR_RETURN(uint8_t t, r.ReadU8());
  if (t != tag)
    return absl::InvalidArgumentError("not an audit key of this kind");
  LINKD_ASSIGN_OR_RETURN(uint64_t v, r.ReadU64());
  LINKD_RETURN_IF_ERROR(r.ExpectEnd());
  return v;
}

}  // namespace

absl::StatusOr<uint64_t> ParseLeafKey(std::string_view key) {
  return ParseTagU64(key, kTagLeaf);
}

absl::StatusOr<uint64_t> ParseCheckpointKey(std::string_view key) {
  return ParseTagU64(key, kTagCheckpoint);
}

absl::StatusOr<uint64_t> ParseIndexSeq(std::string_view key) {
  // Both index keys end with the sequence number.
  if (key.size() < 8) return absl::InvalidArgumentError("index key too short");
  uint64_t seq = 0;
  for (size_t i = key.size() - 8; i < key.size(); ++i) {
    seq = (seq << 8) | static_cast<uint8_t>(key[i]);
  }
  return seq;
}

absl::StatusOr<LeafView> ParseLeaf(std::string_view leaf) {
  if (leaf.size() < kLeafHeaderBytes) {
    return absl::DataLossError("audit leaf is shorter than its header");
  }
  if (static_cast<uint8_t>(leaf[0]) != kLeafFormatV1) {
    return absl::DataLossError(
        absl::StrCat("audit leaf has unknown format version ",
                     static_cast<uint8_t>(leaf[0])));
  }
  LeafView v;
  for (size_t i = 1; i < 9; ++i)
    v.seq = (v.seq << 8) | static_cast<uint8_t>(leaf[i]);
  v.prev_chain = leaf.substr(9, kHashBytes);
  v.entry = leaf.substr(kLeafHeaderBytes);
  return v;
}

std::string EncodeLeaf(uint64_t seq, const Hash& prev_chain,
                       std::string_view entry_bytes) {
  std::string out;
  out.reserve(kLeafHeaderBytes + entry_bytes.size());
  out.push_back(static_cast<char>(kLeafFormatV1));
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((seq >> shift) & 0xff));
  }
  out.append(HashBytes(prev_chain));
  out.append(entry_bytes);
  return out;
}

Hash ChainHash(std::string_view prev_chain, const Hash& leaf_hash) {
  uint8_t buf[2 * kHashBytes];
  std::copy(prev_chain.begin(), prev_chain.end(), reinterpret_cast<char*>(buf));
  std::copy(leaf_hash.begin(), leaf_hash.end(), buf + kHashBytes);
  Hash h;
  crypto_hash_sha256(h.data(), buf, sizeof(buf));
  return h;
}

}  // namespace linkd::audit::internal
