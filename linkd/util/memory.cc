#include "linkd/util/memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

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

}  // namespace linkd::util
