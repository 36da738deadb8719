// linkd.v1.IngestService: the providers' upload stream.
#ifndef LINKD_SERVER_INGEST_SERVICE_H_
#define LINKD_SERVER_INGEST_SERVICE_H_

#include "linkd/ingest/ingest_pipeline.h"
#include "linkd/server/executor.h"
#include "linkd/v1/ingest_service.grpc.pb.h"

namespace linkd::server {

// Thin callback service: each Ingest stream reads a batch, hands it to the
// pipeline on `executor` (storage work never runs on a gRPC thread), and
// writes the acknowledgement when the batch is durable. One batch per stream
// is in flight at a time, so acknowledgements come in batch order.
class IngestServiceImpl final : public v1::IngestService::CallbackService {
 public:
  // `pipeline` and `executor` must outlive the service.
  IngestServiceImpl(ingest::IngestPipeline* pipeline, Executor* executor)
      : pipeline_(pipeline), executor_(executor) {}

  grpc::ServerBidiReactor<v1::IngestBatch, v1::IngestAck>* Ingest(
      grpc::CallbackServerContext* context) override;

 private:
  ingest::IngestPipeline* const pipeline_;
  Executor* const executor_;
};

}  // namespace linkd::server

#endif  // LINKD_SERVER_INGEST_SERVICE_H_
