#include "linkd/ctl/governance_commands.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "linkd/audit/checkpoint.h"
#include "linkd/audit/signer.h"
#include "linkd/audit/verifier.h"
#include "linkd/ctl/encoded_file.h"
#include "linkd/store/store.h"
#include "linkd/v1/governance_service.grpc.pb.h"
#include "policies/engine/check.h"

namespace linkd::ctl {
namespace {

using v1::GovernanceService;

// "2026-12-01", "2026-12-01T08:00:00Z" (RFC 3339) or microseconds.
bool ParseTime(const std::string& text, int64_t* micros) {
  absl::Time t;
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, text, &t, &err) ||
      absl::ParseTime("%Y-%m-%d", text, &t, &err)) {
    *micros = absl::ToUnixMicros(t);
    return true;
  }
  return absl::SimpleAtoi(text, micros);
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream text;
  text << in.rdbuf();
  *out = text.str();
  return true;
}

// The subject options shared by consent and audit subject: --sui S,
// --source S --record R, or --identity FILE (an encoded file from
// linkd-encode holding the child's record; its first record is used).
// Returns an exit status (0 = ok).
int ParseSubject(const Args& a, v1::SubjectRef* subject) {
  const int given =
      a.Has("sui") + (a.Has("source") || a.Has("record")) + a.Has("identity");
  if (given != 1) {
    return UsageError(
        "name the child with one of --sui SUI, --source S --record R, or "
        "--identity ENCODED_FILE");
  }
  if (a.Has("sui")) {
    subject->set_sui(a.GetOr("sui", ""));
  } else if (a.Has("identity")) {
    absl::StatusOr<std::unique_ptr<EncodedFileReader>> reader =
        EncodedFileReader::Open(a.GetOr("identity", ""));
    if (!reader.ok()) return UsageError(reader.status().message());
    v1::IngestItem item;
    absl::StatusOr<bool> more = (*reader)->Next(&item);
    if (!more.ok() || !*more || !item.has_record()) {
      return UsageError("--identity: the file holds no encoded record");
    }
    *subject->mutable_identity() = item.record().identity();
  } else {
    subject->mutable_record()->set_source(a.GetOr("source", ""));
    subject->mutable_record()->set_record_id(a.GetOr("record", ""));
    if (subject->record().source().empty() ||
        subject->record().record_id().empty()) {
      return UsageError("--source and --record go together");
    }
  }
  return 0;
}

void PrintEntryText(const v1::AuditEntryView& e) {
  absl::PrintF("#%d %s  %s  %s  %s", e.seq(),
               absl::FormatTime("%Y-%m-%d %H:%M:%S",
                                absl::FromUnixMicros(e.time_micros()),
                                absl::UTCTimeZone()),
               e.organisation(), e.method(), e.decision());
  if (!e.purpose().empty()) absl::PrintF("  purpose %s", e.purpose());
  if (!e.recipient().empty()) absl::PrintF("  to %s", e.recipient());
  if (!e.reason().empty()) absl::PrintF("  (%s)", e.reason());
  absl::PrintF("\n");
  if (!e.lawful_basis().empty()) {
    absl::PrintF("    lawful basis: %s\n", e.lawful_basis());
  }
  if (e.suis_size() > 0) {
    absl::PrintF("    SUIs: %s\n", absl::StrJoin(e.suis(), ", "));
  }
  if (e.records_size() > 0) {
    std::vector<std::string> refs;
    for (const auto& r : e.records()) {
      if (refs.size() == 5) {
        refs.push_back(absl::StrCat("... ", e.records_size() - 5, " more"));
        break;
      }
      refs.push_back(absl::StrCat(r.source(), ":", r.record_id()));
    }
    absl::PrintF("    records: %s\n", absl::StrJoin(refs, ", "));
  }
}

