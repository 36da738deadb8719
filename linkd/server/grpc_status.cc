#include "linkd/server/grpc_status.h"

#include <string>

namespace linkd::server {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const auto code = static_cast<grpc::StatusCode>(status.code());
  switch (status.code()) {
    case absl::StatusCode::kInternal:
      return grpc::Status(code, "internal error; see the linkd log");
    case absl::StatusCode::kDataLoss:
      return grpc::Status(code, "stored data is damaged; see the linkd log");
    default:
      return grpc::Status(code, std::string(status.message()));
  }
}

}  // namespace linkd::server
