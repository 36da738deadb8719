// linkctl's notification commands (linkd.v1.NotificationService), as the
// organisation of the certificate given with --cert/--key. Each returns the
// program's exit status.
#ifndef LINKD_CTL_NOTIFICATION_COMMANDS_H_
#define LINKD_CTL_NOTIFICATION_COMMANDS_H_

#include <string>
#include <vector>

#include "linkd/ctl/cli.h"

namespace linkd::ctl {

// notifications watch [--format text|jsonl] [--count N] [--wait SECONDS]
//                     [--no-ack]
// notifications pending [--format text|json] [--limit N]
int RunNotifications(const Connection& c, const std::vector<std::string>& args);

}  // namespace linkd::ctl

#endif  // LINKD_CTL_NOTIFICATION_COMMANDS_H_
