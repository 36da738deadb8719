// End to end, governance (issue 4): the real linkd binary over mTLS on
// loopback, with certificates from deploy/scripts/dev-ca.sh, called by the
// demo organisations through gRPC and the real linkctl. Checks who gets in,
// who may call what, that every call leaves exactly one audit entry, and
// that the offline and online verifiers name tampered entries and detect a
// truncated log, by editing a stopped daemon's RocksDB directly as an
// attacker with disk access would. Also: a policy set whose tests fail stops
// start-up, naming the file, the line and the reason.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "linkd/audit/log_format.h"
#include "linkd/audit/merkle.h"
#include "linkd/audit/v1/audit.pb.h"
#include "linkd/ctl/encoded_file.h"
#include "linkd/store/column_families.h"
#include "linkd/store/store.h"
#include "linkd/util/temp_dir.h"
#include "linkd/v1/admin_service.grpc.pb.h"
#include "linkd/v1/governance_service.grpc.pb.h"
#include "linkd/v1/linkage_service.grpc.pb.h"
#include "tests/e2e/subprocess.h"

namespace linkd {
namespace {

using ::testing::HasSubstr;
using testing::RunProgram;
using testing::Subprocess;
using v1::AuditEntryView;
namespace fmt = audit::internal;

constexpr char kSchool[] = "school/100001";
constexpr char kLa[] = "la/999";
constexpr char kIg[] = "la/999-ig";    // ig_officer + auditor
constexpr char kOps[] = "la/999-ops";  // admin

constexpr char kGetPolicy[] = "/linkd.v1.GovernanceService/GetPolicy";
constexpr char kRecordConsent[] = "/linkd.v1.GovernanceService/RecordConsent";
constexpr char kListConsent[] = "/linkd.v1.GovernanceService/ListConsent";
constexpr char kExportAudit[] = "/linkd.v1.GovernanceService/ExportAudit";
constexpr char kVerifyAudit[] = "/linkd.v1.GovernanceService/VerifyAudit";
constexpr char kIngest[] = "/linkd.v1.IngestService/Ingest";
constexpr char kGetStats[] = "/linkd.v1.AdminService/GetStats";
constexpr char kListReviews[] = "/linkd.v1.LinkageService/ListReviews";
constexpr char kDecideReview[] = "/linkd.v1.LinkageService/DecideReview";
constexpr char kResolve[] = "/linkd.v1.LinkageService/Resolve";
constexpr char kLinkingStatus[] = "/linkd.v1.LinkageService/GetLinkingStatus";

// linkctl's exit status when the audit log fails verification.
constexpr int kVerifyFailed = 4;

// Synthetic population size; LINKD_E2E_SCALE shrinks it for sanitizer
// builds, as in the other e2e tests.
int Scaled(int people) {
  const char* env = std::getenv("LINKD_E2E_SCALE");
  double scale = 1.0;
  if (env != nullptr && !absl::SimpleAtod(env, &scale)) scale = 1.0;
  return std::max(30, static_cast<int>(people * scale));
}

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(30));
  return context;
}

// The file dev-ca.sh writes for `org` ("school/100001" -> school-100001).
std::string OrgFile(std::string org, const std::string& ext) {
  std::replace(org.begin(), org.end(), '/', '-');
  return org + ext;
}

// (organisation, method, decision): what the counting test counts by.
using EntryKind = std::tuple<std::string, std::string, std::string>;

std::map<EntryKind, int> CountByKind(const std::vector<AuditEntryView>& es) {
  std::map<EntryKind, int> counts;
  for (const AuditEntryView& e : es) {
    ++counts[{e.organisation(), e.method(), e.decision()}];
  }
  return counts;
}

// Entries exported with `linkctl audit export --format jsonl`.
std::vector<AuditEntryView> ParseJsonl(const std::string& jsonl) {
  std::vector<AuditEntryView> out;
  for (absl::string_view line : absl::StrSplit(jsonl, '\n')) {
    if (line.empty()) continue;
    AuditEntryView e;
    const auto s =
        google::protobuf::util::JsonStringToMessage(std::string(line), &e);
    EXPECT_TRUE(s.ok()) << s.ToString() << ": " << line;
    out.push_back(std::move(e));
  }
  return out;
}

// The number after `label` in `text` ("OK: 12 entries" -> 12 for "OK: ").
uint64_t NumberAfter(const std::string& text, const std::string& label) {
  const size_t at = text.find(label);
  if (at == std::string::npos) {
    ADD_FAILURE() << "no '" << label << "' in:\n" << text;
    return 0;
  }
  const size_t begin = at + label.size();
  const size_t end = text.find_first_not_of("0123456789", begin);
  uint64_t v = 0;
  EXPECT_TRUE(absl::SimpleAtoi(text.substr(begin, end - begin), &v)) << text;
  return v;
}

// Direct access to a stopped daemon's audit column family, as an attacker
// with the disk would have it (keys per linkd/audit/log_format.h). Closes
// the database on destruction, before linkctl or linkd open it again.
class AuditTamperer {
 public:
  explicit AuditTamperer(const std::string& data_dir) {
    store::StoreOptions options;
    options.path = data_dir;
    options.create_if_missing = false;
    options.block_cache_mib = 8;
    auto opened = store::Store::Open(options);
    EXPECT_TRUE(opened.ok()) << opened.status();
    if (opened.ok()) store_ = *std::move(opened);
  }

  bool ok() const { return store_ != nullptr; }

