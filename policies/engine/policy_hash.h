// The policy set hash recorded in every decision and audit entry.
//
// hash = SHA-256( for each file, in byte-wise order of its name:
//                   u64be(len(name)) || name || u64be(len(bytes)) || bytes )
// where `name` is the file's path relative to the policy directory with '/'
// separators (e.g. "purposes/research_extract.textproto") and `bytes` its
// exact contents. Length prefixes make the concatenation unambiguous, so two
// different sets of files cannot share an input. policies/README.md shows how
// to recompute it with a few lines of Python.
#ifndef LINKD_POLICIES_ENGINE_POLICY_HASH_H_
#define LINKD_POLICIES_ENGINE_POLICY_HASH_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace linkd::policy {

// One policy file: its name relative to the policy directory and its bytes.
struct PolicySourceFile {
  std::string name;
  std::string contents;
};

// Returns the 32-byte hash of `files` (in any order; they are sorted by
// name here). Returns INVALID_ARGUMENT if two files share a name, INTERNAL
// if libsodium cannot be initialised. Thread-safe.
absl::StatusOr<std::string> ComputePolicyHash(
    std::vector<PolicySourceFile> files);

// Lower-case hex of `bytes`.
std::string HexEncode(absl::string_view bytes);

}  // namespace linkd::policy

#endif  // LINKD_POLICIES_ENGINE_POLICY_HASH_H_
