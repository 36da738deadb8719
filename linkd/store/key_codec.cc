#include "linkd/store/key_codec.h"

#include <cstdio>
#include <cstdlib>
#include <limits>

#include "absl/strings/str_cat.h"

namespace linkd::store {
namespace {

void AppendBigEndian(std::string* out, uint64_t v, std::size_t width) {
  char buf[8];
  for (std::size_t i = 0; i < width; ++i) {
    buf[width - 1 - i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  out->append(buf, width);
}

constexpr uint64_t kSignBit = uint64_t{1} << 63;

}  // namespace

KeyBuilder::KeyBuilder() {
  key_.push_back(static_cast<char>(kKeyFormatVersion));
}

KeyBuilder& KeyBuilder::AddU8(uint8_t v) {
  key_.push_back(static_cast<char>(v));
  return *this;
}

KeyBuilder& KeyBuilder::AddU32(uint32_t v) {
  AppendBigEndian(&key_, v, 4);
  return *this;
}

KeyBuilder& KeyBuilder::AddU64(uint64_t v) {
  AppendBigEndian(&key_, v, 8);
  return *this;
}

KeyBuilder& KeyBuilder::AddI64(int64_t v) {
  // Flipping the sign bit maps INT64_MIN..INT64_MAX onto 0..UINT64_MAX in
  // order, so the unsigned big-endian bytes sort like the signed values.
  AppendBigEndian(&key_, static_cast<uint64_t>(v) ^ kSignBit, 8);
  return *this;
}

KeyBuilder& KeyBuilder::AddString(std::string_view v) {
  if (v.size() > std::numeric_limits<uint32_t>::max()) {
    // Programmer error: nothing linkd keys on comes close to 4 GiB.
    std::fputs("linkd::store::KeyBuilder: key component over 4 GiB\n", stderr);
    std::abort();
  }
  AppendBigEndian(&key_, v.size(), 4);
  key_.append(v.data(), v.size());
  return *this;
}

absl::StatusOr<KeyReader> KeyReader::Create(std::string_view key) {
  if (key.empty()) return absl::InvalidArgumentError("key is empty");
  const auto version = static_cast<uint8_t>(key[0]);
  if (version != kKeyFormatVersion) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key has format version ", version, ", expected ", kKeyFormatVersion));
  }
  return KeyReader(key.substr(1));
}

absl::StatusOr<uint64_t> KeyReader::ReadFixed(std::size_t width,
                                              const char* what) {
  if (rest_.size() < width) {
    return absl::InvalidArgumentError(
        absl::StrCat("key truncated reading ", what, ": need ", width,
                     " bytes, have ", rest_.size()));
  }
  uint64_t v = 0;
  for (std::size_t i = 0; i < width; ++i) {
    v = (v << 8) | static_cast<uint8_t>(rest_[i]);
  }
  rest_.remove_prefix(width);
  return v;
}

absl::StatusOr<uint8_t> KeyReader::ReadU8() {
  absl::StatusOr<uint64_t> v = ReadFixed(1, "u8");
  if (!v.ok()) return v.status();
  return static_cast<uint8_t>(*v);
}

absl::StatusOr<uint32_t> KeyReader::ReadU32() {
  absl::StatusOr<uint64_t> v = ReadFixed(4, "u32");
  if (!v.ok()) return v.status();
  return static_cast<uint32_t>(*v);
}

absl::StatusOr<uint64_t> KeyReader::ReadU64() { return ReadFixed(8, "u64"); }

absl::StatusOr<int64_t> KeyReader::ReadI64() {
  absl::StatusOr<uint64_t> v = ReadFixed(8, "i64");
  if (!v.ok()) return v.status();
  return static_cast<int64_t>(*v ^ kSignBit);
}

absl::StatusOr<std::string_view> KeyReader::ReadString() {
  const std::string_view saved = rest_;
  absl::StatusOr<uint64_t> len = ReadFixed(4, "string length");
  if (!len.ok()) return len.status();
  if (rest_.size() < *len) {
    const std::size_t have = rest_.size();
    rest_ = saved;  // leave the reader unchanged on error
    return absl::InvalidArgumentError(
        absl::StrCat("key truncated reading string: length prefix says ", *len,
                     " bytes, have ", have));
  }
  std::string_view v = rest_.substr(0, *len);
  rest_.remove_prefix(*len);
  return v;
}

absl::Status KeyReader::ExpectEnd() const {
  if (rest_.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("key has ", rest_.size(), " unexpected trailing bytes"));
}

std::string PrefixSuccessor(std::string_view prefix) {
  std::string s(prefix);
  while (!s.empty()) {
    auto last = static_cast<uint8_t>(s.back());
    if (last != 0xff) {
      s.back() = static_cast<char>(last + 1);
      return s;
    }
    s.pop_back();
  }
  return s;
}

}  // namespace linkd::store
