// Minimal structured logging to stderr (Debian's abseil predates absl/log).
// Callers must never pass a token, an identifier or a request payload: log
// counts, field names, sources and status codes only.
#ifndef LINKD_UTIL_LOG_H_
#define LINKD_UTIL_LOG_H_

#include <string_view>

namespace linkd::util {

enum class LogLevel { kInfo, kWarning, kError };

// Writes one line "<UTC time> <I|W|E> <message>" to stderr. Thread-safe.
void Log(LogLevel level, std::string_view message);

}  // namespace linkd::util

#endif  // LINKD_UTIL_LOG_H_
