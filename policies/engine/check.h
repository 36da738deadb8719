// Checking a policy directory as CI, `linkctl policy check` and the daemon's
// start-up do: load it, run its tests, and explain the result to a person.
#ifndef LINKD_POLICIES_ENGINE_CHECK_H_
#define LINKD_POLICIES_ENGINE_CHECK_H_

#include <memory>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "policies/engine/policy_set.h"

namespace linkd::policy {

// Loads `dir` (PolicySet::LoadDir) and runs its policy tests. Returns the
// set only if it loads and every test passes: otherwise the load error
// (NOT_FOUND, FAILED_PRECONDITION or INVALID_ARGUMENT with file:line:column
// and reason per problem) or FAILED_PRECONDITION naming each failing test's
// file, line and reason. What the daemon calls at start-up and on reload.
absl::StatusOr<std::shared_ptr<const PolicySet>> LoadAndTestPolicyDir(
    const std::string& dir);

// Like LoadAndTestPolicyDir, and writes a human report to `out`: the set's
// name, version and hash, its files, organisations, purposes with their
// lawful basis, rules, and each test passed or failed; on failure the
// problems, one per line as "file:line:column: reason". Returns the same
// status as LoadAndTestPolicyDir. Not thread-safe on `out`.
absl::Status CheckPolicyDir(const std::string& dir, std::ostream& out);

}  // namespace linkd::policy

#endif  // LINKD_POLICIES_ENGINE_CHECK_H_
