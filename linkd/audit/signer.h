// Ed25519 signing of the audit log's checkpoints, as C2SP signed notes
// (https://c2sp.org/signed-note, the format of Go's golang.org/x/mod/sumdb/
// note and of transparency-dev witnesses), so that standard tools can check
// linkd's checkpoints.
//
// A signed note is its text (ending in a newline), a blank line, then one or
// more signature lines:
//   "\u2014 " <key name> " " base64(key ID (4 bytes, big-endian) || signature)
// where the Ed25519 signature (RFC 8032, libsodium crypto_sign) is over the
// text, and key ID = SHA-256(key name || "\n" || 0x01 || public key)[:4].
//
// Key strings, interchangeable with Go's note.NewSigner / note.NewVerifier:
//   signer key (the key file, secret):
//     "PRIVATE+KEY+" <name> "+" <key ID, 8 hex> "+" base64(0x01 || seed)
//   verifier key (public, for the IG team):
//     <name> "+" <key ID, 8 hex> "+" base64(0x01 || public key)
// The 32-byte seed determines the key pair; it lives only in
// crypto::SecretBytes and wiped buffers, and is never printed.
#ifndef LINKD_AUDIT_SIGNER_H_
#define LINKD_AUDIT_SIGNER_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto/secret_bytes.h"

namespace linkd::audit {

// Holds an Ed25519 key pair and signs notes. Move-only. Const methods are
// thread-safe (signing is a pure function of the key and the text).
class AuditSigner {
 public:
  // A new random key pair named `name`. Returns INVALID_ARGUMENT if `name`
  // is not a valid key name (non-empty, printable ASCII without spaces or
  // '+'), INTERNAL if libsodium cannot be initialised.
  static absl::StatusOr<AuditSigner> Generate(std::string_view name);
  // The key pair derived from a 32-byte seed (known-answer tests, imports).
  // INVALID_ARGUMENT for a bad name or a seed that is not 32 bytes.
  static absl::StatusOr<AuditSigner> FromSeed(std::string_view name,
                                              std::string_view seed);
  // Parses a signer key string (format above). INVALID_ARGUMENT if
  // malformed or its key ID does not match; never echoes the key.
  static absl::StatusOr<AuditSigner> FromSignerKey(std::string_view key);

  // Reads the key file at `path` (one signer key line). Returns NOT_FOUND if
  // missing, PERMISSION_DENIED if the file grants any access to group or
  // others (or cannot be opened for lack of permission), INVALID_ARGUMENT if
  // it is not a regular file or is malformed, INTERNAL on other I/O errors.
  static absl::StatusOr<AuditSigner> Load(const std::string& path);
  // Load(path) if the file exists; otherwise generates a key named `name`
  // and writes it to `path` (created exclusively, mode 0600, fsync'd, as is
  // its directory). When loading, returns FAILED_PRECONDITION if the file's
  // key name is not `name`; other errors as Load and WriteFile.
  static absl::StatusOr<AuditSigner> LoadOrCreate(const std::string& path,
                                                  std::string_view name);
  // Writes the signer key to a new file at `path` (mode 0600, fsync'd).
  // ALREADY_EXISTS if `path` exists (a symbolic link counts), otherwise
  // PERMISSION_DENIED / INTERNAL on I/O errors (a partial file is removed).
  absl::Status WriteFile(const std::string& path) const;

  AuditSigner(AuditSigner&&) noexcept = default;
  AuditSigner& operator=(AuditSigner&&) noexcept = default;

  // Key name; also the origin of the checkpoints it signs.
  const std::string& name() const { return name_; }
  // Raw 32-byte Ed25519 public key.
  const std::string& public_key() const { return public_key_; }
  uint32_t key_id() const { return key_id_; }
  // The verifier key string to give to whoever checks checkpoints.
  std::string VerifierKey() const;

  // Signs `text`, which must be a valid note text (non-empty, ending in a
  // newline, UTF-8 without control characters other than newline, and no
  // line starting with the em dash of a signature). Returns the signed note
  // (text, blank line, one signature line), or INVALID_ARGUMENT.
  absl::StatusOr<std::string> SignNote(std::string_view text) const;

 private:
  AuditSigner(std::string name, crypto::SecretBytes secret_key,
              std::string public_key);
  std::string name_;
  crypto::SecretBytes secret_key_;  // libsodium's 64 bytes: seed || public
  std::string public_key_;
  uint32_t key_id_ = 0;
};

// Checks signed notes against one trusted public key. Copyable; thread-safe.
class NoteVerifier {
 public:
  // Parses a verifier key string (format above). INVALID_ARGUMENT if
  // malformed, of another algorithm, or its key ID does not match.
  static absl::StatusOr<NoteVerifier> FromVerifierKey(std::string_view key);
  // From a key name and a raw 32-byte Ed25519 public key.
  static absl::StatusOr<NoteVerifier> FromPublicKey(
      std::string_view name, std::string_view public_key);

  const std::string& name() const { return name_; }
  const std::string& public_key() const { return public_key_; }
  uint32_t key_id() const { return key_id_; }

  // Returns the text of `note` if it carries a signature by this key (same
  // name and key ID) that verifies. Signatures by other keys are ignored, as
  // the note specification requires. Returns INVALID_ARGUMENT if `note` is
  // not a well-formed signed note, UNAUTHENTICATED if it has no signature by
  // this key or that signature does not verify.
  absl::StatusOr<std::string> Open(std::string_view note) const;

 private:
  NoteVerifier(std::string name, std::string public_key);
  std::string name_;
  std::string public_key_;
  uint32_t key_id_ = 0;
};

}  // namespace linkd::audit

#endif  // LINKD_AUDIT_SIGNER_H_
