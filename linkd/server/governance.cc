#include "linkd/server/governance.h"

#include <sodium.h>

#include <algorithm>
#include <map>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "linkd/server/grpc_status.h"
#include "policies/engine/org_id.h"

namespace linkd::server {
namespace {

using policy::Role;

// Who may call what. Deny by default: a method not listed here is refused
// for everyone. Keep in step with the services and README's table.
const std::map<std::string, std::vector<Role>, std::less<>>& MethodTable() {
  static const auto* const kTable =
      new std::map<std::string, std::vector<Role>, std::less<>>{
          // Providers upload encoded records and events of their sources.
          {"/linkd.v1.IngestService/Ingest", {Role::kProvider}},
          // Operations.
          {"/linkd.v1.AdminService/GetStats",
           {Role::kAdmin, Role::kIgOfficer, Role::kAuditor}},
          {"/linkd.v1.LinkageService/GetLinkingStatus",
           {Role::kProvider, Role::kAdmin, Role::kIgOfficer, Role::kAuditor}},
          {"/linkd.v1.LinkageService/SetLinkingPaused", {Role::kAdmin}},
          // A provider resolves and lists only its own records (checked by
          // the service); IG officers see the whole index.
          {"/linkd.v1.LinkageService/Resolve",
           {Role::kProvider, Role::kIgOfficer, Role::kAdmin}},
          {"/linkd.v1.LinkageService/ListLinks",
           {Role::kProvider, Role::kIgOfficer, Role::kAdmin}},
          // Clerical review is IG work.
          {"/linkd.v1.LinkageService/Explain", {Role::kIgOfficer}},
          {"/linkd.v1.LinkageService/ListReviews", {Role::kIgOfficer}},
          {"/linkd.v1.LinkageService/GetReview", {Role::kIgOfficer}},
          {"/linkd.v1.LinkageService/DecideReview", {Role::kIgOfficer}},
          {"/linkd.v1.LinkageService/GetModel",
           {Role::kIgOfficer, Role::kAdmin, Role::kAuditor}},
          {"/linkd.v1.LinkageService/EstimateModel", {Role::kAdmin}},
          // Governance.
          {"/linkd.v1.GovernanceService/GetPolicy",
           {Role::kProvider, Role::kRecipient, Role::kIgOfficer,
            Role::kResearcher, Role::kAuditor, Role::kAdmin}},
          {"/linkd.v1.GovernanceService/ReloadPolicy",
           {Role::kIgOfficer, Role::kAdmin}},
          {"/linkd.v1.GovernanceService/RecordConsent", {Role::kIgOfficer}},
          {"/linkd.v1.GovernanceService/ListConsent",
           {Role::kIgOfficer, Role::kAuditor}},
          {"/linkd.v1.GovernanceService/VerifyAudit",
           {Role::kAuditor, Role::kIgOfficer}},
          {"/linkd.v1.GovernanceService/ExportAudit",
           {Role::kAuditor, Role::kIgOfficer}},
          {"/linkd.v1.GovernanceService/SubjectAccess",
           {Role::kIgOfficer, Role::kAuditor}},
          {"/linkd.v1.GovernanceService/GetCheckpoint",
           {Role::kAuditor, Role::kIgOfficer, Role::kAdmin}},
          // Notifications: recipients read their own outbox (the service
          // serves only the caller's). The IG team's outbox holds reports
          // of misdirected notifications.
          {"/linkd.v1.NotificationService/Subscribe",
           {Role::kRecipient, Role::kIgOfficer}},
          {"/linkd.v1.NotificationService/Ack",
           {Role::kRecipient, Role::kIgOfficer}},
          {"/linkd.v1.NotificationService/ListPending",
           {Role::kRecipient, Role::kIgOfficer}},
          // Research extracts.
          {"/linkd.v1.ExtractService/RegisterProject", {Role::kIgOfficer}},
          {"/linkd.v1.ExtractService/ListProjects",
           {Role::kIgOfficer, Role::kResearcher, Role::kAuditor}},
          {"/linkd.v1.ExtractService/RequestExtract", {Role::kResearcher}},
          {"/linkd.v1.ExtractService/ListRequests",
           {Role::kIgOfficer, Role::kResearcher, Role::kAuditor}},
          {"/linkd.v1.ExtractService/DecideRequest", {Role::kIgOfficer}},
          {"/linkd.v1.ExtractService/FetchExtract", {Role::kResearcher}},
      };
  return *kTable;
}

const std::vector<Role>& AllRoles() {
  static const auto* const kAll = new std::vector<Role>{
      Role::kProvider,   Role::kRecipient, Role::kIgOfficer,
      Role::kResearcher, Role::kAuditor,   Role::kAdmin};
  return *kAll;
}

std::string RequestId(const grpc::ServerContextBase& context) {
  const auto& md = context.client_metadata();
  auto it = md.find("x-request-id");
  if (it != md.end() && it->second.size() > 0 && it->second.size() <= 64) {
    return std::string(it->second.data(), it->second.size());
  }
  unsigned char bytes[12];
  randombytes_buf(bytes, sizeof(bytes));
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

bool IsDenial(absl::StatusCode code) {
  return code == absl::StatusCode::kPermissionDenied ||
         code == absl::StatusCode::kUnauthenticated ||
         code == absl::StatusCode::kFailedPrecondition;
}

}  // namespace

bool Caller::HasRole(Role role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

bool Caller::MaySubmitAs(std::string_view source) const {
  return std::find(sources.begin(), sources.end(), source) != sources.end();
}

const std::vector<Role>& RolesForMethod(std::string_view method) {
  static const auto* const kNone = new std::vector<Role>;
  const auto& table = MethodTable();
  auto it = table.find(method);
  return it == table.end() ? *kNone : it->second;
}

Governance::Governance(policy::ReloadablePolicySet* policies,
                       audit::AuditLog* audit, GovernanceOptions options)
    : policies_(policies), audit_(audit), options_(std::move(options)) {}

absl::StatusOr<Caller> Governance::Identify(
    const grpc::ServerContextBase& context) const {
  if (options_.insecure_local) return LocalCaller();
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) {
    return absl::UnauthenticatedError(
        "no verified client certificate: every caller needs its "
        "organisation's certificate");
  }
  std::vector<grpc::string_ref> ids =
      auth->FindPropertyValues("peer_spiffe_id");
  if (ids.empty()) ids = auth->FindPropertyValues("peer_uri");
  if (ids.size() != 1) {
    return absl::UnauthenticatedError(
        "the client certificate must carry exactly one SPIFFE id "
        "(spiffe://<trust domain>/<kind>/<id>) as its URI SAN");
  }
  absl::StatusOr<std::string> org = policy::OrgIdFromSpiffeUri(
      absl::string_view(ids[0].data(), ids[0].size()), options_.trust_domain);
  if (!org.ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat("client certificate: ", org.status().message()));
  }
  const std::shared_ptr<const policy::PolicySet> set = policies_->Current();
  absl::StatusOr<policy::OrganisationInfo> info = set->Organisation(*org);
  if (!info.ok() || info->roles.empty()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "organisation ", *org, " is not known to policy ", set->version()));
  }
  Caller caller;
  caller.org = *org;
  caller.roles = info->roles;
  caller.sources = info->sources;
  caller.sources.push_back(*org);
  return caller;
}

