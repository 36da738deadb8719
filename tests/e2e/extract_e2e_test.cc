// Research extracts end to end, with the real binaries over mTLS
// (certificates from deploy/scripts/dev-ca.sh) and real crypto: a school
// sends its census with attributes, a local authority its social care
// episodes, the school its suspensions (all encoded with linkd-encode and
// submitted with linkctl as the organisations themselves); an IG officer
// records one family's objection and registers projects; the research
// projects request extracts, the IG officer approves them, the researchers
// download them and open them with linkctl extract open. Children are
// synthetic.
//
// Synthetic child n (0 <= n < kChildren) has year group 1 + n % 11 and,
// for n < kCohort, a Child in Need plan starting on 2025-01-01 + n days
// (ending on 2025-06-01 + n days for even n) and, for n < 10, a suspension
// on 2025-03-01 + n days: with day-level dates, a child's plan start names
// it in an extract, so the test can check every row.
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "linkd/util/temp_dir.h"
#include "linkd/v1/extract_service.pb.h"
#include "tests/e2e/subprocess.h"

namespace linkd {
namespace {

using testing::RunProgram;
using testing::Subprocess;

constexpr int kChildren = 60;
constexpr int kCohort = 30;
constexpr int kObjector = 5;  // the family objected to research

std::string Day(absl::CivilDay d) {
  return absl::StrFormat("%04d-%02d-%02d", d.year(), d.month(), d.day());
}
std::string PlanStart(int n) { return Day(absl::CivilDay(2025, 1, 1) + n); }
std::string PlanEnd(int n) { return Day(absl::CivilDay(2025, 6, 1) + n); }
std::string Suspension(int n) { return Day(absl::CivilDay(2025, 3, 1) + n); }

// Synthetic child n's identity columns: ref,forename,surname,dob,sex,
// postcode (ref given by the caller).
std::string Identity(int n) {
  static const char* const kGiven[] = {"Amarantha", "Bellwyn",  "Corvenna",
                                       "Dastrelle", "Evanthor", "Faldrine",
                                       "Gorvanel",  "Halvinne"};
  static const char* const kFirst[] = {"Quill", "Rasten", "Sollow", "Thren",
                                       "Umber", "Vex",    "Wyrd",   "Yarrow"};
  static const char* const kSecond[] = {"borne", "ford",  "mere",  "nick",
                                        "lain",  "holme", "stead", "wick"};
  static const char kLetters[] = "ABDEFGHJLNPQRSTUWXYZ";
  const absl::CivilDay dob = absl::CivilDay(2010, 1, 1) + n * 37;
  return absl::StrFormat("%s,%s%s,%s,%s,LS%d %d%c%c", kGiven[n % 8],
                         kFirst[n / 8 % 8], kSecond[n % 8], Day(dob),
                         n % 2 == 0 ? "F" : "M", 1 + n % 25, n % 10,
                         kLetters[n / 10 % 20], kLetters[n % 20]);
}

class ExtractE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string out, err;
    ASSERT_EQ(RunProgram({"/bin/bash", LINKD_DEV_CA_SCRIPT, certs_},
                         dir_.path(), &out, &err),
              0)
        << err;
    ASSERT_EQ(RunProgram({LINKD_ENCODE_BIN, "keygen", "--out", key_},
                         dir_.path(), &out, &err),
              0)
        << err;
    MakePolicyDir();
    StartDaemon();
    LoadPopulation();
    for (const char* p : {"PRJ-001", "PRJ-002"}) {
      const std::string prefix = dir_.Sub(p);
      ASSERT_EQ(RunProgram({LINKCTL_BIN, "extract", "keygen", "--public-key",
                            prefix + ".pub", "--secret-key", prefix + ".key"},
                           dir_.path(), &out, &err),
                0)
          << err;
      RegisterProject(p, Day(Today() + 365));
    }
    std::string list;
    ASSERT_EQ(Linkctl("research/PRJ-001", {"project", "list"}, &list), 0);
    const size_t at = list.find("release signing key");
    ASSERT_NE(at, std::string::npos) << list;
    signer_ = list.substr(list.rfind(' ') + 1);
    signer_.erase(signer_.find_last_not_of('\n') + 1);
    ASSERT_EQ(signer_.size(), 64u) << list;
  }

