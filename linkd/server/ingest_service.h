// linkd.v1.IngestService: the providers' upload stream.
#ifndef LINKD_SERVER_INGEST_SERVICE_H_
#define LINKD_SERVER_INGEST_SERVICE_H_

#include "linkd/ingest/ingest_pipeline.h"
#include "linkd/v1/ingest_service.grpc.pb.h"

namespace linkd::server {

// Thin callback service: each Ingest stream reads batches and hands them to
// the pipeline, whose writer thread does the storage work (never a gRPC
// thread), and writes each acknowledgement once its batch is durable.
// Acknowledgements come in batch order.
class IngestServiceImpl final : public v1::IngestService::CallbackService {
 public:
  // `pipeline` must outlive the service.
  explicit IngestServiceImpl(ingest::IngestPipeline* pipeline)
      : pipeline_(pipeline) {}

  grpc::ServerBidiReactor<v1::IngestBatch, v1::IngestAck>* Ingest(
      grpc::CallbackServerContext* context) override;

 private:
  ingest::IngestPipeline* const pipeline_;
};

}  // namespace linkd::server

#endif  // LINKD_SERVER_INGEST_SERVICE_H_
