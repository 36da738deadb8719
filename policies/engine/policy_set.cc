#include "policies/engine/policy_set.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "linkd/util/status_macros.h"
#include "policies/engine/policy_set_internal.h"

namespace linkd::policy {

PolicySet::PolicySet(std::unique_ptr<internal::CompiledPolicy> compiled)
    : compiled_(std::move(compiled)) {}

PolicySet::~PolicySet() = default;

namespace internal {
const CompiledPolicy& CompiledOf(const PolicySet& set) {
  return *set.compiled_;
}
}  // namespace internal

absl::StatusOr<std::shared_ptr<const PolicySet>> PolicySet::LoadDir(
    const std::string& dir) {
  LINKD_ASSIGN_OR_RETURN(std::vector<PolicySourceFile> files,
                         internal::ReadPolicyDir(dir));
  std::string prefix = dir;
  if (!prefix.empty() && !absl::EndsWith(prefix, "/")) prefix += "/";
  LINKD_ASSIGN_OR_RETURN(std::unique_ptr<internal::CompiledPolicy> compiled,
                         internal::Compile(std::move(files), prefix));
  return std::shared_ptr<const PolicySet>(new PolicySet(std::move(compiled)));
}

absl::StatusOr<std::shared_ptr<const PolicySet>> PolicySet::LoadFiles(
    std::vector<PolicySourceFile> files) {
  LINKD_ASSIGN_OR_RETURN(std::unique_ptr<internal::CompiledPolicy> compiled,
                         internal::Compile(std::move(files), ""));
  return std::shared_ptr<const PolicySet>(new PolicySet(std::move(compiled)));
}

const std::string& PolicySet::name() const { return compiled_->name; }
const std::string& PolicySet::version() const { return compiled_->version; }
const std::string& PolicySet::hash() const { return compiled_->hash; }
const std::string& PolicySet::hash_hex() const { return compiled_->hash_hex; }
const std::vector<std::string>& PolicySet::file_names() const {
  return compiled_->files;
}

std::vector<Role> PolicySet::Roles(absl::string_view org_id) const {
  absl::StatusOr<OrgId> id = ParseOrgId(org_id);
  if (!id.ok()) return {};
  const internal::CompiledOrganisation* org = compiled_->FindOrganisation(*id);
  if (org == nullptr) return {};
  return org->info.roles;
}

absl::StatusOr<OrganisationInfo> PolicySet::Organisation(
    absl::string_view org_id) const {
  LINKD_ASSIGN_OR_RETURN(OrgId id, ParseOrgId(org_id));
  const internal::CompiledOrganisation* org = compiled_->FindOrganisation(id);
  if (org == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "organisation ", id.ToString(), " is not listed in the policy set"));
  }
  return org->info;
}

const PurposeInfo* PolicySet::FindPurpose(absl::string_view id) const {
  auto it = compiled_->purpose_index.find(id);
  if (it == compiled_->purpose_index.end()) return nullptr;
  return &compiled_->purposes[static_cast<size_t>(it->second)];
}

const std::vector<PurposeInfo>& PolicySet::purposes() const {
  return compiled_->purposes;
}

size_t PolicySet::organisation_count() const {
  return compiled_->organisations.size();
}
size_t PolicySet::rule_count() const { return compiled_->rules.size(); }
size_t PolicySet::test_count() const { return compiled_->tests.size(); }

PolicyTestReport PolicySet::RunPolicyTests() const {
  PolicyTestReport report;
  for (const internal::CompiledTest& t : compiled_->tests) {
    PolicyTestResult result;
    result.name = t.name;
    result.location = t.where.ToString();
    result.decision = Evaluate(t.request, t.facts);
    const Decision& d = result.decision;
    std::vector<std::string> problems;
    if (d.allowed != t.expect_allowed) {
      problems.push_back(absl::StrCat(
          "expected ", t.expect_allowed ? "ALLOW" : "DENY", ", got ",
          d.allowed ? "ALLOW" : "DENY", " (", d.reason, ")"));
    }
    if (!t.expect_deciding_rule.empty() &&
        d.deciding_rule_id != t.expect_deciding_rule) {
      problems.push_back(absl::StrCat(
          "expected deciding rule ", t.expect_deciding_rule, ", got ",
          d.deciding_rule_id.empty() ? "none" : d.deciding_rule_id));
    }
    for (const std::string& want : t.expect_notes) {
      bool found = false;
      for (const std::string& note : d.notes) {
        if (absl::StrContains(note, want)) found = true;
      }
      if (!found) {
        problems.push_back(absl::StrCat("expected a note containing \"", want,
                                        "\"; notes: [",
                                        absl::StrJoin(d.notes, "; "), "]"));
      }
    }
    result.passed = problems.empty();
    result.failure = absl::StrJoin(problems, "; ");
    report.results.push_back(std::move(result));
  }
  return report;
}

int PolicyTestReport::passed() const {
  int n = 0;
  for (const PolicyTestResult& r : results) n += r.passed ? 1 : 0;
  return n;
}

int PolicyTestReport::failed() const {
  return static_cast<int>(results.size()) - passed();
}

absl::Status PolicyTestReport::ToStatus() const {
  std::vector<std::string> lines;
  for (const PolicyTestResult& r : results) {
    if (r.passed) continue;
    lines.push_back(absl::StrCat(r.location, ": policy test \"", r.name,
                                 "\" failed: ", r.failure));
  }
  if (lines.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrJoin(lines, "\n"));
}

}  // namespace linkd::policy