  // The head's size.
  uint64_t Size() {
    audit::v1::LogHead head;
    auto bytes = store_->Get(store::Cf::kAudit, fmt::HeadKey());
    EXPECT_TRUE(bytes.ok() && bytes->has_value());
    EXPECT_TRUE(head.ParseFromString(**bytes));
    return head.size();
  }
  std::string Leaf(uint64_t seq) {
    auto leaf = store_->Get(store::Cf::kAudit, fmt::LeafKey(seq));
    EXPECT_TRUE(leaf.ok() && leaf->has_value()) << seq;
    return leaf.ok() && leaf->has_value() ? **leaf : std::string();
  }
  audit::v1::AuditEntry Entry(uint64_t seq) {
    const std::string leaf = Leaf(seq);
    audit::v1::AuditEntry e;
    auto view = fmt::ParseLeaf(leaf);
    EXPECT_TRUE(view.ok()) << view.status();
    if (view.ok()) {
      EXPECT_TRUE(e.ParseFromArray(view->entry.data(),
                                   static_cast<int>(view->entry.size())));
    }
    return e;
  }
  // The first entry of `org` calling `method`.
  std::optional<uint64_t> Find(const std::string& org,
                               const std::string& method) {
    for (uint64_t seq = 0; seq < Size(); ++seq) {
      const audit::v1::AuditEntry e = Entry(seq);
      if (e.organisation() == org && e.method() == method) return seq;
    }
    return std::nullopt;
  }
  void PutLeaf(uint64_t seq, const std::string& value) {
    store::WriteBatch b = store_->NewBatch();
    b.Put(store::Cf::kAudit, fmt::LeafKey(seq), value);
    ASSERT_TRUE(store_->Commit(std::move(b)).ok());
  }
  void DeleteLeaf(uint64_t seq) {
    store::WriteBatch b = store_->NewBatch();
    b.Delete(store::Cf::kAudit, fmt::LeafKey(seq));
    ASSERT_TRUE(store_->Commit(std::move(b)).ok());
  }

  // Cuts the log to its first `size` entries. With `rewrite_head`, also as
  // a careful attacker: drops every index, cached node and stored checkpoint
  // beyond the cut and writes a head that agrees with what is left, so that
  // the log is consistent in itself and only a witness shows the loss.
  void Truncate(uint64_t size, bool rewrite_head) {
    ASSERT_GT(size, 0u);
    const uint64_t old_size = Size();
    std::vector<std::string> doomed;
    for (uint64_t seq = size; seq < old_size; ++seq) {
      doomed.push_back(fmt::LeafKey(seq));
    }
    if (rewrite_head) {
      ASSERT_TRUE(store_
                      ->ScanPrefix(store::Cf::kAudit, "",
                                   [&](std::string_view key, std::string_view)
                                       -> absl::StatusOr<bool> {
                                     if (Beyond(key, size)) {
                                       doomed.emplace_back(key);
                                     }
                                     return true;
                                   })
                      .ok());
    }
    store::WriteBatch b = store_->NewBatch();
    for (const std::string& key : doomed) b.Delete(store::Cf::kAudit, key);
    if (rewrite_head) {
      audit::CompactRange range;
      for (uint64_t seq = 0; seq < size; ++seq) {
        range.Append(audit::HashLeaf(Leaf(seq)));
      }
      const std::string last = Leaf(size - 1);
      auto view = fmt::ParseLeaf(last);
      ASSERT_TRUE(view.ok());
      const audit::Hash chain =
          fmt::ChainHash(view->prev_chain, audit::HashLeaf(last));
      audit::v1::LogHead head;
      head.set_size(size);
      head.set_root_hash(std::string(audit::HashBytes(range.Root())));
      head.set_chain_hash(std::string(audit::HashBytes(chain)));
      for (const audit::Hash& h : range.hashes()) {
        head.add_frontier_hashes(std::string(audit::HashBytes(h)));
      }
      head.set_updated_micros(absl::ToUnixMicros(absl::Now()));
      b.Put(store::Cf::kAudit, fmt::HeadKey(), head.SerializeAsString());
    }
    ASSERT_TRUE(store_->Commit(std::move(b)).ok());
  }

 private:
  // Whether `key` (not a leaf) describes entries at or beyond `size`.
  static bool Beyond(std::string_view key, uint64_t size) {
    if (key.size() < 2) return false;
    const uint8_t tag = static_cast<uint8_t>(key[1]);
    if (tag == fmt::kTagSubject || tag == fmt::kTagTime) {
      auto seq = fmt::ParseIndexSeq(key);
      return seq.ok() && *seq >= size;
    }
    if (tag == fmt::kTagCheckpoint) {
      auto at = fmt::ParseCheckpointKey(key);
      return at.ok() && *at > size;
    }
    if (tag == fmt::kTagNode && key.size() == 11) {
      const int level = static_cast<uint8_t>(key[2]);
      uint64_t index = 0;
      for (size_t i = 3; i < 11; ++i) {
        index = (index << 8) | static_cast<uint8_t>(key[i]);
      }
      return ((index + 1) << level) > size;
    }
    return false;
  }

  std::unique_ptr<store::Store> store_;
};

class GovernanceE2eTest : public ::testing::Test {
 protected:
  // One CA for the suite (openssl takes a moment), and a second, unrelated
  // one whose certificates name the same organisations.
  static void SetUpTestSuite() {
    certs_ = new testing::TempDir;
    for (const char* name : {"ca", "rogue"}) {
      std::string out, err;
      ASSERT_EQ(RunProgram({"/bin/bash", LINKD_DEV_CA_SCRIPT, certs_->Sub(name),
                            "linkd.example"},
                           certs_->path(), &out, &err),
                0)
          << err;
    }
  }
  static void TearDownTestSuite() {
    delete certs_;
    certs_ = nullptr;
  }

  static std::string CertPath(const std::string& file,
                              const std::string& ca = "ca") {
    return certs_->Sub(ca + "/" + file);
  }

