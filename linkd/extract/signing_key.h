// linkd's release signing key: an Ed25519 key pair (libsodium crypto_sign)
// whose public half researchers pin to check that an extract manifest comes
// from linkd. Kept as a small class so that the audit log's checkpoint
// signer can later be the same key (SigningKey::FromSeed); every signed
// message carries its own domain prefix, so sharing the key is safe.
#ifndef LINKD_EXTRACT_SIGNING_KEY_H_
#define LINKD_EXTRACT_SIGNING_KEY_H_

#include <cstddef>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto/secret_bytes.h"

namespace linkd::extract {

inline constexpr size_t kSigningPublicKeyBytes = 32;
inline constexpr size_t kSigningSeedBytes = 32;
inline constexpr size_t kSignatureBytes = 64;

// An Ed25519 public key (32 bytes). Copyable value; thread-safe.
class SigningPublicKey {
 public:
  // Empty: verifies nothing (every Verify fails). For default-constructed
  // holders; real keys come from FromBytes or FromHex.
  SigningPublicKey() = default;
  // INVALID_ARGUMENT unless 32 bytes.
  static absl::StatusOr<SigningPublicKey> FromBytes(std::string_view bytes);
  // From 64 hex digits (as printed by ToHex); INVALID_ARGUMENT otherwise.
  static absl::StatusOr<SigningPublicKey> FromHex(std::string_view hex);

  // OK if `signature` is a valid Ed25519 signature of `message` under this
  // key; DATA_LOSS otherwise (the message or the signature was altered, or
  // another key signed it).
  absl::Status Verify(std::string_view message,
                      std::string_view signature) const;

  const std::string& bytes() const { return bytes_; }
  std::string ToHex() const;
  friend bool operator==(const SigningPublicKey& a, const SigningPublicKey& b) {
    return a.bytes_ == b.bytes_;
  }
  friend bool operator!=(const SigningPublicKey& a, const SigningPublicKey& b) {
    return !(a == b);
  }

 private:
  friend class SigningKey;
  explicit SigningPublicKey(std::string bytes) : bytes_(std::move(bytes)) {}
  std::string bytes_;
};

// An Ed25519 signing key. Move-only; thread-safe for concurrent const use
// (Sign). The secret half is held in crypto::SecretBytes and never printed.
class SigningKey {
 public:
  // A fresh key pair. Call crypto::Init() first.
  static SigningKey Generate();
  // The key pair of a 32-byte seed (crypto_sign_seed_keypair);
  // INVALID_ARGUMENT otherwise.
  static absl::StatusOr<SigningKey> FromSeed(std::string_view seed);

  // Reads a signing key file ("linkd-release-signing-key: v1", "seed: <64
  // hex>", "public-key: <64 hex>"). Returns NOT_FOUND if missing,
  // PERMISSION_DENIED if group or others may access it, INVALID_ARGUMENT if
  // malformed or if the public key does not belong to the seed, INTERNAL on
  // other I/O errors.
  static absl::StatusOr<SigningKey> ReadFile(const std::string& path);
  // Writes a new key file, mode 0600, synced. ALREADY_EXISTS if `path`
  // exists; PERMISSION_DENIED or INTERNAL on I/O errors.
  absl::Status WriteFile(const std::string& path) const;
  // Reads `path`, or creates it with a fresh key if it does not exist (a
  // concurrent creator wins). Errors as ReadFile and WriteFile.
  static absl::StatusOr<SigningKey> LoadOrCreate(const std::string& path);

  // The detached Ed25519 signature (64 bytes) of `message`. Callers put a
  // domain prefix of their own in `message`.
  std::string Sign(std::string_view message) const;

  const SigningPublicKey& public_key() const { return public_key_; }

  // Never reveals the secret.
  template <typename Sink>
  friend void AbslStringify(Sink& sink, const SigningKey&) {
    sink.Append("[REDACTED]");
  }
  friend std::ostream& operator<<(std::ostream& os, const SigningKey&) {
    return os << "[REDACTED]";
  }

 private:
  SigningKey(crypto::SecretBytes secret, SigningPublicKey public_key)
      : secret_(std::move(secret)), public_key_(std::move(public_key)) {}
  crypto::SecretBytes secret_;  // crypto_sign secret key (seed || public)
  SigningPublicKey public_key_;
};

}  // namespace linkd::extract

#endif  // LINKD_EXTRACT_SIGNING_KEY_H_
