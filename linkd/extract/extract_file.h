// Encrypted research extract files and their signed manifests
// (linkd/extract/README.md has the byte layout).
//
// Release (inside linkd): ExtractWriter streams CSV rows into an encrypted
// file whose key is sealed to the researcher's public key; SignManifest
// describes the finished file in a linkd.extract.v1.Manifest and signs it
// with linkd's release signing key; WriteManifestFile stores it beside the
// extract ("<extract>.manifest").
//
// Opening (researcher side, `linkctl extract open`): ExtractReader (or
// OpenExtract for everything in memory) verifies the manifest signature,
// the file's size and hash, decrypts, checks that the stream ended with its
// final chunk (truncation) and that the row count agrees. Failures:
//   NOT_FOUND          a file is missing;
//   INVALID_ARGUMENT   not a linkd extract or manifest (bad magic), an
//                      unsupported format version, bad arguments;
//   PERMISSION_DENIED  the manifest is signed by another key than the
//                      pinned one, or the file is not sealed to this
//                      researcher key;
//   DATA_LOSS          anything altered, corrupt or truncated: the manifest
//                      (it does not parse or its signature does not
//                      verify), the file's size or hash, a chunk that fails
//                      authentication, a missing final chunk, data after
//                      it, the header row or the row count;
//   INTERNAL           other I/O errors.
// Each message names what failed and never echoes row content.
#ifndef LINKD_EXTRACT_EXTRACT_FILE_H_
#define LINKD_EXTRACT_EXTRACT_FILE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "linkd/extract/researcher_key.h"
#include "linkd/extract/signing_key.h"
#include "linkd/extract/v1/extract.pb.h"

namespace linkd::extract {

inline constexpr std::string_view kExtractMagic = "LINKDX1\n";
inline constexpr uint32_t kExtractFormatVersion = 1;
// Plaintext bytes per encrypted chunk (the last chunk may be shorter).
inline constexpr size_t kExtractChunkBytes = 64 * 1024;
// Prefix of the signed message: "linkd-extract-manifest-v1" and a NUL byte,
// then the serialized Manifest.
inline constexpr std::string_view kManifestSignatureDomain =
    std::string_view("linkd-extract-manifest-v1\0", 26);

// The conventional manifest path of an extract file: "<path>.manifest".
std::string ManifestPathFor(const std::string& extract_path);

// What the writer knows about a finished extract file.
struct ExtractFileInfo {
  std::string path;
  std::vector<std::string> columns;
  uint64_t row_count = 0;
  uint64_t file_size = 0;
  std::string blake2b_256;  // 32 bytes, of the whole file
};

// Streams CSV rows into a new encrypted extract file. Memory stays at about
// two chunks whatever the size. Not thread-safe: one thread writes.
class ExtractWriter {
 public:
  // Creates `path` (mode 0600; ALREADY_EXISTS if it exists) for the
  // researcher holding the secret key of `recipient`, with the CSV header
  // row `columns` (non-empty, distinct, non-empty UTF-8 names, else
  // INVALID_ARGUMENT). PERMISSION_DENIED or INTERNAL on I/O errors. Call
  // crypto::Init() first.
  static absl::StatusOr<std::unique_ptr<ExtractWriter>> Create(
      const std::string& path, const ResearcherPublicKey& recipient,
      std::vector<std::string> columns);

  // Removes the file unless Finish() succeeded: a release that failed half
  // way leaves nothing behind.
  ~ExtractWriter();
  ExtractWriter(const ExtractWriter&) = delete;
  ExtractWriter& operator=(const ExtractWriter&) = delete;

  // Appends one row of as many fields as there are columns, each valid
  // UTF-8 (else INVALID_ARGUMENT, the row is not written). INTERNAL on I/O
  // errors, FAILED_PRECONDITION after Finish() or after an I/O error.
  absl::Status WriteRow(absl::Span<const std::string_view> fields);

  // Writes the final chunk, syncs and closes the file (and syncs its
  // directory). Returns the file's size, hash and row count for
  // SignManifest. FAILED_PRECONDITION if already finished or failed,
  // INTERNAL on I/O errors.
  absl::StatusOr<ExtractFileInfo> Finish();

  uint64_t row_count() const { return rows_; }

 private:
  struct Stream;
  ExtractWriter(std::string path, std::vector<std::string> columns, int fd,
                std::unique_ptr<Stream> stream);
  absl::Status Append(std::string_view bytes);
  absl::Status FlushChunk(bool final);
  absl::Status WriteAll(std::string_view bytes);