  static absl::CivilDay Today() {
    return absl::ToCivilDay(absl::Now(), absl::UTCTimeZone());
  }

  // The shipped policies, plus one research organisation that is also an
  // IG officer, so that separation of duties can be tried by an
  // organisation that holds both roles.
  void MakePolicyDir() {
    std::filesystem::copy(LINKD_POLICY_DIR, policies_,
                          std::filesystem::copy_options::recursive);
    std::ofstream(policies_ + "/organisations.textproto", std::ios::app)
        << "\norganisations {\n  id: \"research/PRJ-002\"\n"
           "  display_name: \"A research unit with its own IG officer "
           "(test)\"\n  roles: [\"researcher\", \"ig_officer\"]\n}\n";
  }

  void StartDaemon() {
    const std::string ready = dir_.Sub("ready");
    daemon_ = std::make_unique<Subprocess>(
        std::vector<std::string>{
            LINKD_BIN, "--data-dir", dir_.Sub("db"), "--listen", "127.0.0.1:0",
            "--ready-file", ready, "--policy-dir", policies_, "--tls-cert",
            certs_ + "/server.pem", "--tls-key", certs_ + "/server.key",
            "--client-ca", certs_ + "/ca.pem"},
        dir_.Sub("linkd.out"), dir_.Sub("linkd.err"));
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (testing::ReadFileOrEmpty(ready).empty()) {
      ASSERT_TRUE(daemon_->Running()) << daemon_->Stderr();
      ASSERT_LT(absl::Now(), deadline) << "linkd did not become ready";
      absl::SleepFor(absl::Milliseconds(20));
    }
    address_ = testing::ReadFileOrEmpty(ready);
    address_.erase(address_.find_last_not_of('\n') + 1);
  }

