// Safeguarding notifications end to end, with the real binaries over mTLS
// (certificates from deploy/scripts/dev-ca.sh): a school's census and a
// local authority's social care events are encoded with linkd-encode and
// submitted with linkctl as the organisations themselves; the school
// receives the has-a-social-worker flag, the LA receives the school's
// suspension; linkd is killed with SIGKILL between the delivery and the
// acknowledgement, and after a restart the notification is delivered
// exactly once more and then never again. Children are synthetic.
#include <signal.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "linkd/util/temp_dir.h"
#include "linkd/v1/notification_service.pb.h"
#include "tests/e2e/subprocess.h"

namespace linkd {
namespace {

using testing::RunProgram;
using testing::Subprocess;

// Identity columns, as both providers lay them out.
const char kIdentityHeader[] = "ref,forename,surname,dob,sex,postcode";
const std::vector<std::string>& IdentityMaps() {
  static const auto* const maps =
      new std::vector<std::string>{"--map", "record_id=ref",
                                   "--map", "given_name=forename",
                                   "--map", "family_name=surname",
                                   "--map", "dob=dob",
                                   "--map", "sex=sex",
                                   "--map", "postcode=postcode"};
  return *maps;
}

// Synthetic children: (given, family, dob, sex, postcode).
const char kChildA[] = "Amelia,Testwell,14/05/2014,F,LS6 2AB";
const char kChildB[] = "Oliver,Samplewood,02/11/2013,M,LS7 3CD";
const char kChildC[] = "Isla,Fictonby,23/01/2015,F,LS8 4EF";

class NotificationsE2eTest : public ::testing::Test {
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
    std::ofstream(config_) << "ig_organisation: \"la/999-ig\"\n";
  }

  void StartDaemon() {
    const std::string ready = dir_.Sub("ready");
    std::remove(ready.c_str());
    daemon_ = std::make_unique<Subprocess>(
        std::vector<std::string>{
            LINKD_BIN, "--config", config_, "--data-dir", dir_.Sub("db"),
            "--listen", "127.0.0.1:0", "--ready-file", ready, "--policy-dir",
            LINKD_POLICY_DIR, "--tls-cert", certs_ + "/server.pem", "--tls-key",
            certs_ + "/server.key", "--client-ca", certs_ + "/ca.pem"},
        dir_.Sub("linkd.out"),
        dir_.Sub("linkd.err." + std::to_string(++starts_)));
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (testing::ReadFileOrEmpty(ready).empty()) {
      ASSERT_TRUE(daemon_->Running()) << daemon_->Stderr();
      ASSERT_LT(absl::Now(), deadline) << "linkd did not become ready";
      absl::SleepFor(absl::Milliseconds(20));
    }
    address_ = testing::ReadFileOrEmpty(ready);
    address_.erase(address_.find_last_not_of('\n') + 1);
  }

