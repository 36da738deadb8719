// Property test: on random rule sets, random requests and random orders of
// rules and files, the engine decides exactly as a small reference evaluator
// written from the specification ("deny by default; any matching forbid
// beats any permit"), and the outcome never depends on the order.
//
// The reference works on the policy protos with plain loops and string
// comparisons and shares no code with the engine. Seeded, so a failure
// repeats; set LINKD_POLICY_PROPERTY_SEED to explore other seeds.
#include <algorithm>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "linkd/policy/v1/policy.pb.h"
#include "policies/engine/policy_set.h"

namespace linkd::policy {
namespace {

using Rng = std::mt19937_64;

const std::vector<std::string> kActions = {"notification.send", "flag.send",
                                           "extract.release", "audit.read"};
const std::vector<std::string> kPurposes = {"alpha", "beta", "gamma"};
const std::vector<std::string> kRoles = {"provider", "recipient", "ig_officer",
                                         "auditor"};
const std::vector<std::string> kKinds = {"school", "la", "health", "research"};
const std::vector<std::string> kOrgs = {"school/1",  "school/9", "la/2",
                                        "la/5",      "health/3", "health/8",
                                        "research/x"};
const std::vector<std::string> kOrgPatterns = {
    "school/1", "school/*", "la/2",      "la/*",
    "health/3", "health/*", "research/x"};
const std::vector<std::string> kFields = {"event_type", "contact",
                                          "current_school"};
const std::vector<std::string> kPredicates = {"in_refuge",
                                              "looked_after",
                                              "has_open_episode",
                                              "recipient_holds_open_episode",
                                              "recipient_is_current_school",
                                              "objection_recorded"};

// --- The fixed part of every generated set: header, organisations and
// purposes, given as protos so the reference can read them too.

struct RefPurpose {
  std::string category;
  bool objections_apply;
  std::set<std::string> fields;
};

const std::map<std::string, RefPurpose>& Purposes() {
  static const auto* const p = new std::map<std::string, RefPurpose>{
      {"alpha", {"alpha", false, {"event_type", "contact"}}},
      {"beta", {"beta", true, {"event_type"}}},
      {"gamma", {"beta", false, {"contact", "current_school"}}},
  };
  return *p;
}

// Exact ids and "<kind>/*" patterns with their roles.
const std::map<std::string, std::set<std::string>>& Organisations() {
  static const auto* const o = new std::map<std::string, std::set<std::string>>{
      {"school/*", {"provider", "recipient"}},
      {"school/1", {"recipient"}},
      {"la/*", {"provider"}},
      {"la/2", {"provider", "recipient", "ig_officer"}},
      {"health/3", {"recipient", "auditor"}},
  };
  return *o;
}

v1::PolicyFile BaseFile() {
  v1::PolicyFile f;
  f.mutable_policy_set()->set_name("property");
  f.mutable_policy_set()->set_version("1");
  for (const auto& [id, roles] : Organisations()) {
    v1::Organisation* o = f.add_organisations();
    o->set_id(id);
    o->set_display_name(id);
    for (const std::string& r : roles) o->add_roles(r);
  }
  for (const auto& [id, p] : Purposes()) {
    v1::Purpose* pp = f.add_purposes();
    pp->set_id(id);
    pp->set_display_name(id);
    pp->set_description(id);
    pp->set_category(p.category);
    pp->mutable_lawful_basis()->set_uk_gdpr_article_6("6(1)(e) public task");
    pp->set_objections_apply(p.objections_apply);
    if (!p.objections_apply) pp->set_why_objections_do_not_apply("test");
    pp->set_why_opt_outs_do_not_apply("test");
    for (const std::string& field : p.fields) pp->add_disclosed_fields(field);
  }
  return f;
}

// --- Random generation.

bool Chance(Rng& rng, double p) {
  return std::uniform_real_distribution<double>(0, 1)(rng) < p;
}

template <typename T>
const T& Pick(Rng& rng, const std::vector<T>& v) {
  return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng)];
}

// A random non-empty subset of `from`, or empty ("any") with probability
// p_empty.
std::vector<std::string> Subset(Rng& rng, const std::vector<std::string>& from,
                                double p_empty) {
  std::vector<std::string> out;
  if (Chance(rng, p_empty)) return out;
  while (out.empty()) {
    for (const std::string& s : from) {
      if (Chance(rng, 0.35)) out.push_back(s);
    }
  }
  return out;
}

