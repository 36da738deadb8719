// Status propagation macros (Debian's abseil 20220623 has none).
#ifndef LINKD_UTIL_STATUS_MACROS_H_
#define LINKD_UTIL_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define LINKD_STATUS_CONCAT_INNER_(a, b) a##b
#define LINKD_STATUS_CONCAT_(a, b) LINKD_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status) and returns it from the enclosing
// function if it is not OK.
#define LINKD_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::absl::Status linkd_status_ = (expr);         \
    if (!linkd_status_.ok()) return linkd_status_; \
  } while (false)

// LINKD_ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (an absl::StatusOr<T>);
// on error returns its status, otherwise assigns the value to `lhs`, which
// may be a declaration ("auto x").
#define LINKD_ASSIGN_OR_RETURN(lhs, expr) \
  LINKD_ASSIGN_OR_RETURN_IMPL_(           \
      LINKD_STATUS_CONCAT_(linkd_statusor_, __LINE__), lhs, expr)

#define LINKD_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr)  \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = *std::move(statusor)

#endif  // LINKD_UTIL_STATUS_MACROS_H_
