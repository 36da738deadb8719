#include "policies/engine/reloadable_policy_set.h"

#include <utility>

#include "linkd/util/status_macros.h"
#include "policies/engine/check.h"

namespace linkd::policy {

ReloadablePolicySet::ReloadablePolicySet(std::string dir,
                                         std::shared_ptr<const PolicySet> set)
    : dir_(std::move(dir)), current_(std::move(set)) {}

absl::StatusOr<std::unique_ptr<ReloadablePolicySet>> ReloadablePolicySet::Open(
    std::string dir) {
  LINKD_ASSIGN_OR_RETURN(std::shared_ptr<const PolicySet> set,
                         LoadAndTestPolicyDir(dir));
  return std::unique_ptr<ReloadablePolicySet>(
      new ReloadablePolicySet(std::move(dir), std::move(set)));
}

std::shared_ptr<const PolicySet> ReloadablePolicySet::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

absl::StatusOr<std::shared_ptr<const PolicySet>> ReloadablePolicySet::Reload() {
  absl::MutexLock reload(&reload_mu_);
  LINKD_ASSIGN_OR_RETURN(std::shared_ptr<const PolicySet> set,
                         LoadAndTestPolicyDir(dir_));
  absl::MutexLock lock(&mu_);
  current_ = set;
  return set;
}

}  // namespace linkd::policy
