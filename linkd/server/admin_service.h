// linkd.v1.AdminService: aggregate state for operators.
#ifndef LINKD_SERVER_ADMIN_SERVICE_H_
#define LINKD_SERVER_ADMIN_SERVICE_H_

#include "linkd/store/record_store.h"
#include "linkd/v1/admin_service.grpc.pb.h"

namespace linkd::server {

// Thread-safe. Answers from counters (point reads), so runs inline.
class AdminServiceImpl final : public v1::AdminService::CallbackService {
 public:
  // `records` must outlive the service.
  explicit AdminServiceImpl(const store::RecordStore* records)
      : records_(records) {}

  grpc::ServerUnaryReactor* GetStats(grpc::CallbackServerContext* context,
                                     const v1::GetStatsRequest* request,
                                     v1::GetStatsResponse* response) override;

 private:
  const store::RecordStore* const records_;
};

}  // namespace linkd::server

#endif  // LINKD_SERVER_ADMIN_SERVICE_H_
