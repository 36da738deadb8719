// The one conversion from absl::Status to grpc::Status.
#ifndef LINKD_SERVER_GRPC_STATUS_H_
#define LINKD_SERVER_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace linkd::server {

// Same canonical code (both use google.rpc.Code numbering) and message,
// except that INTERNAL and DATA_LOSS get a fixed message: their details are
// for the daemon's log, not for callers.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace linkd::server

#endif  // LINKD_SERVER_GRPC_STATUS_H_