audit::v1::AuditEntry Governance::NewEntry(
    std::string_view method, const grpc::ServerContextBase& context,
    const Caller* caller) const {
  audit::v1::AuditEntry entry;
  entry.set_method(std::string(method));
  entry.set_organisation(caller != nullptr ? caller->org : "unidentified");
  entry.set_request_id(RequestId(context));
  const std::shared_ptr<const policy::PolicySet> set = policies_->Current();
  entry.set_policy_version(set->version());
  entry.set_policy_hash(set->hash());
  if (caller != nullptr && caller->insecure) {
    (*entry.mutable_details())["transport"] = "insecure loopback";
  }
  return entry;
}

absl::StatusOr<Caller> Governance::Admit(const grpc::ServerContextBase& context,
                                         std::string_view method,
                                         audit::v1::AuditEntry* entry) const {
  absl::StatusOr<Caller> caller = Identify(context);
  *entry = NewEntry(method, context, caller.ok() ? &*caller : nullptr);
  absl::Status refusal = caller.status();
  if (caller.ok()) {
    const std::vector<Role>& allowed = RolesForMethod(method);
    const bool ok = std::any_of(allowed.begin(), allowed.end(),
                                [&](Role r) { return caller->HasRole(r); });
    if (!ok) {
      std::vector<std::string> names;
      for (Role r : allowed) names.emplace_back(policy::RoleName(r));
      refusal = absl::PermissionDeniedError(absl::StrCat(
          std::string(method), " is for ",
          names.empty() ? "no one" : absl::StrJoin(names, ", "),
          "; organisation ", caller->org, " has none of those roles"));
    }
  }
  if (refusal.ok()) return caller;
  entry->set_decision(audit::v1::DECISION_DENIED);
  const absl::Status sent = Close(entry, refusal);
  return sent;
}

void Governance::Complete(audit::v1::AuditEntry* entry,
                          const absl::Status& status) {
  entry->set_status_code(static_cast<int32_t>(status.code()));
  if (entry->decision() == audit::v1::DECISION_UNSPECIFIED) {
    entry->set_decision(status.ok()               ? audit::v1::DECISION_ALLOWED
                        : IsDenial(status.code()) ? audit::v1::DECISION_DENIED
                                                  : audit::v1::DECISION_ERROR);
  }
  if (!status.ok() && entry->reason().empty()) {
    entry->set_reason(std::string(status.message()));
  }
}

grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* context,
                                      const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

Caller LocalCaller() {
  Caller caller;
  caller.org = "local/operator";
  caller.roles = AllRoles();
  caller.insecure = true;
  return caller;
}

absl::Status Governance::Close(audit::v1::AuditEntry* entry,
                               const absl::Status& status) const {
  Complete(entry, status);
  absl::StatusOr<audit::AppendResult> recorded = audit_->Record(*entry);
  if (!recorded.ok()) {
    return absl::UnavailableError(
        "the audit log cannot be written: nothing is released until it can");
  }
  return status;
}

}  // namespace linkd::server