  std::vector<std::string> DaemonArgv(const std::vector<std::string>& extra,
                                      const std::string& policy_dir) {
    std::vector<std::string> argv = {
        LINKD_BIN,         "--data-dir",           data_dir_,
        "--listen",        "127.0.0.1:0",          "--policy-dir",
        policy_dir,        "--tls-cert",           CertPath("server.pem"),
        "--tls-key",       CertPath("server.key"), "--client-ca",
        CertPath("ca.pem")};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }

  void StartDaemon(const std::vector<std::string>& extra = {},
                   const std::string& policy_dir = LINKD_POLICY_DIR) {
    const std::string ready = dir_.Sub("ready");
    std::remove(ready.c_str());
    std::vector<std::string> argv = DaemonArgv(extra, policy_dir);
    argv.insert(argv.end(), {"--ready-file", ready});
    daemon_ = std::make_unique<Subprocess>(
        argv, dir_.Sub("linkd.out"),
        dir_.Sub(absl::StrCat("linkd.err.", ++starts_)));
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (testing::ReadFileOrEmpty(ready).empty()) {
      ASSERT_TRUE(daemon_->Running()) << daemon_->Stderr();
      ASSERT_LT(absl::Now(), deadline) << "linkd did not become ready";
      absl::SleepFor(absl::Milliseconds(10));
    }
    address_ = testing::ReadFileOrEmpty(ready);
    address_.erase(address_.find_last_not_of('\n') + 1);
  }

