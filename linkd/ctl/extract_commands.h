// linkctl's research extract commands: the project register, extract
// requests and their decisions (linkd.v1.ExtractService), and the
// researcher's own tools that need no daemon: a key pair (keygen) and
// opening a downloaded extract (open). Each returns the program's exit
// status.
#ifndef LINKD_CTL_EXTRACT_COMMANDS_H_
#define LINKD_CTL_EXTRACT_COMMANDS_H_

#include <string>
#include <vector>

#include "linkd/ctl/cli.h"

namespace linkd::ctl {

// project register ... | project list
int RunProject(const Connection& c, const std::vector<std::string>& args);
// extract keygen | request | list | approve | refuse | fetch | open
int RunExtract(const Connection& c, const std::vector<std::string>& args);

}  // namespace linkd::ctl

#endif  // LINKD_CTL_EXTRACT_COMMANDS_H_
