// linkd.v1.AdminService: aggregate state for operators.
#ifndef LINKD_SERVER_ADMIN_SERVICE_H_
#define LINKD_SERVER_ADMIN_SERVICE_H_

#include "linkd/server/governance.h"
#include "linkd/store/record_store.h"
#include "linkd/v1/admin_service.grpc.pb.h"

namespace linkd::server {

// Thread-safe. Answers from counters (point reads), so runs inline.
class AdminServiceImpl final : public v1::AdminService::CallbackService {
 public:
  // Pointers must outlive the service; `governance` may be null (no
  // identities, no audit).
  AdminServiceImpl(const store::RecordStore* records,
                   const Governance* governance)
      : records_(records), governance_(governance) {}

  grpc::ServerUnaryReactor* GetStats(grpc::CallbackServerContext* context,
                                     const v1::GetStatsRequest* request,
                                     v1::GetStatsResponse* response) override;

 private:
  const store::RecordStore* const records_;
  const Governance* const governance_;
};

}  // namespace linkd::server

#endif  // LINKD_SERVER_ADMIN_SERVICE_H_
