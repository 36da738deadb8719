#include "linkd/util/thread_name.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "linkd/util/serial_executor.h"

namespace linkd::util {
namespace {

// The calling thread's name as the kernel reports it.
std::string ThisThreadName() {
  const long tid = syscall(SYS_gettid);
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name;
}

// The name a new thread reads back after NameThisThread(name).
std::string NameSeenAfterNaming(const std::string& name) {
  std::string seen;
  std::thread t([&] {
    NameThisThread(name);
    seen = ThisThreadName();
  });
  t.join();
  return seen;
}

TEST(ThreadNameTest, NamesTheCallingThreadOnly) {
  const std::string before = ThisThreadName();
  EXPECT_EQ(NameSeenAfterNaming("linkd-test"), "linkd-test");
  EXPECT_EQ(ThisThreadName(), before);
}

TEST(ThreadNameTest, KeepsTheFirstFifteenBytes) {
  EXPECT_EQ(NameSeenAfterNaming("linkd-a-very-long-thread-name"),
            "linkd-a-very-lo");
}

TEST(ThreadNameTest, SerialExecutorNamesItsThread) {
  std::string seen;
  {
    SerialExecutor executor("linkd-exec-test");
    executor.Post([&] { seen = ThisThreadName(); });
  }  // runs the task, then joins
  EXPECT_EQ(seen, "linkd-exec-test");
}

}  // namespace
}  // namespace linkd::util
