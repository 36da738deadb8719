// Organisation identifiers ("<kind>/<id>"), the patterns that match them
// ("<kind>/*") and their derivation from an mTLS certificate's SPIFFE ID.
#ifndef LINKD_POLICIES_ENGINE_ORG_ID_H_
#define LINKD_POLICIES_ENGINE_ORG_ID_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "policies/engine/vocabulary.h"

namespace linkd::policy {

// A parsed organisation id or pattern. Value type.
struct OrgId {
  OrgKind kind = OrgKind::kSchool;
  // The part after the slash; "*" for a pattern.
  std::string local;

  bool is_pattern() const { return local == "*"; }
  // "<kind>/<local>".
  std::string ToString() const;
};

// Parses an exact organisation id such as "school/100000" or "la/999". The
// local part is 1 to 64 characters from [A-Za-z0-9._-]. Returns
// INVALID_ARGUMENT naming what is wrong (never echoing more than the kind).
absl::StatusOr<OrgId> ParseOrgId(absl::string_view id);

// Like ParseOrgId, but also accepts the pattern "<kind>/*".
absl::StatusOr<OrgId> ParseOrgIdOrPattern(absl::string_view id);

// True if `pattern` (exact or "<kind>/*") matches the exact id `id`.
bool OrgPatternMatches(const OrgId& pattern, const OrgId& id);

// Derives the organisation id from a certificate's URI SAN
// "spiffe://<trust_domain>/<kind>/<id>". Returns INVALID_ARGUMENT if the URI
// is not a SPIFFE ID of that shape, and PERMISSION_DENIED if its trust
// domain is not `trust_domain` (compared case-insensitively, as SPIFFE
// trust domains are).
absl::StatusOr<std::string> OrgIdFromSpiffeUri(absl::string_view uri,
                                               absl::string_view trust_domain);

}  // namespace linkd::policy

#endif  // LINKD_POLICIES_ENGINE_ORG_ID_H_
