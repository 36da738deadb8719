#include "linkd/util/memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace linkd::util {
namespace {

// Pages of [data, data + bytes) resident now (mincore).
size_t ResidentPages(void* data, size_t bytes) {
  const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> in((bytes + page - 1) / page);
  if (mincore(data, bytes, in.data()) != 0) return 0;
  size_t resident = 0;
  for (unsigned char c : in) resident += c & 1;
  return resident;
}

TEST(PopulateForWriteTest, FaultsInThePagesKeepingWhatTheyHold) {
  const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t bytes = 256 * page;
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  auto* bytes_at = static_cast<unsigned char*>(p);
  bytes_at[3 * page + 5] = 0xAB;  // one page touched
  EXPECT_EQ(ResidentPages(p, bytes), 1u);
  // An unaligned range: every page it touches, the partial ones included.
  if (!PopulateForWrite(bytes_at + page / 2, bytes - page)) {
    munmap(p, bytes);
    GTEST_SKIP() << "MADV_POPULATE_WRITE is not supported by this kernel";
  }
  EXPECT_EQ(ResidentPages(p, bytes), 256u);
  EXPECT_EQ(bytes_at[3 * page + 5], 0xAB);
  EXPECT_EQ(bytes_at[100 * page], 0);
  EXPECT_TRUE(PopulateForWrite(p, 0));
  munmap(p, bytes);
}

}  // namespace
}  // namespace linkd::util
