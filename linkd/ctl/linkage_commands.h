// linkctl's linkage commands: resolve, links, linking, explain, review and
// model (linkd.v1.LinkageService). Each returns the program's exit status.
#ifndef LINKD_CTL_LINKAGE_COMMANDS_H_
#define LINKD_CTL_LINKAGE_COMMANDS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "linkd/ctl/cli.h"

namespace linkd::ctl {

int RunResolve(const Connection& c, const std::vector<std::string>& args);
int RunLinks(const Connection& c, const std::vector<std::string>& args);
int RunLinking(const Connection& c, const std::vector<std::string>& args);
int RunExplain(const Connection& c, const std::vector<std::string>& args);
int RunReview(const Connection& c, const std::vector<std::string>& args);
int RunModel(const Connection& c, const std::vector<std::string>& args);

// Waits until linking reaches `seq`, showing progress on stderr (a line
// that rewrites itself on a terminal); false if linking is paused or the
// status cannot be read.
bool WaitForLinking(const Connection& c, uint64_t seq);

}  // namespace linkd::ctl

#endif  // LINKD_CTL_LINKAGE_COMMANDS_H_