  // linkctl as organisation `org` (e.g. "school/100001").
  int Linkctl(const std::string& org, std::vector<std::string> args,
              std::string* out, std::string* err = nullptr) {
    std::string name = org;
    for (char& c : name) {
      if (c == '/') c = '-';
    }
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

  // Encodes `csv` (records, or events when `events`) as `source`.
  std::string Encode(const std::string& name, const std::string& source,
                     const std::string& csv, bool events) {
    const std::string in = dir_.Sub(name + ".csv");
    const std::string out_file = dir_.Sub(name + ".linkd");
    std::ofstream(in) << csv;
    std::vector<std::string> argv = {LINKD_ENCODE_BIN};
    if (events) argv.push_back("events");
    argv.insert(argv.end(), {"--key", key_, "--source", source, "--date-format",
                             "DD/MM/YYYY"});
    argv.insert(argv.end(), IdentityMaps().begin(), IdentityMaps().end());
    argv.insert(argv.end(), {"--out", out_file, in});
    std::string out, err;
    EXPECT_EQ(RunProgram(argv, dir_.path(), &out, &err), 0) << err;
    return out_file;
  }

  // Submits an encoded file as `org`; returns linkctl's JSON summary.
  std::string Submit(const std::string& org, const std::string& file) {
    std::string out, err;
    EXPECT_EQ(Linkctl(org, {"submit", "--format", "json", file}, &out, &err), 0)
        << out << err;
    return out;
  }

  // `notifications watch --format jsonl` as `org`, parsed.
  std::vector<v1::Notification> Watch(const std::string& org,
                                      std::vector<std::string> options,
                                      int* code = nullptr) {
    std::vector<std::string> args = {"notifications", "watch", "--format",
                                     "jsonl"};
    args.insert(args.end(), options.begin(), options.end());
    std::string out, err;
    const int c = Linkctl(org, args, &out, &err);
    if (code != nullptr) {
      *code = c;
    } else {
      EXPECT_EQ(c, 0) << err;
    }
    std::vector<v1::Notification> got;
    for (absl::string_view line : absl::StrSplit(out, '\n')) {
      if (line.empty()) continue;
      v1::Notification n;
      EXPECT_TRUE(
          google::protobuf::util::JsonStringToMessage(std::string(line), &n)
              .ok())
          << line;
      got.push_back(n);
    }
    return got;
  }

  testing::TempDir dir_;
  std::string certs_ = dir_.Sub("certs");
  std::string key_ = dir_.Sub("linkage.key");
  std::string config_ = dir_.Sub("linkd.textproto");
  std::unique_ptr<Subprocess> daemon_;
  std::string address_;
  int starts_ = 0;
};

TEST_F(NotificationsE2eTest, FlagSuspensionKillNineExactlyOnceMore) {
  StartDaemon();
  // Each school's census: school/100001 holds children A and B,
  // school/100002 holds C.
  Submit("school/100001", Encode("census1", "school/100001",
                                 std::string(kIdentityHeader) + "\nPUP-A," +
                                     kChildA + "\nPUP-B," + kChildB + "\n",
                                 false));
  Submit("school/100002",
         Encode("census2", "school/100002",
                std::string(kIdentityHeader) + "\nPUP-C," + kChildC + "\n",
                false));

  // 1. Social care reports a Child Protection plan for child A.
  const std::string events_header =
      std::string(kIdentityHeader) +
      ",event_id,type,date,episode_kind,contact_org,contact_team,"
      "contact_phone\n";
  const std::string plan = Submit(
      "la/999", Encode("plan", "la/999",
                       events_header + "CASE-A," + kChildA +
                           ",CP-2025-01,episode_start,01/03/2025,cp,la/999,"
                           "Children's Services North,01632 960000\n",
                       true));
  EXPECT_NE(plan.find("\"accepted\":1"), std::string::npos) << plan;

  // 2. The school holding A's census record receives the flag.
  std::vector<v1::Notification> flags =
      Watch("school/100001", {"--count", "1", "--wait", "60"});
  ASSERT_EQ(flags.size(), 1u);
  EXPECT_EQ(flags[0].kind(), v1::NOTIFICATION_KIND_SOCIAL_WORKER_FLAG);
  EXPECT_EQ(flags[0].child().source(), "school/100001");
  EXPECT_EQ(flags[0].child().record_id(), "PUP-A");
  EXPECT_TRUE(flags[0].has_social_worker());
  EXPECT_EQ(flags[0].contact().organisation(), "la/999");
  EXPECT_EQ(flags[0].contact().team(), "Children's Services North");
  EXPECT_EQ(flags[0].purpose(), "has_social_worker_flag");
  // Another school gets nothing.
  EXPECT_TRUE(Watch("school/100002", {"--wait", "2"}).empty());

  // 3. The school reports a suspension of A, and one of B (no open
  // episode: no notification).
  Submit(
      "school/100001",
      Encode("suspensions", "school/100001",
             std::string(kIdentityHeader) + ",event_id,type,date,days\nPUP-A," +
                 kChildA + ",SUSP-1,suspension,10/03/2025,3\nPUP-B," + kChildB +
                 ",SUSP-2,suspension,10/03/2025,2\n",
             true));

  // 4. The LA receives the notification: delivered, not acknowledged yet.
  std::vector<v1::Notification> got =
      Watch("la/999", {"--count", "1", "--wait", "60", "--no-ack"});
  ASSERT_EQ(got.size(), 1u);
  const v1::Notification first = got[0];
  EXPECT_EQ(first.kind(), v1::NOTIFICATION_KIND_SCHOOL_EVENT);
  EXPECT_EQ(first.event_type(), v1::EVENT_TYPE_SUSPENSION);
  EXPECT_EQ(first.days(), 3u);
  EXPECT_EQ(first.event_date().day(), 10);
  EXPECT_EQ(first.reporting_school(), "school/100001");
  EXPECT_EQ(first.child().source(), "la/999");
  EXPECT_EQ(first.child().record_id(), "CASE-A");
  EXPECT_EQ(first.purpose(), "safeguarding_notification");
  EXPECT_FALSE(first.lawful_basis().empty());

  // 5. kill -9 between the delivery and the acknowledgement.
  daemon_->Signal(SIGKILL);
  EXPECT_EQ(daemon_->Wait(), 128 + SIGKILL);
  StartDaemon();
  // Delivered exactly once more (and acknowledged by watch)...
  got = Watch("la/999", {"--count", "5", "--wait", "5"});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id(), first.id());
  EXPECT_EQ(got[0].event_type(), v1::EVENT_TYPE_SUSPENSION);
  // ... and then never again, not even after another restart. Child B's
  // suspension produced nothing.
  EXPECT_TRUE(Watch("la/999", {"--wait", "2"}).empty());
  daemon_->Signal(SIGTERM);
  EXPECT_EQ(daemon_->Wait(), 0) << daemon_->Stderr();
  StartDaemon();
  EXPECT_TRUE(Watch("la/999", {"--wait", "2"}).empty());
  std::string out;
  ASSERT_EQ(Linkctl("la/999", {"notifications", "pending"}, &out), 0);
  EXPECT_NE(out.find("0 notifications waiting"), std::string::npos) << out;

  // 6/7. An organisation without the recipient role cannot subscribe; the
  // refusal is an error, not an empty stream.
  std::string err;
  int code = 0;
  EXPECT_TRUE(Watch("la/999-ops", {"--wait", "5"}, &code).empty());
  EXPECT_EQ(code, 1);
  EXPECT_EQ(
      Linkctl("research/PRJ-001", {"notifications", "pending"}, &out, &err), 1);
  EXPECT_NE(err.find("recipient"), std::string::npos) << err;
  // School 100002 never got anything.
  ASSERT_EQ(Linkctl("school/100002", {"notifications", "pending"}, &out), 0);
  EXPECT_NE(out.find("0 notifications waiting"), std::string::npos) << out;

  // The decisions are in the audit log with their lawful basis.
  ASSERT_EQ(Linkctl("la/999-ig", {"audit", "export", "--format", "jsonl"}, &out,
                    &err),
            0)
      << err;
  EXPECT_NE(out.find("linkd/notifications/route"), std::string::npos);
  EXPECT_NE(out.find("Sch 1"), std::string::npos);
}

}  // namespace
}  // namespace linkd
