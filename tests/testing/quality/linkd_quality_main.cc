// linkd-quality: linkage-quality figures of a clustering against the ground
// truth. See cli.h for the usage.
#include <cstdio>
#include <string>
#include <vector>

#include "tests/testing/quality/cli.h"

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  std::string out, err;
  const int status = linkd::quality::RunQualityCommand(args, &out, &err);
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fwrite(err.data(), 1, err.size(), stderr);
  return status;
}
