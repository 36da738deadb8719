#include "linkd/server/daemon.h"

#include <fstream>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/health_check_service_interface.h"
#include "gtest/gtest.h"
#include "linkd/ingest/test_records.h"
#include "linkd/util/status_matchers.h"
#include "linkd/util/temp_dir.h"
#include "linkd/v1/admin_service.grpc.pb.h"
#include "linkd/v1/ingest_service.grpc.pb.h"

namespace linkd::server {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;
using ::testing::HasSubstr;

class DaemonTest : public ::testing::Test {
 protected:
  DaemonOptions Options() {
    DaemonOptions options;
    options.data_dir = dir_.Sub("db");
    options.listen = "127.0.0.1:0";
    options.shutdown_grace = absl::Seconds(2);
    return options;
  }

  std::shared_ptr<grpc::Channel> Channel(const Daemon& d) {
    return grpc::CreateChannel(d.address(), grpc::InsecureChannelCredentials());
  }

  testing::TempDir dir_;
  testing::TestRecords records_;
};

TEST_F(DaemonTest, IngestsOverARealSocketAndCounts) {
  auto daemon = Daemon::Start(Options());
  ASSERT_THAT(daemon, IsOk());
  auto ingest = v1::IngestService::NewStub(Channel(**daemon));
  grpc::ClientContext context;
  auto stream = ingest->Ingest(&context);
  for (int b = 0; b < 3; ++b) {
    v1::IngestBatch batch;
    batch.set_batch_seq(b + 1);
    for (int i = 0; i < 20; ++i) {
      *batch.add_items() =
          records_.Item("school_census", "P" + std::to_string(b * 20 + i), i);
    }
    ASSERT_TRUE(stream->Write(batch));
  }
  stream->WritesDone();
  v1::IngestAck ack;
  for (int b = 0; b < 3; ++b) {
    ASSERT_TRUE(stream->Read(&ack));
    EXPECT_EQ(ack.batch_seq(), static_cast<uint64_t>(b + 1));
    EXPECT_EQ(ack.accepted(), 20u);
  }
  EXPECT_FALSE(stream->Read(&ack));
  EXPECT_TRUE(stream->Finish().ok());

  auto admin = v1::AdminService::NewStub(Channel(**daemon));
  grpc::ClientContext stats_context;
  v1::GetStatsResponse stats;
  ASSERT_TRUE(
      admin->GetStats(&stats_context, v1::GetStatsRequest(), &stats).ok());
  EXPECT_EQ(stats.total_records(), 60u);
  ASSERT_EQ(stats.sources_size(), 1);
  EXPECT_EQ(stats.sources(0).source(), "school_census");
}

TEST_F(DaemonTest, OversizeBatchEndsTheStreamWithInvalidArgument) {
  DaemonOptions options = Options();
  options.max_batch_items = 2;
  auto daemon = Daemon::Start(options);
  ASSERT_THAT(daemon, IsOk());
  auto ingest = v1::IngestService::NewStub(Channel(**daemon));
  grpc::ClientContext context;
  auto stream = ingest->Ingest(&context);
  v1::IngestBatch batch;
  for (int i = 0; i < 3; ++i) {
    *batch.add_items() = records_.Item("health", "H" + std::to_string(i), i);
  }
  stream->Write(batch);
  stream->WritesDone();
  v1::IngestAck ack;
  EXPECT_FALSE(stream->Read(&ack));
  const grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("limit is 2"));
}

TEST_F(DaemonTest, ServesHealthChecks) {
  auto daemon = Daemon::Start(Options());
  ASSERT_THAT(daemon, IsOk());
  auto channel = Channel(**daemon);
  // grpc.health.v1.Health/Check with an empty request (service ""): the
  // reply is HealthCheckResponse{status: SERVING}, i.e. bytes 08 01.
  grpc::GenericStub generic(channel);
  grpc::ClientContext context;
  grpc::ByteBuffer request, reply;
  grpc::Slice empty;
  request = grpc::ByteBuffer(&empty, 1);
  absl::Notification done;
  grpc::Status status;
  generic.UnaryCall(&context, "/grpc.health.v1.Health/Check",
                    grpc::StubOptions(), &request, &reply, [&](grpc::Status s) {
                      status = s;
                      done.Notify();
                    });
  done.WaitForNotification();
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(reply.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& s : slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));
}

TEST_F(DaemonTest, RefusesANonLoopbackAddressWithoutTls) {
  DaemonOptions options = Options();
  options.listen = "0.0.0.0:0";
  EXPECT_THAT(Daemon::Start(options),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("not a loopback address")));
  EXPECT_TRUE(IsLoopbackListenAddress("127.0.0.1:1"));
  EXPECT_TRUE(IsLoopbackListenAddress("localhost:1"));
  EXPECT_TRUE(IsLoopbackListenAddress("[::1]:1"));
  EXPECT_FALSE(IsLoopbackListenAddress("10.0.0.1:1"));
  EXPECT_FALSE(IsLoopbackListenAddress("[::]:1"));
}

TEST_F(DaemonTest, RefusesADataDirectoryInUse) {
  auto first = Daemon::Start(Options());
  ASSERT_THAT(first, IsOk());
  EXPECT_THAT(
      Daemon::Start(Options()),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("in use")));
}

TEST_F(DaemonTest, LoadsTheExampleConfig) {
  auto options = LoadConfigFile(std::string(LINKD_SOURCE_DIR) +
                                "/deploy/config/linkd.textproto");
  ASSERT_THAT(options, IsOk());
  EXPECT_EQ(options->listen, "127.0.0.1:7300");
  EXPECT_EQ(options->max_batch_items, 10000u);
}

TEST_F(DaemonTest, ConfigErrorsNameFileAndLine) {
  const std::string path = dir_.Sub("bad.textproto");
  std::ofstream(path) << "data_dir: \"x\"\nlisten: 7300\nno_such_field: 1\n";
  auto options = LoadConfigFile(path);
  EXPECT_THAT(options, StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("bad.textproto: line 2")));
  EXPECT_THAT(LoadConfigFile(dir_.Sub("missing.textproto")),
              StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace linkd::server
