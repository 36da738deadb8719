// GoogleTest matchers for absl::Status and absl::StatusOr (Debian's abseil
// ships none). Test-only: linked through linkd::testing_util.
#ifndef LINKD_UTIL_STATUS_MATCHERS_H_
#define LINKD_UTIL_STATUS_MATCHERS_H_

#include <ostream>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace linkd::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

// EXPECT_THAT(status_or_statusor, IsOk())
MATCHER(IsOk, "is OK") {
  const absl::Status& s = ::linkd::testing::GetStatus(arg);
  if (!s.ok()) *result_listener << "status is " << s;
  return s.ok();
}

// EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument))
MATCHER_P(StatusIs, code, "has status code " + absl::StatusCodeToString(code)) {
  const absl::Status& s = ::linkd::testing::GetStatus(arg);
  *result_listener << "status is " << s;
  return s.code() == code;
}

// EXPECT_THAT(s, StatusIs(code, HasSubstr("field")))
MATCHER_P2(StatusIs, code, message_matcher,
           "has status code " + absl::StatusCodeToString(code)) {
  const absl::Status& s = ::linkd::testing::GetStatus(arg);
  *result_listener << "status is " << s;
  return s.code() == code &&
         ::testing::Matches(message_matcher)(std::string(s.message()));
}

// EXPECT_THAT(statusor, IsOkAndHolds(Eq(3)))
MATCHER_P(IsOkAndHolds, value_matcher, "is OK and holds a matching value") {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(value_matcher, *arg, result_listener);
}

}  // namespace linkd::testing

#endif  // LINKD_UTIL_STATUS_MATCHERS_H_
