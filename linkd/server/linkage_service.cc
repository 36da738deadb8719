#include "linkd/server/linkage_service.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "linkd/matcher/comparison.h"
#include "linkd/matcher/model.h"
#include "linkd/server/grpc_status.h"
#include "linkd/store/record_store.h"
#include "linkd/util/status_macros.h"
#include "policies/engine/vocabulary.h"

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

// A stream refused before it starts.
class RefusedStream final
    : public grpc::ServerWriteReactor<v1::ListLinksResponse> {
 public:
  explicit RefusedStream(const absl::Status& status) {
    Finish(ToGrpcStatus(status));
  }
  void OnDone() override { delete this; }
};

}  // namespace

namespace {

absl::Status CheckRef(const v1::RecordRef& ref, std::string_view field) {
  if (ref.source().empty() || ref.record_id().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(field), ": source and record_id are required"));
  }
  return absl::OkStatus();
}

std::string SuiText(uint64_t bits) {
  absl::StatusOr<linker::Sui> sui = linker::Sui::FromBits(bits);
  return sui.ok() ? sui->ToString() : "";
}

void ExplanationToApi(const matcher::Explanation& e,
                      const matcher::Model& model,
                      const matcher::ComparisonVector& v,
                      v1::Explanation* out) {
  for (const matcher::FieldContribution& f : e.fields) {
    v1::FieldWeight* w = out->add_fields();
    w->set_field(std::string(matcher::FieldName(f.field)));
    w->set_level(std::string(f.level_name));
    w->set_weight(f.weight);
    w->set_neutral(f.neutral);
  }
  out->set_prior_weight(e.prior_weight);
  out->set_total_weight(e.total_weight);
  out->set_probability(e.probability);
  out->set_hard_conflict(e.hard_conflict);
  const double w = linker::LinkWeight(model, v);
  std::string verdict = e.hard_conflict || w < model.lower_threshold()
                            ? "no link"
                        : w >= model.upper_threshold() ? "link"
                                                       : "review";
  if (w < e.total_weight && verdict == "review") {
    verdict =
        "review (two of given name, sex and date of birth disagree: "
        "never linked automatically)";
  }
  out->set_verdict(verdict);
  out->set_model_version(model.version());
}

}  // namespace

absl::Status LinkageServiceImpl::ExplainPair(const v1::RecordRef& a,
                                             const v1::RecordRef& b,
                                             v1::Explanation* out) const {
  store::RecordStore records(store_);
  const store::Snapshot snapshot = store_->GetSnapshot();
  matcher::DecodedIdentity decoded[2];
  const v1::RecordRef* refs[2] = {&a, &b};
  for (int i = 0; i < 2; ++i) {
    LINKD_ASSIGN_OR_RETURN(
        std::optional<store::StoredRecord> r,
        records.Get(refs[i]->source(), refs[i]->record_id(), &snapshot));
    if (!r.has_value()) {
      return absl::NotFoundError(
          absl::StrCat(i == 0 ? "a" : "b", ": no record ", refs[i]->record_id(),
                       " from source ", refs[i]->source()));
    }
    LINKD_RETURN_IF_ERROR(matcher::Decode(r->identity(), &decoded[i]));
  }
  const std::shared_ptr<const matcher::Model> model = linker_->model();
  const matcher::ComparisonVector v =
      matcher::Compare(decoded[0], decoded[1], model->comparison());
  // No term-frequency table: an explanation must not reveal how common a
  // token is.
  ExplanationToApi(model->Explain(v), *model, v, out);
  return absl::OkStatus();
}

absl::Status LinkageServiceImpl::ToApi(const store::v1::ReviewTask& task,
                                       v1::ReviewTask* out) const {
  out->set_id(task.id());
  out->set_state(static_cast<v1::ReviewTask::State>(task.state()));
  std::string_view source, record_id;
  LINKD_RETURN_IF_ERROR(
      store::DecodeRecordKey(task.record_key(), &source, &record_id));
  out->mutable_record()->set_source(std::string(source));
  out->mutable_record()->set_record_id(std::string(record_id));
  LINKD_RETURN_IF_ERROR(
      store::DecodeRecordKey(task.candidate_record_key(), &source, &record_id));
  out->mutable_candidate()->set_source(std::string(source));
  out->mutable_candidate()->set_record_id(std::string(record_id));
  out->set_record_sui(SuiText(task.record_sui()));
  out->set_candidate_sui(SuiText(task.candidate_sui()));
  out->set_match_weight(task.match_weight());
  out->set_created_micros(task.created_micros());
  out->set_decided_micros(task.decided_micros());
  out->set_decided_by(task.decided_by());
  out->set_reason(task.reason());
  return absl::OkStatus();
}

