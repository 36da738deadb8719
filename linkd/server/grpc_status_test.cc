#include "linkd/server/grpc_status.h"

#include "gtest/gtest.h"

namespace linkd::server {
namespace {

TEST(GrpcStatusTest, KeepsCodeAndMessage) {
  const grpc::Status s =
      ToGrpcStatus(absl::InvalidArgumentError("record.source: missing"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "record.source: missing");
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_EQ(ToGrpcStatus(absl::FailedPreconditionError("x")).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST(GrpcStatusTest, HidesInternalDetails) {
  const grpc::Status s =
      ToGrpcStatus(absl::InternalError("rocksdb: /secret/path broke"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(s.error_message().find("secret"), std::string::npos);
  const grpc::Status d = ToGrpcStatus(absl::DataLossError("sst 000123 bad"));
  EXPECT_EQ(d.error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_EQ(d.error_message().find("000123"), std::string::npos);
}

}  // namespace
}  // namespace linkd::server
