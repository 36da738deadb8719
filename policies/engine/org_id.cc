#include "policies/engine/org_id.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace linkd::policy {
namespace {

constexpr size_t kMaxLocalLength = 64;

bool IsLocalChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' ||
         c == '_' || c == '-';
}

absl::StatusOr<OrgId> Parse(absl::string_view id, bool allow_pattern) {
  const size_t slash = id.find('/');
  if (slash == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "organisation id must be <kind>/<id>, e.g. school/100000");
  }
  std::optional<OrgKind> kind = ParseOrgKind(id.substr(0, slash));
  if (!kind.has_value()) {
    return absl::InvalidArgumentError(
        "organisation kind must be school, la, health or research");
  }
  absl::string_view local = id.substr(slash + 1);
  OrgId out;
  out.kind = *kind;
  if (local == "*") {
    if (!allow_pattern) {
      return absl::InvalidArgumentError(absl::StrCat(
          "organisation id ", OrgKindName(*kind), "/* is a pattern"));
    }
    out.local = "*";
    return out;
  }
  if (local.empty() || local.size() > kMaxLocalLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("organisation id after ", OrgKindName(*kind),
                     "/ must be 1 to 64 characters"));
  }
  for (char c : local) {
    if (!IsLocalChar(c)) {
      return absl::InvalidArgumentError(
          absl::StrCat("organisation id after ", OrgKindName(*kind),
                       "/ may contain only letters, digits, '.', '_', '-'"));
    }
  }
  out.local = std::string(local);
  return out;
}

}  // namespace

std::string OrgId::ToString() const {
  return absl::StrCat(OrgKindName(kind), "/", local);
}

absl::StatusOr<OrgId> ParseOrgId(absl::string_view id) {
  return Parse(id, /*allow_pattern=*/false);
}

absl::StatusOr<OrgId> ParseOrgIdOrPattern(absl::string_view id) {
  return Parse(id, /*allow_pattern=*/true);
}

bool OrgPatternMatches(const OrgId& pattern, const OrgId& id) {
  if (pattern.kind != id.kind) return false;
  return pattern.is_pattern() || pattern.local == id.local;
}

absl::StatusOr<std::string> OrgIdFromSpiffeUri(absl::string_view uri,
                                               absl::string_view trust_domain) {
  constexpr absl::string_view kScheme = "spiffe://";
  if (!absl::StartsWithIgnoreCase(uri, kScheme)) {
    return absl::InvalidArgumentError("not a spiffe:// URI");
  }
  absl::string_view rest = uri.substr(kScheme.size());
  const size_t slash = rest.find('/');
  if (slash == absl::string_view::npos || slash == 0) {
    return absl::InvalidArgumentError("SPIFFE ID has no trust domain or path");
  }
  if (!absl::EqualsIgnoreCase(rest.substr(0, slash), trust_domain)) {
    return absl::PermissionDeniedError(
        "SPIFFE ID is from another trust domain");
  }
  absl::string_view path = rest.substr(slash + 1);
  // Exactly "<kind>/<id>": no query, fragment, further segments or pattern.
  if (path.find_first_of("?#") != absl::string_view::npos ||
      path.find('/') != path.rfind('/')) {
    return absl::InvalidArgumentError(
        "SPIFFE ID path must be /<kind>/<id> exactly");
  }
  absl::StatusOr<OrgId> id = ParseOrgId(path);
  if (!id.ok()) return id.status();
  return id->ToString();
}

}  // namespace linkd::policy
