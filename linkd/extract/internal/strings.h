// Internal to linkd::extract: Debian's abseil 20220623 has its own
// absl::string_view (not std::string_view), so absl::StrCat and heterogeneous
// lookup in absl containers need a conversion from the std::string_view of
// our interfaces.
#ifndef LINKD_EXTRACT_INTERNAL_STRINGS_H_
#define LINKD_EXTRACT_INTERNAL_STRINGS_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace linkd::extract::internal {

inline absl::string_view AsAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

}  // namespace linkd::extract::internal

#endif  // LINKD_EXTRACT_INTERNAL_STRINGS_H_
