// linkd.v1.LinkageService: where records are linked.
#ifndef LINKD_SERVER_LINKAGE_SERVICE_H_
#define LINKD_SERVER_LINKAGE_SERVICE_H_

#include "linkd/linker/link_worker.h"
#include "linkd/linker/linker.h"
#include "linkd/server/governance.h"
#include "linkd/store/store.h"
#include "linkd/v1/linkage_service.grpc.pb.h"

namespace linkd::server {

// Thread-safe. Answers from point reads and paged scans.
class LinkageServiceImpl final : public v1::LinkageService::CallbackService {
 public:
  // Pointers must outlive the service.
  // Pointers must outlive the service; `governance` may be null (no
  // identities, no audit: unit tests of the service alone).
  LinkageServiceImpl(store::Store* store, linker::Linker* linker,
                     linker::LinkWorker* linking, const Governance* governance)
      : store_(store),
        linker_(linker),
        linking_(linking),
        governance_(governance) {}

  grpc::ServerUnaryReactor* GetLinkingStatus(
      grpc::CallbackServerContext* context,
      const v1::GetLinkingStatusRequest* request,
      v1::GetLinkingStatusResponse* response) override;
  grpc::ServerUnaryReactor* SetLinkingPaused(
      grpc::CallbackServerContext* context,
      const v1::SetLinkingPausedRequest* request,
      v1::SetLinkingPausedResponse* response) override;
  grpc::ServerUnaryReactor* Resolve(grpc::CallbackServerContext* context,
                                    const v1::ResolveRequest* request,
                                    v1::ResolveResponse* response) override;
  grpc::ServerWriteReactor<v1::ListLinksResponse>* ListLinks(
      grpc::CallbackServerContext* context,
      const v1::ListLinksRequest* request) override;
  grpc::ServerUnaryReactor* Explain(grpc::CallbackServerContext* context,
                                    const v1::ExplainRequest* request,
                                    v1::ExplainResponse* response) override;
  grpc::ServerUnaryReactor* ListReviews(
      grpc::CallbackServerContext* context,
      const v1::ListReviewsRequest* request,
      v1::ListReviewsResponse* response) override;
  grpc::ServerUnaryReactor* GetReview(grpc::CallbackServerContext* context,
                                      const v1::GetReviewRequest* request,
                                      v1::ReviewTask* response) override;
  // Runs the decision on the linker's writer (LinkWorker::Submit) and
  // finishes from there, so the reaction never waits for a batch.
  grpc::ServerUnaryReactor* DecideReview(
      grpc::CallbackServerContext* context,
      const v1::DecideReviewRequest* request,
      v1::DecideReviewResponse* response) override;
  grpc::ServerUnaryReactor* GetModel(grpc::CallbackServerContext* context,
                                     const v1::GetModelRequest* request,
                                     v1::GetModelResponse* response) override;
  grpc::ServerUnaryReactor* EstimateModel(
      grpc::CallbackServerContext* context,
      const v1::EstimateModelRequest* request,
      v1::EstimateModelResponse* response) override;

 private:
  // The current model's comparison of two stored records; NOT_FOUND naming
  // the record that is unknown.
  absl::Status ExplainPair(const v1::RecordRef& a, const v1::RecordRef& b,
                           v1::Explanation* out) const;
  // A stored review task in API form (no explanation).
  absl::Status ToApi(const store::v1::ReviewTask& task,
                     v1::ReviewTask* out) const;

  void FillModel(v1::GetModelResponse* response) const;

  store::Store* const store_;
  linker::Linker* const linker_;
  linker::LinkWorker* const linking_;
  const Governance* const governance_;
};

}  // namespace linkd::server

#endif  // LINKD_SERVER_LINKAGE_SERVICE_H_
