#include "linkd/research/spec.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "linkd/encode/attributes.h"
#include "policies/engine/vocabulary.h"

namespace linkd::research {
namespace {

constexpr std::array<std::string_view, kNumEventKinds> kEventKindNames = {
    "suspension",
    "permanent_exclusion",
    "removed_from_roll",
    "child_missing_education",
    "in_year_admission",
    "child_in_need_plan_start",
    "child_in_need_plan_end",
    "child_protection_plan_start",
    "child_protection_plan_end",
    "looked_after_start",
    "looked_after_end",
};
constexpr std::array<std::string_view, kNumEpisodeKinds> kEpisodeNames = {
    "child_in_need_plan", "child_protection_plan", "looked_after"};
constexpr std::string_view kAnyEpisode = "social_care_episode";

constexpr size_t kMaxText = 200;
constexpr size_t kMaxProjectId = 64;

std::string S(std::string_view v) { return std::string(v); }

bool Printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u != 0x7f;
  });
}

absl::Status CheckText(std::string_view field, const std::string& value) {
  if (value.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(S(field), ": required"));
  }
  if (value.size() > kMaxText || !Printable(value)) {
    return absl::InvalidArgumentError(absl::StrCat(
        S(field), ": at most ", kMaxText, " printable characters"));
  }
  return absl::OkStatus();
}

bool Contains(const google::protobuf::RepeatedPtrField<std::string>& list,
              std::string_view v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

// A field's name for a message: only names of the policy vocabulary are
// echoed (anything else could be whatever was typed).
std::string Named(const std::string& f) {
  return policy::IsKnownField(f) ? f : std::string("a field");
}

// A source name as ingest accepts it (linkd/ingest/validate.cc).
bool IsSourceName(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '_' || c == '-' || c == '.' ||
           c == '/' || c == ':';
  });
}

// An optional date bound: empty gives `fallback`.
absl::StatusOr<DateNumber> DateOr(const std::string& text,
                                  std::string_view what, DateNumber fallback) {
  if (text.empty()) return fallback;
  return ParseDate(text, what);
}

}  // namespace

std::string_view EventKindName(EventKind kind) {
  return kEventKindNames[static_cast<size_t>(kind)];
}

std::optional<EventKind> ParseEventKind(std::string_view name) {
  for (size_t i = 0; i < kEventKindNames.size(); ++i) {
    if (kEventKindNames[i] == name) return static_cast<EventKind>(i);
  }
  return std::nullopt;
}

std::optional<EpisodeEdge> EpisodeEdgeOf(EventKind kind) {
  switch (kind) {
    case EventKind::kChildInNeedPlanStart:
      return EpisodeEdge{EpisodeKind::kChildInNeedPlan, true};
    case EventKind::kChildInNeedPlanEnd:
      return EpisodeEdge{EpisodeKind::kChildInNeedPlan, false};
    case EventKind::kChildProtectionPlanStart:
      return EpisodeEdge{EpisodeKind::kChildProtectionPlan, true};
    case EventKind::kChildProtectionPlanEnd:
      return EpisodeEdge{EpisodeKind::kChildProtectionPlan, false};
    case EventKind::kLookedAfterStart:
      return EpisodeEdge{EpisodeKind::kLookedAfter, true};
    case EventKind::kLookedAfterEnd:
      return EpisodeEdge{EpisodeKind::kLookedAfter, false};
    default:
      return std::nullopt;
  }
}

absl::StatusOr<DateNumber> ParseDate(std::string_view text,
                                     std::string_view what) {
  const absl::Status bad = absl::InvalidArgumentError(
      absl::StrCat(S(what), ": not a date (YYYY-MM-DD)"));
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return bad;
  int v[3] = {0, 0, 0};
  const std::pair<size_t, size_t> parts[3] = {{0, 4}, {5, 2}, {8, 2}};
  for (int i = 0; i < 3; ++i) {
    for (size_t j = 0; j < parts[i].second; ++j) {
      const char c = text[parts[i].first + j];
      if (c < '0' || c > '9') return bad;
      v[i] = v[i] * 10 + (c - '0');
    }
  }
  if (v[0] < 1900 || v[0] > 2199) return bad;
  const absl::CivilDay day(v[0], v[1], v[2]);
  // CivilDay normalises 2024-02-30 to 2024-03-01: a real date round-trips.
  if (day.year() != v[0] || day.month() != v[1] || day.day() != v[2]) {
    return bad;
  }
  return static_cast<DateNumber>(v[0] * 10000 + v[1] * 100 + v[2]);
}

std::string FormatDate(DateNumber date) {
  return absl::StrFormat("%04d-%02d-%02d", date / 10000, date / 100 % 100,
                         date % 100);
}

absl::CivilDay ToCivilDay(DateNumber date) {
  return absl::CivilDay(date / 10000, date / 100 % 100, date % 100);
}

