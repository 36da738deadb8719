#include "linkd/util/thread_name.h"

#include <pthread.h>

#include <algorithm>
#include <string>

namespace linkd::util {

void NameThisThread(std::string_view name) {
#if defined(__linux__)
  const std::string truncated(
      name.substr(0, std::min<size_t>(name.size(), 15)));
  pthread_setname_np(pthread_self(), truncated.c_str());
#else
  (void)name;
#endif
}

}  // namespace linkd::util
