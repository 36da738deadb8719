// Validation of encoded events (ValidateEvent, declared in validate.h).
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "linkd/events/event_store.h"
#include "linkd/ingest/validate.h"

namespace linkd::ingest {
namespace {

constexpr size_t kMaxEventIdBytes = 128;
constexpr size_t kMaxOrgIdBytes = 64;
constexpr size_t kMaxTeamBytes = 80;
constexpr size_t kMaxPhoneBytes = 32;
constexpr size_t kMaxReasonCodeBytes = 16;
// A suspension may not exceed 45 school days in a school year.
constexpr uint32_t kMaxSuspensionDays = 45;

absl::Status Invalid(absl::string_view field, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", reason));
}

bool IsPrintable(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e) return false;
  }
  return true;
}

// "<kind>/<id>" with kind one of `kinds` (comma-free list) and an id of
// letters, digits and '-'.
bool IsOrgId(std::string_view s,
             std::initializer_list<std::string_view> kinds) {
  if (s.size() > kMaxOrgIdBytes) return false;
  const size_t slash = s.find('/');
  if (slash == std::string_view::npos || slash + 1 >= s.size()) return false;
  const std::string_view kind = s.substr(0, slash);
  bool known = false;
  for (std::string_view k : kinds) known = known || k == kind;
  if (!known) return false;
  for (char c : s.substr(slash + 1)) {
    if (!absl::ascii_isalnum(c) && c != '-') return false;
  }
  return true;
}

bool IsSchoolEvent(v1::EventType t) {
  switch (t) {
    case v1::EVENT_TYPE_SUSPENSION:
    case v1::EVENT_TYPE_PERMANENT_EXCLUSION:
    case v1::EVENT_TYPE_REMOVED_FROM_ROLL:
    case v1::EVENT_TYPE_CHILD_MISSING_EDUCATION:
    case v1::EVENT_TYPE_IN_YEAR_ADMISSION:
      return true;
    default:
      return false;
  }
}

bool IsSocialCareEvent(v1::EventType t) {
  switch (t) {
    case v1::EVENT_TYPE_EPISODE_START:
    case v1::EVENT_TYPE_EPISODE_END:
    case v1::EVENT_TYPE_REFUGE_START:
    case v1::EVENT_TYPE_REFUGE_END:
      return true;
    default:
      return false;
  }
}

