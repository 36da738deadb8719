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

// Faults in the pages behind [data, data + bytes) for writing now
// (MADV_POPULATE_WRITE; Linux 5.14 and later), so that the cost of clearing
// fresh pages falls on the calling thread: e.g. on worker threads in
// parallel, ahead of a single thread filling a large reserved array. The
// memory must be allocated and writable; its contents are unchanged.
// Returns false where the kernel does not (the pages then fault later).
bool PopulateForWrite(const void* data, size_t bytes);

}  // namespace linkd::util

#endif  // LINKD_UTIL_MEMORY_H_