absl::StatusOr<CohortCriteria> ParseCohort(const v1::CohortDefinition& cohort) {
  CohortCriteria c;
  c.event_kinds.assign(kNumEventKinds, false);
  c.episode_kinds.assign(kNumEpisodeKinds, false);
  c.by_events = cohort.event_types_size() > 0 || !cohort.from_date().empty() ||
                !cohort.to_date().empty();
  c.any_event = cohort.event_types_size() == 0;
  for (const std::string& t : cohort.event_types()) {
    if (std::optional<EventKind> k = ParseEventKind(t); k.has_value()) {
      c.event_kinds[static_cast<size_t>(*k)] = true;
      continue;
    }
    if (t == kAnyEpisode) {
      c.episode_kinds.assign(kNumEpisodeKinds, true);
      continue;
    }
    bool found = false;
    for (size_t i = 0; i < kEpisodeNames.size(); ++i) {
      if (kEpisodeNames[i] == t) {
        c.episode_kinds[i] = true;
        found = true;
      }
    }
    if (!found) {
      return absl::InvalidArgumentError(
          "cohort.event_types: unknown event type (see linkctl extract "
          "--help for the list)");
    }
  }
  if (c.any_event) c.event_kinds.assign(kNumEventKinds, true);
  auto from = DateOr(cohort.from_date(), "cohort.from_date", 0);
  if (!from.ok()) return from.status();
  auto to = DateOr(cohort.to_date(), "cohort.to_date", 99999999);
  if (!to.ok()) return to.status();
  if (*from > *to) {
    return absl::InvalidArgumentError("cohort: from_date is after to_date");
  }
  c.from = *from;
  c.to = *to;
  for (const std::string& s : cohort.sources()) {
    if (!IsSourceName(s)) {
      return absl::InvalidArgumentError(
          "cohort.sources: not a source name (letters, digits, _ - . / :)");
    }
    c.sources.push_back(s);
  }
  return c;
}

const Coarsening* ParsedSpec::CoarseningOf(std::string_view field) const {
  for (const Coarsening& c : coarsenings) {
    if (c.field == field) return &c;
  }
  return nullptr;
}

