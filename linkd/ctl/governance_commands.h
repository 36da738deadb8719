// linkctl's governance commands: policy, consent and audit
// (linkd.v1.GovernanceService, plus offline checks that need no daemon).
// Each returns the program's exit status.
#ifndef LINKD_CTL_GOVERNANCE_COMMANDS_H_
#define LINKD_CTL_GOVERNANCE_COMMANDS_H_

#include <string>
#include <vector>

#include "linkd/ctl/cli.h"

namespace linkd::ctl {

// policy check DIR | policy show | policy reload
int RunPolicy(const Connection& c, const std::vector<std::string>& args);
// consent record ... | consent list ...
int RunConsent(const Connection& c, const std::vector<std::string>& args);
// audit verify | export | subject | checkpoint
int RunAudit(const Connection& c, const std::vector<std::string>& args);

}  // namespace linkd::ctl

#endif  // LINKD_CTL_GOVERNANCE_COMMANDS_H_