  // linkctl as organisation `org` (e.g. "la/999-ig").
  int Linkctl(const std::string& org, std::vector<std::string> args,
              std::string* out, std::string* err = nullptr) {
    std::string name = org;
    std::replace(name.begin(), name.end(), '/', '-');
    std::vector<std::string> argv = {LINKCTL_BIN,
                                     "--server",
                                     address_,
                                     "--cert",
                                     certs_ + "/" + name + ".pem",
                                     "--key",
                                     certs_ + "/" + name + ".key",
                                     "--ca",
                                     certs_ + "/ca.pem"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string ignored;
    return RunProgram(argv, dir_.path(), out, err != nullptr ? err : &ignored);
  }

  std::string Encode(const std::string& name, const std::string& source,
                     const std::string& csv, bool events,
                     std::vector<std::string> extra = {}) {
    const std::string in = dir_.Sub(name + ".csv");
    const std::string out_file = dir_.Sub(name + ".linkd");
    std::ofstream(in) << csv;
    std::vector<std::string> argv = {LINKD_ENCODE_BIN};
    if (events) argv.push_back("events");
    argv.insert(argv.end(), {"--key", key_, "--source", source, "--map",
                             "record_id=ref", "--map", "given_name=forename",
                             "--map", "family_name=surname", "--map", "dob=dob",
                             "--map", "sex=sex", "--map", "postcode=postcode"});
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.insert(argv.end(), {"--out", out_file, in});
    std::string out, err;
    EXPECT_EQ(RunProgram(argv, dir_.path(), &out, &err), 0) << err;
    return out_file;
  }

  void Submit(const std::string& org, const std::string& file) {
    std::string out, err;
    ASSERT_EQ(Linkctl(org, {"submit", "--format", "json", file}, &out, &err), 0)
        << out << err;
    EXPECT_NE(out.find("\"rejected\":0"), std::string::npos) << out;
  }

  void LoadPopulation() {
    std::string census =
        "ref,forename,surname,dob,sex,postcode,ncyear,sen,fsm,ethnicity\n";
    static const char* const kEthnicity[] = {"WBRI", "APKN", "BAFR", "MWBC"};
    for (int n = 0; n < kChildren; ++n) {
      absl::StrAppend(&census, absl::StrFormat("PUP-%03d,", n), Identity(n),
                      ",", 1 + n % 11, ",", n % 4 == 0 ? "K" : "N", ",",
                      n % 3 == 0 ? "true" : "false", ",", kEthnicity[n % 4],
                      "\n");
    }
    Submit("school/100001",
           Encode("census", "school/100001", census, false,
                  {"--attr", "year_group=ncyear", "--attr", "sen_status=sen",
                   "--attr", "fsm_eligible=fsm", "--attr",
                   "ethnicity_code=ethnicity"}));
    std::string plans =
        "ref,forename,surname,dob,sex,postcode,event_id,type,date,"
        "episode_kind,contact_org,contact_team,contact_phone\n";
    for (int n = 0; n < kCohort; ++n) {
      absl::StrAppend(&plans, absl::StrFormat("CASE-%03d,", n), Identity(n),
                      absl::StrFormat(",CIN-%03d-S,episode_start,", n),
                      PlanStart(n),
                      ",cin,la/999,Children's Services North,01632 960000\n");
      if (n % 2 == 0) {
        absl::StrAppend(&plans, absl::StrFormat("CASE-%03d,", n), Identity(n),
                        absl::StrFormat(",CIN-%03d-E,episode_end,", n),
                        PlanEnd(n), ",cin,,,\n");
      }
    }
    Submit("la/999", Encode("plans", "la/999", plans, true));
    std::string suspensions =
        "ref,forename,surname,dob,sex,postcode,event_id,type,date,days\n";
    for (int n = 0; n < 10; ++n) {
      absl::StrAppend(&suspensions, absl::StrFormat("PUP-%03d,", n),
                      Identity(n), absl::StrFormat(",SUS-%03d,suspension,", n),
                      Suspension(n), ",2\n");
    }
    Submit("school/100001",
           Encode("suspensions", "school/100001", suspensions, true));
    std::string out, err;
    ASSERT_EQ(
        Linkctl("la/999-ig",
                {"consent", "record", "--kind", "objection", "--categories",
                 "research", "--reason", "family's letter ref 2026-117",
                 "--source", "school/100001", "--record",
                 absl::StrFormat("PUP-%03d", kObjector)},
                &out, &err),
        0)
        << out << err;
  }

  void RegisterProject(const std::string& id, const std::string& end_date,
                       int expect = 0) {
    std::string out, err;
    EXPECT_EQ(Linkctl("la/999-ig",
                      {"project",
                       "register",
                       "--id",
                       id,
                       "--title",
                       "Education after social care (synthetic)",
                       "--public-key",
                       dir_.Sub(id + ".pub"),
                       "--ethics",
                       "REC 26/YH/0042",
                       "--dpa",
                       "DPA-2026-007",
                       "--fields",
                       "project_pseudonym,event_type,event_date,year_group,"
                       "sen_status,fsm_eligible,ethnicity_code",
                       "--period-start",
                       "2020-09-01",
                       "--period-end",
                       Day(Today()),
                       "--end-date",
                       end_date},
                      &out, &err),
              expect)
        << out << err;
  }

  // `extract request` as research/<project>; returns the request (id 0 if
  // refused, with linkctl's exit code in *code).
  v1::ExtractRequest Request(const std::string& project,
                             std::vector<std::string> args, int* code = nullptr,
                             std::string* err = nullptr,
                             const std::string& as = "") {
    std::vector<std::string> argv = {"extract", "request",  "--project",
                                     project,   "--format", "json"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string out, e;
    const int c =
        Linkctl(as.empty() ? "research/" + project : as, argv, &out, &e);
    if (code != nullptr) *code = c;
    if (err != nullptr) *err = e;
    v1::ExtractRequest r;
    if (c == 0) {
      EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(out, &r).ok())
          << out;
    } else if (code == nullptr) {
      ADD_FAILURE() << "extract request failed: " << e;
    }
    return r;
  }

  v1::ExtractRequest Get(const std::string& org, uint64_t id) {
    std::string out, err;
    EXPECT_EQ(Linkctl(org,
                      {"extract", "list", "--id", absl::StrCat(id), "--format",
                       "json"},
                      &out, &err),
              0)
        << err;
    v1::ListRequestsResponse r;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(out, &r).ok())
        << out;
    return r.requests_size() == 1 ? r.requests(0) : v1::ExtractRequest();
  }

