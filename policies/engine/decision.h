// The policy engine's input (Request, SubjectFacts) and output (Decision).
// All are plain value types, safe to copy and to move between threads.
#ifndef LINKD_POLICIES_ENGINE_DECISION_H_
#define LINKD_POLICIES_ENGINE_DECISION_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "linkd/policy/v1/policy.pb.h"
#include "policies/engine/vocabulary.h"

namespace linkd::policy {

// The deciding rule id when no rule permits a request.
inline constexpr absl::string_view kDefaultDenyRuleId = "default-deny";

// What is asked. Roles are not part of a request: the engine looks them up
// from the policy set's organisations.
struct Request {
  Action action = Action::kUnspecified;
  // A purpose id from the policy set, e.g. "safeguarding_notification".
  std::string purpose;
  // Exact organisation ids, "<kind>/<id>" (see org_id.h). The recipient may
  // be empty for actions that disclose to no one (ActionNeedsRecipient).
  std::string requester;
  std::string recipient;
  // When the request is made; required (InfinitePast means "not set").
  absl::Time time = absl::InfinitePast();
  // The fields the disclosure would contain (vocabulary.h's IsKnownField);
  // empty when the action discloses no record fields.
  std::vector<std::string> fields;
};

// A research project, as the caller's project register knows it.
struct ProjectFacts {
  std::string id;  // the <id> of "research/<id>"
  bool approved = false;
  std::string ethics_reference;
  std::string data_processing_agreement;
  // Last day of the project (inclusive, UTC); nullopt means unknown, which
  // fails the project_approved condition.
  std::optional<absl::CivilDay> end_date;
};

// What the caller knows at decision time. The daemon keeps consent and
// objection records per SUI with their time bounds and lists here only the
// ones active at the request's time.
struct SubjectFacts {
  // Purpose categories (e.g. "research") or "all", with an active
  // objection, opt-out or consent for the child.
  std::vector<std::string> objections;
  std::vector<std::string> opt_outs;
  std::vector<std::string> consents;
  bool in_refuge = false;
  bool looked_after = false;
  bool has_open_episode = false;
  bool recipient_holds_open_episode = false;
  bool recipient_is_current_school = false;
  bool recipient_is_virtual_school_for_child = false;
  bool recipient_has_care_relationship = false;
  std::optional<ProjectFacts> project;
  // The organisation that requested the extract being approved/released.
  std::string extract_requested_by;
  bool extract_approved = false;
};

// The engine's answer, with everything the audit entry records.
struct Decision {
  bool allowed = false;
  // OK when allowed; otherwise INVALID_ARGUMENT (malformed request: unknown
  // purpose, bad organisation id, missing time or recipient, unknown
  // field), FAILED_PRECONDITION (stopped by a recorded objection or opt-out,
  // a missing consent, or an unapproved project), or PERMISSION_DENIED.
  absl::StatusCode code = absl::StatusCode::kPermissionDenied;
  std::string action;   // the action's name
  std::string purpose;  // as requested
  // The purpose's lawful basis as one line, e.g. "UK GDPR Art 6(1)(e)
  // public task; Art 9(2)(g) ...; DPA 2018 Sch 1 Part 2 para 18 (...)".
  // Empty if the purpose is unknown.
  std::string lawful_basis;
  // Every rule that matched, explicit ids and "purpose:<id>:<guard>" ids of
  // the purpose's own guards, sorted.
  std::vector<std::string> matched_rule_ids;
  // The rule that decided: a forbid if any matched, else a permit, else
  // kDefaultDenyRuleId. Empty only for a malformed request.
  std::string deciding_rule_id;
  // Why, in plain language.
  std::string reason;
  // Things the audit should know that did not change the outcome, e.g. "an
  // objection is recorded but does not apply to safeguarding_notification:
  // ...".
  std::vector<std::string> notes;
  // When allowed: the fields that may be disclosed (the request's fields,
  // or the purpose's disclosed fields if the request named none).
  std::vector<std::string> disclosed_fields;
  std::string policy_name;
  std::string policy_version;
  std::string policy_hash;      // raw 32-byte SHA-256 (see policy_hash.h)
  std::string policy_hash_hex;  // lower-case hex of policy_hash

  // OK if allowed, else a status with `code` and `reason` as its message.
  absl::Status ToStatus() const;
};

// Converts a policy-test request. Returns INVALID_ARGUMENT naming the field
// if the action is unknown or the time is not RFC 3339.
absl::StatusOr<Request> RequestFromProto(const v1::Request& proto);

// Converts policy-test facts. Returns INVALID_ARGUMENT if the project's
// end_date is not "YYYY-MM-DD".
absl::StatusOr<SubjectFacts> SubjectFactsFromProto(
    const v1::SubjectFacts& proto);

}  // namespace linkd::policy

#endif  // LINKD_POLICIES_ENGINE_DECISION_H_
