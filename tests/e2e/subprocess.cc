#include "tests/e2e/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

extern char** environ;

namespace linkd::testing {

Subprocess::Subprocess(std::vector<std::string> argv, std::string stdout_path,
                       std::string stderr_path)
    : stdout_path_(std::move(stdout_path)),
      stderr_path_(std::move(stderr_path)) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                   O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO,
                                   stdout_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO,
                                   stderr_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<char*> args;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const int rc =
      posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    std::fprintf(stderr, "cannot start %s\n", args[0]);
    std::abort();
  }
}

Subprocess::~Subprocess() {
  if (Running()) {
    kill(pid_, SIGKILL);
    Wait();
  }
}

void Subprocess::Signal(int signal) {
  if (exit_code_ < 0) kill(pid_, signal);
}

int Subprocess::Wait() {
  if (exit_code_ >= 0) return exit_code_;
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0) {
  }
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return exit_code_;
}

bool Subprocess::Running() {
  if (exit_code_ >= 0) return false;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return false;
}

std::string Subprocess::Stdout() const { return ReadFileOrEmpty(stdout_path_); }
std::string Subprocess::Stderr() const { return ReadFileOrEmpty(stderr_path_); }

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int RunProgram(const std::vector<std::string>& argv,
               const std::string& scratch_dir, std::string* out,
               std::string* err) {
  static std::atomic<int> counter{0};
  const std::string base =
      scratch_dir + "/run" + std::to_string(counter++) + ".";
  Subprocess p(argv, base + "out", base + "err");
  const int code = p.Wait();
  if (out != nullptr) *out = p.Stdout();
  if (err != nullptr) *err = p.Stderr();
  return code;
}

}  // namespace linkd::testing
