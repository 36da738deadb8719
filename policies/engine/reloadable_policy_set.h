// ReloadablePolicySet: the daemon's current policy set, loaded at start-up
// and replaced only by an explicit, successful reload.
#ifndef LINKD_POLICIES_ENGINE_RELOADABLE_POLICY_SET_H_
#define LINKD_POLICIES_ENGINE_RELOADABLE_POLICY_SET_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "policies/engine/policy_set.h"

namespace linkd::policy {

// Thread-safe. Readers take a snapshot with Current() and evaluate against
// it; a concurrent Reload() never changes a snapshot already taken, so one
// request is decided, and audited, against one policy version.
class ReloadablePolicySet {
 public:
  // Loads `dir` and runs its tests (LoadAndTestPolicyDir); returns that
  // function's error if either fails, so start-up stops.
  static absl::StatusOr<std::unique_ptr<ReloadablePolicySet>> Open(
      std::string dir);

  ReloadablePolicySet(const ReloadablePolicySet&) = delete;
  ReloadablePolicySet& operator=(const ReloadablePolicySet&) = delete;

  // The current set; never null.
  std::shared_ptr<const PolicySet> Current() const ABSL_LOCKS_EXCLUDED(mu_);

  // Loads and tests the directory again. On success the new set becomes
  // current and is returned; on failure the current set stays and the
  // error of LoadAndTestPolicyDir is returned. Reloads are serialised.
  absl::StatusOr<std::shared_ptr<const PolicySet>> Reload()
      ABSL_LOCKS_EXCLUDED(reload_mu_, mu_);

  const std::string& dir() const { return dir_; }

 private:
  ReloadablePolicySet(std::string dir, std::shared_ptr<const PolicySet> set);

  const std::string dir_;
  // Held while loading so two reloads cannot interleave; readers never wait
  // for a load, only for the pointer swap under mu_.
  absl::Mutex reload_mu_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const PolicySet> current_ ABSL_GUARDED_BY(mu_);
};

}  // namespace linkd::policy

#endif  // LINKD_POLICIES_ENGINE_RELOADABLE_POLICY_SET_H_
