#include "policies/engine/check.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "linkd/util/status_macros.h"
#include "policies/engine/policy_set_internal.h"

namespace linkd::policy {
namespace {

std::string RoleList(const std::vector<Role>& roles) {
  std::vector<std::string> names;
  for (Role r : roles) names.emplace_back(RoleName(r));
  return absl::StrJoin(names, ", ");
}

void PrintSet(const PolicySet& set, std::ostream& out) {
  const internal::CompiledPolicy& c = internal::CompiledOf(set);
  out << "Policy set " << set.name() << " version " << set.version() << "\n"
      << "  hash: sha256:" << set.hash_hex() << "\n"
      << "  files (" << c.files.size() << "):\n";
  for (const std::string& f : c.files) out << "    " << f << "\n";
  out << "  organisations (" << c.organisations.size() << "):\n";
  for (const internal::CompiledOrganisation& o : c.organisations) {
    out << "    " << o.info.entry_id << ": " << RoleList(o.info.roles);
    if (o.info.virtual_school) out << " (Virtual School)";
    out << "\n";
  }
  out << "  purposes (" << c.purposes.size() << "):\n";
  for (const PurposeInfo& p : c.purposes) {
    out << "    " << p.id << ": " << p.lawful_basis << "\n"
        << "      objections "
        << (p.objections_apply ? "apply" : "do not apply") << "; opt-outs "
        << (p.opt_outs_apply ? "apply" : "do not apply");
    if (p.requires_consent) out << "; needs recorded consent";
    if (p.requires_approved_project) out << "; needs an approved project";
    if (p.notification_expiry_days > 0) {
      out << "; notifications expire after " << p.notification_expiry_days
          << " days";
    }
    out << "\n      may disclose: " << absl::StrJoin(p.disclosed_fields, ", ")
        << "\n";
  }
  size_t forbids = 0;
  for (const internal::CompiledRule& r : c.rules) forbids += r.forbid ? 1 : 0;
  out << "  rules (" << c.rules.size() << ": " << c.rules.size() - forbids
      << " permit, " << forbids << " forbid):\n";
  for (const internal::CompiledRule& r : c.rules) {
    out << "    " << (r.forbid ? "FORBID " : "PERMIT ") << r.id << "\n";
  }
  // Not errors, but usually mistakes: a purpose nothing can ever use.
  for (size_t i = 0; i < c.purposes.size(); ++i) {
    bool used = false;
    for (const internal::CompiledRule& r : c.rules) {
      if (r.forbid) continue;
      if (r.purposes.empty() ||
          std::find(r.purposes.begin(), r.purposes.end(),
                    static_cast<int>(i)) != r.purposes.end()) {
        used = true;
      }
    }
    if (!used) {
      out << "  warning: no rule permits anything for purpose "
          << c.purposes[i].id << "\n";
    }
  }
}

}  // namespace

absl::StatusOr<std::shared_ptr<const PolicySet>> LoadAndTestPolicyDir(
    const std::string& dir) {
  LINKD_ASSIGN_OR_RETURN(std::shared_ptr<const PolicySet> set,
                         PolicySet::LoadDir(dir));
  LINKD_RETURN_IF_ERROR(set->RunPolicyTests().ToStatus());
  return set;
}

absl::Status CheckPolicyDir(const std::string& dir, std::ostream& out) {
  absl::StatusOr<std::shared_ptr<const PolicySet>> set =
      PolicySet::LoadDir(dir);
  if (!set.ok()) {
    out << "policy check of " << dir << " FAILED: the policy set does not "
        << "load\n"
        << set.status().message() << "\n";
    return set.status();
  }
  PrintSet(**set, out);
  const PolicyTestReport report = (*set)->RunPolicyTests();
  out << "  tests (" << report.results.size() << "): " << report.passed()
      << " passed, " << report.failed() << " failed\n";
  for (const PolicyTestResult& r : report.results) {
    out << "    " << (r.passed ? "PASS " : "FAIL ") << r.name << "\n";
    if (!r.passed) out << "      " << r.location << ": " << r.failure << "\n";
  }
  absl::Status status = report.ToStatus();
  if (!status.ok()) {
    out << "policy check of " << dir << " FAILED: " << report.failed()
        << " policy test(s) failed\n"
        << status.message() << "\n";
    return status;
  }
  out << "policy check of " << dir << ": OK\n";
  return absl::OkStatus();
}

}  // namespace linkd::policy
