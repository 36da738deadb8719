// policy_check DIR: checks a policy directory (loads every file, runs the
// policy tests) and prints a report. Exit status 0 if the set is good, 1 if
// not, 2 on wrong usage. CI runs it on the shipped policies/ directory.
#include <iostream>

#include "policies/engine/check.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: policy_check DIR\n";
    return 2;
  }
  return linkd::policy::CheckPolicyDir(argv[1], std::cout).ok() ? 0 : 1;
}
