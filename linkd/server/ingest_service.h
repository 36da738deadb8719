// linkd.v1.IngestService: the providers' upload stream.
#ifndef LINKD_SERVER_INGEST_SERVICE_H_
#define LINKD_SERVER_INGEST_SERVICE_H_

#include "linkd/ingest/ingest_pipeline.h"
#include "linkd/server/governance.h"
#include "linkd/v1/ingest_service.grpc.pb.h"

namespace linkd::server {

// Thin callback service: each Ingest stream reads batches and hands them to
// the pipeline, whose writer thread does the storage work (never a gRPC
// thread), and writes each acknowledgement once its batch is durable.
// Acknowledgements come in batch order.
class IngestServiceImpl final : public v1::IngestService::CallbackService {
 public:
  // Pointers must outlive the service. Without `governance` (tests of the
  // pipeline alone) callers are not identified and any source is accepted.
  IngestServiceImpl(ingest::IngestPipeline* pipeline,
                    const Governance* governance)
      : pipeline_(pipeline), governance_(governance) {}

  grpc::ServerBidiReactor<v1::IngestBatch, v1::IngestAck>* Ingest(
      grpc::CallbackServerContext* context) override;

 private:
  ingest::IngestPipeline* const pipeline_;
  const Governance* const governance_;
};

}  // namespace linkd::server

#endif  // LINKD_SERVER_INGEST_SERVICE_H_