absl::Status ValidateProject(const v1::Project& p,
                             const policy::PolicySet& policy) {
  if (p.id().empty() || p.id().size() > kMaxProjectId ||
      !std::all_of(p.id().begin(), p.id().end(), [](char c) {
        return absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.';
      })) {
    return absl::InvalidArgumentError(
        "project.id: 1 to 64 letters, digits, '-', '_' or '.'");
  }
  if (absl::Status s = CheckText("project.title", p.title()); !s.ok()) return s;
  if (p.researcher_public_key().size() != 32 ||
      std::all_of(p.researcher_public_key().begin(),
                  p.researcher_public_key().end(),
                  [](char c) { return c == 0; })) {
    return absl::InvalidArgumentError(
        "project.researcher_public_key: a 32-byte crypto_box public key "
        "(linkctl extract keygen) is required");
  }
  if (absl::Status s =
          CheckText("project.ethics_reference", p.ethics_reference());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckText("project.data_processing_agreement",
                                 p.data_processing_agreement());
      !s.ok()) {
    return s;
  }
  if (p.approved_purposes_size() == 0) {
    return absl::InvalidArgumentError("project.approved_purposes: required");
  }
  std::vector<const policy::PurposeInfo*> purposes;
  for (const std::string& id : p.approved_purposes()) {
    const policy::PurposeInfo* info = policy.FindPurpose(id);
    if (info == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("project.approved_purposes: a purpose that policy ",
                       policy.version(), " does not have"));
    }
    purposes.push_back(info);
  }
  if (p.approved_fields_size() == 0) {
    return absl::InvalidArgumentError("project.approved_fields: required");
  }
  std::set<std::string> seen;
  for (const std::string& f : p.approved_fields()) {
    if (!seen.insert(f).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "project.approved_fields: ", Named(f), " is listed twice"));
    }
    if (!policy::IsKnownField(f)) {
      return absl::InvalidArgumentError(
          "project.approved_fields: names something that is not a field");
    }
    const bool disclosed = std::any_of(
        purposes.begin(), purposes.end(), [&](const policy::PurposeInfo* i) {
          return std::find(i->disclosed_fields.begin(),
                           i->disclosed_fields.end(),
                           f) != i->disclosed_fields.end();
        });
    if (!disclosed) {
      return absl::InvalidArgumentError(
          absl::StrCat("project.approved_fields: ", f,
                       " is not disclosed by any of the approved purposes"));
    }
  }
  absl::StatusOr<DateNumber> start =
      ParseDate(p.period_start(), "project.period_start");
  if (!start.ok()) return start.status();
  absl::StatusOr<DateNumber> end =
      ParseDate(p.period_end(), "project.period_end");
  if (!end.ok()) return end.status();
  if (*start > *end) {
    return absl::InvalidArgumentError(
        "project.period_start: after project.period_end");
  }
  absl::StatusOr<DateNumber> last = ParseDate(p.end_date(), "project.end_date");
  if (!last.ok()) return last.status();
  const std::string org = ProjectOrganisation(p.id());
  absl::StatusOr<policy::OrganisationInfo> info = policy.Organisation(org);
  if (!info.ok()) {
    return absl::NotFoundError(absl::StrCat("project.id: organisation ", org,
                                            " is not known to policy ",
                                            policy.version()));
  }
  if (std::find(info->roles.begin(), info->roles.end(),
                policy::Role::kResearcher) == info->roles.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("project.id: organisation ", org,
                     " does not have the researcher role"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ParsedSpec> ParseSpec(const v1::ExtractSpec& spec,
                                     const v1::Project& project) {
  ParsedSpec out;
  if (!Contains(project.approved_purposes(), kResearchPurpose)) {
    return absl::PermissionDeniedError(
        "project: not approved for the research_extract purpose");
  }
  out.kind = spec.kind();
  const bool journey = spec.kind() == v1::EXTRACT_KIND_JOURNEY;
  if (!journey && spec.kind() != v1::EXTRACT_KIND_AGGREGATE) {
    return absl::InvalidArgumentError("kind: journey or aggregate");
  }
  // Fields.
  std::set<std::string> seen;
  for (const std::string& f : spec.fields()) {
    if (!seen.insert(f).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("fields: ", Named(f), " is listed twice"));
    }
    const bool is_event_field = f == kEventTypeField || f == kEventDateField;
    const bool is_attribute = encode::IsAttributeName(f);
    if (f == kPseudonymField) {
      if (!journey) {
        return absl::InvalidArgumentError(
            "fields: an aggregate table has no pseudonyms");
      }
      continue;  // always the first column of a journey
    }
    if (!is_event_field && !is_attribute) {
      return absl::InvalidArgumentError(absl::StrCat(
          "fields: ", Named(f), " cannot be released in an extract"));
    }
    if (is_event_field && !journey) {
      return absl::InvalidArgumentError(
          absl::StrCat("fields: ", f,
                       " is for journeys; an aggregate counts children by "
                       "attributes"));
    }
    if (!Contains(project.approved_fields(), f)) {
      return absl::PermissionDeniedError(
          absl::StrCat("fields: ", f, " is not an approved field of project ",
                       project.id()));
    }
    out.fields.push_back(f);
    if (is_attribute) out.attributes.push_back(f);
  }
  if (journey && !Contains(project.approved_fields(), kPseudonymField)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "fields: project ", project.id(),
        " is not approved for project_pseudonym, which every journey has"));
  }
  if (!journey && (out.fields.empty() || out.fields.size() > 2)) {
    return absl::InvalidArgumentError(
        "fields: an aggregate counts by one or two attributes");
  }
  if (journey && out.fields.empty()) {
    return absl::InvalidArgumentError("fields: name at least one field");
  }
  // Coarsening.
  std::set<std::string> coarsened;
  for (const v1::FieldCoarseningSpec& c : spec.coarsenings()) {
    if (std::find(out.fields.begin(), out.fields.end(), c.field()) ==
        out.fields.end()) {
      return absl::InvalidArgumentError(
          "coarsenings: names a field that is not requested");
    }
    if (!coarsened.insert(c.field()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("coarsenings: ", c.field(), " is coarsened twice"));
    }
    Coarsening parsed;
    parsed.field = c.field();
    if (c.date_granularity().empty() == c.category_mapping().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "coarsenings: ", c.field(),
          " needs exactly one of a date granularity and a category mapping"));
    }
    if (!c.date_granularity().empty()) {
      if (c.field() != kEventDateField && c.field() != "birth_month") {
        return absl::InvalidArgumentError(
            absl::StrCat("coarsenings: ", c.field(), " is not a date"));
      }
      absl::StatusOr<extract::DateGranularity> g =
          extract::ParseDateGranularity(c.date_granularity());
      if (!g.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "coarsenings: ", c.field(),
            ": granularity is day, month, quarter, year or academic_year"));
      }
      if (c.field() == "birth_month" &&
          *g == extract::DateGranularity::DATE_GRANULARITY_DAY) {
        return absl::InvalidArgumentError(
            "coarsenings: birth_month has no day");
      }
      parsed.granularity = *g;
    } else if (c.category_mapping() == extract::EthnicityMajorGroups().name()) {
      if (c.field() != "ethnicity_code") {
        return absl::InvalidArgumentError(
            "coarsenings: ethnicity_major_group maps ethnicity_code");
      }
      parsed.mapping = &extract::EthnicityMajorGroups();
    } else if (c.category_mapping() == extract::YearGroupKeyStages().name()) {
      if (c.field() != "year_group") {
        return absl::InvalidArgumentError(
            "coarsenings: year_group_key_stage maps year_group");
      }
      parsed.mapping = &extract::YearGroupKeyStages();
    } else {
      return absl::InvalidArgumentError(
          "coarsenings: unknown category mapping (ethnicity_major_group or "
          "year_group_key_stage)");
    }
    out.coarsenings.push_back(std::move(parsed));
  }
  // Dates: the project's period bounds everything.
  absl::StatusOr<DateNumber> period_start =
      ParseDate(project.period_start(), "project.period_start");
  if (!period_start.ok()) return period_start.status();
  absl::StatusOr<DateNumber> period_end =
      ParseDate(project.period_end(), "project.period_end");
  if (!period_end.ok()) return period_end.status();
  absl::StatusOr<CohortCriteria> cohort = ParseCohort(spec.cohort());
  if (!cohort.ok()) return cohort.status();
  out.cohort = *std::move(cohort);
  if (out.cohort.by_events) {
    if (spec.cohort().from_date().empty()) out.cohort.from = *period_start;
    if (spec.cohort().to_date().empty()) out.cohort.to = *period_end;
    if (out.cohort.from < *period_start || out.cohort.to > *period_end) {
      return absl::PermissionDeniedError(absl::StrCat(
          "cohort: dates outside the approved period of project ", project.id(),
          " (", project.period_start(), " to ", project.period_end(), ")"));
    }
  }
  absl::StatusOr<DateNumber> jfrom =
      DateOr(spec.journey_from(), "journey_from", *period_start);
  if (!jfrom.ok()) return jfrom.status();
  absl::StatusOr<DateNumber> jto =
      DateOr(spec.journey_to(), "journey_to", *period_end);
  if (!jto.ok()) return jto.status();
  if (*jfrom > *jto) {
    return absl::InvalidArgumentError("journey_from: after journey_to");
  }
  if (*jfrom < *period_start || *jto > *period_end) {
    return absl::PermissionDeniedError(
        absl::StrCat("journey: dates outside the approved period of project ",
                     project.id()));
  }
  if (!journey && (!spec.journey_from().empty() || !spec.journey_to().empty() ||
                   spec.journey_event_types_size() > 0)) {
    return absl::InvalidArgumentError(
        "journey_from, journey_to, journey_event_types: journeys only");
  }
  out.journey_from = *jfrom;
  out.journey_to = *jto;
  out.journey_kinds.assign(kNumEventKinds,
                           spec.journey_event_types_size() == 0);
  for (const std::string& t : spec.journey_event_types()) {
    std::optional<EventKind> k = ParseEventKind(t);
    if (!k.has_value()) {
      return absl::InvalidArgumentError(
          "journey_event_types: unknown event type");
    }
    out.journey_kinds[static_cast<size_t>(*k)] = true;
  }
  if (spec.justification().size() > 2000 || !Printable(spec.justification())) {
    return absl::InvalidArgumentError(
        "justification: at most 2000 printable characters");
  }
  // Columns.
  if (journey) out.columns.push_back(std::string(kPseudonymField));
  out.columns.insert(out.columns.end(), out.fields.begin(), out.fields.end());
  if (!journey) out.columns.push_back("children");
  return out;
}

