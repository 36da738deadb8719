#include "linkd/server/linkage_service.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "linkd/server/grpc_status.h"
#include "linkd/store/record_store.h"

namespace linkd::server {
namespace {

constexpr int kRowsPerMessage = 2000;

// Streams every link, a page at a time, from one snapshot: each page is
// read when the previous one has been sent, so a large index never sits in
// memory and no reaction scans more than a page. Deletes itself in OnDone.
class ListLinksReactor final
    : public grpc::ServerWriteReactor<v1::ListLinksResponse> {
 public:
  ListLinksReactor(store::Store* store, const linker::Linker* linker,
                   std::string source)
      : linker_(linker),
        snapshot_(store->GetSnapshot()),
        source_(std::move(source)) {
    NextPage();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
      return;
    }
    NextPage();
  }

  void OnDone() override { delete this; }

 private:
  void NextPage() {
    page_.Clear();
    bool more = false;
    const absl::Status s = linker_->ForEachLink(
        [&](std::string_view record_key, linker::Sui sui) {
          if (page_.rows_size() == kRowsPerMessage) {
            more = true;
            return false;
          }
          last_key_.assign(record_key.data(), record_key.size());
          std::string_view source, record_id;
          if (!store::DecodeRecordKey(record_key, &source, &record_id).ok()) {
            return true;  // not a record key: nothing to list
          }
          if (!source_.empty() && source != source_) return true;
          v1::LinkRow* row = page_.add_rows();
          row->set_source(std::string(source));
          row->set_record_id(std::string(record_id));
          row->set_sui(sui.ToString());
          return true;
        },
        &snapshot_, last_key_);
    if (!s.ok()) {
      Finish(ToGrpcStatus(s));
      return;
    }
    if (page_.rows_size() > 0) {
      StartWrite(&page_);
    } else if (more) {
      NextPage();  // a page of other sources' records: keep going
    } else {
      Finish(grpc::Status::OK);
    }
  }

  const linker::Linker* const linker_;
  store::Snapshot snapshot_;
  const std::string source_;
  std::string last_key_;
  v1::ListLinksResponse page_;
};

}  // namespace

grpc::ServerUnaryReactor* LinkageServiceImpl::GetLinkingStatus(
    grpc::CallbackServerContext* context,
    const v1::GetLinkingStatusRequest* /*request*/,
    v1::GetLinkingStatusResponse* response) {
  const linker::LinkProgress progress = linking_->progress();
  response->set_queued_seq(progress.queued_seq);
  response->set_linked_seq(progress.linked_seq);
  response->set_paused(progress.paused);
  absl::StatusOr<linker::LinkStats> stats = linker_->Stats();
  if (stats.ok()) {
    response->set_active_suis(static_cast<uint64_t>(stats->active_suis));
    response->set_open_reviews(static_cast<uint64_t>(stats->open_reviews));
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(stats.status()));
  return reactor;
}

grpc::ServerUnaryReactor* LinkageServiceImpl::SetLinkingPaused(
    grpc::CallbackServerContext* context,
    const v1::SetLinkingPausedRequest* request,
    v1::SetLinkingPausedResponse* /*response*/) {
  linking_->SetPaused(request->paused());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* LinkageServiceImpl::Resolve(
    grpc::CallbackServerContext* context, const v1::ResolveRequest* request,
    v1::ResolveResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (request->record().source().empty() ||
      request->record().record_id().empty()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 "record: source and record_id are required"));
    return reactor;
  }
  absl::StatusOr<std::optional<linker::Sui>> sui =
      linker_->Resolve(store::RecordKey(request->record().source(),
                                        request->record().record_id()));
  if (!sui.ok()) {
    reactor->Finish(ToGrpcStatus(sui.status()));
  } else if (!sui->has_value()) {
    reactor->Finish(grpc::Status(
        grpc::StatusCode::NOT_FOUND,
        "record: not known, or not linked yet (see GetLinkingStatus)"));
  } else {
    response->set_sui((*sui)->ToString());
    reactor->Finish(grpc::Status::OK);
  }
  return reactor;
}

grpc::ServerWriteReactor<v1::ListLinksResponse>* LinkageServiceImpl::ListLinks(
    grpc::CallbackServerContext* /*context*/,
    const v1::ListLinksRequest* request) {
  return new ListLinksReactor(store_, linker_, request->source());
}

}  // namespace linkd::server
