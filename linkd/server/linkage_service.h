// linkd.v1.LinkageService: where records are linked.
#ifndef LINKD_SERVER_LINKAGE_SERVICE_H_
#define LINKD_SERVER_LINKAGE_SERVICE_H_

#include "linkd/linker/link_worker.h"
#include "linkd/linker/linker.h"
#include "linkd/store/store.h"
#include "linkd/v1/linkage_service.grpc.pb.h"

namespace linkd::server {

// Thread-safe. Answers from point reads and paged scans.
class LinkageServiceImpl final : public v1::LinkageService::CallbackService {
 public:
  // Pointers must outlive the service.
  LinkageServiceImpl(store::Store* store, const linker::Linker* linker,
                     linker::LinkWorker* linking)
      : store_(store), linker_(linker), linking_(linking) {}

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

 private:
  store::Store* const store_;
  const linker::Linker* const linker_;
  linker::LinkWorker* const linking_;
};

}  // namespace linkd::server

#endif  // LINKD_SERVER_LINKAGE_SERVICE_H_
