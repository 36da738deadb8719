#include "policies/engine/reloadable_policy_set.h"

#include <atomic>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/util/status_matchers.h"
#include "linkd/util/temp_dir.h"

namespace linkd::policy {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;
using ::testing::HasSubstr;

std::string Set(const std::string& version, const std::string& expect) {
  return R"(
policy_set { name: "r" version: ")" +
         version + R"(" }
organisations { id: "la/*" display_name: "LAs" roles: "auditor" }
purposes {
  id: "ig_audit"
  display_name: "Audit"
  description: "Audit."
  lawful_basis { uk_gdpr_article_6: "6(1)(c) legal obligation" }
  why_objections_do_not_apply: "x"
  why_opt_outs_do_not_apply: "x"
  disclosed_fields: "audit_entries"
}
rules {
  id: "audit"
  effect: PERMIT
  description: "Auditors read the audit trail."
  actions: "audit.read"
  requester_roles: "auditor"
}
tests {
  name: "an auditor reads"
  request {
    action: "audit.read"
    purpose: "ig_audit"
    requester: "la/1"
    time: "2025-01-01T00:00:00Z"
  }
  expect: )" +
         expect + "\n}\n";
}

void Write(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

TEST(ReloadablePolicySetTest, OpenRefusesAFailingSet) {
  linkd::testing::TempDir dir;
  Write(dir.Sub("set.textproto"), Set("1", "DENY"));
  EXPECT_THAT(ReloadablePolicySet::Open(dir.path()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("set.textproto:")));
  Write(dir.Sub("set.textproto"), "policy_set {");
  EXPECT_THAT(ReloadablePolicySet::Open(dir.path()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ReloadablePolicySetTest, ReloadSwapsOnlyOnSuccess) {
  linkd::testing::TempDir dir;
  Write(dir.Sub("set.textproto"), Set("1", "ALLOW"));
  auto holder = ReloadablePolicySet::Open(dir.path());
  ASSERT_THAT(holder, IsOk());
  std::shared_ptr<const PolicySet> first = (*holder)->Current();
  EXPECT_EQ(first->version(), "1");

  // A broken edit: the reload fails and version 1 stays current.
  Write(dir.Sub("set.textproto"), Set("2", "DENY"));
  EXPECT_THAT((*holder)->Reload(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ((*holder)->Current()->version(), "1");

  // A good edit: version 2 becomes current; the old snapshot is unchanged.
  Write(dir.Sub("set.textproto"), Set("2", "ALLOW"));
  auto reloaded = (*holder)->Reload();
  ASSERT_THAT(reloaded, IsOk());
  EXPECT_EQ((*reloaded)->version(), "2");
  EXPECT_EQ((*holder)->Current()->version(), "2");
  EXPECT_NE((*holder)->Current()->hash(), first->hash());
  EXPECT_EQ(first->version(), "1");
}

TEST(ReloadablePolicySetTest, ReadersNeverSeeAGapDuringReloads) {
  linkd::testing::TempDir dir;
  Write(dir.Sub("set.textproto"), Set("1", "ALLOW"));
  auto holder = ReloadablePolicySet::Open(dir.path());
  ASSERT_THAT(holder, IsOk());
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 2; ++i) {
    readers.emplace_back([&] {
      Request r;
      r.action = Action::kAuditRead;
      r.purpose = "ig_audit";
      r.requester = "la/1";
      r.time = absl::UnixEpoch() + absl::Hours(1);
      while (!stop.load()) {
        std::shared_ptr<const PolicySet> set = (*holder)->Current();
        if (set == nullptr || !set->Evaluate(r, SubjectFacts()).allowed) ++bad;
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    ASSERT_THAT((*holder)->Reload(), IsOk());
  }
  stop = true;
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace linkd::policy
