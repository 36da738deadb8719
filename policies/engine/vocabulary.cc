#include "policies/engine/vocabulary.h"

#include <algorithm>
#include <array>

namespace linkd::policy {
namespace {

// One table per vocabulary, indexed by the enum's value, so that a name and
// its enumerator cannot drift apart.
constexpr std::array<absl::string_view, kRoleCount> kRoleNames = {
    "provider", "recipient", "ig_officer", "researcher", "auditor", "admin"};

struct ActionEntry {
  absl::string_view name;
  bool needs_recipient;
};
constexpr std::array<ActionEntry, kActionCount> kActions = {{
    {"unspecified", false},
    {"notification.send", true},
    {"flag.send", true},
    {"extract.request", false},
    {"extract.approve", false},
    {"extract.release", true},
    {"consent.record", false},
    {"audit.read", false},
    {"policy.reload", false},
}};

constexpr std::array<absl::string_view, kOrgKindCount> kKindNames = {
    "school", "la", "health", "research"};

struct PredicateEntry {
  absl::string_view name;
  absl::string_view meaning;
};
constexpr std::array<PredicateEntry, kPredicateCount> kPredicates = {{
    {"objection_recorded",
     "the child has an active objection covering the purpose's category"},
    {"opt_out_recorded",
     "the child has an active opt-out covering the purpose's category"},
    {"consent_recorded",
     "the child has an active consent covering the purpose's category"},
    {"in_refuge", "the child is flagged as living in a refuge"},
    {"looked_after", "the child is looked after by a local authority"},
    {"has_open_episode",
     "the child has an open social care episode (CIN, CP or looked after)"},
    {"recipient_holds_open_episode",
     "the recipient is the local authority holding the open episode"},
    {"recipient_is_current_school", "the recipient is the child's school"},
    {"recipient_is_virtual_school_for_child",
     "the recipient is the Virtual School of the authority looking after "
     "the child"},
    {"recipient_has_care_relationship",
     "the recipient provides care to the child (e.g. their GP practice)"},
    {"recipient_is_virtual_school",
     "the recipient is listed as a Virtual School in organisations"},
    {"project_approved",
     "the research project is approved, has an ethics reference and a data "
     "processing agreement, and its end date has not passed"},
    {"requester_is_project_org",
     "the requester is research/<project id> of the project"},
    {"recipient_is_project_org",
     "the recipient is research/<project id> of the project"},
    {"requester_is_extract_requester",
     "the requester is the organisation that requested the extract"},
    {"extract_approved", "an IG officer has approved the extract"},
}};

// Sorted, so AllFields() needs no copy and lookups can bisect.
constexpr std::array<absl::string_view, 16> kFields = {
    "audit_entries",     "birth_month",       "contact",
    "current_school",    "episode_end_date",  "episode_start_date",
    "ethnicity_code",    "event_date",        "event_type",
    "fsm_eligible",      "has_social_worker", "la_code",
    "project_pseudonym", "reporting_school",  "sen_status",
    "year_group"};

template <typename Enum, typename Table, typename NameOf>
std::optional<Enum> Find(const Table& table, absl::string_view name,
                         NameOf name_of) {
  for (size_t i = 0; i < table.size(); ++i) {
    if (name_of(table[i]) == name) return static_cast<Enum>(i);
  }
  return std::nullopt;
}

}  // namespace

absl::string_view RoleName(Role role) {
  return kRoleNames[static_cast<size_t>(role)];
}

std::optional<Role> ParseRole(absl::string_view name) {
  return Find<Role>(kRoleNames, name, [](absl::string_view n) { return n; });
}

const std::vector<Role>& AllRoles() {
  static const auto* const roles = new std::vector<Role>{
      Role::kProvider,   Role::kRecipient, Role::kIgOfficer,
      Role::kResearcher, Role::kAuditor,   Role::kAdmin};
  return *roles;
}

absl::string_view ActionName(Action action) {
  return kActions[static_cast<size_t>(action)].name;
}

std::optional<Action> ParseAction(absl::string_view name) {
  std::optional<Action> a =
      Find<Action>(kActions, name, [](const ActionEntry& e) { return e.name; });
  if (a == Action::kUnspecified) return std::nullopt;
  return a;
}

bool ActionNeedsRecipient(Action action) {
  return kActions[static_cast<size_t>(action)].needs_recipient;
}

const std::vector<Action>& AllActions() {
  static const auto* const actions = [] {
    auto* v = new std::vector<Action>;
    for (int i = 1; i < kActionCount; ++i) v->push_back(static_cast<Action>(i));
    return v;
  }();
  return *actions;
}

absl::string_view OrgKindName(OrgKind kind) {
  return kKindNames[static_cast<size_t>(kind)];
}

std::optional<OrgKind> ParseOrgKind(absl::string_view name) {
  return Find<OrgKind>(kKindNames, name, [](absl::string_view n) { return n; });
}

absl::string_view PredicateName(Predicate p) {
  return kPredicates[static_cast<size_t>(p)].name;
}

std::optional<Predicate> ParsePredicate(absl::string_view name) {
  return Find<Predicate>(kPredicates, name,
                         [](const PredicateEntry& e) { return e.name; });
}

absl::string_view PredicateMeaning(Predicate p) {
  return kPredicates[static_cast<size_t>(p)].meaning;
}

bool IsKnownField(absl::string_view name) {
  return std::binary_search(kFields.begin(), kFields.end(), name);
}

const std::vector<absl::string_view>& AllFields() {
  static const auto* const fields =
      new std::vector<absl::string_view>(kFields.begin(), kFields.end());
  return *fields;
}

}  // namespace linkd::policy