int VerifyOffline(const Args& a) {
  store::StoreOptions options;
  options.path = a.GetOr("data-dir", "");
  options.create_if_missing = false;
  absl::StatusOr<std::unique_ptr<store::Store>> s = store::Store::Open(options);
  if (!s.ok()) {
    absl::FPrintF(stderr, "linkctl: audit verify: %s\n", s.status().message());
    return 1;
  }
  audit::VerifyOptions vo;
  if (a.Has("public-key")) {
    std::string key;
    if (!ReadFile(a.GetOr("public-key", ""), &key)) {
      return UsageError("--public-key: cannot read the file");
    }
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) {
      key.pop_back();
    }
    absl::StatusOr<audit::NoteVerifier> v =
        audit::NoteVerifier::FromVerifierKey(key);
    if (!v.ok()) return UsageError(v.status().message());
    vo.trusted_keys.push_back(*std::move(v));
  }
  if (a.Has("checkpoint")) {
    std::string witness;
    if (!ReadFile(a.GetOr("checkpoint", ""), &witness)) {
      return UsageError("--checkpoint: cannot read the file");
    }
    vo.witness = witness;
  }
  absl::StatusOr<audit::VerifyReport> report = audit::Verify(**s, vo);
  if (!report.ok()) {
    absl::FPrintF(stderr, "linkctl: audit verify: %s\n",
                  report.status().message());
    return 1;
  }
  absl::PrintF("%s", report->Summary());
  if (report->used_recorded_key) {
    absl::FPrintF(stderr,
                  "linkctl: note: checkpoints were checked with the key the "
                  "log records itself; pass --public-key with the key the IG "
                  "team holds for an independent check\n");
  }
  return report->ok() ? 0 : 4;
}

}  // namespace

int RunPolicy(const Connection& c, const std::vector<std::string>& args) {
  const std::string usage = "policy check DIR | policy show | policy reload";
  if (args.empty()) return UsageError(usage);
  if (args[0] == "check") {
    if (args.size() != 2) return UsageError("policy check DIR");
    const absl::Status s = policy::CheckPolicyDir(args[1], std::cout);
    if (!s.ok()) {
      absl::FPrintF(stderr, "linkctl: policy check: %s\n", s.message());
      return 1;
    }
    return 0;
  }
  auto stub = GovernanceService::NewStub(c.Channel());
  v1::GetPolicyResponse p;
  if (args[0] == "show") {
    const grpc::Status status =
        stub->GetPolicy(Deadline().get(), v1::GetPolicyRequest(), &p);
    if (!status.ok()) return RpcError("policy show", status);
  } else if (args[0] == "reload") {
    v1::ReloadPolicyResponse r;
    const grpc::Status status =
        stub->ReloadPolicy(Deadline().get(), v1::ReloadPolicyRequest(), &r);
    if (!status.ok()) return RpcError("policy reload", status);
    absl::PrintF("reloaded: version %s (was %s)\n", r.policy().version(),
                 r.previous_version());
    p = r.policy();
  } else {
    return UsageError(usage);
  }
  absl::PrintF("policy %s version %s\nhash %s\n%d rules, %d tests, files: %s\n",
               p.name(), p.version(), p.hash(), p.rules(), p.tests(),
               absl::StrJoin(p.files(), ", "));
  absl::PrintF("purposes:\n");
  for (const v1::PurposeSummary& s : p.purposes()) {
    absl::PrintF("  %-28s %s\n  %-28s objections %s, opt-outs %s\n", s.id(),
                 s.lawful_basis(), "",
                 s.objections_apply() ? "apply" : "do not apply",
                 s.opt_outs_apply() ? "apply" : "do not apply");
  }
  absl::PrintF("you are %s (%s)\n", p.caller(),
               absl::StrJoin(p.caller_roles(), ", "));
  return 0;
}

