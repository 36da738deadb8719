// Internal to linkd::extract: the small versioned key files of the release
// component (release key, release signing key, researcher key pairs). One
// format for all of them, after crypto/linkage_key's key file:
//
//   # comment lines
//   <format>: v1
//   <entry>: <lower-case hex>
//   ...
//
// Every entry of the spec must appear once, with exactly its length; no
// other entry is allowed. Messages name the path and line number, never a
// value.
#ifndef LINKD_EXTRACT_INTERNAL_KEY_FILE_H_
#define LINKD_EXTRACT_INTERNAL_KEY_FILE_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "crypto/secret_bytes.h"

namespace linkd::extract::internal {

// What a key file holds.
struct KeyFileEntry {
  std::string_view name;
  size_t bytes;  // decoded length; the file holds 2 * bytes hex digits
};
struct KeyFileSpec {
  // First entry's name, e.g. "linkd-release-key"; its value must be "v1".
  std::string_view format;
  std::vector<KeyFileEntry> entries;
  // Secret files must not be readable by group or others, are created 0600,
  // and their text is wiped from memory after use. Public files are created
  // 0644 and may be readable by anyone.
  bool secret = true;
};

// Reads a key file and returns the decoded entries in the order of
// `spec.entries`. Returns NOT_FOUND if the file is missing, PERMISSION_DENIED
// if a secret file grants any permission to group or others (or cannot be
// opened for lack of permission), INVALID_ARGUMENT (naming the line, never
// its content) if malformed, not a regular file or of another format,
// INTERNAL on other I/O errors. Thread-safe.
absl::StatusOr<std::vector<crypto::SecretBytes>> ReadKeyFile(
    const std::string& path, const KeyFileSpec& spec);

// Writes a new key file: `comment` (each line already starting with "# "),
// then the format line and `values` (one per spec entry, of its length).
// Written to a temporary file in the same directory (O_EXCL | O_NOFOLLOW,
// mode 0600 for secret files or 0644) and linked into place, so that
// readers never see a partial key; synced with its directory. Returns
// ALREADY_EXISTS if `path` exists (a key is never overwritten),
// INVALID_ARGUMENT if `values` do not fit the spec, PERMISSION_DENIED or
// INTERNAL on I/O errors (a partly written file is removed). Thread-safe.
absl::Status WriteKeyFile(const std::string& path, const KeyFileSpec& spec,
                          std::string_view comment,
                          absl::Span<const std::string_view> values);

// Maps an errno value to a status: NOT_FOUND, PERMISSION_DENIED,
// ALREADY_EXISTS or INTERNAL, with "<what> <path>: <strerror>".
absl::Status ErrnoStatus(int err, std::string_view what,
                         const std::string& path);

// Syncs the directory holding `path`, so that a newly created file survives
// a crash. INTERNAL on failure.
absl::Status SyncParentDir(const std::string& path);

}  // namespace linkd::extract::internal

#endif  // LINKD_EXTRACT_INTERNAL_KEY_FILE_H_
