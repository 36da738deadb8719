#include "policies/engine/decision.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace linkd::policy {

absl::Status Decision::ToStatus() const {
  if (allowed) return absl::OkStatus();
  // A denial must never read as OK, whatever `code` was left at.
  const absl::StatusCode c = code == absl::StatusCode::kOk
                                 ? absl::StatusCode::kPermissionDenied
                                 : code;
  return absl::Status(c, reason);
}

absl::StatusOr<Request> RequestFromProto(const v1::Request& proto) {
  Request r;
  std::optional<Action> action = ParseAction(proto.action());
  if (!action.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "request.action: unknown action \"", proto.action(), "\""));
  }
  r.action = *action;
  r.purpose = proto.purpose();
  r.requester = proto.requester();
  r.recipient = proto.recipient();
  std::string err;
  if (proto.time().empty()) {
    return absl::InvalidArgumentError(
        "request.time: missing (RFC 3339, e.g. 2025-03-01T09:00:00Z)");
  }
  if (!absl::ParseTime(absl::RFC3339_full, proto.time(), &r.time, &err)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "request.time: not RFC 3339 (e.g. 2025-03-01T09:00:00Z): ", err));
  }
  r.fields.assign(proto.fields().begin(), proto.fields().end());
  return r;
}

absl::StatusOr<SubjectFacts> SubjectFactsFromProto(
    const v1::SubjectFacts& proto) {
  SubjectFacts f;
  f.objections.assign(proto.objections().begin(), proto.objections().end());
  f.opt_outs.assign(proto.opt_outs().begin(), proto.opt_outs().end());
  f.consents.assign(proto.consents().begin(), proto.consents().end());
  f.in_refuge = proto.in_refuge();
  f.looked_after = proto.looked_after();
  f.has_open_episode = proto.has_open_episode();
  f.recipient_holds_open_episode = proto.recipient_holds_open_episode();
  f.recipient_is_current_school = proto.recipient_is_current_school();
  f.recipient_is_virtual_school_for_child =
      proto.recipient_is_virtual_school_for_child();
  f.recipient_has_care_relationship = proto.recipient_has_care_relationship();
  if (proto.has_project()) {
    const v1::ProjectFacts& p = proto.project();
    ProjectFacts project;
    project.id = p.id();
    project.approved = p.approved();
    project.ethics_reference = p.ethics_reference();
    project.data_processing_agreement = p.data_processing_agreement();
    if (!p.end_date().empty()) {
      absl::CivilDay day;
      // The round trip also refuses dates that would be normalised
      // ("2026-02-30") and non-canonical spellings ("2026-3-31").
      if (!absl::ParseCivilTime(p.end_date(), &day) ||
          absl::FormatCivilTime(day) != p.end_date()) {
        return absl::InvalidArgumentError(
            "facts.project.end_date: not a date YYYY-MM-DD");
      }
      project.end_date = day;
    }
    f.project = std::move(project);
  }
  f.extract_requested_by = proto.extract_requested_by();
  f.extract_approved = proto.extract_approved();
  return f;
}

}  // namespace linkd::policy