namespace {

constexpr char kService[] = "/linkd.v1.LinkageService/";

std::string Method(std::string_view name) {
  return absl::StrCat(kService, std::string(name));
}

void AddRef(const v1::RecordRef& ref, audit::v1::AuditEntry* entry) {
  audit::v1::RecordRef* r = entry->add_records();
  r->set_source(ref.source());
  r->set_record_id(ref.record_id());
}

// A provider sees only its own records; IG officers and operators see all.
absl::Status CheckRecordAccess(const Caller& caller, const v1::RecordRef& ref) {
  if (caller.insecure || caller.HasRole(policy::Role::kIgOfficer) ||
      caller.HasRole(policy::Role::kAdmin)) {
    return absl::OkStatus();
  }
  if (caller.MaySubmitAs(ref.source())) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      "organisation ", caller.org,
      " may only see records of its own sources, not ", ref.source()));
}

}  // namespace

grpc::ServerUnaryReactor* LinkageServiceImpl::Explain(
    grpc::CallbackServerContext* context, const v1::ExplainRequest* request,
    v1::ExplainResponse* response) {
  return Governed(
      context, governance_, Method("Explain"),
      [&](const Caller&, audit::v1::AuditEntry* entry) -> absl::Status {
        LINKD_RETURN_IF_ERROR(CheckRef(request->a(), "a"));
        LINKD_RETURN_IF_ERROR(CheckRef(request->b(), "b"));
        AddRef(request->a(), entry);
        AddRef(request->b(), entry);
        LINKD_RETURN_IF_ERROR(ExplainPair(request->a(), request->b(),
                                          response->mutable_explanation()));
        for (int i = 0; i < 2; ++i) {
          const v1::RecordRef& ref = i == 0 ? request->a() : request->b();
          LINKD_ASSIGN_OR_RETURN(std::optional<linker::Sui> sui,
                                 linker_->Resolve(store::RecordKey(
                                     ref.source(), ref.record_id())));
          if (!sui.has_value()) continue;
          (i == 0 ? response->mutable_sui_a() : response->mutable_sui_b())
              ->assign(sui->ToString());
          entry->add_suis(sui->ToString());
        }
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* LinkageServiceImpl::ListReviews(
    grpc::CallbackServerContext* context, const v1::ListReviewsRequest* request,
    v1::ListReviewsResponse* response) {
  return Governed(
      context, governance_, Method("ListReviews"),
      [&](const Caller&, audit::v1::AuditEntry* entry) -> absl::Status {
        LINKD_ASSIGN_OR_RETURN(
            std::vector<store::v1::ReviewTask> tasks,
            linker_->ListReviews(!request->include_decided()));
        for (const store::v1::ReviewTask& t : tasks) {
          LINKD_RETURN_IF_ERROR(ToApi(t, response->add_tasks()));
        }
        (*entry->mutable_details())["tasks"] = absl::StrCat(tasks.size());
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* LinkageServiceImpl::GetReview(
    grpc::CallbackServerContext* context, const v1::GetReviewRequest* request,
    v1::ReviewTask* response) {
  return Governed(
      context, governance_, Method("GetReview"),
      [&](const Caller&, audit::v1::AuditEntry* entry) -> absl::Status {
        LINKD_ASSIGN_OR_RETURN(store::v1::ReviewTask task,
                               linker_->GetReview(request->id()));
        LINKD_RETURN_IF_ERROR(ToApi(task, response));
        (*entry->mutable_details())["review"] = absl::StrCat(request->id());
        AddRef(response->record(), entry);
        AddRef(response->candidate(), entry);
        return ExplainPair(response->record(), response->candidate(),
                           response->mutable_explanation());
      });
}

grpc::ServerUnaryReactor* LinkageServiceImpl::DecideReview(
    grpc::CallbackServerContext* context,
    const v1::DecideReviewRequest* request,
    v1::DecideReviewResponse* response) {
  auto entry = std::make_shared<audit::v1::AuditEntry>();
  Caller caller = LocalCaller();
  if (governance_ != nullptr) {
    absl::StatusOr<Caller> admitted =
        governance_->Admit(*context, Method("DecideReview"), entry.get());
    if (!admitted.ok()) return FinishUnary(context, admitted.status());
    caller = *std::move(admitted);
  }
  absl::Status invalid;
  if (request->decision() == v1::DecideReviewRequest::DECISION_UNSPECIFIED) {
    invalid = absl::InvalidArgumentError(
        "decision: must be DECISION_SAME or DECISION_NOT_SAME");
  } else if (request->reason().empty()) {
    invalid = absl::InvalidArgumentError("reason: a decision needs a reason");
  }
  if (!invalid.ok()) {
    return FinishUnary(context, governance_ == nullptr
                                    ? invalid
                                    : governance_->Close(entry.get(), invalid));
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const bool same =
      request->decision() == v1::DecideReviewRequest::DECISION_SAME;
  const uint64_t id = request->id();
  const std::string reason = request->reason();
  (*entry->mutable_details())["review"] = absl::StrCat(id);
  (*entry->mutable_details())["decision"] = same ? "same" : "not same";
  // The decision runs on the linker's writer; its entry is committed in the
  // same batch as the merge or the "not same" constraint.
  linking_->Submit(
      [this, reactor, response, same, id, reason, entry, by = caller.org] {
        store::WriteBatch batch = store_->NewBatch();
        absl::StatusOr<store::v1::ReviewTask> task =
            linker_->Decide(id, same, by, reason, absl::Now(), &batch);
        absl::Status s = task.status();
        if (s.ok()) s = ToApi(*task, response->mutable_task());
        if (s.ok()) {
          AddRef(response->task().record(), entry.get());
          AddRef(response->task().candidate(), entry.get());
          entry->add_suis(response->task().record_sui());
          entry->add_suis(response->task().candidate_sui());
        }
        if (s.ok()) {
          if (governance_ != nullptr) {
            Governance::Complete(entry.get(), s);
            s = governance_->audit_log()
                    ->AppendAndCommit(std::move(batch), *entry)
                    .status();
          } else {
            s = store_->Commit(std::move(batch));
          }
        } else if (governance_ != nullptr) {
          s = governance_->Close(entry.get(), s);
        }
        if (s.ok()) {
          absl::StatusOr<std::optional<linker::Sui>> sui =
              linker_->Resolve(task->record_key());
          s = sui.status();
          if (s.ok() && sui->has_value()) response->set_sui((*sui)->ToString());
        }
        reactor->Finish(ToGrpcStatus(s));
      });
  return reactor;
}

grpc::ServerUnaryReactor* LinkageServiceImpl::GetModel(
    grpc::CallbackServerContext* context, const v1::GetModelRequest*,
    v1::GetModelResponse* response) {
  return Governed(context, governance_, Method("GetModel"),
                  [&](const Caller&, audit::v1::AuditEntry*) -> absl::Status {
                    FillModel(response);
                    return absl::OkStatus();
                  });
}

void LinkageServiceImpl::FillModel(v1::GetModelResponse* response) const {
  const std::shared_ptr<const matcher::Model> model = linker_->model();
  response->set_model_version(model->version());
  response->set_lambda(model->lambda());
  response->set_prior_weight(
      std::log2(model->lambda() / (1 - model->lambda())));
  response->set_upper_threshold(model->upper_threshold());
  response->set_lower_threshold(model->lower_threshold());
  response->set_name_high_cutoff(model->comparison().name_high_cutoff);
  response->set_name_low_cutoff(model->comparison().name_low_cutoff);
  for (size_t f = 0; f < matcher::kNumCompareFields; ++f) {
    const auto field = static_cast<matcher::CompareField>(f);
    v1::FieldModel* fm = response->add_fields();
    fm->set_field(std::string(matcher::FieldName(field)));
    for (int l = 0; l < matcher::NumLevels(field); ++l) {
      if (matcher::IsNeutralLevel(field, l)) continue;
      const matcher::LevelParams p = model->params(field, l);
      v1::LevelModel* lm = fm->add_levels();
      lm->set_level(std::string(matcher::LevelName(field, l)));
      lm->set_m(p.m);
      lm->set_u(p.u);
      lm->set_weight(std::log2(p.m / p.u));
      lm->set_m_from_prior(p.m_from_prior);
    }
  }
  const matcher::TrainingInfo& t = model->training_info();
  for (const auto& [source, n] : t.records_per_source) {
    v1::SourceCount* c = response->add_trained_on();
    c->set_source(source);
    c->set_records(n);
  }
  response->set_random_pairs(t.random_pairs);
  response->set_blocked_pairs(t.blocked_pairs);
  response->set_rule_matches(t.rule_matches);
  response->set_em_iterations(t.em_iterations);
  response->set_em_converged(t.em_converged);
  response->set_trained_at_micros(t.trained_at_micros);
  const linker::LinkProgress progress = linking_->progress();
  if (absl::StartsWith(progress.activity, "estimating") ||
      absl::StartsWith(progress.activity, "re-linking")) {
    response->set_activity(progress.activity);
  }
  response->set_estimations(progress.estimations);
  response->set_last_estimation_error(progress.last_estimation_error);
}

grpc::ServerUnaryReactor* LinkageServiceImpl::EstimateModel(
    grpc::CallbackServerContext* context,
    const v1::EstimateModelRequest* request, v1::EstimateModelResponse*) {
  return Governed(context, governance_, Method("EstimateModel"),
                  [&](const Caller&, audit::v1::AuditEntry* entry) {
                    (*entry->mutable_details())["relink"] =
                        request->relink() ? "true" : "false";
                    return linking_->RequestEstimate(request->relink());
                  });
}

grpc::ServerUnaryReactor* LinkageServiceImpl::GetLinkingStatus(
    grpc::CallbackServerContext* context,
    const v1::GetLinkingStatusRequest* request,
    v1::GetLinkingStatusResponse* response) {
  // A caller waiting for linking (linkctl submit) long-polls here: the wait
  // happens before the call is admitted and audited, so each wait is one
  // entry, not one per poll.
  if (request->wait_for_seq() > 0) {
    const absl::Duration wait =
        absl::Milliseconds(std::min<uint32_t>(request->wait_millis(), 10000));
    linking_->WaitLinked(request->wait_for_seq(), wait);
  }
  return Governed(
      context, governance_, Method("GetLinkingStatus"),
      [&](const Caller&, audit::v1::AuditEntry*) -> absl::Status {
        const linker::LinkProgress progress = linking_->progress();
        response->set_queued_seq(progress.queued_seq);
        response->set_linked_seq(progress.linked_seq);
        response->set_paused(progress.paused);
        response->set_activity(progress.activity);
        response->set_model_version(linker_->model()->version());
        LINKD_ASSIGN_OR_RETURN(linker::LinkStats stats, linker_->Stats());
        response->set_active_suis(static_cast<uint64_t>(stats.active_suis));
        response->set_open_reviews(static_cast<uint64_t>(stats.open_reviews));
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* LinkageServiceImpl::SetLinkingPaused(
    grpc::CallbackServerContext* context,
    const v1::SetLinkingPausedRequest* request,
    v1::SetLinkingPausedResponse* /*response*/) {
  return Governed(
      context, governance_, Method("SetLinkingPaused"),
      [&](const Caller&, audit::v1::AuditEntry* entry) -> absl::Status {
        linking_->SetPaused(request->paused());
        (*entry->mutable_details())["paused"] =
            request->paused() ? "true" : "false";
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* LinkageServiceImpl::Resolve(
    grpc::CallbackServerContext* context, const v1::ResolveRequest* request,
    v1::ResolveResponse* response) {
  return Governed(
      context, governance_, Method("Resolve"),
      [&](const Caller& caller, audit::v1::AuditEntry* entry) -> absl::Status {
        LINKD_RETURN_IF_ERROR(CheckRef(request->record(), "record"));
        AddRef(request->record(), entry);
        LINKD_RETURN_IF_ERROR(CheckRecordAccess(caller, request->record()));
        LINKD_ASSIGN_OR_RETURN(
            std::optional<linker::Sui> sui,
            linker_->Resolve(store::RecordKey(request->record().source(),
                                              request->record().record_id())));
        if (!sui.has_value()) {
          return absl::NotFoundError(
              "record: not known, or not linked yet (see GetLinkingStatus)");
        }
        response->set_sui(sui->ToString());
        entry->add_suis(sui->ToString());
        return absl::OkStatus();
      });
}

grpc::ServerWriteReactor<v1::ListLinksResponse>* LinkageServiceImpl::ListLinks(
    grpc::CallbackServerContext* context, const v1::ListLinksRequest* request) {
  // The decision is audited before the first row leaves.
  absl::Status s;
  if (governance_ != nullptr) {
    audit::v1::AuditEntry entry;
    absl::StatusOr<Caller> caller =
        governance_->Admit(*context, Method("ListLinks"), &entry);
    if (!caller.ok()) return new RefusedStream(caller.status());
    (*entry.mutable_details())["source"] = request->source();
    if (!caller->insecure && !caller->HasRole(policy::Role::kIgOfficer) &&
        !caller->HasRole(policy::Role::kAdmin) &&
        !caller->MaySubmitAs(request->source())) {
      s = absl::PermissionDeniedError(absl::StrCat(
          "organisation ", caller->org,
          " may only list the links of its own sources: set source"));
    }
    s = governance_->Close(&entry, s);
    if (!s.ok()) return new RefusedStream(s);
  }
  return new ListLinksReactor(store_, linker_, request->source());
}

}  // namespace linkd::server
