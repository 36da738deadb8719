// Test support: running the real linkd binaries as child processes.
#ifndef LINKD_TESTS_E2E_SUBPROCESS_H_
#define LINKD_TESTS_E2E_SUBPROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace linkd::testing {

// A child process with stdout and stderr redirected to files. Not
// thread-safe. The destructor kills (SIGKILL) and reaps a child still
// running.
class Subprocess {
 public:
  // Starts `argv` (argv[0] is the program path). Aborts the test binary if
  // the program cannot be started, since nothing after that makes sense.
  Subprocess(std::vector<std::string> argv, std::string stdout_path,
             std::string stderr_path);
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  // Sends `signal` to the child.
  void Signal(int signal);
  // Waits for the child; returns its exit code, or 128 + signal if it was
  // killed by a signal.
  int Wait();
  // True if the child has not exited yet (reaps it if it has).
  bool Running();

  std::string Stdout() const;
  std::string Stderr() const;

 private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
  std::string stdout_path_;
  std::string stderr_path_;
};

// Runs `argv` to completion; returns the exit code and fills *out and *err
// (either may be null).
int RunProgram(const std::vector<std::string>& argv,
               const std::string& scratch_dir, std::string* out,
               std::string* err);

std::string ReadFileOrEmpty(const std::string& path);

}  // namespace linkd::testing

#endif  // LINKD_TESTS_E2E_SUBPROCESS_H_