  void Approve(uint64_t id) {
    std::string out, err;
    ASSERT_EQ(Linkctl("la/999-ig",
                      {"extract", "approve", absl::StrCat(id), "--reason",
                       "ethics and DPA checked; fields minimal"},
                      &out, &err),
              0)
        << out << err;
  }

  // Waits until request `id` is released (or failed); returns it.
  v1::ExtractRequest WaitReleased(uint64_t id) {
    const absl::Time deadline = absl::Now() + absl::Seconds(120);
    for (;;) {
      v1::ExtractRequest r = Get("la/999-ig", id);
      if (r.state() == v1::ExtractRequest::STATE_RELEASED ||
          r.state() == v1::ExtractRequest::STATE_FAILED ||
          absl::Now() > deadline) {
        return r;
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
  }

  // Fetches request `id` as research/<project>; returns the file's path.
  std::string Fetch(const std::string& project, uint64_t id) {
    const std::string out_dir = dir_.Sub(absl::StrCat("dl-", project, "-", id));
    std::filesystem::create_directory(out_dir);
    std::string out, err;
    EXPECT_EQ(
        Linkctl("research/" + project,
                {"extract", "fetch", absl::StrCat(id), "--out-dir", out_dir},
                &out, &err),
        0)
        << out << err;
    return absl::StrCat(out_dir, "/", project, "-request-", id, ".extract");
  }

  // `extract open` with `project`'s secret key; the CSV rows (header
  // first) on success.
  int Open(const std::string& project, const std::string& file,
           std::vector<std::vector<std::string>>* rows,
           std::string* err = nullptr,
           std::optional<std::string> signer = std::nullopt) {
    std::vector<std::string> argv = {LINKCTL_BIN,
                                     "extract",
                                     "open",
                                     "--key",
                                     dir_.Sub(project + ".key"),
                                     "--signer",
                                     signer.value_or(signer_),
                                     file};
    std::string out, e;
    const int code = RunProgram(argv, dir_.path(), &out, &e);
    if (err != nullptr) *err = e;
    rows->clear();
    for (absl::string_view line :
         absl::StrSplit(out, '\n', absl::SkipEmpty())) {
      rows->push_back(absl::StrSplit(line, ','));
    }
    return code;
  }

  // The released, approved journey of the plan cohort for `project`.
  std::vector<std::vector<std::string>> Journey(const std::string& project,
                                                std::vector<std::string> fields,
                                                uint64_t* id = nullptr) {
    v1::ExtractRequest r = Request(
        project, {"--kind", "journey", "--fields", absl::StrJoin(fields, ","),
                  "--event-types", "social_care_episode", "--from",
                  "2025-01-01", "--to", "2025-12-31", "--sources", "la/999",
                  "--justification", "attainment after a CIN plan"});
    EXPECT_NE(r.id(), 0u);
    Approve(r.id());
    v1::ExtractRequest released = WaitReleased(r.id());
    EXPECT_EQ(released.state(), v1::ExtractRequest::STATE_RELEASED)
        << released.failure();
    if (id != nullptr) *id = r.id();
    std::vector<std::vector<std::string>> rows;
    std::string err;
    EXPECT_EQ(Open(project, Fetch(project, r.id()), &rows, &err), 0) << err;
    return rows;
  }

  testing::TempDir dir_;
  std::string certs_ = dir_.Sub("certs");
  std::string key_ = dir_.Sub("linkage.key");
  std::string policies_ = dir_.Sub("policies");
  std::unique_ptr<Subprocess> daemon_;
  std::string address_;
  std::string signer_;
};

TEST_F(ExtractE2eTest, RequestApproveFetchOpenGivesTheCohort) {
  uint64_t id = 0;
  const std::vector<std::vector<std::string>> rows =
      Journey("PRJ-001", {"event_type", "event_date", "year_group"}, &id);
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows[0],
            (std::vector<std::string>{"project_pseudonym", "event_type",
                                      "event_date", "year_group"}));
  // Group the rows by pseudonym; each child is named by its plan start.
  std::map<std::string, std::vector<std::vector<std::string>>> by_child;
  for (size_t i = 1; i < rows.size(); ++i)
    by_child[rows[i][0]].push_back(rows[i]);
  std::map<std::string, int> child_of_start;
  for (int n = 0; n < kCohort; ++n) child_of_start[PlanStart(n)] = n;
  std::set<int> seen;
  for (const auto& [pseudonym, events] : by_child) {
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events[0][1], "child_in_need_plan_start");
    ASSERT_EQ(child_of_start.count(events[0][2]), 1u) << events[0][2];
    const int n = child_of_start[events[0][2]];
    seen.insert(n);
    std::vector<std::pair<std::string, std::string>> want = {
        {"child_in_need_plan_start", PlanStart(n)}};
    if (n < 10) want.emplace_back("suspension", Suspension(n));
    if (n % 2 == 0) want.emplace_back("child_in_need_plan_end", PlanEnd(n));
    std::sort(want.begin(), want.end(),
              [](const auto& a, const auto& b) { return a.second < b.second; });
    ASSERT_EQ(events.size(), want.size()) << "child " << n;
    for (size_t e = 0; e < want.size(); ++e) {
      EXPECT_EQ(events[e][1], want[e].first) << "child " << n;
      EXPECT_EQ(events[e][2], want[e].second) << "child " << n;
      EXPECT_EQ(events[e][3], absl::StrCat(1 + n % 11)) << "child " << n;
    }
  }
  // Exactly the cohort, without the child whose family objected.
  std::set<int> expected;
  for (int n = 0; n < kCohort; ++n) {
    if (n != kObjector) expected.insert(n);
  }
  EXPECT_EQ(seen, expected);
  // The IG team is told how many were removed; the researcher is not.
  const v1::ExtractRequest ig = Get("la/999-ig", id);
  EXPECT_EQ(ig.removed_for_objection(), 1u);
  EXPECT_EQ(ig.cohort_children(), static_cast<uint64_t>(kCohort));
  EXPECT_EQ(ig.released_children(), static_cast<uint64_t>(kCohort - 1));
  const v1::ExtractRequest researcher = Get("research/PRJ-001", id);
  EXPECT_EQ(researcher.removed_for_objection(), 0u);
  EXPECT_EQ(researcher.cohort_children(), 0u);
  EXPECT_EQ(researcher.state(), v1::ExtractRequest::STATE_FETCHED);
  // Downloaded once, then gone from linkd.
  std::string out, err;
  EXPECT_EQ(
      Linkctl("research/PRJ-001",
              {"extract", "fetch", absl::StrCat(id), "--out-dir", dir_.path()},
              &out, &err),
      1);
  EXPECT_NE(err.find("downloaded already"), std::string::npos) << err;
  EXPECT_TRUE(std::filesystem::is_empty(dir_.Sub("db/extracts")));
  // Every step is in the audit log with the research purpose.
  ASSERT_EQ(Linkctl("la/999-ig", {"audit", "export", "--format", "jsonl"}, &out,
                    &err),
            0)
      << err;
  for (const char* method :
       {"/linkd.v1.ExtractService/RequestExtract",
        "/linkd.v1.ExtractService/DecideRequest", "linkd/extract/release",
        "/linkd.v1.ExtractService/FetchExtract"}) {
    bool found = false;
    for (absl::string_view line : absl::StrSplit(out, '\n')) {
      if (line.find(absl::StrCat("\"method\":\"", method, "\"")) ==
              absl::string_view::npos ||
          line.find("\"decision\":\"allowed\"") == absl::string_view::npos) {
        continue;
      }
      found = true;
      EXPECT_NE(line.find("\"purpose\":\"research_extract\""),
                absl::string_view::npos)
          << line;
      EXPECT_NE(line.find("9(2)(j)"), absl::string_view::npos) << line;
    }
    EXPECT_TRUE(found) << method;
  }
}