int RunConsent(const Connection& c, const std::vector<std::string>& args) {
  const std::string usage =
      "consent record --kind objection|opt-out|consent --categories A,B "
      "[--from T] [--until T] --reason TEXT (--sui S | --source S --record R "
      "| --identity FILE) | consent list (--sui S | ...)";
  if (args.empty()) return UsageError(usage);
  absl::StatusOr<Args> a =
      Args::Parse(std::vector<std::string>(args.begin() + 1, args.end()),
                  {"sui", "source", "record", "identity", "kind", "categories",
                   "from", "until", "reason", "format"});
  if (!a.ok()) return UsageError(a.status().message());
  v1::SubjectRef subject;
  if (int rc = ParseSubject(*a, &subject); rc != 0) return rc;
  auto stub = GovernanceService::NewStub(c.Channel());
  auto print = [](const v1::ConsentRecord& r) {
    absl::PrintF(
        "%-20d %-10s %-20s from %s until %s, by %s: %s\n", r.id(),
        v1::ConsentRecord::Kind_Name(r.kind()).substr(5),
        absl::StrJoin(r.categories(), ","), FormatMicros(r.valid_from_micros()),
        r.valid_until_micros() == 0 ? std::string("(no end)")
                                    : FormatMicros(r.valid_until_micros()),
        r.recorded_by(), r.reason());
  };
  if (args[0] == "record") {
    v1::RecordConsentRequest request;
    *request.mutable_subject() = subject;
    const std::string kind = a->GetOr("kind", "");
    if (kind == "objection") {
      request.set_kind(v1::ConsentRecord::KIND_OBJECTION);
    } else if (kind == "opt-out") {
      request.set_kind(v1::ConsentRecord::KIND_OPT_OUT);
    } else if (kind == "consent") {
      request.set_kind(v1::ConsentRecord::KIND_CONSENT);
    } else {
      return UsageError("--kind must be objection, opt-out or consent");
    }
    for (absl::string_view cat :
         absl::StrSplit(a->GetOr("categories", ""), ',', absl::SkipEmpty())) {
      request.add_categories(std::string(cat));
    }
    int64_t t = 0;
    if (a->Has("from")) {
      if (!ParseTime(a->GetOr("from", ""), &t))
        return UsageError("--from: bad time");
      request.set_valid_from_micros(t);
    }
    if (a->Has("until")) {
      if (!ParseTime(a->GetOr("until", ""), &t))
        return UsageError("--until: bad time");
      request.set_valid_until_micros(t);
    }
    request.set_reason(a->GetOr("reason", ""));
    v1::RecordConsentResponse response;
    const grpc::Status status =
        stub->RecordConsent(Deadline().get(), request, &response);
    if (!status.ok()) return RpcError("consent record", status);
    absl::PrintF("recorded for SUI %s:\n", response.record().sui());
    print(response.record());
    return 0;
  }
  if (args[0] == "list") {
    v1::ListConsentRequest request;
    *request.mutable_subject() = subject;
    v1::ListConsentResponse response;
    const grpc::Status status =
        stub->ListConsent(Deadline().get(), request, &response);
    if (!status.ok()) return RpcError("consent list", status);
    if (a->GetOr("format", "text") == "json") {
      absl::PrintF("%s\n", ToJson(response));
      return 0;
    }
    absl::PrintF("SUI %s: %d records\n", response.sui(),
                 response.records_size());
    for (const v1::ConsentRecord& r : response.records()) print(r);
    return 0;
  }
  return UsageError(usage);
}

