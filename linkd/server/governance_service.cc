#include "linkd/server/governance_service.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "linkd/audit/verifier.h"
#include "linkd/server/grpc_status.h"
#include "linkd/store/record_store.h"
#include "linkd/util/status_macros.h"

namespace linkd::server {
namespace {

constexpr char kService[] = "/linkd.v1.GovernanceService/";
constexpr size_t kMaxSubjectEntries = 100000;
constexpr size_t kExportPage = 500;

std::string Method(std::string_view name) {
  return absl::StrCat(kService, std::string(name));
}

std::string DecisionName(audit::v1::Decision d) {
  switch (d) {
    case audit::v1::DECISION_ALLOWED:
      return "allowed";
    case audit::v1::DECISION_DENIED:
      return "denied";
    case audit::v1::DECISION_ERROR:
      return "error";
    default:
      return "unspecified";
  }
}

void FillPolicy(const policy::PolicySet& set, const Caller& caller,
                v1::GetPolicyResponse* out) {
  out->set_name(set.name());
  out->set_version(set.version());
  out->set_hash(set.hash_hex());
  for (const std::string& f : set.file_names()) out->add_files(f);
  for (const policy::PurposeInfo& p : set.purposes()) {
    v1::PurposeSummary* s = out->add_purposes();
    s->set_id(p.id);
    s->set_display_name(p.display_name);
    s->set_lawful_basis(p.lawful_basis);
    s->set_objections_apply(p.objections_apply);
    s->set_opt_outs_apply(p.opt_outs_apply);
  }
  out->set_rules(set.rule_count());
  out->set_tests(set.test_count());
  out->set_caller(caller.org);
  for (policy::Role r : caller.roles) {
    out->add_caller_roles(std::string(policy::RoleName(r)));
  }
}

// Streams audit entries of [since, until) a page at a time: each page is
// read when the previous one has been written.
class ExportReactor final
    : public grpc::ServerWriteReactor<v1::ExportAuditResponse> {
 public:
  ExportReactor(const audit::AuditLog* log, absl::Time since, absl::Time until)
      : log_(log), since_(since), until_(until) {
    NextPage();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
      return;
    }
    NextPage();
  }
  void OnDone() override { delete this; }

 private:
  void NextPage() {
    page_.Clear();
    bool full = false;
    // Resume after the last (time, seq) sent: entries of one microsecond
    // are visited in seq order.
    const absl::Status s = log_->Export(
        since_, until_,
        [&](const audit::LoggedEntry& e) -> absl::StatusOr<bool> {
          const int64_t t = e.entry.time_micros();
          if (started_ &&
              (t < last_time_ || (t == last_time_ && e.seq <= last_seq_))) {
            return true;
          }
          if (page_.entries_size() == static_cast<int>(kExportPage)) {
            full = true;
            return false;
          }
          ToView(e, page_.add_entries());
          last_time_ = t;
          last_seq_ = e.seq;
          started_ = true;
          return true;
        });
    if (!s.ok()) {
      Finish(ToGrpcStatus(s));
      return;
    }
    if (page_.entries_size() == 0) {
      Finish(grpc::Status::OK);
      return;
    }
    since_ = absl::FromUnixMicros(last_time_);
    (void)full;
    StartWrite(&page_);
  }

  const audit::AuditLog* const log_;
  absl::Time since_;
  const absl::Time until_;
  bool started_ = false;
  int64_t last_time_ = 0;
  uint64_t last_seq_ = 0;
  v1::ExportAuditResponse page_;
};

class RefusedExport final
    : public grpc::ServerWriteReactor<v1::ExportAuditResponse> {
 public:
  explicit RefusedExport(const absl::Status& s) { Finish(ToGrpcStatus(s)); }
  void OnDone() override { delete this; }
};

}  // namespace

void ToView(const audit::LoggedEntry& logged, v1::AuditEntryView* out) {
  const audit::v1::AuditEntry& e = logged.entry;
  out->set_seq(logged.seq);
  out->set_time_micros(e.time_micros());
  out->set_organisation(e.organisation());
  out->set_method(e.method());
  out->set_purpose(e.purpose());
  out->set_lawful_basis(e.lawful_basis());
  out->set_policy_version(e.policy_version());
  out->set_decision(DecisionName(e.decision()));
  out->set_reason(e.reason());
  out->set_status_code(e.status_code());
  for (const std::string& s : e.suis()) out->add_suis(s);
  for (const audit::v1::RecordRef& r : e.records()) {
    v1::AuditRecordRef* ref = out->add_records();
    ref->set_source(r.source());
    ref->set_record_id(r.record_id());
  }
  out->set_recipient(e.recipient());
  out->set_request_id(e.request_id());
  for (const auto& [k, v] : e.details()) (*out->mutable_details())[k] = v;
  out->set_leaf_hash(absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(logged.leaf_hash.data()),
                        logged.leaf_hash.size())));
}

