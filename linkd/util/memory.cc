#include "linkd/util/memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // <linux/mman.h>, Linux 5.14
#endif

namespace linkd::util {
namespace {

// The page-aligned part of [data, data + bytes) in units of `page`.
bool Inner(const void* data, size_t bytes, uintptr_t page, uintptr_t* begin,
           uintptr_t* end) {
  const auto start = reinterpret_cast<uintptr_t>(data);
  *begin = (start + page - 1) & ~(page - 1);
  *end = (start + bytes) & ~(page - 1);
  return *end > *begin;
}

}  // namespace

void AdviseHugePages(const void* data, size_t bytes) {
  uintptr_t begin, end;
  if (Inner(data, bytes, uintptr_t{2} << 20, &begin, &end)) {
    (void)madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
  }
}

bool PopulateForWrite(const void* data, size_t bytes) {
  if (bytes == 0) return true;
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto start = reinterpret_cast<uintptr_t>(data);
  const uintptr_t begin = start & ~(page - 1);
  const uintptr_t end = (start + bytes + page - 1) & ~(page - 1);
  // An older kernel refuses it (EINVAL).
  return madvise(reinterpret_cast<void*>(begin), end - begin,
                 MADV_POPULATE_WRITE) == 0;
}

}  // namespace linkd::util
