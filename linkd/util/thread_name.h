// linkd::util::NameThisThread: names the calling thread as `top -H`, `ps -L`,
// perf and /proc/<pid>/task/<tid>/comm show it, so that an operator (and the
// benchmarks) can tell linkd's threads apart.
#ifndef LINKD_UTIL_THREAD_NAME_H_
#define LINKD_UTIL_THREAD_NAME_H_

#include <string_view>

namespace linkd::util {

// Sets the calling thread's name to the first 15 bytes of `name` (the
// kernel's limit). Best effort: a platform without thread names ignores it.
void NameThisThread(std::string_view name);

}  // namespace linkd::util

#endif  // LINKD_UTIL_THREAD_NAME_H_