policy::ProjectFacts ProjectFactsOf(const v1::Project& project) {
  policy::ProjectFacts facts;
  facts.id = project.id();
  facts.approved = project.version() > 0 &&
                   Contains(project.approved_purposes(), kResearchPurpose);
  facts.ethics_reference = project.ethics_reference();
  facts.data_processing_agreement = project.data_processing_agreement();
  absl::StatusOr<DateNumber> end = ParseDate(project.end_date(), "end_date");
  if (end.ok()) facts.end_date = ToCivilDay(*end);
  return facts;
}

std::string RequestHash(const v1::ExtractRequest& request) {
  v1::ExtractRequest canonical;
  canonical.set_id(request.id());
  *canonical.mutable_spec() = request.spec();
  canonical.set_requested_by(request.requested_by());
  canonical.set_project_version(request.project_version());
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    canonical.SerializeToCodedStream(&coded);
  }
  static constexpr std::string_view kDomain("linkd-extract-request-v1\0", 25);
  std::string message(kDomain);
  message.append(bytes);
  std::string hash(crypto_generichash_BYTES, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(hash.data()), hash.size(),
                     reinterpret_cast<const unsigned char*>(message.data()),
                     message.size(), nullptr, 0);
  return hash;
}

std::string ProjectOrganisation(std::string_view project_id) {
  return absl::StrCat("research/", S(project_id));
}

}  // namespace linkd::research
