// linkd::research spec: what a research project and an extract request may
// say, checked before anything is stored, and the canonical hash an
// approval is bound to (DESIGN.md section 8).
//
// Vocabulary of an extract:
//   fields      project_pseudonym (always first in a journey, implied),
//               event_type, event_date (journeys only), and the attributes
//               of linkd/encode/attributes.h; each must be an approved field
//               of the project and a disclosed field of the
//               research_extract purpose (the policy engine checks the
//               latter again at every step).
//   event types suspension, permanent_exclusion, removed_from_roll,
//               child_missing_education, in_year_admission,
//               child_in_need_plan_start / _end,
//               child_protection_plan_start / _end, looked_after_start /
//               _end. Refuge events are never released.
//   cohort      the event types above, and the episode types
//   episodes    social_care_episode (any kind), child_in_need_plan,
//               child_protection_plan, looked_after: a child qualifies when
//               such an episode was open at some time in the cohort's date
//               range.
//   coarsening  event_date and birth_month to a date granularity
//               (coarsen.h; birth_month not to "day"); ethnicity_code by
//               "ethnicity_major_group", year_group by
//               "year_group_key_stage".
//
// Messages name fields and rules, never a child's details. Thread-safe.
#ifndef LINKD_RESEARCH_SPEC_H_
#define LINKD_RESEARCH_SPEC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "linkd/extract/coarsen.h"
#include "linkd/v1/extract_service.pb.h"
#include "policies/engine/decision.h"
#include "policies/engine/policy_set.h"

namespace linkd::research {

inline constexpr std::string_view kResearchPurpose = "research_extract";
inline constexpr std::string_view kPseudonymField = "project_pseudonym";
inline constexpr std::string_view kEventTypeField = "event_type";
inline constexpr std::string_view kEventDateField = "event_date";

// An event a journey can list (refuge events are not among them).
enum class EventKind : uint8_t {
  kSuspension,
  kPermanentExclusion,
  kRemovedFromRoll,
  kChildMissingEducation,
  kInYearAdmission,
  kChildInNeedPlanStart,
  kChildInNeedPlanEnd,
  kChildProtectionPlanStart,
  kChildProtectionPlanEnd,
  kLookedAfterStart,
  kLookedAfterEnd,
};
inline constexpr int kNumEventKinds = 11;
// "suspension", "child_in_need_plan_start", ...
std::string_view EventKindName(EventKind kind);
std::optional<EventKind> ParseEventKind(std::string_view name);

// The kind of social care episode an event starts or ends, if any.
enum class EpisodeKind : uint8_t {
  kChildInNeedPlan,
  kChildProtectionPlan,
  kLookedAfter
};
inline constexpr int kNumEpisodeKinds = 3;
struct EpisodeEdge {
  EpisodeKind kind;
  bool start;
};
std::optional<EpisodeEdge> EpisodeEdgeOf(EventKind kind);

// A date as YYYYMMDD (20240307): orders as dates do.
using DateNumber = int32_t;
// Parses "YYYY-MM-DD" (a real date). INVALID_ARGUMENT naming `what` (never
// the text) otherwise.
absl::StatusOr<DateNumber> ParseDate(std::string_view text,
                                     std::string_view what);
// "2024-03-07".
std::string FormatDate(DateNumber date);
absl::CivilDay ToCivilDay(DateNumber date);

// What a cohort's event criteria mean, parsed: the events that qualify a
// child by themselves, the episode kinds open in the range that do, and
// the range.
struct CohortCriteria {
  bool by_events = false;           // false: by records of `sources`
  std::vector<bool> event_kinds;    // by EventKind; all true if none named
  std::vector<bool> episode_kinds;  // by EpisodeKind
  bool any_event = false;           // no event type named
  DateNumber from = 0;              // 0: open
  DateNumber to = 99999999;
  std::vector<std::string> sources;  // empty: any
};
absl::StatusOr<CohortCriteria> ParseCohort(const v1::CohortDefinition& cohort);

// A requested field's coarsening, resolved.
struct Coarsening {
  std::string field;
  extract::DateGranularity granularity =
      extract::DateGranularity::DATE_GRANULARITY_UNSPECIFIED;
  const extract::CategoryMap* mapping = nullptr;  // static, not owned
};

// The request, parsed and checked against its project.
struct ParsedSpec {
  v1::ExtractKind kind = v1::EXTRACT_KIND_UNSPECIFIED;
  CohortCriteria cohort;
  std::vector<std::string> fields;      // as requested (no project_pseudonym)
  std::vector<std::string> attributes;  // the attribute fields among them
  std::vector<Coarsening> coarsenings;  // one per coarsened field
  DateNumber journey_from = 0;
  DateNumber journey_to = 99999999;
  std::vector<bool> journey_kinds;  // by EventKind
  // The columns of the released CSV, in order.
  std::vector<std::string> columns;
  // The coarsening of `field`, or nullptr.
  const Coarsening* CoarseningOf(std::string_view field) const;
};

// Checks a project as an IG officer registers it against the policy: the
// id, title, researcher key (32 bytes), ethics and DPA references, purposes
// (known to the policy), fields (each a disclosed field of an approved
// purpose), period and end date (real dates, start <= end), and that
// research/<id> is an organisation of the policy with the researcher role.
// INVALID_ARGUMENT naming the field otherwise (NOT_FOUND for an unknown
// organisation).
absl::Status ValidateProject(const v1::Project& project,
                             const policy::PolicySet& policy);

// Checks and parses `spec` against `project`: INVALID_ARGUMENT for a
// malformed request (naming the field), PERMISSION_DENIED for a field,
// purpose or date outside what the project was approved for.
absl::StatusOr<ParsedSpec> ParseSpec(const v1::ExtractSpec& spec,
                                     const v1::Project& project);

// The project as the policy engine sees it: approved (registered and
// approved for research_extract), its references and end date.
policy::ProjectFacts ProjectFactsOf(const v1::Project& project);

// BLAKE2b-256 of "linkd-extract-request-v1" || 0x00 || the deterministic
// serialization of (id, spec, requested_by, project_version): what an
// approval binds, so that changing anything needs a new approval.
std::string RequestHash(const v1::ExtractRequest& request);

// "research/<id>".
std::string ProjectOrganisation(std::string_view project_id);

}  // namespace linkd::research

#endif  // LINKD_RESEARCH_SPEC_H_