absl::StatusOr<linker::Sui> ResolveSubject(const linker::Linker& linker,
                                           const v1::SubjectRef& subject) {
  switch (subject.subject_case()) {
    case v1::SubjectRef::kSui: {
      LINKD_ASSIGN_OR_RETURN(linker::Sui sui,
                             linker::Sui::Parse(subject.sui()));
      return linker.Current(sui);
    }
    case v1::SubjectRef::kRecord: {
      if (subject.record().source().empty() ||
          subject.record().record_id().empty()) {
        return absl::InvalidArgumentError(
            "subject.record: source and record_id are required");
      }
      LINKD_ASSIGN_OR_RETURN(
          std::optional<linker::Sui> sui,
          linker.Resolve(store::RecordKey(subject.record().source(),
                                          subject.record().record_id())));
      if (!sui.has_value()) {
        return absl::NotFoundError(
            "subject.record: not known, or not linked yet");
      }
      return *sui;
    }
    case v1::SubjectRef::kIdentity:
      return linker.Lookup(subject.identity());
    default:
      return absl::InvalidArgumentError(
          "subject: give a sui, a record or an encoded identity");
  }
}

GovernanceServiceImpl::GovernanceServiceImpl(
    store::Store* store, linker::Linker* linker,
    const consent::ConsentStore* consents, const Governance* governance,
    const audit::AuditSigner* signer, std::string data_dir)
    : store_(store),
      linker_(linker),
      consents_(consents),
      governance_(governance),
      signer_(signer),
      data_dir_(std::move(data_dir)) {}

GovernanceServiceImpl::~GovernanceServiceImpl() = default;

grpc::ServerUnaryReactor* GovernanceServiceImpl::GetPolicy(
    grpc::CallbackServerContext* context, const v1::GetPolicyRequest*,
    v1::GetPolicyResponse* response) {
  return Governed(context, governance_, Method("GetPolicy"),
                  [&](const Caller& caller, audit::v1::AuditEntry*) {
                    FillPolicy(*governance_->policy(), caller, response);
                    return absl::OkStatus();
                  });
}

