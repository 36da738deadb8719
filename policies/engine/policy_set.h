// PolicySet: a loaded, checked and immutable set of policy files
// (organisations, purposes, rules and their tests), and the evaluation of
// requests against it.
//
// Semantics: deny by default; a request is allowed only if some PERMIT rule
// matches and no FORBID rule (nor any of the purpose's own guards) does, so
// a forbid beats any permit whatever the order of rules and files.
#ifndef LINKD_POLICIES_ENGINE_POLICY_SET_H_
#define LINKD_POLICIES_ENGINE_POLICY_SET_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "policies/engine/decision.h"
#include "policies/engine/policy_hash.h"
#include "policies/engine/vocabulary.h"

namespace linkd::policy {

class PolicySet;
namespace internal {
struct CompiledPolicy;
const CompiledPolicy& CompiledOf(const PolicySet& set);
}  // namespace internal

// An organisation as the policy set describes it.
struct OrganisationInfo {
  // The entry that matched: the exact id, or the "<kind>/*" pattern.
  std::string entry_id;
  std::string display_name;
  std::vector<Role> roles;  // in declaration order, no duplicates
  std::string la_code;      // empty if not given
  bool virtual_school = false;
  std::vector<std::string> sources;
};

// A purpose as loaded (see proto/linkd/policy/v1/policy.proto, Purpose).
struct PurposeInfo {
  std::string id;
  std::string display_name;
  std::string description;
  std::string category;      // the id if the file gives none
  std::string lawful_basis;  // one line, as in Decision::lawful_basis
  std::string legislation;
  bool special_category_data = false;
  bool objections_apply = false;
  std::string why_objections_do_not_apply;
  bool opt_outs_apply = false;
  std::string why_opt_outs_do_not_apply;
  // True when the basis is consent (Art 6(1)(a) or Art 9(2)(a)): then a
  // recorded consent is required.
  bool requires_consent = false;
  bool requires_approved_project = false;
  int notification_expiry_days = 0;
  std::vector<std::string> disclosed_fields;
  std::string location;  // "file:line:column" of its entry
};

// The outcome of one policy test.
struct PolicyTestResult {
  std::string name;
  std::string location;  // "file:line:column" of the test
  bool passed = false;
  std::string failure;  // why it failed; empty if passed
  Decision decision;
};

// The outcome of RunPolicyTests().
struct PolicyTestReport {
  std::vector<PolicyTestResult> results;  // in file order
  int passed() const;
  int failed() const;
  // OK if every test passed; otherwise FAILED_PRECONDITION whose message
  // names each failing test with its file, line and reason.
  absl::Status ToStatus() const;
};

// Immutable after loading; every const method is safe to call concurrently
// from any number of threads. Share it as std::shared_ptr<const PolicySet>.
class PolicySet {
 public:
  // Reads every *.textproto file under `dir` (recursively, skipping
  // directories named "testdata" and hidden ones), then calls LoadFiles.
  // Returns NOT_FOUND if `dir` is not a readable directory,
  // FAILED_PRECONDITION if a file cannot be read, and otherwise what
  // LoadFiles returns, with file names shown as "<dir>/<name>".
  static absl::StatusOr<std::shared_ptr<const PolicySet>> LoadDir(
      const std::string& dir);

  // Parses and checks `files` (names relative to the policy directory).
  // Returns INVALID_ARGUMENT if there are no files, if a file is not valid
  // text format for linkd.policy.v1.PolicyFile, or if a check fails: no or
  // two policy_set headers, a duplicate id, an unknown action, role, kind,
  // condition, field or purpose, a purpose without a lawful basis, a
  // malformed policy test. The message has one line per problem (at most
  // 50), each "<file>:<line>:<column>: <reason>". Does not run the tests.
  static absl::StatusOr<std::shared_ptr<const PolicySet>> LoadFiles(
      std::vector<PolicySourceFile> files);

  ~PolicySet();
  PolicySet(const PolicySet&) = delete;
  PolicySet& operator=(const PolicySet&) = delete;

  const std::string& name() const;
  const std::string& version() const;
  // The 32-byte SHA-256 of the files (policy_hash.h) and its hex.
  const std::string& hash() const;
  const std::string& hash_hex() const;
  // The loaded files' names, sorted.
  const std::vector<std::string>& file_names() const;

  // Decides `request` given `facts`. Never fails: a malformed request is
  // denied with code INVALID_ARGUMENT (see Decision). Thread-safe.
  Decision Evaluate(const Request& request, const SubjectFacts& facts) const;

  // The roles of organisation `org_id` (exact entry, else its kind's
  // pattern); empty if it is malformed or not listed.
  std::vector<Role> Roles(absl::string_view org_id) const;
  // The description of `org_id`. Returns INVALID_ARGUMENT if `org_id` is not
  // "<kind>/<id>", NOT_FOUND if no entry matches it.
  absl::StatusOr<OrganisationInfo> Organisation(absl::string_view org_id) const;

  // The purpose `id`, or nullptr if there is none. Owned by the set.
  const PurposeInfo* FindPurpose(absl::string_view id) const;
  // Every purpose, in file order.
  const std::vector<PurposeInfo>& purposes() const;

  size_t organisation_count() const;
  size_t rule_count() const;
  size_t test_count() const;

  // Evaluates every policy test of the set. Thread-safe.
  PolicyTestReport RunPolicyTests() const;

 private:
  // For reports inside this library (check.cc).
  friend const internal::CompiledPolicy& internal::CompiledOf(
      const PolicySet& set);

  explicit PolicySet(std::unique_ptr<internal::CompiledPolicy> compiled);

  std::unique_ptr<const internal::CompiledPolicy> compiled_;
};

}  // namespace linkd::policy

#endif  // LINKD_POLICIES_ENGINE_POLICY_SET_H_