TEST_F(ExtractE2eTest, SelfApprovalIsRefused) {
  const v1::ExtractRequest mine =
      Request("PRJ-001", {"--kind", "aggregate", "--fields", "year_group"});
  std::string out, err;
  // A researcher has no role to decide anything.
  EXPECT_EQ(Linkctl("research/PRJ-001",
                    {"extract", "approve", absl::StrCat(mine.id()), "--reason",
                     "mine"},
                    &out, &err),
            1);
  EXPECT_NE(err.find("is for ig_officer"), std::string::npos) << err;
  // An organisation that is both a research project and an IG officer
  // cannot approve what it asked for.
  const v1::ExtractRequest own =
      Request("PRJ-002", {"--kind", "aggregate", "--fields", "year_group"});
  EXPECT_EQ(Linkctl("research/PRJ-002",
                    {"extract", "approve", absl::StrCat(own.id()), "--reason",
                     "mine"},
                    &out, &err),
            1);
  EXPECT_NE(err.find("separation of duties"), std::string::npos) << err;
  EXPECT_EQ(Get("la/999-ig", own.id()).state(),
            v1::ExtractRequest::STATE_PENDING);
  // It may decide another organisation's request.
  EXPECT_EQ(Linkctl("research/PRJ-002",
                    {"extract", "refuse", absl::StrCat(mine.id()), "--reason",
                     "aggregate too fine for the stated purpose"},
                    &out, &err),
            0)
      << err;
  EXPECT_EQ(Get("la/999-ig", mine.id()).state(),
            v1::ExtractRequest::STATE_REFUSED);
  // An approval pinned to another hash than the request's is refused.
  EXPECT_EQ(Linkctl("la/999-ig",
                    {"extract", "approve", absl::StrCat(own.id()), "--reason",
                     "ok", "--hash", std::string(64, 'a')},
                    &out, &err),
            1);
  EXPECT_NE(err.find("not the request you reviewed"), std::string::npos) << err;
}

