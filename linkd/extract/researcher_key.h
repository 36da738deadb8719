// Researcher key pairs (libsodium crypto_box, X25519): an extract's file key
// is sealed to the researcher's public key (crypto_box_seal), so only the
// holder of the secret key can open it. The researcher generates the pair
// (a future `linkctl extract keygen`), keeps the secret file (0600) and
// gives the public file to the IG team with the request.
#ifndef LINKD_EXTRACT_RESEARCHER_KEY_H_
#define LINKD_EXTRACT_RESEARCHER_KEY_H_

#include <cstddef>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto/secret_bytes.h"

namespace linkd::extract {

inline constexpr size_t kResearcherPublicKeyBytes = 32;
inline constexpr size_t kResearcherSecretKeyBytes = 32;

// A researcher's public key. Copyable value; thread-safe.
class ResearcherPublicKey {
 public:
  // INVALID_ARGUMENT unless 32 bytes.
  static absl::StatusOr<ResearcherPublicKey> FromBytes(std::string_view bytes);
  // Reads a public key file ("linkd-researcher-public-key: v1",
  // "public-key: <64 hex>"). NOT_FOUND, INVALID_ARGUMENT (malformed),
  // PERMISSION_DENIED or INTERNAL (I/O).
  static absl::StatusOr<ResearcherPublicKey> ReadFile(const std::string& path);
  // Writes a new public key file (mode 0644). ALREADY_EXISTS if `path`
  // exists; PERMISSION_DENIED or INTERNAL on I/O errors.
  absl::Status WriteFile(const std::string& path) const;

  const std::string& bytes() const { return bytes_; }
  // 64 lower-case hex digits, to compare by eye or by phone.
  std::string ToHex() const;
  friend bool operator==(const ResearcherPublicKey& a,
                         const ResearcherPublicKey& b) {
    return a.bytes_ == b.bytes_;
  }

 private:
  friend class ResearcherSecretKey;
  explicit ResearcherPublicKey(std::string bytes) : bytes_(std::move(bytes)) {}
  std::string bytes_;
};

// A researcher's secret key with its public key. Move-only; thread-safe for
// concurrent const use. Never printed.
class ResearcherSecretKey {
 public:
  // Reads a secret key file ("linkd-researcher-secret-key: v1",
  // "secret-key: <64 hex>", "public-key: <64 hex>"). NOT_FOUND,
  // PERMISSION_DENIED if group or others may access it, INVALID_ARGUMENT if
  // malformed or if the public key does not belong to the secret key,
  // INTERNAL on other I/O errors.
  static absl::StatusOr<ResearcherSecretKey> ReadFile(const std::string& path);
  // Writes a new secret key file (mode 0600). ALREADY_EXISTS if `path`
  // exists; PERMISSION_DENIED or INTERNAL on I/O errors.
  absl::Status WriteFile(const std::string& path) const;

  // A fresh key pair (crypto_box_keypair). Call crypto::Init() first.
  static ResearcherSecretKey Generate();

  const crypto::SecretBytes& secret() const { return secret_; }
  const ResearcherPublicKey& public_key() const { return public_key_; }

  // Never reveals the secret.
  template <typename Sink>
  friend void AbslStringify(Sink& sink, const ResearcherSecretKey&) {
    sink.Append("[REDACTED]");
  }
  friend std::ostream& operator<<(std::ostream& os,
                                  const ResearcherSecretKey&) {
    return os << "[REDACTED]";
  }

 private:
  ResearcherSecretKey(crypto::SecretBytes secret, ResearcherPublicKey pk)
      : secret_(std::move(secret)), public_key_(std::move(pk)) {}
  crypto::SecretBytes secret_;
  ResearcherPublicKey public_key_;
};

// Generates a researcher key pair and writes the public file (0644,
// shareable) and the secret file (0600). Refuses to overwrite: returns
// ALREADY_EXISTS if either file exists (nothing is written then), and
// PERMISSION_DENIED or INTERNAL on I/O errors (no half pair is left
// behind). Returns the public key, e.g. to print its hex. Thread-safe.
absl::StatusOr<ResearcherPublicKey> GenerateResearcherKeyPair(
    const std::string& public_key_path, const std::string& secret_key_path);

}  // namespace linkd::extract

#endif  // LINKD_EXTRACT_RESEARCHER_KEY_H_
