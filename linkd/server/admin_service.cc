#include "linkd/server/admin_service.h"

#include "linkd/server/grpc_status.h"

namespace linkd::server {

grpc::ServerUnaryReactor* AdminServiceImpl::GetStats(
    grpc::CallbackServerContext* context,
    const v1::GetStatsRequest* /*request*/, v1::GetStatsResponse* response) {
  absl::StatusOr<v1::GetStatsResponse> stats = records_->Stats();
  if (stats.ok()) *response = *std::move(stats);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(stats.status()));
  return reactor;
}

}  // namespace linkd::server