TEST_F(ExtractE2eTest, AnExpiredProjectReleasesNothing) {
  // Approved and released while the project ran...
  const v1::ExtractRequest before =
      Request("PRJ-002", {"--kind", "journey", "--fields", "year_group"});
  Approve(before.id());
  EXPECT_EQ(WaitReleased(before.id()).state(),
            v1::ExtractRequest::STATE_RELEASED);
  // ... then the project's end date is put in the past.
  RegisterProject("PRJ-002", Day(Today() - 1));
  int code = 0;
  std::string err;
  Request("PRJ-002", {"--kind", "journey", "--fields", "year_group"}, &code,
          &err);
  EXPECT_EQ(code, 1);
  EXPECT_NE(err.find("project ended"), std::string::npos) << err;
  // The release waiting for download is not handed over either.
  std::string out;
  EXPECT_EQ(Linkctl("research/PRJ-002",
                    {"extract", "fetch", absl::StrCat(before.id()), "--out-dir",
                     dir_.path()},
                    &out, &err),
            1);
  EXPECT_NE(err.find("project ended"), std::string::npos) << err;
}

TEST_F(ExtractE2eTest, PseudonymsDifferBetweenProjects) {
  const auto a = Journey("PRJ-001", {"year_group"});
  const auto a_again = Journey("PRJ-001", {"year_group"});
  const auto b = Journey("PRJ-002", {"year_group"});
  ASSERT_EQ(a.size(), static_cast<size_t>(kCohort));  // header + 29 children
  ASSERT_EQ(b.size(), a.size());
  std::set<std::string> first, again, other;
  for (size_t i = 1; i < a.size(); ++i) first.insert(a[i][0]);
  for (size_t i = 1; i < a_again.size(); ++i) again.insert(a_again[i][0]);
  for (size_t i = 1; i < b.size(); ++i) other.insert(b[i][0]);
  EXPECT_EQ(first, again);  // stable within a project
  for (const std::string& p : other) EXPECT_EQ(first.count(p), 0u) << p;
}

