// linkd::util memory advice for the large arrays of bulk linking. Advice
// only: where the kernel does not take it, nothing changes but the memory
// use.
#ifndef LINKD_UTIL_MEMORY_H_
#define LINKD_UTIL_MEMORY_H_

#include <cstddef>

namespace linkd::util {

// Asks for transparent huge pages behind [data, data + bytes) (the whole
// 2 MiB pages inside it), for an array read at random: with 4 KiB pages
// nearly every access is a TLB miss. Call before the memory is touched.
void AdviseHugePages(const void* data, size_t bytes);

}  // namespace linkd::util

#endif  // LINKD_UTIL_MEMORY_H_
