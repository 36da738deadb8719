// The closed vocabularies of linkd's policy language: roles, actions,
// organisation kinds, condition predicates and disclosable field names.
// Policy files name them as strings; the loader accepts only these.
#ifndef LINKD_POLICIES_ENGINE_VOCABULARY_H_
#define LINKD_POLICIES_ENGINE_VOCABULARY_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/strings/string_view.h"

namespace linkd::policy {

// A role an organisation holds. Roles come from the policy set's
// organisations, never from a request.
enum class Role : uint8_t {
  kProvider,    // submits records and events
  kRecipient,   // receives notifications and flags
  kIgOfficer,   // approves extracts, records consent and objections
  kResearcher,  // requests and receives research extracts
  kAuditor,     // reads the audit log
  kAdmin,       // operates the daemon (e.g. reloads policy)
};
inline constexpr int kRoleCount = 6;

// Returns the policy-file name of `role` ("ig_officer"); never empty.
absl::string_view RoleName(Role role);
// Returns the role named `name`, or nullopt if there is none.
std::optional<Role> ParseRole(absl::string_view name);
// Every role, in declaration order.
const std::vector<Role>& AllRoles();

// What a request asks to do. kUnspecified is never valid in a request.
enum class Action : uint8_t {
  kUnspecified,
  kNotificationSend,  // "notification.send": deliver an event notification
  kFlagSend,          // "flag.send": set or withdraw a has-social-worker flag
  kExtractRequest,    // "extract.request": a researcher asks for an extract
  kExtractApprove,    // "extract.approve": an IG officer approves one
  kExtractRelease,    // "extract.release": linkd releases an approved extract
  kConsentRecord,     // "consent.record": record consent/objection/opt-out
  kAuditRead,         // "audit.read": read the audit log or a subject's uses
  kPolicyReload,      // "policy.reload": load the policy files again
};
inline constexpr int kActionCount = 9;  // including kUnspecified

// Returns "notification.send" etc.; "unspecified" for kUnspecified.
absl::string_view ActionName(Action action);
// Returns the action named `name`, or nullopt (also for "unspecified").
std::optional<Action> ParseAction(absl::string_view name);
// True if the action discloses data to a recipient, so a request for it
// must name one.
bool ActionNeedsRecipient(Action action);
// Every valid action (kUnspecified excluded), in declaration order.
const std::vector<Action>& AllActions();

// The kind of an organisation: the first segment of its id.
enum class OrgKind : uint8_t { kSchool, kLa, kHealth, kResearch };
inline constexpr int kOrgKindCount = 4;
// Returns "school", "la", "health" or "research".
absl::string_view OrgKindName(OrgKind kind);
// Returns the kind named `name`, or nullopt.
std::optional<OrgKind> ParseOrgKind(absl::string_view name);

// A named condition on the request's facts (see policies/README.md for the
// exact meaning of each).
enum class Predicate : uint8_t {
  kObjectionRecorded,
  kOptOutRecorded,
  kConsentRecorded,
  kInRefuge,
  kLookedAfter,
  kHasOpenEpisode,
  kRecipientHoldsOpenEpisode,
  kRecipientIsCurrentSchool,
  kRecipientIsVirtualSchoolForChild,
  kRecipientHasCareRelationship,
  kRecipientIsVirtualSchool,
  kProjectApproved,
  kRequesterIsProjectOrg,
  kRecipientIsProjectOrg,
  kRequesterIsExtractRequester,
  kExtractApproved,
};
inline constexpr int kPredicateCount = 16;

// Returns the policy-file name of `p` ("in_refuge").
absl::string_view PredicateName(Predicate p);
// Returns the predicate named `name`, or nullopt.
std::optional<Predicate> ParsePredicate(absl::string_view name);
// A one-line plain-language meaning of `p`, for reports.
absl::string_view PredicateMeaning(Predicate p);

// True if `name` is a field a disclosure may contain (e.g. "event_type",
// "year_group").
bool IsKnownField(absl::string_view name);
// Every known field name, sorted.
const std::vector<absl::string_view>& AllFields();

}  // namespace linkd::policy

#endif  // LINKD_POLICIES_ENGINE_VOCABULARY_H_