  // Runs linkd expecting start-up to fail; returns its exit code and its
  // stderr in *err. If linkd starts serving instead (or hangs), that is a
  // test failure and it is killed, rather than waited for.
  int StartExpectingFailure(std::string* err,
                            const std::string& policy_dir = LINKD_POLICY_DIR) {
    const std::string ready = dir_.Sub("ready");
    std::remove(ready.c_str());
    std::vector<std::string> argv = DaemonArgv({}, policy_dir);
    argv.insert(argv.end(), {"--ready-file", ready});
    Subprocess linkd(argv, dir_.Sub("failed.out"),
                     dir_.Sub(absl::StrCat("failed.err.", ++starts_)));
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (linkd.Running()) {
      if (!testing::ReadFileOrEmpty(ready).empty() || absl::Now() > deadline) {
        ADD_FAILURE() << "linkd started (or hung) where it should have refused";
        return -1;  // the destructor kills it
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    *err = linkd.Stderr();
    return linkd.Wait();
  }

  void StopDaemon() {
    daemon_->Signal(SIGTERM);
    EXPECT_EQ(daemon_->Wait(), 0) << daemon_->Stderr();
    daemon_.reset();
  }

  // A channel presenting `org`'s certificate issued by `ca` (none if `org`
  // is empty); it always trusts linkd's real certificate.
  std::shared_ptr<grpc::Channel> ChannelAs(const std::string& org,
                                           const std::string& ca = "ca") {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = testing::ReadFileOrEmpty(CertPath("ca.pem"));
    if (!org.empty()) {
      tls.pem_cert_chain =
          testing::ReadFileOrEmpty(CertPath(OrgFile(org, ".pem"), ca));
      tls.pem_private_key =
          testing::ReadFileOrEmpty(CertPath(OrgFile(org, ".key"), ca));
    }
    grpc::ChannelArguments args;
    // No connection shared between channels of different identities.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(address_, grpc::SslCredentials(tls), args);
  }

  // linkctl as `org` (mTLS); returns its exit code.
  int Linkctl(const std::string& org, const std::vector<std::string>& args,
              std::string* out, std::string* err = nullptr) {
    std::vector<std::string> argv = {LINKCTL_BIN,
                                     "--server",
                                     address_,
                                     "--cert",
                                     CertPath(OrgFile(org, ".pem")),
                                     "--key",
                                     CertPath(OrgFile(org, ".key")),
                                     "--ca",
                                     CertPath("ca.pem")};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string ignored;
    return RunProgram(argv, dir_.path(), out, err != nullptr ? err : &ignored);
  }

  // `linkctl audit verify --data-dir` on the stopped daemon's directory.
  int VerifyOffline(const std::vector<std::string>& extra, std::string* out,
                    std::string* err = nullptr) {
    std::vector<std::string> argv = {LINKCTL_BIN, "audit", "verify",
                                     "--data-dir", data_dir_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    std::string ignored;
    return RunProgram(argv, dir_.path(), out, err != nullptr ? err : &ignored);
  }

  grpc::Status GetPolicy(const std::shared_ptr<grpc::Channel>& channel) {
    v1::GetPolicyResponse r;
    return v1::GovernanceService::NewStub(channel)->GetPolicy(
        Context().get(), v1::GetPolicyRequest(), &r);
  }

  grpc::Status ListReviews(const std::shared_ptr<grpc::Channel>& channel,
                           v1::ListReviewsResponse* r) {
    return v1::LinkageService::NewStub(channel)->ListReviews(
        Context().get(), v1::ListReviewsRequest(), r);
  }

  grpc::Status Resolve(const std::string& org, const std::string& source,
                       const std::string& record_id) {
    v1::ResolveRequest request;
    request.mutable_record()->set_source(source);
    request.mutable_record()->set_record_id(record_id);
    v1::ResolveResponse r;
    return v1::LinkageService::NewStub(ChannelAs(org))
        ->Resolve(Context().get(), request, &r);
  }

  grpc::Status RecordConsent(const std::string& org, const std::string& source,
                             const std::string& record_id) {
    v1::RecordConsentRequest request;
    request.mutable_subject()->mutable_record()->set_source(source);
    request.mutable_subject()->mutable_record()->set_record_id(record_id);
    request.set_kind(v1::ConsentRecord::KIND_OBJECTION);
    request.add_categories("research");
    request.set_reason("the family objects to research use (synthetic)");
    v1::RecordConsentResponse r;
    return v1::GovernanceService::NewStub(ChannelAs(org))
        ->RecordConsent(Context().get(), request, &r);
  }

  grpc::Status ExportAudit(const std::string& org,
                           std::vector<AuditEntryView>* entries) {
    auto context = Context();
    auto reader = v1::GovernanceService::NewStub(ChannelAs(org))
                      ->ExportAudit(context.get(), v1::ExportAuditRequest());
    v1::ExportAuditResponse page;
    while (reader->Read(&page)) {
      for (const AuditEntryView& e : page.entries()) entries->push_back(e);
    }
    return reader->Finish();
  }

  // A synthetic population's school census and social care extracts,
  // encoded with linkd-encode: {school_census file, social_care file}.
  std::vector<std::string> EncodedPopulation(int people) {
    std::string out, err;
    const std::string key = dir_.Sub("linkage.key");
    EXPECT_EQ(RunProgram({LINKD_ENCODE_BIN, "keygen", "--out", key},
                         dir_.path(), &out, &err),
              0)
        << err;
    const std::string pop = dir_.Sub("pop");
    EXPECT_EQ(RunProgram({LINKD_SYNTH_BIN, "--people", std::to_string(people),
                          "--seed", "4", "--out", pop},
                         dir_.path(), &out, &err),
              0)
        << err;
    struct Layout {
      std::string source;
      std::vector<std::string> maps;
      std::string date_format;
    };
    const Layout layouts[] = {
        {"school_census",
         {"record_id=pupil_ref", "upn=upn", "given_name=forename",
          "family_name=surname", "dob=dob", "sex=gender", "postcode=postcode"},
         "DD/MM/YYYY"},
        {"social_care",
         {"record_id=case_id", "given_name=first_name", "family_name=last_name",
          "dob=date_of_birth", "sex=sex", "postcode=post_code",
          "nhs_number=nhs_no", "upn=upn"},
         ""},
    };
    std::vector<std::string> files;
    for (const Layout& l : layouts) {
      std::vector<std::string> argv = {LINKD_ENCODE_BIN, "--key", key,
                                       "--source", l.source};
      for (const std::string& m : l.maps) argv.insert(argv.end(), {"--map", m});
      if (!l.date_format.empty()) {
        argv.insert(argv.end(), {"--date-format", l.date_format});
      }
      const std::string file = pop + "/" + l.source + ".linkd";
      argv.insert(argv.end(), {"--out", file, pop + "/" + l.source + ".csv"});
      const int code = RunProgram(argv, dir_.path(), &out, &err);
      EXPECT_TRUE(code == 0 || code == 3) << code << ": " << err;
      files.push_back(file);
    }
    return files;
  }

  // The record ids in an encoded file, in order.
  static std::vector<std::string> RecordIds(const std::string& file) {
    std::vector<std::string> ids;
    auto reader = ctl::EncodedFileReader::Open(file);
    EXPECT_TRUE(reader.ok()) << reader.status();
    if (!reader.ok()) return ids;
    v1::IngestItem item;
    for (;;) {
      auto more = (*reader)->Next(&item);
      EXPECT_TRUE(more.ok()) << more.status();
      if (!more.ok() || !*more) break;
      ids.push_back(item.record().record_id());
    }
    return ids;
  }

  // A short log of calls from several organisations, then a clean stop:
  // start, GetPolicy x3 (school, la, ig), a denied ListReviews (school),
  // GetStats (ops), GetPolicy (school), stop: 8 entries.
  void MakeSmallLog() {
    ASSERT_NO_FATAL_FAILURE(StartDaemon());
    ASSERT_TRUE(GetPolicy(ChannelAs(kSchool)).ok());
    ASSERT_TRUE(GetPolicy(ChannelAs(kLa)).ok());
    ASSERT_TRUE(GetPolicy(ChannelAs(kIg)).ok());
    v1::ListReviewsResponse reviews;
    ASSERT_EQ(ListReviews(ChannelAs(kSchool), &reviews).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
    v1::GetStatsResponse stats;
    ASSERT_TRUE(v1::AdminService::NewStub(ChannelAs(kOps))
                    ->GetStats(Context().get(), v1::GetStatsRequest(), &stats)
                    .ok());
    ASSERT_TRUE(GetPolicy(ChannelAs(kSchool)).ok());
    StopDaemon();
    std::string out;
    ASSERT_EQ(VerifyOffline({}, &out), 0) << out;
    ASSERT_EQ(NumberAfter(out, "OK: "), 8u) << out;
  }

  // After tampering: the offline verifier exits 4 naming `seq` and `kind`
  // as the first bad entry; then, if linkd still starts on the log, the
  // online verifier (as the IG team) says the same.
  void ExpectVerifyNames(uint64_t seq, const std::string& kind) {
    std::string out;
    EXPECT_EQ(VerifyOffline({}, &out), kVerifyFailed) << out;
    EXPECT_THAT(out, HasSubstr(absl::StrCat("first bad entry: ", seq, " (",
                                            kind, ")")));
    ASSERT_NO_FATAL_FAILURE(StartDaemon());
    EXPECT_EQ(Linkctl(kIg, {"audit", "verify"}, &out), kVerifyFailed) << out;
    EXPECT_THAT(out, HasSubstr(absl::StrCat("FAILED verification at entry ",
                                            seq, ": ", kind)));
    StopDaemon();
  }

  static testing::TempDir* certs_;
  testing::TempDir dir_;
  const std::string data_dir_ = dir_.Sub("db");
  std::unique_ptr<Subprocess> daemon_;
  std::string address_;
  int starts_ = 0;
};

testing::TempDir* GovernanceE2eTest::certs_ = nullptr;

// Without a client certificate the TLS handshake fails (linkd requires and
// verifies one: GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY),
// so the client never gets a connection: UNAVAILABLE, not UNAUTHENTICATED,
// because the refusal happens below gRPC, before any RPC exists. For the
// same reason it leaves no audit entry (see the counting test).
TEST_F(GovernanceE2eTest, ClientWithoutCertificateIsRefused) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  const grpc::Status tls_no_cert = GetPolicy(ChannelAs(""));
  EXPECT_EQ(tls_no_cert.error_code(), grpc::StatusCode::UNAVAILABLE)
      << tls_no_cert.error_message();
  // Plaintext HTTP/2 to the TLS port fares no better.
  v1::GetPolicyResponse r;
  const grpc::Status plaintext =
      v1::GovernanceService::NewStub(
          grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()))
          ->GetPolicy(Context().get(), v1::GetPolicyRequest(), &r);
  EXPECT_EQ(plaintext.error_code(), grpc::StatusCode::UNAVAILABLE)
      << plaintext.error_message();
  // linkctl without --cert/--key/--ca speaks plaintext: refused likewise.
  std::string out, err;
  EXPECT_EQ(RunProgram({LINKCTL_BIN, "--server", address_, "policy", "show"},
                       dir_.path(), &out, &err),
            1);
  // The same call with a certificate works: the daemon was up throughout.
  EXPECT_TRUE(GetPolicy(ChannelAs(kSchool)).ok());
  StopDaemon();
}

// A certificate naming a known organisation, but issued by another CA, fails
// the handshake the same way: the SPIFFE id is never even read.
TEST_F(GovernanceE2eTest, CertificateFromAnotherCaIsRefused) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  for (const char* org : {kSchool, kIg}) {
    const grpc::Status s = GetPolicy(ChannelAs(org, "rogue"));
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE)
        << org << ": " << s.error_message();
    // The real certificate of the same organisation is accepted.
    EXPECT_TRUE(GetPolicy(ChannelAs(org, "ca")).ok()) << org;
  }
  std::vector<AuditEntryView> entries;
  ASSERT_TRUE(ExportAudit(kIg, &entries).ok());
  // Only the start and the two accepted calls: nothing from the forgeries.
  EXPECT_EQ(entries.size(), 3u);
  StopDaemon();
}

