// The linkage key K_link: 32 secret bytes plus a key version, held only by
// data providers and the key custodian, never by linkd.
#ifndef LINKD_CRYPTO_LINKAGE_KEY_H_
#define LINKD_CRYPTO_LINKAGE_KEY_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto/secret_bytes.h"

namespace linkd::crypto {

inline constexpr size_t kLinkageKeyBytes = 32;

// A linkage key. Not thread-safe to mutate; const use is thread-safe.
class LinkageKey {
 public:
  // A fresh random key (randombytes_buf) with the given version, which must
  // be >= 1 (a version of 0 is replaced by 1). Call crypto::Init() first.
  static LinkageKey Generate(uint32_t version);
  // A key from raw bytes; INVALID_ARGUMENT unless 32 bytes and version >= 1.
  static absl::StatusOr<LinkageKey> FromBytes(std::string_view bytes,
                                              uint32_t version);

  // Reads a key file (format in ENCODING.md). Returns NOT_FOUND if missing,
  // PERMISSION_DENIED if the file grants any permission to group or others
  // (or cannot be opened for lack of permission), INVALID_ARGUMENT (naming
  // the line number, never its content) if malformed or not a regular file,
  // INTERNAL on other I/O errors. Never prints the key.
  static absl::StatusOr<LinkageKey> ReadFile(const std::string& path);
  // Writes a new key file with mode 0600 and syncs it. ALREADY_EXISTS if
  // `path` exists (keys are never overwritten by accident; a symbolic link
  // at `path` counts as existing), PERMISSION_DENIED or INTERNAL on I/O
  // errors (a partly written file is removed).
  absl::Status WriteFile(const std::string& path) const;

  const SecretBytes& bytes() const { return bytes_; }
  uint32_t version() const { return version_; }

 private:
  LinkageKey(SecretBytes bytes, uint32_t version)
      : bytes_(std::move(bytes)), version_(version) {}
  SecretBytes bytes_;
  uint32_t version_;
};

}  // namespace linkd::crypto

#endif  // LINKD_CRYPTO_LINKAGE_KEY_H_
