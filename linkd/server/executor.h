// A bounded pool of worker threads for work that must not run on gRPC
// callback threads (storage commits, later matching).
#ifndef LINKD_SERVER_EXECUTOR_H_
#define LINKD_SERVER_EXECUTOR_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace linkd::server {

// Thread-safe. Tasks run in submission order when there is one thread.
class Executor {
 public:
  explicit Executor(int threads);
  // Runs every task already submitted, then joins the threads.
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Queues `task`. Must not be called once destruction has begun.
  void Submit(std::function<void()> task);

 private:
  void Loop();

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace linkd::server

#endif  // LINKD_SERVER_EXECUTOR_H_