int RunAudit(const Connection& c, const std::vector<std::string>& args) {
  const std::string usage =
      "audit verify [--checkpoint FILE] [--save-checkpoint FILE] | audit "
      "verify --data-dir DIR [--public-key FILE] [--checkpoint FILE] | audit "
      "export [--since T] [--until T] [--format text|jsonl] | audit subject "
      "(--sui S | --source S --record R | --identity FILE) | audit checkpoint "
      "[--fresh] [--out FILE]";
  if (args.empty()) return UsageError(usage);
  absl::StatusOr<Args> a = Args::Parse(
      std::vector<std::string>(args.begin() + 1, args.end()),
      {"checkpoint", "save-checkpoint", "data-dir", "public-key", "since",
       "until", "format", "sui", "source", "record", "identity", "out"},
      {"fresh"});
  if (!a.ok()) return UsageError(a.status().message());
  auto stub = GovernanceService::NewStub(c.Channel());
  const std::string format = a->GetOr("format", "text");
  if (args[0] == "verify") {
    if (a->Has("data-dir")) return VerifyOffline(*a);
    v1::VerifyAuditRequest request;
    if (a->Has("checkpoint")) {
      std::string witness;
      if (!ReadFile(a->GetOr("checkpoint", ""), &witness)) {
        return UsageError("--checkpoint: cannot read the file");
      }
      request.set_witness_checkpoint(witness);
    }
    v1::VerifyAuditResponse r;
    const grpc::Status status =
        stub->VerifyAudit(Deadline(3600).get(), request, &r);
    if (!status.ok()) return RpcError("audit verify", status);
    if (r.ok()) {
      absl::PrintF("audit log OK: %d entries verified\n", r.entries());
    } else {
      absl::PrintF("audit log FAILED verification at entry %d: %s\n",
                   r.first_bad_entry(), r.problem());
    }
    if (a->Has("save-checkpoint") && !r.checkpoint().empty()) {
      std::ofstream(a->GetOr("save-checkpoint", "")) << r.checkpoint();
      absl::PrintF("checkpoint saved to %s (keep it as your witness)\n",
                   a->GetOr("save-checkpoint", ""));
    }
    return r.ok() ? 0 : 4;
  }
  if (args[0] == "export") {
    v1::ExportAuditRequest request;
    int64_t t = 0;
    if (a->Has("since")) {
      if (!ParseTime(a->GetOr("since", ""), &t))
        return UsageError("--since: bad time");
      request.set_since_micros(t);
    }
    if (a->Has("until")) {
      if (!ParseTime(a->GetOr("until", ""), &t))
        return UsageError("--until: bad time");
      request.set_until_micros(t);
    }
    grpc::ClientContext context;
    auto reader = stub->ExportAudit(&context, request);
    v1::ExportAuditResponse page;
    uint64_t n = 0;
    while (reader->Read(&page)) {
      for (const v1::AuditEntryView& e : page.entries()) {
        if (format == "jsonl") {
          absl::PrintF("%s\n", ToJson(e));
        } else {
          PrintEntryText(e);
        }
        ++n;
      }
    }
    const grpc::Status status = reader->Finish();
    if (!status.ok()) {
      return RpcError(
          absl::StrCat("audit export stopped after ", n, " entries"), status);
    }
    if (format != "jsonl") absl::FPrintF(stderr, "%d entries\n", n);
    return 0;
  }
  if (args[0] == "subject") {
    v1::SubjectAccessRequest request;
    if (int rc = ParseSubject(*a, request.mutable_subject()); rc != 0) {
      return rc;
    }
    v1::SubjectAccessResponse r;
    const grpc::Status status =
        stub->SubjectAccess(Deadline(120).get(), request, &r);
    if (!status.ok()) return RpcError("audit subject", status);
    if (format == "jsonl") {
      for (const v1::AuditEntryView& e : r.entries()) {
        absl::PrintF("%s\n", ToJson(e));
      }
      return 0;
    }
    absl::PrintF(
        "Subject access report for SUI %s: %d uses of this child's data\n\n",
        r.sui(), r.entries_size());
    for (const v1::AuditEntryView& e : r.entries()) PrintEntryText(e);
    return 0;
  }
  if (args[0] == "checkpoint") {
    v1::GetCheckpointRequest request;
    request.set_fresh(a->Has("fresh"));
    v1::GetCheckpointResponse r;
    const grpc::Status status =
        stub->GetCheckpoint(Deadline().get(), request, &r);
    if (!status.ok()) return RpcError("audit checkpoint", status);
    if (a->Has("out")) {
      std::ofstream(a->GetOr("out", "")) << r.checkpoint();
      absl::PrintF("checkpoint of %d entries saved to %s\nverifier key: %s\n",
                   r.size(), a->GetOr("out", ""), r.public_key());
    } else {
      absl::PrintF("%s", r.checkpoint());
    }
    return 0;
  }
  return UsageError(usage);
}

}  // namespace linkd::ctl
