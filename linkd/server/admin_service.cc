#include "linkd/server/admin_service.h"

#include <utility>

namespace linkd::server {

grpc::ServerUnaryReactor* AdminServiceImpl::GetStats(
    grpc::CallbackServerContext* context,
    const v1::GetStatsRequest* /*request*/, v1::GetStatsResponse* response) {
  return Governed(context, governance_, "/linkd.v1.AdminService/GetStats",
                  [&](const Caller&, audit::v1::AuditEntry*) -> absl::Status {
                    absl::StatusOr<v1::GetStatsResponse> stats =
                        records_->Stats();
                    if (stats.ok()) *response = *std::move(stats);
                    return stats.status();
                  });
}

}  // namespace linkd::server
