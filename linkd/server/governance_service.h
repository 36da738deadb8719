// linkd.v1.GovernanceService: policies, consent and objection records, and
// the audit log, for IG teams and auditors.
#ifndef LINKD_SERVER_GOVERNANCE_SERVICE_H_
#define LINKD_SERVER_GOVERNANCE_SERVICE_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "linkd/audit/signer.h"
#include "linkd/consent/consent_store.h"
#include "linkd/linker/linker.h"
#include "linkd/server/governance.h"
#include "linkd/store/store.h"
#include "linkd/util/serial_executor.h"
#include "linkd/v1/governance_service.grpc.pb.h"

namespace linkd::server {

// Resolves a SubjectRef to the child's current SUI: a printed SUI (retired
// ones resolve to their successor), a source record, or an encoded identity
// (Linker::Lookup). INVALID_ARGUMENT for an empty or malformed reference,
// NOT_FOUND for an unknown one, FAILED_PRECONDITION when it is ambiguous.
absl::StatusOr<linker::Sui> ResolveSubject(const linker::Linker& linker,
                                           const v1::SubjectRef& subject);

// Thread-safe. Long work (verifying the whole audit log) runs on the
// service's own worker thread, never on a gRPC reaction.
class GovernanceServiceImpl final
    : public v1::GovernanceService::CallbackService {
 public:
  // Pointers must outlive the service. `data_dir` is where verification
  // takes its frozen copy of the database (a RocksDB checkpoint).
  GovernanceServiceImpl(store::Store* store, linker::Linker* linker,
                        const consent::ConsentStore* consents,
                        const Governance* governance,
                        const audit::AuditSigner* signer, std::string data_dir);
  // Waits for the worker's tasks.
  ~GovernanceServiceImpl() override;

  grpc::ServerUnaryReactor* GetPolicy(grpc::CallbackServerContext* context,
                                      const v1::GetPolicyRequest* request,
                                      v1::GetPolicyResponse* response) override;
  grpc::ServerUnaryReactor* ReloadPolicy(
      grpc::CallbackServerContext* context,
      const v1::ReloadPolicyRequest* request,
      v1::ReloadPolicyResponse* response) override;
  grpc::ServerUnaryReactor* RecordConsent(
      grpc::CallbackServerContext* context,
      const v1::RecordConsentRequest* request,
      v1::RecordConsentResponse* response) override;
  grpc::ServerUnaryReactor* ListConsent(
      grpc::CallbackServerContext* context,
      const v1::ListConsentRequest* request,
      v1::ListConsentResponse* response) override;
  grpc::ServerUnaryReactor* VerifyAudit(
      grpc::CallbackServerContext* context,
      const v1::VerifyAuditRequest* request,
      v1::VerifyAuditResponse* response) override;
  grpc::ServerWriteReactor<v1::ExportAuditResponse>* ExportAudit(
      grpc::CallbackServerContext* context,
      const v1::ExportAuditRequest* request) override;
  grpc::ServerUnaryReactor* SubjectAccess(
      grpc::CallbackServerContext* context,
      const v1::SubjectAccessRequest* request,
      v1::SubjectAccessResponse* response) override;
  grpc::ServerUnaryReactor* GetCheckpoint(
      grpc::CallbackServerContext* context,
      const v1::GetCheckpointRequest* request,
      v1::GetCheckpointResponse* response) override;

 private:
  store::Store* const store_;
  linker::Linker* const linker_;
  const consent::ConsentStore* const consents_;
  const Governance* const governance_;
  const audit::AuditSigner* const signer_;
  const std::string data_dir_;

  // Declared last: destroyed first, so its tasks finish while everything
  // above is still alive.
  util::SerialExecutor worker_{"linkd-govern"};
};

// An audit entry as the API shows it.
void ToView(const audit::LoggedEntry& logged, v1::AuditEntryView* out);

}  // namespace linkd::server

#endif  // LINKD_SERVER_GOVERNANCE_SERVICE_H_