v1::Rule RandomRule(Rng& rng, int index) {
  v1::Rule r;
  // Random ids, so that id order, generation order and file order differ.
  r.set_id(absl::StrCat("r", std::uniform_int_distribution<int>(0, 999)(rng),
                        "-", index));
  r.set_effect(Chance(rng, 0.6) ? v1::Rule::PERMIT : v1::Rule::FORBID);
  r.set_description("random rule");
  for (const std::string& a : Subset(rng, kActions, 0.0)) r.add_actions(a);
  for (const std::string& p : Subset(rng, kPurposes, 0.6)) r.add_purposes(p);
  for (const std::string& x : Subset(rng, kRoles, 0.7)) {
    r.add_requester_roles(x);
  }
  for (const std::string& x : Subset(rng, kKinds, 0.8)) {
    r.add_requester_kinds(x);
  }
  for (const std::string& x : Subset(rng, kOrgPatterns, 0.9)) {
    r.add_requester_orgs(x);
  }
  for (const std::string& x : Subset(rng, kRoles, 0.7)) {
    r.add_recipient_roles(x);
  }
  for (const std::string& x : Subset(rng, kKinds, 0.8)) {
    r.add_recipient_kinds(x);
  }
  for (const std::string& x : Subset(rng, kOrgPatterns, 0.9)) {
    r.add_recipient_orgs(x);
  }
  for (const std::string& x : Subset(rng, kFields, 0.8)) r.add_fields(x);
  // Up to two distinct conditions, each maybe negated.
  std::vector<std::string> preds = kPredicates;
  std::shuffle(preds.begin(), preds.end(), rng);
  const int n = std::uniform_int_distribution<int>(0, 2)(rng);
  for (int i = 0; i < n; ++i) {
    r.add_conditions(Chance(rng, 0.4) ? absl::StrCat("not ", preds[i])
                                      : preds[i]);
  }
  return r;
}

struct Case {
  v1::Request request;
  v1::SubjectFacts facts;
};

Case RandomCase(Rng& rng) {
  Case c;
  c.request.set_action(Pick(rng, kActions));
  c.request.set_purpose(Pick(rng, kPurposes));
  c.request.set_requester(Pick(rng, kOrgs));
  // audit.read needs no recipient; sometimes give none.
  if (c.request.action() != "audit.read" || Chance(rng, 0.5)) {
    c.request.set_recipient(Pick(rng, kOrgs));
  }
  c.request.set_time("2025-03-03T09:00:00Z");
  for (const std::string& f : kFields) {
    if (Chance(rng, 0.25)) c.request.add_fields(f);
  }
  c.facts.set_in_refuge(Chance(rng, 0.5));
  c.facts.set_looked_after(Chance(rng, 0.5));
  c.facts.set_has_open_episode(Chance(rng, 0.5));
  c.facts.set_recipient_holds_open_episode(Chance(rng, 0.5));
  c.facts.set_recipient_is_current_school(Chance(rng, 0.5));
  if (Chance(rng, 0.3)) {
    c.facts.add_objections(Chance(rng, 0.3) ? "all" : Pick(rng, kPurposes));
  }
  return c;
}

// --- The reference evaluator: the specification, read literally.

std::string KindOf(const std::string& org) {
  return org.substr(0, org.find('/'));
}

std::set<std::string> RolesOf(const std::string& org) {
  const auto& orgs = Organisations();
  if (auto it = orgs.find(org); it != orgs.end()) return it->second;
  if (auto it = orgs.find(KindOf(org) + "/*"); it != orgs.end()) {
    return it->second;
  }
  return {};
}

