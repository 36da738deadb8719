// linkd::server governance: who is calling, what they may call, and the
// audit entry of every call (DESIGN.md sections 2, 6 and 7).
//
// Identity: every caller is an organisation, named by the SPIFFE id in its
// client certificate's URI SAN, spiffe://<trust domain>/<kind>/<id>, as
// verified by gRPC's mTLS handshake. Roles come from the policy set's
// organisations, never from the request. In insecure mode (no TLS, loopback
// only, for development and tests) every caller is "local/operator" with
// every role, and its entries say so.
//
// Authorisation: a fixed table maps every gRPC method to the roles that may
// call it (deny by default: a method missing from the table is refused).
// Finer checks (a provider's own sources, a purpose's policy) are the
// services' own.
//
// Audit: every call gets exactly one entry. Admit() records it at once when
// the call is refused; otherwise the service fills in what it touched and
// calls Close(), which records it (synced) before the response is sent, so
// nothing is released unless audited. Calls that change state put their
// entry in the same WriteBatch instead (audit::AuditLog::AppendAndCommit).
#ifndef LINKD_SERVER_GOVERNANCE_H_
#define LINKD_SERVER_GOVERNANCE_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"
#include "linkd/audit/audit_log.h"
#include "linkd/audit/v1/audit.pb.h"
#include "policies/engine/reloadable_policy_set.h"
#include "policies/engine/vocabulary.h"

namespace linkd::server {

// The organisation behind a call.
struct Caller {
  std::string org;  // e.g. "school/100001"
  std::vector<policy::Role> roles;
  // Sources it may submit records as: its own id and those the policy
  // lists for it (e.g. "school_census").
  std::vector<std::string> sources;
  bool insecure = false;  // insecure loopback mode: not authenticated

  bool HasRole(policy::Role role) const;
  bool MaySubmitAs(std::string_view source) const;
};

struct GovernanceOptions {
  // Trust domain of the SPIFFE ids linkd accepts.
  std::string trust_domain = "linkd.example";
  // No TLS (loopback development mode): see the banner.
  bool insecure_local = false;
};

// The roles allowed to call `method` (a full gRPC method name such as
// "/linkd.v1.LinkageService/Resolve"); empty if the method is unknown.
const std::vector<policy::Role>& RolesForMethod(std::string_view method);

// Thread-safe.
class Governance {
 public:
  // Pointers are not owned and must outlive this object.
  Governance(policy::ReloadablePolicySet* policies, audit::AuditLog* audit,
             GovernanceOptions options);

  // The caller of `context`. UNAUTHENTICATED without a verified client
  // certificate carrying a SPIFFE id of the trust domain; PERMISSION_DENIED
  // for an organisation the policy does not know (no roles).
  absl::StatusOr<Caller> Identify(const grpc::ServerContextBase& context) const;

  // A new entry for a call of `method`: time, organisation (if known),
  // method, request id, policy version and hash.
  audit::v1::AuditEntry NewEntry(std::string_view method,
                                 const grpc::ServerContextBase& context,
                                 const Caller* caller) const;

  // Identifies the caller and checks that its roles allow `method`. On
  // success returns the caller and sets `*entry` to the call's entry, to be
  // completed and closed by the service. On refusal records the entry
  // (DECISION_DENIED) and returns the status to send (UNAUTHENTICATED or
  // PERMISSION_DENIED), or UNAVAILABLE if the refusal could not be audited.
  absl::StatusOr<Caller> Admit(const grpc::ServerContextBase& context,
                               std::string_view method,
                               audit::v1::AuditEntry* entry) const;

  // Completes `entry` with `status` (status code; decision ERROR or DENIED
  // for failures, unless already set; the reason from the status for
  // failures) and records it, synced. Returns the status to send: `status`,
  // or UNAVAILABLE if the entry could not be recorded (nothing may be
  // released unaudited).
  absl::Status Close(audit::v1::AuditEntry* entry,
                     const absl::Status& status) const;

  // Completes `entry` as Close does, without recording it (for callers that
  // commit it in their own batch).
  static void Complete(audit::v1::AuditEntry* entry,
                       const absl::Status& status);

  std::shared_ptr<const policy::PolicySet> policy() const {
    return policies_->Current();
  }
  policy::ReloadablePolicySet* policies() const { return policies_; }
  audit::AuditLog* audit_log() const { return audit_; }
  const GovernanceOptions& options() const { return options_; }

 private:
  policy::ReloadablePolicySet* const policies_;
  audit::AuditLog* const audit_;
  const GovernanceOptions options_;
};

// The shape of every governed unary handler: admits the call (refusals are
// audited and finished at once), runs `body(caller, &entry)` to do the work
// and fill in what it touched, then records the entry with the body's status
// and finishes the reactor. Without `governance` (unit tests of a service
// alone) the body runs as an insecure local caller and nothing is audited.
template <typename Body>
grpc::ServerUnaryReactor* Governed(grpc::CallbackServerContext* context,
                                   const Governance* governance,
                                   std::string_view method, Body body);

// Implementation details below.
grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* context,
                                      const absl::Status& status);
Caller LocalCaller();

template <typename Body>
grpc::ServerUnaryReactor* Governed(grpc::CallbackServerContext* context,
                                   const Governance* governance,
                                   std::string_view method, Body body) {
  audit::v1::AuditEntry entry;
  if (governance == nullptr) {
    return FinishUnary(context, body(LocalCaller(), &entry));
  }
  absl::StatusOr<Caller> caller = governance->Admit(*context, method, &entry);
  if (!caller.ok()) return FinishUnary(context, caller.status());
  const absl::Status status = body(*caller, &entry);
  return FinishUnary(context, governance->Close(&entry, status));
}

}  // namespace linkd::server

#endif  // LINKD_SERVER_GOVERNANCE_H_
