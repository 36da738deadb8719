// The one codec for every RocksDB key linkd writes (STYLE.md B7).
//
// Format: a leading key-format version byte (kKeyFormatVersion), then the
// components in order:
//   - unsigned integers: fixed width, big-endian, so that byte order equals
//     numeric order (u8, u32, u64);
//   - signed 64-bit integers: big-endian with the sign bit flipped, so that
//     negative values sort before positive ones;
//   - strings / bytes: a 4-byte big-endian length, then the bytes. The prefix
//     makes the encoding unambiguous (("a","bc") != ("ab","c")) and lets a
//     key built from the leading components serve as a scan prefix.
//
// Ordering: comparing two encoded keys bytewise (RocksDB's comparator) gives
// the order of their component tuples, component by component, where
// integers compare numerically and strings compare by (length, bytes) -- a
// shorter string sorts first. Callers that need lexicographic string order
// in a range scan must not rely on this codec for it.
//
// Keys never contain clear identifiers: they hold sources, record ids,
// tokens, SUIs and sequence numbers only. Errors never echo key bytes.
#ifndef LINKD_STORE_KEY_CODEC_H_
#define LINKD_STORE_KEY_CODEC_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace linkd::store {

// Current key-format version, the first byte of every key.
inline constexpr uint8_t kKeyFormatVersion = 1;

// Builds one key. Each Add* appends a component and returns *this, so calls
// chain: KeyBuilder().AddString(source).AddString(record_id).key().
// Not thread-safe (a value type; use one per thread).
class KeyBuilder {
 public:
  // Starts a key holding only the version byte.
  KeyBuilder();

  KeyBuilder& AddU8(uint8_t v);
  KeyBuilder& AddU32(uint32_t v);
  KeyBuilder& AddU64(uint64_t v);
  KeyBuilder& AddI64(int64_t v);
  // Strings and bytes share one encoding. Components longer than 4 GiB are
  // a programmer error (checked).
  KeyBuilder& AddString(std::string_view v);

  // The key so far. Usable as a scan prefix for keys that continue it.
  const std::string& key() const& { return key_; }
  std::string key() && { return std::move(key_); }

 private:
  std::string key_;
};

// Decodes a key produced by KeyBuilder, component by component, in the order
// they were added. The reader views the key passed to Create, which must
// outlive the reader and every view ReadString returns. Not thread-safe.
//
// Every Read* returns INVALID_ARGUMENT when the remaining bytes cannot hold
// the requested component ("key truncated reading <what>"); the reader is
// then left unchanged.
class KeyReader {
 public:
  // Returns INVALID_ARGUMENT if `key` is empty or its version byte is not
  // kKeyFormatVersion.
  static absl::StatusOr<KeyReader> Create(std::string_view key);

  absl::StatusOr<uint8_t> ReadU8();
  absl::StatusOr<uint32_t> ReadU32();
  absl::StatusOr<uint64_t> ReadU64();
  absl::StatusOr<int64_t> ReadI64();
  absl::StatusOr<std::string_view> ReadString();

  // True when every component has been read.
  bool done() const { return rest_.empty(); }
  // Bytes not read yet.
  std::size_t remaining() const { return rest_.size(); }
  // Returns INVALID_ARGUMENT if bytes are left over (a key with more
  // components than the caller expects).
  absl::Status ExpectEnd() const;

 private:
  explicit KeyReader(std::string_view rest) : rest_(rest) {}
  absl::StatusOr<uint64_t> ReadFixed(std::size_t width, const char* what);

  std::string_view rest_;
};

// The smallest key greater than every key that starts with `prefix`: the
// exclusive upper bound of a prefix scan. Returns an empty string when no
// such key exists (prefix empty or all 0xff bytes), meaning "unbounded".
std::string PrefixSuccessor(std::string_view prefix);

}  // namespace linkd::store

#endif  // LINKD_STORE_KEY_CODEC_H_
