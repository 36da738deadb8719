// linkd::util::SerialExecutor: one thread running posted tasks in order,
// for work a gRPC reaction must not do on the callback thread (synced
// commits, file reads, audit scans).
#ifndef LINKD_UTIL_SERIAL_EXECUTOR_H_
#define LINKD_UTIL_SERIAL_EXECUTOR_H_

#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace linkd::util {

// Thread-safe. The destructor runs every task already posted, then joins;
// declare an executor after what its tasks use, so that it is destroyed
// first.
class SerialExecutor {
 public:
  // `name` names the thread (util::NameThisThread).
  explicit SerialExecutor(std::string_view name = "linkd-exec");
  ~SerialExecutor();
  SerialExecutor(const SerialExecutor&) = delete;
  SerialExecutor& operator=(const SerialExecutor&) = delete;

  // Queues `task` to run after every task posted before it.
  void Post(std::function<void()> task);

 private:
  void Loop();

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace linkd::util

#endif  // LINKD_UTIL_SERIAL_EXECUTOR_H_
