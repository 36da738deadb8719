// Per-project pseudonyms for research extracts. The research release key
// K_res never leaves linkd's release component; each project gets its own
// key derived from it, so the same child has the same pseudonym in every
// extract of one project and unrelated pseudonyms in two projects, and no
// pseudonym can be traced back to a SUI without K_res.
//
// Derivation (version 1; linkd/extract/README.md):
//   K_proj = BLAKE2b-256(key = K_res,
//                        "linkd-extract-project-v1" || 0x00 || project_id)
//   K_pseu = crypto_kdf_derive_from_key(32, subkey_id = 1,
//                                       ctx = "LXPSEUDO", key = K_proj)
//   bits   = first 80 bits of BLAKE2b-128(key = K_pseu, BE64(sui_bits))
//   pseudonym = 16 Crockford base-32 characters of `bits` plus one Luhn
//               mod-32 check character, e.g. "3F0MZ8W1Q9KD7T2RX".
#ifndef LINKD_EXTRACT_PSEUDONYM_H_
#define LINKD_EXTRACT_PSEUDONYM_H_

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto/secret_bytes.h"

namespace linkd::extract {

inline constexpr size_t kReleaseKeyBytes = 32;
// Characters of a printed pseudonym (16 data + 1 check).
inline constexpr size_t kPseudonymChars = 17;

class ProjectPseudonymizer;

// The research release key K_res. Move-only; not thread-safe to mutate,
// const use (ForProject) is thread-safe.
class ReleaseKey {
 public:
  // A fresh random key (randombytes_buf). Call crypto::Init() first.
  static ReleaseKey Generate();
  // A key from raw bytes; INVALID_ARGUMENT unless 32 bytes.
  static absl::StatusOr<ReleaseKey> FromBytes(std::string_view bytes);

  // Reads a release key file ("linkd-release-key: v1" and "key: <64 hex>").
  // Returns NOT_FOUND if missing, PERMISSION_DENIED if group or others may
  // access it, INVALID_ARGUMENT (naming the line, never its content) if
  // malformed, INTERNAL on other I/O errors. Never prints the key.
  static absl::StatusOr<ReleaseKey> ReadFile(const std::string& path);
  // Writes a new key file, mode 0600, synced. ALREADY_EXISTS if `path`
  // exists; PERMISSION_DENIED or INTERNAL on I/O errors.
  absl::Status WriteFile(const std::string& path) const;
  // Reads `path`, or if it does not exist generates a key and writes it
  // there (a concurrent creator wins: its key is read back). Errors as
  // ReadFile and WriteFile. Note: a lost key file means new pseudonyms for
  // every project; keep it in the backups of the release component.
  static absl::StatusOr<ReleaseKey> LoadOrCreate(const std::string& path);

  // The pseudonymizer of one project. `project_id` is compared byte for
  // byte (the caller canonicalises it): 1 to 128 printable ASCII characters
  // without spaces, otherwise INVALID_ARGUMENT.
  absl::StatusOr<ProjectPseudonymizer> ForProject(
      std::string_view project_id) const;

  // Never reveals the key (AbslStringify on abseil releases with it, and
  // operator<< for GoogleTest and streams).
  template <typename Sink>
  friend void AbslStringify(Sink& sink, const ReleaseKey&) {
    sink.Append("[REDACTED]");
  }
  friend std::ostream& operator<<(std::ostream& os, const ReleaseKey&) {
    return os << "[REDACTED]";
  }

 private:
  explicit ReleaseKey(crypto::SecretBytes key) : key_(std::move(key)) {}
  crypto::SecretBytes key_;
};

// Pseudonyms of one project. Holds the project's derived key (wiped on
// destruction). Move-only; thread-safe for concurrent const use.
class ProjectPseudonymizer {
 public:
  // The printed pseudonym of the SUI with these bits (linker::Sui::bits()).
  // Deterministic: same key, project and SUI give the same pseudonym.
  // INVALID_ARGUMENT if `sui_bits` is 0 (the null SUI names nobody).
  absl::StatusOr<std::string> Pseudonym(uint64_t sui_bits) const;

  const std::string& project_id() const { return project_id_; }

 private:
  friend class ReleaseKey;
  ProjectPseudonymizer(std::string project_id, crypto::SecretBytes key)
      : project_id_(std::move(project_id)), key_(std::move(key)) {}
  std::string project_id_;
  crypto::SecretBytes key_;
};

// OK if `text` has the form of a pseudonym (17 Crockford base-32 characters,
// upper case, check character right); INVALID_ARGUMENT naming the problem
// otherwise (the message never echoes the input). Needs no key: it lets a
// researcher catch a mangled identifier column. Thread-safe.
absl::Status CheckPseudonym(std::string_view text);

}  // namespace linkd::extract

#endif  // LINKD_EXTRACT_PSEUDONYM_H_