grpc::ServerUnaryReactor* GovernanceServiceImpl::ReloadPolicy(
    grpc::CallbackServerContext* context, const v1::ReloadPolicyRequest*,
    v1::ReloadPolicyResponse* response) {
  return Governed(
      context, governance_, Method("ReloadPolicy"),
      [&](const Caller& caller, audit::v1::AuditEntry* entry) -> absl::Status {
        const std::shared_ptr<const policy::PolicySet> before =
            governance_->policy();
        response->set_previous_version(before->version());
        response->set_previous_hash(before->hash_hex());
        auto& d = *entry->mutable_details();
        d["previous_version"] = before->version();
        d["previous_hash"] = before->hash_hex();
        LINKD_ASSIGN_OR_RETURN(std::shared_ptr<const policy::PolicySet> now,
                               governance_->policies()->Reload());
        d["new_version"] = now->version();
        d["new_hash"] = now->hash_hex();
        FillPolicy(*now, caller, response->mutable_policy());
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* GovernanceServiceImpl::RecordConsent(
    grpc::CallbackServerContext* context,
    const v1::RecordConsentRequest* request,
    v1::RecordConsentResponse* response) {
  audit::v1::AuditEntry entry;
  absl::StatusOr<Caller> caller =
      governance_->Admit(*context, Method("RecordConsent"), &entry);
  if (!caller.ok()) return FinishUnary(context, caller.status());
  bool committed = false;
  absl::Status s = [&]() -> absl::Status {
    LINKD_ASSIGN_OR_RETURN(linker::Sui sui,
                           ResolveSubject(*linker_, request->subject()));
    entry.add_suis(sui.ToString());
    const int64_t now = absl::ToUnixMicros(absl::Now());
    v1::ConsentRecord record;
    record.set_kind(request->kind());
    for (const std::string& c : request->categories()) {
      record.add_categories(c);
    }
    record.set_sui(sui.ToString());
    record.set_valid_from_micros(
        request->valid_from_micros() != 0 ? request->valid_from_micros() : now);
    record.set_valid_until_micros(request->valid_until_micros());
    record.set_recorded_by(caller->org);
    record.set_recorded_micros(now);
    record.set_reason(request->reason());
    store::WriteBatch batch = store_->NewBatch();
    LINKD_ASSIGN_OR_RETURN(*response->mutable_record(),
                           consents_->Add(sui.bits(), record, &batch));
    auto& d = *entry.mutable_details();
    d["consent_id"] = absl::StrCat(response->record().id());
    d["kind"] = v1::ConsentRecord::Kind_Name(request->kind());
    // The record and its audit entry are one write.
    audit::v1::AuditEntry done = entry;
    Governance::Complete(&done, absl::OkStatus());
    LINKD_RETURN_IF_ERROR(governance_->audit_log()
                              ->AppendAndCommit(std::move(batch), done)
                              .status());
    committed = true;
    return absl::OkStatus();
  }();
  // A refusal or failure is audited on its own (nothing was written).
  if (!committed) s = governance_->Close(&entry, s);
  return FinishUnary(context, s);
}

grpc::ServerUnaryReactor* GovernanceServiceImpl::ListConsent(
    grpc::CallbackServerContext* context, const v1::ListConsentRequest* request,
    v1::ListConsentResponse* response) {
  return Governed(
      context, governance_, Method("ListConsent"),
      [&](const Caller&, audit::v1::AuditEntry* entry) -> absl::Status {
        LINKD_ASSIGN_OR_RETURN(linker::Sui sui,
                               ResolveSubject(*linker_, request->subject()));
        response->set_sui(sui.ToString());
        entry->add_suis(sui.ToString());
        LINKD_ASSIGN_OR_RETURN(std::vector<linker::Sui> lineage,
                               linker_->Lineage(sui));
        std::vector<uint64_t> bits;
        for (const linker::Sui& s : lineage) bits.push_back(s.bits());
        LINKD_ASSIGN_OR_RETURN(std::vector<v1::ConsentRecord> records,
                               consents_->List(bits));
        for (v1::ConsentRecord& r : records) {
          *response->add_records() = std::move(r);
        }
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* GovernanceServiceImpl::VerifyAudit(
    grpc::CallbackServerContext* context, const v1::VerifyAuditRequest* request,
    v1::VerifyAuditResponse* response) {
  auto entry = std::make_shared<audit::v1::AuditEntry>();
  absl::StatusOr<Caller> caller =
      governance_->Admit(*context, Method("VerifyAudit"), entry.get());
  if (!caller.ok()) return FinishUnary(context, caller.status());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const std::string witness = request->witness_checkpoint();
  // Verifying millions of entries takes seconds: on the worker, against a
  // frozen copy (a RocksDB checkpoint: hard links), while the live log goes
  // on growing.
  worker_.Post([this, reactor, response, witness, entry] {
    static std::atomic<uint64_t> next{0};
    const std::string copy =
        absl::StrCat(data_dir_, "/verify-", ::getpid(), "-", next++);
    absl::Status s = store_->Checkpoint(copy);
    if (s.ok()) {
      store::StoreOptions options;
      options.path = copy;
      options.create_if_missing = false;
      options.block_cache_mib = 32;
      absl::StatusOr<std::unique_ptr<store::Store>> frozen =
          store::Store::Open(options);
      s = frozen.status();
      if (s.ok()) {
        audit::VerifyOptions vo;
        absl::StatusOr<audit::NoteVerifier> key =
            audit::NoteVerifier::FromVerifierKey(signer_->VerifierKey());
        if (key.ok()) vo.trusted_keys.push_back(*std::move(key));
        if (!witness.empty()) vo.witness = witness;
        absl::StatusOr<audit::VerifyReport> report =
            audit::Verify(**frozen, vo);
        s = report.status();
        if (s.ok()) {
          response->set_ok(report->ok());
          response->set_entries(report->entries);
          if (const audit::Fault* f = report->first_fault(); f != nullptr) {
            response->set_problem(absl::StrCat(
                std::string(audit::FaultKindName(f->kind)), ": ", f->detail));
            response->set_first_bad_entry(f->seq);
          }
          (*entry->mutable_details())["entries"] =
              absl::StrCat(report->entries);
          (*entry->mutable_details())["result"] =
              report->ok() ? "ok" : response->problem();
        }
        frozen->reset();
      }
    }
    std::error_code ignored;
    std::filesystem::remove_all(copy, ignored);
    if (s.ok() && response->ok()) {
      absl::StatusOr<audit::SignedCheckpoint> cp =
          governance_->audit_log()->SignCheckpoint();
      if (cp.ok()) response->set_checkpoint(cp->note);
    }
    reactor->Finish(ToGrpcStatus(governance_->Close(entry.get(), s)));
  });
  return reactor;
}

grpc::ServerWriteReactor<v1::ExportAuditResponse>*
GovernanceServiceImpl::ExportAudit(grpc::CallbackServerContext* context,
                                   const v1::ExportAuditRequest* request) {
  audit::v1::AuditEntry entry;
  absl::StatusOr<Caller> caller =
      governance_->Admit(*context, Method("ExportAudit"), &entry);
  if (!caller.ok()) return new RefusedExport(caller.status());
  const absl::Time since = absl::FromUnixMicros(request->since_micros());
  const absl::Time until = request->until_micros() == 0
                               ? absl::Now()
                               : absl::FromUnixMicros(request->until_micros());
  absl::Status s;
  if (until < since) {
    s = absl::InvalidArgumentError("until_micros: before since_micros");
  }
  (*entry.mutable_details())["since_micros"] =
      absl::StrCat(request->since_micros());
  (*entry.mutable_details())["until_micros"] =
      absl::StrCat(absl::ToUnixMicros(until));
  s = governance_->Close(&entry, s);
  if (!s.ok()) return new RefusedExport(s);
  return new ExportReactor(governance_->audit_log(), since, until);
}

grpc::ServerUnaryReactor* GovernanceServiceImpl::SubjectAccess(
    grpc::CallbackServerContext* context,
    const v1::SubjectAccessRequest* request,
    v1::SubjectAccessResponse* response) {
  return Governed(
      context, governance_, Method("SubjectAccess"),
      [&](const Caller&, audit::v1::AuditEntry* entry) -> absl::Status {
        LINKD_ASSIGN_OR_RETURN(linker::Sui sui,
                               ResolveSubject(*linker_, request->subject()));
        response->set_sui(sui.ToString());
        entry->add_suis(sui.ToString());
        // Every name the child's data went by: its SUIs and its records.
        std::vector<std::string> subjects;
        LINKD_ASSIGN_OR_RETURN(std::vector<linker::Sui> lineage,
                               linker_->Lineage(sui));
        for (const linker::Sui& s : lineage) subjects.push_back(s.ToString());
        LINKD_ASSIGN_OR_RETURN(std::vector<std::string> members,
                               linker_->Members(sui));
        for (const std::string& key : members) {
          std::string_view source, record_id;
          LINKD_RETURN_IF_ERROR(
              store::DecodeRecordKey(key, &source, &record_id));
          subjects.push_back(audit::AuditLog::RecordSubject(source, record_id));
        }
        std::map<uint64_t, audit::LoggedEntry> found;
        for (const std::string& subject : subjects) {
          LINKD_RETURN_IF_ERROR(governance_->audit_log()->Subject(
              subject,
              [&](const audit::LoggedEntry& e) -> absl::StatusOr<bool> {
                found.emplace(e.seq, e);
                return found.size() < kMaxSubjectEntries;
              }));
        }
        for (const auto& [seq, e] : found) ToView(e, response->add_entries());
        (*entry->mutable_details())["entries"] = absl::StrCat(found.size());
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* GovernanceServiceImpl::GetCheckpoint(
    grpc::CallbackServerContext* context,
    const v1::GetCheckpointRequest* request,
    v1::GetCheckpointResponse* response) {
  return Governed(context, governance_, Method("GetCheckpoint"),
                  [&](const Caller&, audit::v1::AuditEntry*) -> absl::Status {
                    std::optional<audit::SignedCheckpoint> cp;
                    if (!request->fresh()) {
                      LINKD_ASSIGN_OR_RETURN(
                          cp, governance_->audit_log()->LatestCheckpoint());
                    }
                    if (!cp.has_value()) {
                      LINKD_ASSIGN_OR_RETURN(
                          cp, governance_->audit_log()->SignCheckpoint());
                    }
                    response->set_checkpoint(cp->note);
                    response->set_size(cp->checkpoint.size);
                    response->set_public_key(signer_->VerifierKey());
                    return absl::OkStatus();
                  });
}

}  // namespace linkd::server