  std::string path_;
  std::vector<std::string> columns_;
  int fd_;
  std::unique_ptr<Stream> stream_;
  std::string plain_;   // at most kExtractChunkBytes pending plaintext
  std::string cipher_;  // scratch for one encrypted chunk
  std::string row_;     // scratch for one CSV row
  uint64_t rows_ = 0;
  uint64_t bytes_written_ = 0;
  bool finished_ = false;
  absl::Status error_;
};

// Completes `manifest` from `file` and signs it with `key`. The caller sets
// project_id, request_id, approval_id, approver, policy_version,
// policy_hash (each non-empty), suppression_threshold (>= 1), created_micros
// (> 0), and optionally coarsenings (each naming a column) and
// linkage_quality; `fields` is either left empty (then set to the file's
// columns) or must equal them. This sets format_version, row_count,
// file_name, file_size, file_blake2b_256 and signing_public_key. Returns
// INVALID_ARGUMENT naming the first missing or inconsistent field.
// Thread-safe.
absl::StatusOr<v1::SignedManifest> SignManifest(v1::Manifest manifest,
                                                const ExtractFileInfo& file,
                                                const SigningKey& key);

// Writes the serialized manifest to a new file (mode 0600, synced).
// ALREADY_EXISTS if `path` exists, PERMISSION_DENIED or INTERNAL on I/O
// errors. Thread-safe.
absl::Status WriteManifestFile(const v1::SignedManifest& manifest,
                               const std::string& path);

// A manifest whose signature verified.
struct VerifiedManifest {
  v1::Manifest manifest;
  SigningPublicKey signer;
  // False when no key was pinned and the manifest's own key was used: the
  // signature then only shows the manifest is intact, not that linkd made
  // it. Callers should say so.
  bool signer_pinned = false;
};

// Reads and verifies a manifest file. With `expected_signer` the signature
// must verify under that key (PERMISSION_DENIED if the manifest is validly
// signed by another key); without it, under the manifest's own
// signing_public_key (reported as unpinned). NOT_FOUND, DATA_LOSS (does not
// parse, signature does not verify), INVALID_ARGUMENT (unsupported format
// version), INTERNAL. Thread-safe.
absl::StatusOr<VerifiedManifest> ReadManifestFile(
    const std::string& path,
    const std::optional<SigningPublicKey>& expected_signer);

// Reads a verified extract row by row. Not thread-safe.
class ExtractReader {
 public:
  // Verifies the manifest (as ReadManifestFile), then the file's size and
  // BLAKE2b-256 against it, then its header, then opens the sealed key with
  // `key` and reads the CSV header row, which must equal the manifest's
  // fields. Errors as in the file comment.
  static absl::StatusOr<std::unique_ptr<ExtractReader>> Open(
      const std::string& extract_path, const std::string& manifest_path,
      const ResearcherSecretKey& key,
      const std::optional<SigningPublicKey>& expected_signer);
  ~ExtractReader();
  ExtractReader(const ExtractReader&) = delete;
  ExtractReader& operator=(const ExtractReader&) = delete;

  // The next data row into `*row` (as many fields as columns()); true if a
  // row was read, false at the end, after checking the final chunk, that
  // nothing follows it, the row count, and that the file hashed the same
  // while it was decrypted. Rows are authenticated chunk by chunk; the
  // extract as a whole is verified only once Next returns false (OK).
  // DATA_LOSS as in the file comment, INTERNAL on I/O errors;
  // FAILED_PRECONDITION after an error.
  absl::StatusOr<bool> Next(std::vector<std::string>* row);

  const v1::Manifest& manifest() const { return verified_.manifest; }
  const SigningPublicKey& signer() const { return verified_.signer; }
  bool signer_pinned() const { return verified_.signer_pinned; }
  const std::vector<std::string>& columns() const { return columns_; }

 private:
  struct Stream;
  explicit ExtractReader(VerifiedManifest verified);
  absl::Status ReadChunk();
  absl::StatusOr<bool> ParseRow(std::vector<std::string>* row);
  absl::Status Fail(absl::Status s);

  VerifiedManifest verified_;
  int fd_ = -1;
  std::unique_ptr<Stream> stream_;
  std::string header_;   // the 16-byte preamble, the chunks' additional data
  std::string pending_;  // decrypted, not yet parsed
  size_t pending_pos_ = 0;
  std::string cipher_;
  std::vector<std::string> columns_;
  uint64_t rows_ = 0;
  uint64_t chunks_ = 0;
  bool final_seen_ = false;
  bool done_ = false;
  absl::Status error_;
};

// A whole verified extract in memory (small extracts and tests; use
// ExtractReader for large ones).
struct OpenedExtract {
  v1::Manifest manifest;
  SigningPublicKey signer;
  bool signer_pinned = false;
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
};

// Opens, verifies and reads a whole extract (ExtractReader::Open and Next
// until the end). Errors as ExtractReader. Thread-safe.
absl::StatusOr<OpenedExtract> OpenExtract(
    const std::string& extract_path, const std::string& manifest_path,
    const ResearcherSecretKey& key,
    const std::optional<SigningPublicKey>& expected_signer);

}  // namespace linkd::extract

#endif  // LINKD_EXTRACT_EXTRACT_FILE_H_
