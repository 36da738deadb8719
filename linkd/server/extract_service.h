// linkd.v1.ExtractService: research projects, extract requests, their
// approval, and the download of released extracts (DESIGN.md section 8).
//
// Every step is audited with purpose research_extract and the lawful basis
// of the policy decision that allowed or refused it: registering a project,
// a request, an approval or refusal, the release (made by linkd on its
// worker thread, with the released children's SUIs and, for the IG team
// only, the number of children removed for an objection or opt-out), and
// the download. A step that changes state commits its entry in the same
// WriteBatch as the change.
//
// Separation of duties: an approval must come from an IG officer of another
// organisation than the requester's (checked here and by the policy's
// no-self-approval rule), and binds the request's canonical hash, which the
// officer must send back: a changed request needs a new approval.
#ifndef LINKD_SERVER_EXTRACT_SERVICE_H_
#define LINKD_SERVER_EXTRACT_SERVICE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "linkd/consent/consent_store.h"
#include "linkd/extract/pseudonym.h"
#include "linkd/extract/signing_key.h"
#include "linkd/linker/linker.h"
#include "linkd/research/cohort.h"
#include "linkd/research/project_store.h"
#include "linkd/server/governance.h"
#include "linkd/store/record_store.h"
#include "linkd/store/store.h"
#include "linkd/util/clock.h"
#include "linkd/util/serial_executor.h"
#include "linkd/v1/extract_service.grpc.pb.h"

namespace linkd::server {

struct ExtractServiceOptions {
  // Where released extracts wait, encrypted, until downloaded (created
  // mode 0700 if missing).
  std::string extracts_dir;
  // Bytes of the encrypted file per streamed message.
  size_t fetch_chunk_bytes = 1 << 20;
  const util::Clock* clock = util::Clock::Real();
};

// Thread-safe. Releases run on the service's release thread and file reads
// of downloads on its I/O thread; reactions only post work there, apart
// from the point reads and the one synced commit of a unary call.
class ExtractServiceImpl final : public v1::ExtractService::CallbackService {
 public:
  // Pointers are not owned and must outlive the service. `events` may be
  // empty (no event store: cohorts by records only, journeys without
  // events).
  ExtractServiceImpl(store::Store* store, const linker::Linker* linker,
                     const store::RecordStore* records,
                     const consent::ConsentStore* consents,
                     research::ProjectStore* projects,
                     research::EventScan events,
                     const extract::ReleaseKey* release_key,
                     const extract::SigningKey* signing_key,
                     const Governance* governance,
                     ExtractServiceOptions options);
  // Finishes the release and downloads in progress.
  ~ExtractServiceImpl() override;

  // Creates the extracts directory and queues the releases of requests
  // that were approved but not released (a restart in between). Call once
  // before serving. INTERNAL if the directory cannot be made; store errors.
  absl::Status Start();

  grpc::ServerUnaryReactor* RegisterProject(
      grpc::CallbackServerContext* context,
      const v1::RegisterProjectRequest* request,
      v1::RegisterProjectResponse* response) override;
  grpc::ServerUnaryReactor* ListProjects(
      grpc::CallbackServerContext* context,
      const v1::ListProjectsRequest* request,
      v1::ListProjectsResponse* response) override;
  grpc::ServerUnaryReactor* RequestExtract(
      grpc::CallbackServerContext* context,
      const v1::RequestExtractRequest* request,
      v1::RequestExtractResponse* response) override;
  grpc::ServerUnaryReactor* ListRequests(
      grpc::CallbackServerContext* context,
      const v1::ListRequestsRequest* request,
      v1::ListRequestsResponse* response) override;
  grpc::ServerUnaryReactor* DecideRequest(
      grpc::CallbackServerContext* context,
      const v1::DecideRequestRequest* request,
      v1::DecideRequestResponse* response) override;
  grpc::ServerWriteReactor<v1::FetchExtractResponse>* FetchExtract(
      grpc::CallbackServerContext* context,
      const v1::FetchExtractRequest* request) override;

 private:
  class FetchReactor;

  // Makes the release of request `id` (release thread).
  void Release(uint64_t id);
  // Checks and audits the start of a download; on success returns the
  // request and sets `*path` to its extract file (I/O thread).
  absl::StatusOr<v1::ExtractRequest> BeginFetch(
      const grpc::CallbackServerContext& context, uint64_t id,
      std::string* path);
  // After a complete download: the request is FETCHED and its files are
  // removed (I/O thread).
  void EndFetch(uint64_t id, const std::string& recipient);

  store::Store* const store_;
  const linker::Linker* const linker_;
  const store::RecordStore* const records_;
  const consent::ConsentStore* const consents_;
  research::ProjectStore* const projects_;
  const research::EventScan events_;
  const extract::ReleaseKey* const release_key_;
  const extract::SigningKey* const signing_key_;
  const Governance* const governance_;
  const ExtractServiceOptions options_;

  // Serialises the read-decide-commit of every project and request change.
  absl::Mutex state_mu_;

  // Declared last: destroyed first, so their tasks finish while everything
  // above is still alive.
  util::SerialExecutor io_{"linkd-extract"};
  util::SerialExecutor release_{"linkd-release"};
};

}  // namespace linkd::server

#endif  // LINKD_SERVER_EXTRACT_SERVICE_H_