TEST_F(GovernanceE2eTest, SchoolCallingIgMethodsIsDeniedAndAudited) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  auto school = ChannelAs(kSchool);
  v1::ListReviewsResponse reviews;
  const grpc::Status list = ListReviews(school, &reviews);
  EXPECT_EQ(list.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(list.error_message(), HasSubstr("ig_officer"));

  std::vector<AuditEntryView> leaked;
  EXPECT_EQ(ExportAudit(kSchool, &leaked).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(leaked.empty());

  EXPECT_EQ(RecordConsent(kSchool, "school_census", "P1").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  std::string out, err;
  EXPECT_EQ(Linkctl(kSchool, {"audit", "verify"}, &out, &err), 1) << err;

  // The IG team reads the trail with linkctl and finds each attempt once.
  ASSERT_EQ(Linkctl(kIg, {"audit", "export", "--format", "jsonl"}, &out, &err),
            0)
      << err;
  const std::vector<AuditEntryView> entries = ParseJsonl(out);
  for (const char* method :
       {kListReviews, kExportAudit, kRecordConsent, kVerifyAudit}) {
    int found = 0;
    for (const AuditEntryView& e : entries) {
      if (e.organisation() != kSchool || e.method() != method) continue;
      ++found;
      EXPECT_EQ(e.decision(), "denied") << method;
      EXPECT_EQ(e.status_code(), grpc::StatusCode::PERMISSION_DENIED) << method;
      EXPECT_THAT(e.reason(), HasSubstr("has none of those roles")) << method;
      EXPECT_FALSE(e.policy_version().empty());
      EXPECT_FALSE(e.request_id().empty());
    }
    EXPECT_EQ(found, 1) << method;
  }
  // The consent attempt changed nothing: no consent record was written.
  EXPECT_EQ(entries.size(), 5u) << out;  // start + the four denials
  school.reset();  // an idle connection holds up linkd's shutdown for 5 s
  StopDaemon();
}

// A known sequence of calls of every kind, then the entries counted by
// organisation, method and decision, exactly: one per unary call accepted or
// refused, one per ingest batch, none for connections refused at the TLS
// handshake (no RPC), plus the daemon's own start (and, offline, its stop).
TEST_F(GovernanceE2eTest, OneAuditEntryPerRpcCounted) {
  const std::vector<std::string> files = EncodedPopulation(Scaled(60));
  const std::vector<std::string> school_ids = RecordIds(files[0]);
  const std::vector<std::string> care_ids = RecordIds(files[1]);
  ASSERT_FALSE(school_ids.empty());
  ASSERT_FALSE(care_ids.empty());
  const uint64_t batch = std::max<uint64_t>(1, school_ids.size() / 4);
  const uint64_t school_batches = (school_ids.size() + batch - 1) / batch;
  const uint64_t care_batches = (care_ids.size() + batch - 1) / batch;
  ASSERT_GE(school_batches, 3u);

  // Every candidate pair becomes a clerical review (none links outright),
  // so that there is a review to decide.
  const std::string config = dir_.Sub("linkd.textproto");
  std::ofstream(config) << "link_threshold_bits: 1000\n"
                           "review_threshold_bits: -1000\n";
  ASSERT_NO_FATAL_FAILURE(StartDaemon({"--config", config}));
  std::map<EntryKind, int> expected;
  expected[{"linkd", "linkd/start", "allowed"}] = 1;

  // Refused at the handshake: no RPC, no entry.
  EXPECT_EQ(GetPolicy(ChannelAs("")).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(GetPolicy(ChannelAs(kSchool, "rogue")).error_code(),
            grpc::StatusCode::UNAVAILABLE);

  // Unary reads, accepted and refused.
  auto school = ChannelAs(kSchool);
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(GetPolicy(school).ok());
  expected[{kSchool, kGetPolicy, "allowed"}] += 2;
  v1::ListReviewsResponse reviews;
  EXPECT_EQ(ListReviews(school, &reviews).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  expected[{kSchool, kListReviews, "denied"}] += 1;
  v1::GetStatsResponse stats;
  EXPECT_EQ(v1::AdminService::NewStub(school)
                ->GetStats(Context().get(), v1::GetStatsRequest(), &stats)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  expected[{kSchool, kGetStats, "denied"}] += 1;

  // Two ingest streams (linkctl submit): one entry per batch.
  std::string out, err;
  const std::string batch_flag = std::to_string(batch);
  ASSERT_EQ(Linkctl(kSchool,
                    {"submit", "--no-wait", "--format", "json", "--batch-size",
                     batch_flag, files[0]},
                    &out, &err),
            0)
      << out << err;
  EXPECT_EQ(NumberAfter(out, "\"accepted\":"), school_ids.size());
  expected[{kSchool, kIngest, "allowed"}] += school_batches;
  ASSERT_EQ(Linkctl(kLa,
                    {"submit", "--no-wait", "--format", "json", "--batch-size",
                     batch_flag, files[1]},
                    &out, &err),
            0)
      << out << err;
  EXPECT_EQ(NumberAfter(out, "\"accepted\":"), care_ids.size());
  expected[{kLa, kIngest, "allowed"}] += care_batches;

  // The operations team polls until everything is linked: one entry per
  // poll.
  auto ops = v1::LinkageService::NewStub(ChannelAs(kOps));
  const absl::Time deadline = absl::Now() + absl::Seconds(120);
  for (;;) {
    v1::GetLinkingStatusResponse st;
    ASSERT_TRUE(ops->GetLinkingStatus(Context().get(),
                                      v1::GetLinkingStatusRequest(), &st)
                    .ok());
    expected[{kOps, kLinkingStatus, "allowed"}] += 1;
    if (st.queued_seq() > 0 && st.linked_seq() >= st.queued_seq()) break;
    ASSERT_LT(absl::Now(), deadline) << "linking did not finish";
    absl::SleepFor(absl::Milliseconds(50));
  }

  // A review decision by the IG team (in the same write as the merge).
  auto ig = ChannelAs(kIg);
  ASSERT_TRUE(ListReviews(ig, &reviews).ok());
  expected[{kIg, kListReviews, "allowed"}] += 1;
  ASSERT_FALSE(reviews.tasks().empty());
  v1::DecideReviewRequest decide;
  decide.set_id(reviews.tasks(0).id());
  decide.set_decision(v1::DecideReviewRequest::DECISION_SAME);
  decide.set_reason("same child: confirmed with the school (synthetic)");
  v1::DecideReviewResponse decided;
  const grpc::Status d = v1::LinkageService::NewStub(ig)->DecideReview(
      Context().get(), decide, &decided);
  EXPECT_TRUE(d.ok()) << d.error_message();
  expected[{kIg, kDecideReview, "allowed"}] += 1;

  // A school resolves its own record, but not another source's.
  EXPECT_TRUE(Resolve(kSchool, "school_census", school_ids[0]).ok());
  expected[{kSchool, kResolve, "allowed"}] += 1;
  EXPECT_EQ(Resolve(kSchool, "social_care", care_ids[0]).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  expected[{kSchool, kResolve, "denied"}] += 1;

  // A consent record (one write with its entry), read back.
  EXPECT_TRUE(RecordConsent(kIg, "school_census", school_ids[0]).ok());
  expected[{kIg, kRecordConsent, "allowed"}] += 1;
  v1::ListConsentRequest lc;
  lc.mutable_subject()->mutable_record()->set_source("school_census");
  lc.mutable_subject()->mutable_record()->set_record_id(school_ids[0]);
  v1::ListConsentResponse consents;
  EXPECT_TRUE(v1::GovernanceService::NewStub(ig)
                  ->ListConsent(Context().get(), lc, &consents)
                  .ok());
  EXPECT_EQ(consents.records_size(), 1);
  expected[{kIg, kListConsent, "allowed"}] += 1;

  // Read the whole log (the export's own entry is written before its
  // range ends, so it is not part of it).
  std::vector<AuditEntryView> entries;
  ASSERT_TRUE(ExportAudit(kIg, &entries).ok());
  EXPECT_EQ(CountByKind(entries), expected);
  int total = 0;
  for (const auto& [kind, n] : expected) total += n;
  ASSERT_EQ(entries.size(), static_cast<size_t>(total));
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].seq(), i);  // no gaps, no duplicates
  }
  EXPECT_EQ(entries[0].method(), "linkd/start");

  // The batches' entries name their batch and what they stored.
  uint64_t school_items = 0, school_refs = 0, next_batch = 1;
  for (const AuditEntryView& e : entries) {
    if (e.organisation() != kSchool || e.method() != kIngest) continue;
    EXPECT_EQ(e.details().at("batch_seq"), std::to_string(next_batch++));
    uint64_t items = 0;
    EXPECT_TRUE(absl::SimpleAtoi(e.details().at("items"), &items));
    school_items += items;
    school_refs += e.records_size();
    for (const auto& r : e.records()) EXPECT_EQ(r.source(), "school_census");
  }
  EXPECT_EQ(school_items, school_ids.size());
  EXPECT_EQ(school_refs, school_ids.size());

  // Subject access finds, for every record, the batch that stored it.
  for (const std::string& id : school_ids) {
    v1::SubjectAccessRequest request;
    request.mutable_subject()->mutable_record()->set_source("school_census");
    request.mutable_subject()->mutable_record()->set_record_id(id);
    v1::SubjectAccessResponse report;
    ASSERT_TRUE(v1::GovernanceService::NewStub(ig)
                    ->SubjectAccess(Context().get(), request, &report)
                    .ok());
    int batches = 0;
    for (const AuditEntryView& e : report.entries()) {
      batches += e.method() == kIngest && e.organisation() == kSchool;
    }
    EXPECT_EQ(batches, 1) << id;
  }

  // Offline, after a clean stop: the same entries, the export's, the subject
  // access reports' and the stop's, and the log verifies.
  school.reset();
  ig.reset();
  ops.reset();
  StopDaemon();
  ASSERT_EQ(VerifyOffline({}, &out), 0) << out;
  EXPECT_EQ(NumberAfter(out, "OK: "), entries.size() + 2 + school_ids.size())
      << out;
}

TEST_F(GovernanceE2eTest, ChangedByteInAStoredEntryIsNamed) {
  ASSERT_NO_FATAL_FAILURE(MakeSmallLog());
  uint64_t target = 0;
  {
    AuditTamperer t(data_dir_);
    ASSERT_TRUE(t.ok());
    // Blame another school for the refused attempt: one byte of the leaf.
    const std::optional<uint64_t> seq = t.Find(kSchool, kListReviews);
    ASSERT_TRUE(seq.has_value());
    target = *seq;
    std::string leaf = t.Leaf(target);
    const size_t at = leaf.find(kSchool, fmt::kLeafHeaderBytes);
    ASSERT_NE(at, std::string::npos);
    leaf[at + std::string(kSchool).size() - 1] = '2';  // school/100002
    t.PutLeaf(target, leaf);
    EXPECT_EQ(t.Entry(target).organisation(), "school/100002");
    ASSERT_LT(target + 1, t.Size());  // not the last: linkd still starts
  }
  ExpectVerifyNames(target, "modified");
}

TEST_F(GovernanceE2eTest, DeletedStoredEntryIsNamed) {
  ASSERT_NO_FATAL_FAILURE(MakeSmallLog());
  uint64_t target = 0;
  {
    AuditTamperer t(data_dir_);
    ASSERT_TRUE(t.ok());
    const std::optional<uint64_t> seq = t.Find(kSchool, kListReviews);
    ASSERT_TRUE(seq.has_value());
    target = *seq;
    t.DeleteLeaf(target);
  }
  std::string out;
  EXPECT_EQ(VerifyOffline({}, &out), kVerifyFailed);
  EXPECT_THAT(out, HasSubstr(absl::StrCat("1 entries missing from ", target,
                                          " to ", target)));
  ExpectVerifyNames(target, "deleted");
}

TEST_F(GovernanceE2eTest, SwappedStoredEntriesAreNamed) {
  ASSERT_NO_FATAL_FAILURE(MakeSmallLog());
  uint64_t a = 0, b = 0;
  {
    AuditTamperer t(data_dir_);
    ASSERT_TRUE(t.ok());
    // Not neighbours: the LA's read and the school's refused attempt.
    const std::optional<uint64_t> denied = t.Find(kSchool, kListReviews);
    const std::optional<uint64_t> read = t.Find(kLa, kGetPolicy);
    ASSERT_TRUE(denied.has_value() && read.has_value());
    a = std::min(*denied, *read);
    b = std::max(*denied, *read);
    ASSERT_GT(b, a + 1);
    ASSERT_LT(a, b);
    const std::string leaf_a = t.Leaf(a), leaf_b = t.Leaf(b);
    t.PutLeaf(a, leaf_b);
    t.PutLeaf(b, leaf_a);
  }
  std::string out;
  EXPECT_EQ(VerifyOffline({}, &out), kVerifyFailed);
  EXPECT_THAT(
      out, HasSubstr(absl::StrCat("entries ", a, " and ", b, " were swapped")));
  ExpectVerifyNames(a, "swapped");
}

// The daemon checks the last entry against the head when it opens the log:
// a tampered last entry stops start-up with DATA_LOSS instead of appending
// to a log it cannot vouch for.
TEST_F(GovernanceE2eTest, TamperedLastEntryStopsStartUp) {
  ASSERT_NO_FATAL_FAILURE(MakeSmallLog());
  uint64_t last = 0;
  {
    AuditTamperer t(data_dir_);
    ASSERT_TRUE(t.ok());
    last = t.Size() - 1;
    ASSERT_EQ(t.Entry(last).method(), "linkd/stop");
    std::string leaf = t.Leaf(last);
    leaf.back() ^= 0x01;
    t.PutLeaf(last, leaf);
  }
  std::string out, err;
  EXPECT_EQ(VerifyOffline({}, &out), kVerifyFailed);
  EXPECT_THAT(
      out, HasSubstr(absl::StrCat("first bad entry: ", last, " (modified)")));
  EXPECT_EQ(StartExpectingFailure(&err), 1);
  EXPECT_THAT(err,
              HasSubstr(absl::StrCat("linkd: cannot start: audit entry ", last,
                                     " does not match the log head")));
}

// A careful attacker cuts the log below the IG team's saved checkpoint and
// rewrites the head, indexes and stored checkpoints to agree: the log is
// consistent in itself, linkd opens it, and only the witness shows the loss.
TEST_F(GovernanceE2eTest, TruncationBelowSavedCheckpointIsDetected) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  for (const char* org : {kSchool, kLa, kIg, kOps}) {
    ASSERT_TRUE(GetPolicy(ChannelAs(org)).ok());
  }
  // The witness, two ways: verify --save-checkpoint, and checkpoint --out
  // with the verifier key kept apart from linkd.
  const std::string witness = dir_.Sub("witness.checkpoint");
  const std::string witness2 = dir_.Sub("witness2.checkpoint");
  std::string out, err;
  ASSERT_EQ(Linkctl(kIg, {"audit", "verify", "--save-checkpoint", witness},
                    &out, &err),
            0)
      << out << err;
  ASSERT_EQ(Linkctl(kIg, {"audit", "checkpoint", "--fresh", "--out", witness2},
                    &out, &err),
            0)
      << err;
  const uint64_t witness_size = NumberAfter(out, "checkpoint of ");
  const size_t key_at = out.find("verifier key: ");
  ASSERT_NE(key_at, std::string::npos) << out;
  const std::string public_key = dir_.Sub("audit.pub");
  std::ofstream(public_key) << out.substr(key_at + 14);
  ASSERT_GE(witness_size, 6u);  // start, 4 reads, verify
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(GetPolicy(ChannelAs(kSchool)).ok());
  StopDaemon();
  ASSERT_EQ(VerifyOffline(
                {"--checkpoint", witness2, "--public-key", public_key}, &out),
            0)
      << out;

  const uint64_t cut = witness_size - 2;
  {
    AuditTamperer t(data_dir_);
    ASSERT_TRUE(t.ok());
    ASSERT_GT(t.Size(), witness_size);
    t.Truncate(cut, /*rewrite_head=*/true);
  }
  // Without the witness the forged log passes: that is what witnesses are
  // for.
  ASSERT_EQ(VerifyOffline({"--public-key", public_key}, &out), 0) << out;
  EXPECT_EQ(NumberAfter(out, "OK: "), cut);
  for (const std::string& w : {witness, witness2}) {
    EXPECT_EQ(
        VerifyOffline({"--checkpoint", w, "--public-key", public_key}, &out),
        kVerifyFailed)
        << out;
    EXPECT_THAT(
        out, HasSubstr(absl::StrCat("first bad entry: ", cut, " (truncated)")));
    EXPECT_THAT(out, HasSubstr(absl::StrCat(
                         "the log ends after ", cut,
                         " entries but the witness checkpoint records ")));
  }
  // linkd opens the consistent forgery; the IG team's online verify with the
  // witness catches it (the log has grown by the start entry only).
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  EXPECT_EQ(Linkctl(kIg, {"audit", "verify", "--checkpoint", witness2}, &out),
            kVerifyFailed)
      << out;
  EXPECT_THAT(out, HasSubstr(absl::StrCat("FAILED verification at entry ",
                                          cut + 1, ": truncated")));
  StopDaemon();
}

// A naive attacker only deletes the last entries: the head still records
// the old size, so linkd refuses to start and verify reports the truncation
// against the head and the witness.
TEST_F(GovernanceE2eTest, DeletingTheLastEntriesStopsStartUp) {
  ASSERT_NO_FATAL_FAILURE(MakeSmallLog());
  uint64_t size = 0;
  {
    AuditTamperer t(data_dir_);
    ASSERT_TRUE(t.ok());
    size = t.Size();
    t.Truncate(size - 3, /*rewrite_head=*/false);
  }
  std::string out, err;
  EXPECT_EQ(VerifyOffline({}, &out), kVerifyFailed);
  EXPECT_THAT(out,
              HasSubstr(absl::StrCat("the log ends after ", size - 3,
                                     " entries but the head records ", size)));
  EXPECT_EQ(StartExpectingFailure(&err), 1);
  EXPECT_THAT(err,
              HasSubstr(absl::StrCat("audit log head has size ", size,
                                     " but entry ", size - 1, " is missing")));
}

// linkd refuses to start with a policy set whose tests fail, naming the
// file, the line and the reason, before opening its data directory; and
// `linkctl policy check` says the same without a daemon.
TEST_F(GovernanceE2eTest, FailingPolicyTestStopsStartUp) {
  namespace fs = std::filesystem;
  const fs::path from = LINKD_POLICY_DIR;
  const fs::path to = dir_.Sub("policies");
  for (auto it = fs::recursive_directory_iterator(from);
       it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_directory() && it->path().filename() == "testdata") {
      it.disable_recursion_pending();
      continue;
    }
    if (it->path().extension() != ".textproto") continue;
    const fs::path dest = to / fs::relative(it->path(), from);
    fs::create_directories(dest.parent_path());
    fs::copy_file(it->path(), dest);
  }
  std::string out, err;
  ASSERT_EQ(RunProgram({LINKCTL_BIN, "policy", "check", to.string()},
                       dir_.path(), &out, &err),
            0)
      << out << err;

  // Break the first test that expects ALLOW.
  const std::string file = (to / "tests/governance_test.textproto").string();
  std::string text = testing::ReadFileOrEmpty(file);
  const size_t expect = text.find("expect: ALLOW");
  ASSERT_NE(expect, std::string::npos);
  const size_t block = text.rfind("tests {", expect);
  ASSERT_NE(block, std::string::npos);
  const size_t name_at = text.find("name: \"", block) + 7;
  const std::string name =
      text.substr(name_at, text.find('"', name_at) - name_at);
  const int line = 1 + static_cast<int>(std::count(text.begin(),
                                                   text.begin() + block, '\n'));
  text.replace(expect, 13, "expect: DENY");
  std::ofstream(file, std::ios::trunc) << text;

  const std::string where = absl::StrCat(file, ":", line, ":");
  const std::string reason = absl::StrCat(
      "policy test \"", name, "\" failed: expected DENY, got ALLOW");
  EXPECT_EQ(StartExpectingFailure(&err, to.string()), 1);
  EXPECT_THAT(err, HasSubstr("linkd: cannot start: "));
  EXPECT_THAT(err, HasSubstr(where));
  EXPECT_THAT(err, HasSubstr(reason));
  EXPECT_FALSE(fs::exists(data_dir_)) << "opened the store before the policy";

  EXPECT_EQ(RunProgram({LINKCTL_BIN, "policy", "check", to.string()},
                       dir_.path(), &out, &err),
            1);
  EXPECT_THAT(out + err, HasSubstr(where));
  EXPECT_THAT(out + err, HasSubstr(reason));
}

}  // namespace
}  // namespace linkd
