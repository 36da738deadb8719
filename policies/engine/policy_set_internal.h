// Internal: the compiled form of a policy set, shared by the loader
// (loader.cc), the evaluator (evaluator.cc), the test runner and reports.
// Not part of the public API; may change freely.
#ifndef LINKD_POLICIES_ENGINE_POLICY_SET_INTERNAL_H_
#define LINKD_POLICIES_ENGINE_POLICY_SET_INTERNAL_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "linkd/policy/v1/policy.pb.h"
#include "policies/engine/decision.h"
#include "policies/engine/org_id.h"
#include "policies/engine/policy_hash.h"
#include "policies/engine/policy_set.h"
#include "policies/engine/vocabulary.h"

namespace linkd::policy::internal {

// Where an entry was written; line and column count from 1.
struct Location {
  std::string file;
  int line = 0;
  int column = 0;
  // "file:line:column", or just "file" if the position is unknown.
  std::string ToString() const;
};

template <typename E>
constexpr uint32_t Bit(E e) {
  return uint32_t{1} << static_cast<uint32_t>(e);
}

struct CompiledOrganisation {
  OrgId id;
  OrganisationInfo info;
  uint32_t role_mask = 0;
  Location where;
};

struct CompiledPurpose {
  PurposeInfo info;
};

struct Condition {
  Predicate predicate;
  bool negated = false;
};

struct CompiledRule {
  std::string id;
  bool forbid = false;
  std::string description;
  Location where;
  uint32_t action_mask = 0;
  std::vector<int> purposes;  // indices into CompiledPolicy::purposes
  // Zero means "any".
  uint32_t requester_role_mask = 0;
  uint32_t requester_kind_mask = 0;
  uint32_t recipient_role_mask = 0;
  uint32_t recipient_kind_mask = 0;
  std::vector<OrgId> requester_orgs;
  std::vector<OrgId> recipient_orgs;
  std::vector<std::string> fields;
  std::vector<Condition> conditions;
};

struct CompiledTest {
  std::string name;
  Location where;
  Request request;
  SubjectFacts facts;
  bool expect_allowed = false;
  std::string expect_deciding_rule;
  std::vector<std::string> expect_notes;
};

struct CompiledPolicy {
  std::string name;
  std::string version;
  std::string description;
  std::string hash;
  std::string hash_hex;
  std::vector<std::string> files;

  std::vector<CompiledOrganisation> organisations;
  absl::flat_hash_map<std::string, int> exact_organisations;
  std::array<int, kOrgKindCount> kind_patterns;  // -1 when absent

  std::vector<PurposeInfo> purposes;
  absl::flat_hash_map<std::string, int> purpose_index;

  std::vector<CompiledRule> rules;
  // Indices of the rules covering each action, so evaluation looks only at
  // candidates.
  std::array<std::vector<int>, kActionCount> rules_by_action;

  std::vector<CompiledTest> tests;

  // The organisation entry for an exact id, or nullptr.
  const CompiledOrganisation* FindOrganisation(const OrgId& id) const;
};

// The purpose guards' ids: "purpose:<purpose id>:<guard>".
inline constexpr absl::string_view kGuardConsent = "consent";
inline constexpr absl::string_view kGuardObjection = "objection";
inline constexpr absl::string_view kGuardOptOut = "opt-out";
inline constexpr absl::string_view kGuardProject = "project";
inline constexpr absl::string_view kGuardFields = "fields";
std::string GuardId(absl::string_view purpose, absl::string_view guard);

// The compiled form of a loaded set (defined in policy_set.cc; declared
// in policy_set.h as the set's friend).
const CompiledPolicy& CompiledOf(const PolicySet& set);

// Reads the policy files under `dir` (see PolicySet::LoadDir).
absl::StatusOr<std::vector<PolicySourceFile>> ReadPolicyDir(
    const std::string& dir);

// Parses and checks `files`; errors show each file as display_prefix + name.
absl::StatusOr<std::unique_ptr<CompiledPolicy>> Compile(
    std::vector<PolicySourceFile> files, absl::string_view display_prefix);

}  // namespace linkd::policy::internal

#endif  // LINKD_POLICIES_ENGINE_POLICY_SET_INTERNAL_H_
