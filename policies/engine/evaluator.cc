// PolicySet::Evaluate. The outcome is order-independent by construction:
// all matching rules are collected, then any forbid (explicit or a
// purpose's guard) denies, then any permit allows, else deny by default.
// Which rule is reported as deciding is also order-independent: the first
// guard in a fixed order, else the smallest matching forbid id, else the
// smallest matching permit id.
#include <algorithm>
#include <array>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "policies/engine/policy_set.h"
#include "policies/engine/policy_set_internal.h"

namespace linkd::policy {
namespace {

using internal::Bit;
using internal::CompiledOrganisation;
using internal::CompiledPolicy;
using internal::CompiledRule;

// Everything a rule can be matched against, resolved once per request.
struct Context {
  const Request* request;
  int purpose_index = -1;
  const PurposeInfo* purpose = nullptr;
  OrgId requester;
  const CompiledOrganisation* requester_org = nullptr;  // null if unlisted
  bool has_recipient = false;
  OrgId recipient;
  const CompiledOrganisation* recipient_org = nullptr;
  std::array<bool, kPredicateCount> facts{};
};

bool Covers(const std::vector<std::string>& categories,
            absl::string_view category) {
  for (const std::string& c : categories) {
    if (c == category || c == "all") return true;
  }
  return false;
}

// Why project_approved fails, or "" if it holds.
std::string ProjectProblem(const SubjectFacts& facts, absl::Time now) {
  if (!facts.project.has_value()) return "no research project is given";
  const ProjectFacts& p = *facts.project;
  if (!p.approved) return "the project is not approved";
  if (p.ethics_reference.empty()) return "the project has no ethics reference";
  if (p.data_processing_agreement.empty()) {
    return "the project has no data processing agreement";
  }
  if (!p.end_date.has_value()) return "the project has no end date";
  const absl::Time after_end =
      absl::FromCivil(*p.end_date + 1, absl::UTCTimeZone());
  if (now >= after_end) {
    return absl::StrCat("the project ended on ",
                        absl::FormatCivilTime(*p.end_date));
  }
  return "";
}

bool IsProjectOrg(const SubjectFacts& facts, const OrgId& org, bool present) {
  return present && facts.project.has_value() && !facts.project->id.empty() &&
         org.kind == OrgKind::kResearch && org.local == facts.project->id;
}

void ResolveFacts(const SubjectFacts& f, Context* c) {
  auto set = [c](Predicate p, bool v) { c->facts[static_cast<size_t>(p)] = v; };
  const std::string& category = c->purpose->category;
  set(Predicate::kObjectionRecorded, Covers(f.objections, category));
  set(Predicate::kOptOutRecorded, Covers(f.opt_outs, category));
  set(Predicate::kConsentRecorded, Covers(f.consents, category));
  set(Predicate::kInRefuge, f.in_refuge);
  set(Predicate::kLookedAfter, f.looked_after);
  set(Predicate::kHasOpenEpisode, f.has_open_episode);
  set(Predicate::kRecipientHoldsOpenEpisode, f.recipient_holds_open_episode);
  set(Predicate::kRecipientIsCurrentSchool, f.recipient_is_current_school);
  set(Predicate::kRecipientIsVirtualSchoolForChild,
      f.recipient_is_virtual_school_for_child);
  set(Predicate::kRecipientHasCareRelationship,
      f.recipient_has_care_relationship);
  set(Predicate::kRecipientIsVirtualSchool,
      c->recipient_org != nullptr && c->recipient_org->info.virtual_school);
  set(Predicate::kProjectApproved, ProjectProblem(f, c->request->time).empty());
  set(Predicate::kRequesterIsProjectOrg,
      IsProjectOrg(f, c->requester, /*present=*/true));
  set(Predicate::kRecipientIsProjectOrg,
      IsProjectOrg(f, c->recipient, c->has_recipient));
  set(Predicate::kRequesterIsExtractRequester,
      !f.extract_requested_by.empty() &&
          f.extract_requested_by == c->request->requester);
  set(Predicate::kExtractApproved, f.extract_approved);
}

bool AnyOrgMatches(const std::vector<OrgId>& patterns, const OrgId& id) {
  for (const OrgId& p : patterns) {
    if (OrgPatternMatches(p, id)) return true;
  }
  return false;
}

bool Matches(const CompiledRule& r, const Context& c) {
  if (!r.purposes.empty() && std::find(r.purposes.begin(), r.purposes.end(),
                                       c.purpose_index) == r.purposes.end()) {
    return false;
  }
  const uint32_t requester_roles =
      c.requester_org == nullptr ? 0 : c.requester_org->role_mask;
  if (r.requester_role_mask != 0 &&
      (r.requester_role_mask & requester_roles) == 0) {
    return false;
  }
  if (r.requester_kind_mask != 0 &&
      (r.requester_kind_mask & Bit(c.requester.kind)) == 0) {
    return false;
  }
  if (!r.requester_orgs.empty() &&
      !AnyOrgMatches(r.requester_orgs, c.requester)) {
    return false;
  }
  if (r.recipient_role_mask != 0 || r.recipient_kind_mask != 0 ||
      !r.recipient_orgs.empty()) {
    if (!c.has_recipient) return false;
    const uint32_t recipient_roles =
        c.recipient_org == nullptr ? 0 : c.recipient_org->role_mask;
    if (r.recipient_role_mask != 0 &&
        (r.recipient_role_mask & recipient_roles) == 0) {
      return false;
    }
    if (r.recipient_kind_mask != 0 &&
        (r.recipient_kind_mask & Bit(c.recipient.kind)) == 0) {
      return false;
    }
    if (!r.recipient_orgs.empty() &&
        !AnyOrgMatches(r.recipient_orgs, c.recipient)) {
      return false;
    }
  }
  if (!r.fields.empty()) {
    bool any = false;
    for (const std::string& f : c.request->fields) {
      if (std::find(r.fields.begin(), r.fields.end(), f) != r.fields.end()) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  for (const internal::Condition& cond : r.conditions) {
    if (c.facts[static_cast<size_t>(cond.predicate)] == cond.negated) {
      return false;
    }
  }
  return true;
}

// A forbid rule that turns on the child's recorded wishes or the project
// register states a precondition, not a lack of permission.
bool IsPreconditionRule(const CompiledRule& r) {
  for (const internal::Condition& c : r.conditions) {
    if ((!c.negated && (c.predicate == Predicate::kObjectionRecorded ||
                        c.predicate == Predicate::kOptOutRecorded)) ||
        (c.negated && (c.predicate == Predicate::kConsentRecorded ||
                       c.predicate == Predicate::kProjectApproved))) {
      return true;
    }
  }
  return false;
}

struct Guard {
  std::string id;
  std::string reason;
  absl::StatusCode code;
};

// The purpose's own forbids, in the fixed order they are reported in.
std::vector<Guard> PurposeGuards(const Context& c, const SubjectFacts& facts) {
  const PurposeInfo& p = *c.purpose;
  std::vector<Guard> guards;
  auto fact = [&c](Predicate pr) { return c.facts[static_cast<size_t>(pr)]; };
  if (p.requires_consent && !fact(Predicate::kConsentRecorded)) {
    guards.push_back(
        {internal::GuardId(p.id, internal::kGuardConsent),
         absl::StrCat(p.id, " relies on consent (", p.lawful_basis,
                      ") and no active consent is recorded for category \"",
                      p.category, "\""),
         absl::StatusCode::kFailedPrecondition});
  }
  if (p.objections_apply && fact(Predicate::kObjectionRecorded)) {
    guards.push_back(
        {internal::GuardId(p.id, internal::kGuardObjection),
         absl::StrCat("an objection is recorded for this child (category \"",
                      p.category, "\") and objections apply to ", p.id),
         absl::StatusCode::kFailedPrecondition});
  }
  if (p.opt_outs_apply && fact(Predicate::kOptOutRecorded)) {
    guards.push_back(
        {internal::GuardId(p.id, internal::kGuardOptOut),
         absl::StrCat("an opt-out is recorded for this child (category \"",
                      p.category, "\") and opt-outs apply to ", p.id),
         absl::StatusCode::kFailedPrecondition});
  }
  if (p.requires_approved_project) {
    std::string problem = ProjectProblem(facts, c.request->time);
    if (!problem.empty()) {
      guards.push_back(
          {internal::GuardId(p.id, internal::kGuardProject),
           absl::StrCat(p.id,
                        " needs an approved research project with an ethics "
                        "reference, a data processing agreement and an end "
                        "date not yet passed: ",
                        problem),
           absl::StatusCode::kFailedPrecondition});
    }
  }
  for (const std::string& f : c.request->fields) {
    if (std::find(p.disclosed_fields.begin(), p.disclosed_fields.end(), f) ==
        p.disclosed_fields.end()) {
      guards.push_back(
          {internal::GuardId(p.id, internal::kGuardFields),
           absl::StrCat("field \"", f, "\" may not be disclosed for ", p.id,
                        " (it may disclose: ",
                        absl::StrJoin(p.disclosed_fields, ", "), ")"),
           absl::StatusCode::kPermissionDenied});
      break;
    }
  }
  return guards;
}

Decision Invalid(Decision d, std::string reason) {
  d.allowed = false;
  d.code = absl::StatusCode::kInvalidArgument;
  d.reason = std::move(reason);
  return d;
}

std::string Describe(const Context& c) {
  std::string s = absl::StrCat(ActionName(c.request->action), " for ",
                               c.purpose->id, " by ", c.request->requester);
  if (c.has_recipient) absl::StrAppend(&s, " to ", c.request->recipient);
  return s;
}

}  // namespace

Decision PolicySet::Evaluate(const Request& request,
                             const SubjectFacts& facts) const {
  const CompiledPolicy& p = *compiled_;
  Decision d;
  d.action = std::string(ActionName(request.action));
  d.purpose = request.purpose;
  d.policy_name = p.name;
  d.policy_version = p.version;
  d.policy_hash = p.hash;
  d.policy_hash_hex = p.hash_hex;

  if (request.action == Action::kUnspecified) {
    return Invalid(std::move(d), "the request names no action");
  }
  Context c;
  c.request = &request;
  auto purpose = p.purpose_index.find(request.purpose);
  if (purpose == p.purpose_index.end()) {
    return Invalid(
        std::move(d),
        absl::StrCat("unknown purpose \"", request.purpose, "\"; policy ",
                     p.version, " defines no such purpose"));
  }
  c.purpose_index = purpose->second;
  c.purpose = &p.purposes[static_cast<size_t>(c.purpose_index)];
  d.lawful_basis = c.purpose->lawful_basis;
  if (request.time == absl::InfinitePast() ||
      request.time == absl::InfiniteFuture()) {
    return Invalid(std::move(d), "the request has no time");
  }
  absl::StatusOr<OrgId> requester = ParseOrgId(request.requester);
  if (!requester.ok()) {
    return Invalid(std::move(d),
                   absl::StrCat("requester: ", requester.status().message()));
  }
  c.requester = *std::move(requester);
  c.requester_org = p.FindOrganisation(c.requester);
  if (!request.recipient.empty()) {
    absl::StatusOr<OrgId> recipient = ParseOrgId(request.recipient);
    if (!recipient.ok()) {
      return Invalid(std::move(d),
                     absl::StrCat("recipient: ", recipient.status().message()));
    }
    c.has_recipient = true;
    c.recipient = *std::move(recipient);
    c.recipient_org = p.FindOrganisation(c.recipient);
  } else if (ActionNeedsRecipient(request.action)) {
    return Invalid(std::move(d), absl::StrCat(ActionName(request.action),
                                              " needs a recipient"));
  }
  for (const std::string& f : request.fields) {
    if (!IsKnownField(f)) {
      return Invalid(std::move(d), absl::StrCat("unknown field \"", f, "\""));
    }
  }
  ResolveFacts(facts, &c);

  std::vector<const CompiledRule*> forbids;
  std::vector<const CompiledRule*> permits;
  for (int index : p.rules_by_action[static_cast<size_t>(request.action)]) {
    const CompiledRule& r = p.rules[static_cast<size_t>(index)];
    if (!Matches(r, c)) continue;
    (r.forbid ? forbids : permits).push_back(&r);
  }
  auto by_id = [](const CompiledRule* a, const CompiledRule* b) {
    return a->id < b->id;
  };
  std::sort(forbids.begin(), forbids.end(), by_id);
  std::sort(permits.begin(), permits.end(), by_id);
  const std::vector<Guard> guards = PurposeGuards(c, facts);

  for (const Guard& g : guards) d.matched_rule_ids.push_back(g.id);
  for (const CompiledRule* r : forbids) d.matched_rule_ids.push_back(r->id);
  for (const CompiledRule* r : permits) d.matched_rule_ids.push_back(r->id);
  std::sort(d.matched_rule_ids.begin(), d.matched_rule_ids.end());

  const PurposeInfo& purpose_info = *c.purpose;
  auto fact = [&c](Predicate pr) { return c.facts[static_cast<size_t>(pr)]; };
  if (fact(Predicate::kObjectionRecorded) && !purpose_info.objections_apply) {
    d.notes.push_back(absl::StrCat(
        "an objection is recorded but does not apply to ", purpose_info.id,
        ": ", purpose_info.why_objections_do_not_apply));
  }
  if (fact(Predicate::kOptOutRecorded) && !purpose_info.opt_outs_apply) {
    d.notes.push_back(absl::StrCat(
        "an opt-out is recorded but does not apply to ", purpose_info.id, ": ",
        purpose_info.why_opt_outs_do_not_apply));
  }
  if (c.requester_org == nullptr) {
    d.notes.push_back(absl::StrCat("requester ", request.requester,
                                   " is not listed in organisations, so it "
                                   "has no roles"));
  }
  if (c.has_recipient && c.recipient_org == nullptr) {
    d.notes.push_back(absl::StrCat("recipient ", request.recipient,
                                   " is not listed in organisations, so it "
                                   "has no roles"));
  }

  if (!guards.empty() || !forbids.empty()) {
    d.allowed = false;
    if (!guards.empty()) {
      d.deciding_rule_id = guards.front().id;
      d.reason = guards.front().reason;
      d.code = guards.front().code;
    } else {
      const CompiledRule& r = *forbids.front();
      d.deciding_rule_id = r.id;
      d.reason = absl::StrCat("forbidden by rule ", r.id, ": ", r.description);
      d.code = IsPreconditionRule(r) ? absl::StatusCode::kFailedPrecondition
                                     : absl::StatusCode::kPermissionDenied;
    }
    if (!permits.empty()) {
      std::vector<std::string> ids;
      for (const CompiledRule* r : permits) ids.push_back(r->id);
      d.notes.push_back(absl::StrCat("permitted by ", absl::StrJoin(ids, ", "),
                                     ", but a forbid always beats a permit"));
    }
    return d;
  }
  if (permits.empty()) {
    d.allowed = false;
    d.deciding_rule_id = std::string(kDefaultDenyRuleId);
    d.code = absl::StatusCode::kPermissionDenied;
    d.reason = absl::StrCat("no rule permits ", Describe(c),
                            "; what no rule permits is denied");
    return d;
  }
  const CompiledRule& r = *permits.front();
  d.allowed = true;
  d.code = absl::StatusCode::kOk;
  d.deciding_rule_id = r.id;
  d.reason = absl::StrCat("permitted by rule ", r.id, ": ", r.description);
  d.disclosed_fields =
      request.fields.empty() ? purpose_info.disclosed_fields : request.fields;
  return d;
}

}  // namespace linkd::policy