absl::Status CheckContact(const v1::Contact& c, bool required) {
  if (c.organisation().empty()) {
    if (required) return Invalid("event.event.contact.organisation", "missing");
    if (!c.team().empty() || !c.phone().empty()) {
      return Invalid("event.event.contact.organisation",
                     "missing: a team or phone needs its organisation");
    }
    return absl::OkStatus();
  }
  if (!IsOrgId(c.organisation(), {"school", "la", "health"})) {
    return Invalid("event.event.contact.organisation",
                   "must be an organisation id such as la/999 or "
                   "school/100001");
  }
  if (c.team().size() > kMaxTeamBytes || !IsPrintable(c.team())) {
    return Invalid("event.event.contact.team",
                   absl::StrCat("must be printable text of at most ",
                                kMaxTeamBytes, " characters"));
  }
  if (LooksLikeClearIdentifier(c.team())) {
    return Invalid("event.event.contact.team",
                   "looks like a clear identifier; name the team, never a "
                   "child");
  }
  if (c.phone().size() > kMaxPhoneBytes) {
    return Invalid("event.event.contact.phone",
                   absl::StrCat("longer than ", kMaxPhoneBytes, " characters"));
  }
  for (char ch : c.phone()) {
    if (!absl::ascii_isdigit(ch) && ch != ' ' && ch != '+' && ch != '-' &&
        ch != '(' && ch != ')') {
      return Invalid("event.event.contact.phone",
                     "may contain only digits, spaces and + - ( )");
    }
  }
  if (LooksLikeClearIdentifier(c.phone())) {
    return Invalid("event.event.contact.phone",
                   "reads as an NHS number; write the team's phone number "
                   "with its area code");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateEvent(const v1::EncodedEvent& item) {
  if (!item.has_record()) return Invalid("event.record", "missing");
  if (absl::Status s = ValidateRecord(item.record()); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("event.", s.message()));
  }
  if (!item.has_event()) return Invalid("event.event", "missing");
  const v1::Event& e = item.event();
  if (e.event_id().empty()) return Invalid("event.event.event_id", "missing");
  if (e.event_id().size() > kMaxEventIdBytes || !IsPrintable(e.event_id())) {
    return Invalid("event.event.event_id",
                   absl::StrCat("must be printable ASCII of at most ",
                                kMaxEventIdBytes, " bytes"));
  }
  if (LooksLikeClearIdentifier(e.event_id())) {
    return Invalid("event.event.event_id",
                   "looks like a clear identifier (NHS number, UPN, date or "
                   "postcode); send the source's own event reference");
  }
  const v1::EventType type = e.type();
  const bool school = IsSchoolEvent(type);
  const bool social_care = IsSocialCareEvent(type);
  if (!school && !social_care) {
    return Invalid("event.event.type", "missing or unknown");
  }
  const std::string& source = item.record().source();
  if (school && !IsOrgId(source, {"school"})) {
    return Invalid("event.record.source",
                   "a school event must come from the school's own source, "
                   "its organisation id school/<URN>");
  }
  if (social_care && !IsOrgId(source, {"la"})) {
    return Invalid("event.record.source",
                   "a social care event must come from the local "
                   "authority's own source, its organisation id la/<code>");
  }
  absl::CivilDay day;
  if (!e.has_date()) return Invalid("event.event.date", "missing");
  if (!events::ToCivilDay(e.date(), &day)) {
    return Invalid("event.event.date",
                   "not a valid calendar date (year 1900-2100)");
  }
  if (type == v1::EVENT_TYPE_SUSPENSION) {
    if (e.days() < 1 || e.days() > kMaxSuspensionDays) {
      return Invalid("event.event.days",
                     absl::StrCat("a suspension lasts 1 to ",
                                  kMaxSuspensionDays, " school days"));
    }
  } else if (e.days() != 0) {
    return Invalid("event.event.days", "only a suspension has a length");
  }
  if (type == v1::EVENT_TYPE_REMOVED_FROM_ROLL) {
    if (e.reason_code().empty()) {
      return Invalid("event.event.reason_code",
                     "missing: removal from roll needs the DfE reason code");
    }
    if (e.reason_code().size() > kMaxReasonCodeBytes) {
      return Invalid(
          "event.event.reason_code",
          absl::StrCat("longer than ", kMaxReasonCodeBytes, " characters"));
    }
    for (char c : e.reason_code()) {
      if (!absl::ascii_isalnum(c) && c != '(' && c != ')' && c != '.' &&
          c != '-' && c != '/') {
        return Invalid("event.event.reason_code",
                       "may contain only letters, digits and ( ) . - /");
      }
    }
    if (LooksLikeClearIdentifier(e.reason_code())) {
      return Invalid("event.event.reason_code",
                     "looks like a clear identifier, not a reason code");
    }
  } else if (!e.reason_code().empty()) {
    return Invalid("event.event.reason_code",
                   "only a removal from roll has a reason code");
  }
  const bool episode = type == v1::EVENT_TYPE_EPISODE_START ||
                       type == v1::EVENT_TYPE_EPISODE_END;
  if (episode) {
    if (!v1::EpisodeKind_IsValid(e.episode_kind()) ||
        e.episode_kind() == v1::EPISODE_KIND_UNSPECIFIED) {
      return Invalid("event.event.episode_kind", "missing or unknown");
    }
  } else if (e.episode_kind() != v1::EPISODE_KIND_UNSPECIFIED) {
    return Invalid("event.event.episode_kind",
                   "only an episode start or end has a kind");
  }
  if (type == v1::EVENT_TYPE_EPISODE_START) {
    if (absl::Status s = CheckContact(e.contact(), /*required=*/true);
        !s.ok()) {
      return s;
    }
  } else if (school) {
    if (absl::Status s = CheckContact(e.contact(), /*required=*/false);
        !s.ok()) {
      return s;
    }
  } else if (e.has_contact() &&
             (!e.contact().organisation().empty() ||
              !e.contact().team().empty() || !e.contact().phone().empty())) {
    return Invalid("event.event.contact",
                   "only an episode start or a school event has a contact");
  }
  if (!e.virtual_school().empty()) {
    if (type != v1::EVENT_TYPE_EPISODE_START ||
        e.episode_kind() != v1::EPISODE_KIND_LOOKED_AFTER) {
      return Invalid("event.event.virtual_school",
                     "only the start of a looked-after episode names a "
                     "Virtual School");
    }
    if (!IsOrgId(e.virtual_school(), {"la"})) {
      return Invalid("event.event.virtual_school",
                     "must be an organisation id such as la/999-vs");
    }
  }
  return absl::OkStatus();
}

}  // namespace linkd::ingest