template <typename List>
bool Contains(const List& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

template <typename List>
bool AnyRole(const List& wanted, const std::set<std::string>& roles) {
  for (const std::string& r : wanted) {
    if (roles.count(r) > 0) return true;
  }
  return false;
}

template <typename List>
bool AnyOrg(const List& patterns, const std::string& org) {
  for (const std::string& p : patterns) {
    if (p == org) return true;
    if (absl::EndsWith(p, "/*") && KindOf(p) == KindOf(org)) return true;
  }
  return false;
}

bool FactValue(const std::string& name, const Case& c) {
  const v1::SubjectFacts& f = c.facts;
  if (name == "in_refuge") return f.in_refuge();
  if (name == "looked_after") return f.looked_after();
  if (name == "has_open_episode") return f.has_open_episode();
  if (name == "recipient_holds_open_episode") {
    return f.recipient_holds_open_episode();
  }
  if (name == "recipient_is_current_school") {
    return f.recipient_is_current_school();
  }
  if (name == "objection_recorded") {
    const std::string& category = Purposes().at(c.request.purpose()).category;
    return Contains(f.objections(), category) ||
           Contains(f.objections(), "all");
  }
  ADD_FAILURE() << "reference does not know " << name;
  return false;
}

bool RuleMatches(const v1::Rule& r, const Case& c) {
  const v1::Request& q = c.request;
  if (!Contains(r.actions(), q.action())) return false;
  if (!r.purposes().empty() && !Contains(r.purposes(), q.purpose())) {
    return false;
  }
  if (!r.requester_roles().empty() &&
      !AnyRole(r.requester_roles(), RolesOf(q.requester()))) {
    return false;
  }
  if (!r.requester_kinds().empty() &&
      !Contains(r.requester_kinds(), KindOf(q.requester()))) {
    return false;
  }
  if (!r.requester_orgs().empty() &&
      !AnyOrg(r.requester_orgs(), q.requester())) {
    return false;
  }
  const bool wants_recipient = !r.recipient_roles().empty() ||
                               !r.recipient_kinds().empty() ||
                               !r.recipient_orgs().empty();
  if (wants_recipient && q.recipient().empty()) return false;
  if (!r.recipient_roles().empty() &&
      !AnyRole(r.recipient_roles(), RolesOf(q.recipient()))) {
    return false;
  }
  if (!r.recipient_kinds().empty() &&
      !Contains(r.recipient_kinds(), KindOf(q.recipient()))) {
    return false;
  }
  if (!r.recipient_orgs().empty() &&
      !AnyOrg(r.recipient_orgs(), q.recipient())) {
    return false;
  }
  if (!r.fields().empty()) {
    bool any = false;
    for (const std::string& f : q.fields())
      any = any || Contains(r.fields(), f);
    if (!any) return false;
  }
  for (const std::string& cond : r.conditions()) {
    const bool negated = absl::StartsWith(cond, "not ");
    const std::string name = negated ? cond.substr(4) : cond;
    if (FactValue(name, c) == negated) return false;
  }
  return true;
}

struct Expected {
  bool allowed;
  std::string deciding;
  std::vector<std::string> matched;
};

Expected Reference(const std::vector<v1::Rule>& rules, const Case& c) {
  const RefPurpose& p = Purposes().at(c.request.purpose());
  const bool objection =
      p.objections_apply && FactValue("objection_recorded", c);
  bool bad_field = false;
  for (const std::string& f : c.request.fields()) {
    if (p.fields.count(f) == 0) bad_field = true;
  }
  std::set<std::string> forbids, permits;
  for (const v1::Rule& r : rules) {
    if (!RuleMatches(r, c)) continue;
    (r.effect() == v1::Rule::FORBID ? forbids : permits).insert(r.id());
  }
  const std::string guard_prefix = "purpose:" + c.request.purpose() + ":";
  Expected e;
  e.allowed = !objection && !bad_field && forbids.empty() && !permits.empty();
  if (objection) {
    e.deciding = guard_prefix + "objection";
  } else if (bad_field) {
    e.deciding = guard_prefix + "fields";
  } else if (!forbids.empty()) {
    e.deciding = *forbids.begin();
  } else if (!permits.empty()) {
    e.deciding = *permits.begin();
  } else {
    e.deciding = "default-deny";
  }
  std::set<std::string> all(forbids.begin(), forbids.end());
  all.insert(permits.begin(), permits.end());
  if (objection) all.insert(guard_prefix + "objection");
  if (bad_field) all.insert(guard_prefix + "fields");
  e.matched.assign(all.begin(), all.end());
  return e;
}

// --- Arranging a rule set into files, in a random order.

std::vector<PolicySourceFile> Arrange(Rng& rng, std::vector<v1::Rule> rules) {
  std::shuffle(rules.begin(), rules.end(), rng);
  const int n_files = std::uniform_int_distribution<int>(1, 3)(rng);
  std::vector<v1::PolicyFile> files(static_cast<size_t>(n_files));
  files[0] = BaseFile();
  for (const v1::Rule& r : rules) {
    const size_t i =
        std::uniform_int_distribution<size_t>(0, files.size() - 1)(rng);
    *files[i].add_rules() = r;
  }
  // Random names, so the sorted file order is random too.
  std::vector<PolicySourceFile> out;
  for (size_t i = 0; i < files.size(); ++i) {
    PolicySourceFile f;
    f.name = absl::StrCat("f", std::uniform_int_distribution<int>(0, 99)(rng),
                          "_", i, ".textproto");
    google::protobuf::TextFormat::PrintToString(files[i], &f.contents);
    out.push_back(std::move(f));
  }
  return out;
}

std::string Describe(const std::vector<v1::Rule>& rules, const Case& c) {
  std::string s = "rules:\n";
  for (const v1::Rule& r : rules)
    absl::StrAppend(&s, r.ShortDebugString(), "\n");
  absl::StrAppend(&s, "request: ", c.request.ShortDebugString(),
                  "\nfacts: ", c.facts.ShortDebugString());
  return s;
}

uint64_t Seed() {
  uint64_t seed = 20250303;
  if (const char* env = std::getenv("LINKD_POLICY_PROPERTY_SEED")) {
    if (!absl::SimpleAtoi(env, &seed)) ADD_FAILURE() << "bad seed " << env;
  }
  return seed;
}

constexpr int kRuleSets = 400;
constexpr int kArrangements = 4;
constexpr int kCasesPerSet = 25;

TEST(EvaluatorPropertyTest, MatchesReferenceInEveryOrder) {
  const uint64_t seed = Seed();
  SCOPED_TRACE(absl::StrCat("seed ", seed));
  Rng rng(seed);
  int allowed = 0, denied_by_forbid = 0, denied_by_default = 0, checks = 0;
  for (int set = 0; set < kRuleSets; ++set) {
    std::vector<v1::Rule> rules;
    const int n = std::uniform_int_distribution<int>(1, 12)(rng);
    for (int i = 0; i < n; ++i) rules.push_back(RandomRule(rng, i));
    std::vector<Case> cases;
    for (int i = 0; i < kCasesPerSet; ++i) cases.push_back(RandomCase(rng));

    for (int arrangement = 0; arrangement < kArrangements; ++arrangement) {
      auto loaded = PolicySet::LoadFiles(Arrange(rng, rules));
      ASSERT_TRUE(loaded.ok()) << loaded.status();
      for (const Case& c : cases) {
        auto request = RequestFromProto(c.request);
        auto facts = SubjectFactsFromProto(c.facts);
        ASSERT_TRUE(request.ok() && facts.ok());
        const Decision d = (*loaded)->Evaluate(*request, *facts);
        const Expected want = Reference(rules, c);
        ++checks;
        ASSERT_EQ(d.allowed, want.allowed)
            << "set " << set << ", arrangement " << arrangement << "\n"
            << d.reason << "\n"
            << Describe(rules, c);
        ASSERT_EQ(d.deciding_rule_id, want.deciding) << Describe(rules, c);
        ASSERT_EQ(d.matched_rule_ids, want.matched) << Describe(rules, c);
        ASSERT_EQ(d.code == absl::StatusCode::kOk, want.allowed);
        if (arrangement == 0) {
          if (want.allowed) {
            ++allowed;
          } else if (want.deciding == "default-deny") {
            ++denied_by_default;
          } else {
            ++denied_by_forbid;
          }
        }
      }
    }
  }
  // The generator must exercise every outcome, or the test proves little.
  EXPECT_GT(allowed, kRuleSets);
  EXPECT_GT(denied_by_forbid, kRuleSets);
  EXPECT_GT(denied_by_default, kRuleSets);
  RecordProperty("checks", checks);
}

// Adding a forbid rule that matches a permitted request, anywhere in any
// file, always turns it into a denial decided by that rule or another forbid.
TEST(EvaluatorPropertyTest, AMatchingForbidAlwaysWins) {
  const uint64_t seed = Seed() + 1;
  SCOPED_TRACE(absl::StrCat("seed ", seed));
  Rng rng(seed);
  int tried = 0;
  for (int set = 0; set < kRuleSets && tried < 1000; ++set) {
    std::vector<v1::Rule> rules;
    const int n = std::uniform_int_distribution<int>(1, 10)(rng);
    for (int i = 0; i < n; ++i) rules.push_back(RandomRule(rng, i));
    for (int i = 0; i < kCasesPerSet; ++i) {
      const Case c = RandomCase(rng);
      if (!Reference(rules, c).allowed) continue;
      ++tried;
      v1::Rule forbid;
      forbid.set_id(absl::StrCat("zz-forbid-", i));
      forbid.set_effect(v1::Rule::FORBID);
      forbid.set_description("forbids this request");
      forbid.add_actions(c.request.action());
      if (Chance(rng, 0.5)) forbid.add_purposes(c.request.purpose());
      std::vector<v1::Rule> with = rules;
      const size_t at =
          std::uniform_int_distribution<size_t>(0, with.size())(rng);
      with.insert(with.begin() + static_cast<std::ptrdiff_t>(at), forbid);
      auto loaded = PolicySet::LoadFiles(Arrange(rng, with));
      ASSERT_TRUE(loaded.ok()) << loaded.status();
      const Decision d = (*loaded)->Evaluate(*RequestFromProto(c.request),
                                             *SubjectFactsFromProto(c.facts));
      ASSERT_FALSE(d.allowed) << Describe(with, c);
      EXPECT_TRUE(std::count(d.matched_rule_ids.begin(),
                             d.matched_rule_ids.end(), forbid.id()) == 1);
    }
  }
  EXPECT_GT(tried, 200);
}

}  // namespace
}  // namespace linkd::policy