TEST_F(ExtractE2eTest, ATamperedExtractOrManifestFailsToOpen) {
  const v1::ExtractRequest r =
      Request("PRJ-001", {"--kind", "journey", "--fields",
                          "event_type,event_date,sen_status", "--event-types",
                          "social_care_episode", "--sources", "la/999"});
  Approve(r.id());
  ASSERT_EQ(WaitReleased(r.id()).state(), v1::ExtractRequest::STATE_RELEASED);
  const std::string file = Fetch("PRJ-001", r.id());
  std::vector<std::vector<std::string>> rows;
  std::string err;
  ASSERT_EQ(Open("PRJ-001", file, &rows, &err), 0) << err;
  auto copy_with_flip = [&](const std::string& from, const std::string& to,
                            size_t offset) {
    std::filesystem::copy_file(from, to);
    std::fstream f(to, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    f.read(&c, 1);
    f.seekp(static_cast<std::streamoff>(offset));
    c = static_cast<char>(c ^ 0x20);
    f.write(&c, 1);
  };
  // A byte of the encrypted file.
  const std::string bad_file = dir_.Sub("tampered.extract");
  copy_with_flip(file, bad_file, 150);
  std::filesystem::copy_file(file + ".manifest", bad_file + ".manifest");
  EXPECT_EQ(Open("PRJ-001", bad_file, &rows, &err), 4);
  EXPECT_TRUE(rows.empty()) << "no row of a tampered extract is printed";
  // A byte of the manifest.
  const std::string bad_manifest = dir_.Sub("tampered2.extract");
  std::filesystem::copy_file(file, bad_manifest);
  copy_with_flip(file + ".manifest", bad_manifest + ".manifest", 40);
  EXPECT_EQ(Open("PRJ-001", bad_manifest, &rows, &err), 4);
  // The genuine extract, pinned to another signer than linkd's.
  EXPECT_EQ(Open("PRJ-001", file, &rows, &err, std::string(64, '1')), 4);
  EXPECT_TRUE(rows.empty());
  // And under another project's researcher key.
  EXPECT_EQ(Open("PRJ-002", file, &rows, &err), 4);
  EXPECT_NE(err.find("not sealed"), std::string::npos) << err;
}

TEST_F(ExtractE2eTest, SuppressionHoldsOnSmallCells) {
  const v1::ExtractRequest r = Request(
      "PRJ-001", {"--kind", "aggregate", "--fields", "year_group,sen_status",
                  "--event-types", "social_care_episode", "--from",
                  "2025-01-01", "--to", "2025-12-31", "--sources", "la/999"});
  Approve(r.id());
  ASSERT_EQ(WaitReleased(r.id()).state(), v1::ExtractRequest::STATE_RELEASED);
  std::vector<std::vector<std::string>> rows;
  std::string err;
  ASSERT_EQ(Open("PRJ-001", Fetch("PRJ-001", r.id()), &rows, &err), 0) << err;
  ASSERT_GT(rows.size(), 1u);
  EXPECT_EQ(rows[0],
            (std::vector<std::string>{"year_group", "sen_status", "children"}));
  // 29 children over 11 year groups and 2 SEN codes: every cell is small.
  int suppressed = 0;
  std::map<std::string, int> suppressed_in_row, cells_in_row;
  for (size_t i = 1; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].size(), 3u);
    const std::string& count = rows[i][2];
    if (count == "c") {
      ++suppressed;
      ++suppressed_in_row[rows[i][0]];
    } else {
      int64_t n = 0;
      ASSERT_TRUE(absl::SimpleAtoi(count, &n)) << count;
      EXPECT_GE(n, 10) << rows[i][0] << "," << rows[i][1];
    }
    ++cells_in_row[rows[i][0]];
  }
  EXPECT_GT(suppressed, 0);
  // No line holds a single suppression (it could be subtracted out).
  for (const auto& [row, n] : suppressed_in_row) EXPECT_NE(n, 1) << row;
}

}  // namespace
}  // namespace linkd
