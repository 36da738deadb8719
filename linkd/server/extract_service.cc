#include "linkd/server/extract_service.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "linkd/extract/extract_file.h"
#include "linkd/linker/sui.h"
#include "linkd/research/release.h"
#include "linkd/research/spec.h"
#include "linkd/server/grpc_status.h"
#include "linkd/util/log.h"
#include "linkd/util/status_macros.h"

namespace linkd::server {
namespace {

constexpr char kService[] = "/linkd.v1.ExtractService/";
// linkd's own acts, recorded as organisation "linkd".
constexpr char kReleaseMethod[] = "linkd/extract/release";
constexpr char kRemoveMethod[] = "linkd/extract/remove";
// SUIs per audit entry of a release (an entry stays well under 1 MiB).
constexpr size_t kSuisPerEntry = 20000;

std::string Method(std::string_view name) {
  return absl::StrCat(kService, std::string(name));
}

std::string Hex(std::string_view bytes) {
  return absl::BytesToHexString(absl::string_view(bytes.data(), bytes.size()));
}

using State = v1::ExtractRequest;

std::string StateName(v1::ExtractRequest::State s) {
  switch (s) {
    case State::STATE_PENDING:
      return "pending";
    case State::STATE_REFUSED:
      return "refused";
    case State::STATE_APPROVED:
      return "approved";
    case State::STATE_RELEASED:
      return "released";
    case State::STATE_FETCHED:
      return "fetched";
    case State::STATE_FAILED:
      return "failed";
    default:
      return "unspecified";
  }
}

// The purpose, lawful basis and deciding rule of a policy decision, into
// its audit entry; a refusal is recorded as denied with the policy's
// reason.
void AddDecision(const policy::Decision& d, audit::v1::AuditEntry* entry) {
  entry->set_purpose(d.purpose);
  entry->set_lawful_basis(d.lawful_basis);
  (*entry->mutable_details())["deciding_rule"] = d.deciding_rule_id;
  if (!d.allowed) {
    entry->set_decision(audit::v1::DECISION_DENIED);
    entry->set_reason(d.reason);
  }
}

// The research purpose's lawful basis, for the entries of steps that no
// policy decision allows (a refusal, a failed release, the removal).
std::string ResearchBasis(const policy::PolicySet& policy) {
  const policy::PurposeInfo* p =
      policy.FindPurpose(std::string(research::kResearchPurpose));
  return p == nullptr ? std::string() : p->lawful_basis;
}

// The request as a researcher may see it: without what only the IG team
// is told (children removed for an objection or opt-out, the cohort size
// before that).
v1::ExtractRequest ResearcherView(v1::ExtractRequest r) {
  r.clear_removed_for_objection();
  r.clear_cohort_children();
  return r;
}

bool IsResearcherOnly(const Caller& caller) {
  return caller.HasRole(policy::Role::kResearcher) &&
         !caller.HasRole(policy::Role::kIgOfficer) &&
         !caller.HasRole(policy::Role::kAuditor);
}

// The columns the policy is asked to disclose for a spec (unparsed: the
// fields, and a journey's pseudonym).
std::vector<std::string> RequestedFields(const v1::ExtractSpec& spec) {
  std::vector<std::string> out;
  if (spec.kind() == v1::EXTRACT_KIND_JOURNEY) {
    out.push_back(std::string(research::kPseudonymField));
  }
  for (const std::string& f : spec.fields()) {
    if (f != research::kPseudonymField) out.push_back(f);
  }
  return out;
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("extract: its manifest is missing");
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

}  // namespace

// ------------------------------------------------------------- service

ExtractServiceImpl::ExtractServiceImpl(
    store::Store* store, const linker::Linker* linker,
    const store::RecordStore* records, const consent::ConsentStore* consents,
    research::ProjectStore* projects, research::EventScan events,
    const extract::ReleaseKey* release_key,
    const extract::SigningKey* signing_key, const Governance* governance,
    ExtractServiceOptions options)
    : store_(store),
      linker_(linker),
      records_(records),
      consents_(consents),
      projects_(projects),
      events_(std::move(events)),
      release_key_(release_key),
      signing_key_(signing_key),
      governance_(governance),
      options_(std::move(options)) {}

ExtractServiceImpl::~ExtractServiceImpl() = default;

absl::Status ExtractServiceImpl::Start() {
  std::error_code ec;
  std::filesystem::create_directories(options_.extracts_dir, ec);
  if (ec || ::chmod(options_.extracts_dir.c_str(), 0700) != 0) {
    return absl::InternalError(absl::StrCat(
        "extracts directory ", options_.extracts_dir, ": cannot be created"));
  }
  LINKD_ASSIGN_OR_RETURN(std::vector<v1::ExtractRequest> requests,
                         projects_->ListRequests());
  for (const v1::ExtractRequest& r : requests) {
    if (r.state() != State::STATE_APPROVED) continue;
    const uint64_t id = r.id();
    release_.Post([this, id] { Release(id); });
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* ExtractServiceImpl::RegisterProject(
    grpc::CallbackServerContext* context,
    const v1::RegisterProjectRequest* request,
    v1::RegisterProjectResponse* response) {
  audit::v1::AuditEntry entry;
  absl::StatusOr<Caller> caller =
      governance_->Admit(*context, Method("RegisterProject"), &entry);
  if (!caller.ok()) return FinishUnary(context, caller.status());
  bool committed = false;
  absl::Status s = [&]() -> absl::Status {
    v1::Project project = request->project();
    auto& d = *entry.mutable_details();
    LINKD_RETURN_IF_ERROR(
        research::ValidateProject(project, *governance_->policy()));
    d["project_id"] = project.id();
    absl::MutexLock lock(&state_mu_);
    LINKD_ASSIGN_OR_RETURN(std::optional<v1::Project> previous,
                           projects_->GetProject(project.id()));
    project.set_lead_organisation(research::ProjectOrganisation(project.id()));
    project.set_version(previous.has_value() ? previous->version() + 1 : 1);
    project.set_registered_by(caller->org);
    project.set_registered_micros(absl::ToUnixMicros(options_.clock->Now()));
    store::WriteBatch batch = store_->NewBatch();
    projects_->PutProject(project, &batch);
    d["version"] = absl::StrCat(project.version());
    d["end_date"] = project.end_date();
    d["ethics_reference"] = project.ethics_reference();
    d["data_processing_agreement"] = project.data_processing_agreement();
    d["approved_fields"] = absl::StrJoin(project.approved_fields(), ",");
    d["researcher_public_key"] = Hex(project.researcher_public_key());
    entry.set_recipient(project.lead_organisation());
    audit::v1::AuditEntry done = entry;
    Governance::Complete(&done, absl::OkStatus());
    LINKD_RETURN_IF_ERROR(governance_->audit_log()
                              ->AppendAndCommit(std::move(batch), done)
                              .status());
    committed = true;
    *response->mutable_project() = std::move(project);
    response->set_replaced(previous.has_value());
    return absl::OkStatus();
  }();
  if (!committed) s = governance_->Close(&entry, s);
  return FinishUnary(context, s);
}

grpc::ServerUnaryReactor* ExtractServiceImpl::ListProjects(
    grpc::CallbackServerContext* context, const v1::ListProjectsRequest*,
    v1::ListProjectsResponse* response) {
  return Governed(
      context, governance_, Method("ListProjects"),
      [&](const Caller& caller, audit::v1::AuditEntry*) -> absl::Status {
        LINKD_ASSIGN_OR_RETURN(std::vector<v1::Project> all,
                               projects_->ListProjects());
        for (v1::Project& p : all) {
          if (IsResearcherOnly(caller) && p.lead_organisation() != caller.org) {
            continue;
          }
          *response->add_projects() = std::move(p);
        }
        response->set_release_signing_public_key(
            signing_key_->public_key().ToHex());
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* ExtractServiceImpl::RequestExtract(
    grpc::CallbackServerContext* context,
    const v1::RequestExtractRequest* request,
    v1::RequestExtractResponse* response) {
  audit::v1::AuditEntry entry;
  absl::StatusOr<Caller> caller =
      governance_->Admit(*context, Method("RequestExtract"), &entry);
  if (!caller.ok()) return FinishUnary(context, caller.status());
  bool committed = false;
  absl::Status s = [&]() -> absl::Status {
    const v1::ExtractSpec& spec = request->spec();
    auto& d = *entry.mutable_details();
    if (spec.project_id().empty()) {
      return absl::InvalidArgumentError("spec.project_id: required");
    }
    LINKD_ASSIGN_OR_RETURN(std::optional<v1::Project> project,
                           projects_->GetProject(spec.project_id()));
    if (!project.has_value()) {
      return absl::NotFoundError("spec.project_id: no such project");
    }
    d["project_id"] = project->id();
    const absl::Time now = options_.clock->Now();
    // The policy first: a project's organisation asks for itself, while the
    // project is approved and has not ended.
    policy::Request ask;
    ask.action = policy::Action::kExtractRequest;
    ask.purpose = std::string(research::kResearchPurpose);
    ask.requester = caller->org;
    ask.time = now;
    ask.fields = RequestedFields(spec);
    policy::SubjectFacts facts;
    facts.project = research::ProjectFactsOf(*project);
    const policy::Decision decision =
        governance_->policy()->Evaluate(ask, facts);
    AddDecision(decision, &entry);
    if (!decision.allowed) return decision.ToStatus();
    LINKD_ASSIGN_OR_RETURN(research::ParsedSpec parsed,
                           research::ParseSpec(spec, *project));
    v1::ExtractRequest stored;
    stored.set_id(projects_->NewRequestId());
    *stored.mutable_spec() = spec;
    stored.set_requested_by(caller->org);
    stored.set_requested_micros(absl::ToUnixMicros(now));
    stored.set_project_version(project->version());
    stored.set_request_hash(research::RequestHash(stored));
    stored.set_state(State::STATE_PENDING);
    stored.set_lawful_basis(decision.lawful_basis);
    d["request_id"] = absl::StrCat(stored.id());
    d["request_hash"] = Hex(stored.request_hash());
    d["kind"] =
        spec.kind() == v1::EXTRACT_KIND_JOURNEY ? "journey" : "aggregate";
    d["columns"] = absl::StrJoin(parsed.columns, ",");
    store::WriteBatch batch = store_->NewBatch();
    projects_->PutRequest(stored, &batch);
    audit::v1::AuditEntry done = entry;
    Governance::Complete(&done, absl::OkStatus());
    LINKD_RETURN_IF_ERROR(governance_->audit_log()
                              ->AppendAndCommit(std::move(batch), done)
                              .status());
    committed = true;
    *response->mutable_request() = ResearcherView(std::move(stored));
    return absl::OkStatus();
  }();
  if (!committed) s = governance_->Close(&entry, s);
  return FinishUnary(context, s);
}

grpc::ServerUnaryReactor* ExtractServiceImpl::ListRequests(
    grpc::CallbackServerContext* context,
    const v1::ListRequestsRequest* request,
    v1::ListRequestsResponse* response) {
  return Governed(
      context, governance_, Method("ListRequests"),
      [&](const Caller& caller, audit::v1::AuditEntry*) -> absl::Status {
        LINKD_ASSIGN_OR_RETURN(std::vector<v1::ExtractRequest> all,
                               projects_->ListRequests(request->project_id()));
        const bool researcher = IsResearcherOnly(caller);
        for (v1::ExtractRequest& r : all) {
          if (request->request_id() != 0 && r.id() != request->request_id()) {
            continue;
          }
          if (researcher) {
            if (r.requested_by() != caller.org) continue;
            *response->add_requests() = ResearcherView(std::move(r));
          } else {
            *response->add_requests() = std::move(r);
          }
        }
        if (request->request_id() != 0 && response->requests_size() == 0) {
          return absl::NotFoundError("request_id: no such request");
        }
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* ExtractServiceImpl::DecideRequest(
    grpc::CallbackServerContext* context,
    const v1::DecideRequestRequest* request,
    v1::DecideRequestResponse* response) {
  audit::v1::AuditEntry entry;
  absl::StatusOr<Caller> caller =
      governance_->Admit(*context, Method("DecideRequest"), &entry);
  if (!caller.ok()) return FinishUnary(context, caller.status());
  bool committed = false;
  bool approved = false;
  absl::Status s = [&]() -> absl::Status {
    auto& d = *entry.mutable_details();
    d["request_id"] = absl::StrCat(request->request_id());
    d["decision"] = request->approve() ? "approve" : "refuse";
    entry.set_purpose(std::string(research::kResearchPurpose));
    entry.set_lawful_basis(ResearchBasis(*governance_->policy()));
    if (request->reason().empty()) {
      return absl::InvalidArgumentError("reason: say why (it is audited)");
    }
    if (request->request_hash().empty()) {
      return absl::InvalidArgumentError(
          "request_hash: give the hash of the request you reviewed (linkctl "
          "extract list shows it)");
    }
    absl::MutexLock lock(&state_mu_);
    LINKD_ASSIGN_OR_RETURN(std::optional<v1::ExtractRequest> found,
                           projects_->GetRequest(request->request_id()));
    if (!found.has_value()) {
      return absl::NotFoundError("request_id: no such request");
    }
    v1::ExtractRequest r = *std::move(found);
    d["project_id"] = r.spec().project_id();
    d["requested_by"] = r.requested_by();
    if (r.state() != State::STATE_PENDING) {
      return absl::FailedPreconditionError(
          absl::StrCat("request ", r.id(), " is ", StateName(r.state()),
                       ", not pending: it was decided already"));
    }
    const std::string hash = research::RequestHash(r);
    if (hash != r.request_hash() || hash != request->request_hash()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "request ", r.id(),
          " is not the request you reviewed (its hash differs): review it "
          "again"));
    }
    // Separation of duties, by organisation, whatever the policy says.
    if (caller->org == r.requested_by()) {
      entry.set_decision(audit::v1::DECISION_DENIED);
      return absl::PermissionDeniedError(
          "separation of duties: the organisation that requested an extract "
          "cannot decide on it");
    }
    LINKD_ASSIGN_OR_RETURN(std::optional<v1::Project> project,
                           projects_->GetProject(r.spec().project_id()));
    if (!project.has_value()) {
      return absl::FailedPreconditionError("the request's project is gone");
    }
    if (project->version() != r.project_version()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "project ", project->id(),
          " was re-registered since the request was made; the researcher "
          "must request again"));
    }
    const int64_t now = absl::ToUnixMicros(options_.clock->Now());
    if (request->approve()) {
      policy::Request ask;
      ask.action = policy::Action::kExtractApprove;
      ask.purpose = std::string(research::kResearchPurpose);
      ask.requester = caller->org;
      ask.time = absl::FromUnixMicros(now);
      ask.fields = RequestedFields(r.spec());
      policy::SubjectFacts facts;
      facts.project = research::ProjectFactsOf(*project);
      facts.extract_requested_by = r.requested_by();
      const policy::Decision decision =
          governance_->policy()->Evaluate(ask, facts);
      AddDecision(decision, &entry);
      if (!decision.allowed) return decision.ToStatus();
      unsigned char id[8];
      randombytes_buf(id, sizeof(id));
      r.set_approval_id(
          Hex(std::string_view(reinterpret_cast<const char*>(id), 8)));
      r.set_approved_hash(hash);
      r.set_state(State::STATE_APPROVED);
      r.set_lawful_basis(decision.lawful_basis);
      d["approval_id"] = r.approval_id();
      d["request_hash"] = Hex(hash);
    } else {
      r.set_state(State::STATE_REFUSED);
    }
    r.set_decided_by(caller->org);
    r.set_decided_micros(now);
    r.set_decision_reason(request->reason());
    entry.set_reason(request->reason());
    entry.set_recipient(r.requested_by());
    store::WriteBatch batch = store_->NewBatch();
    projects_->PutRequest(r, &batch);
    audit::v1::AuditEntry done = entry;
    Governance::Complete(&done, absl::OkStatus());
    LINKD_RETURN_IF_ERROR(governance_->audit_log()
                              ->AppendAndCommit(std::move(batch), done)
                              .status());
    committed = true;
    approved = request->approve();
    *response->mutable_request() = std::move(r);
    return absl::OkStatus();
  }();
  if (!committed) s = governance_->Close(&entry, s);
  if (approved) {
    const uint64_t id = request->request_id();
    release_.Post([this, id] { Release(id); });
  }
  return FinishUnary(context, s);
}

void ExtractServiceImpl::Release(uint64_t id) {
  absl::StatusOr<std::optional<v1::ExtractRequest>> found =
      projects_->GetRequest(id);
  if (!found.ok() || !found->has_value() ||
      (*found)->state() != State::STATE_APPROVED) {
    return;
  }
  const v1::ExtractRequest request = **found;
  absl::StatusOr<std::optional<v1::Project>> project =
      projects_->GetProject(request.spec().project_id());
  research::ReleaseContext ctx;
  ctx.store = store_;
  ctx.linker = linker_;
  ctx.records = records_;
  ctx.consents = consents_;
  ctx.events = events_;
  ctx.release_key = release_key_;
  ctx.signing_key = signing_key_;
  ctx.policy = governance_->policy();
  ctx.output_dir = options_.extracts_dir;
  ctx.now = options_.clock->Now();
  absl::StatusOr<research::ReleaseResult> result =
      absl::FailedPreconditionError("the request's project is gone");
  if (!project.ok()) {
    result = project.status();
  } else if (project->has_value()) {
    result = research::MakeRelease(request, **project, ctx);
  }

  // The entry (or entries: the SUIs are split over several) goes in the
  // batch that records the outcome.
  audit::v1::AuditEntry entry;
  entry.set_organisation("linkd");
  entry.set_method(kReleaseMethod);
  entry.set_request_id(absl::StrCat("extract-request-", id));
  entry.set_recipient(request.requested_by());
  entry.set_policy_version(ctx.policy->version());
  entry.set_policy_hash(ctx.policy->hash());
  entry.set_purpose(std::string(research::kResearchPurpose));
  entry.set_lawful_basis(ResearchBasis(*ctx.policy));
  auto& d = *entry.mutable_details();
  d["request_id"] = absl::StrCat(id);
  d["project_id"] = request.spec().project_id();
  d["approval_id"] = request.approval_id();
  d["approved_by"] = request.decided_by();

  absl::MutexLock lock(&state_mu_);
  absl::StatusOr<std::optional<v1::ExtractRequest>> again =
      projects_->GetRequest(id);
  if (!again.ok() || !again->has_value() ||
      (*again)->state() != State::STATE_APPROVED) {
    if (result.ok()) {
      std::error_code ignored;
      std::filesystem::remove(result->file.path, ignored);
      std::filesystem::remove(result->manifest_path, ignored);
    }
    return;
  }
  v1::ExtractRequest r = **again;
  std::vector<audit::v1::AuditEntry> entries;
  if (result.ok()) {
    AddDecision(result->decision, &entry);
    r.set_state(State::STATE_RELEASED);
    r.set_released_micros(absl::ToUnixMicros(ctx.now));
    r.set_row_count(result->file.row_count);
    r.set_file_name(
        std::filesystem::path(result->file.path).filename().string());
    r.set_file_size(result->file.file_size);
    r.set_file_blake2b_256(result->file.blake2b_256);
    r.set_removed_for_objection(result->removed_for_objection);
    r.set_cohort_children(result->cohort_children);
    r.set_released_children(result->released_children);
    r.set_lawful_basis(result->decision.lawful_basis);
    d["rows"] = absl::StrCat(result->file.row_count);
    d["cohort_children"] = absl::StrCat(result->cohort_children);
    d["removed_for_objection_or_opt_out"] =
        absl::StrCat(result->removed_for_objection);
    d["released_children"] = absl::StrCat(result->released_children);
    d["file_size"] = absl::StrCat(result->file.file_size);
    d["file_blake2b_256"] = Hex(result->file.blake2b_256);
    d["signing_public_key"] = signing_key_->public_key().ToHex();
    d["records_linked"] = absl::StrCat(result->records_linked);
    d["active_suis"] = absl::StrCat(result->active_suis);
    d["open_reviews"] = absl::StrCat(result->open_reviews);
    d["model_version"] = absl::StrCat(result->model_version);
    Governance::Complete(&entry, absl::OkStatus());
    const std::vector<uint64_t>& suis = result->released_suis;
    const size_t parts =
        std::max<size_t>(1, (suis.size() + kSuisPerEntry - 1) / kSuisPerEntry);
    for (size_t p = 0; p < parts; ++p) {
      audit::v1::AuditEntry& e = entries.emplace_back(entry);
      if (parts > 1) {
        (*e.mutable_details())["part"] = absl::StrCat(p + 1, " of ", parts);
      }
      const size_t end = std::min(suis.size(), (p + 1) * kSuisPerEntry);
      for (size_t i = p * kSuisPerEntry; i < end; ++i) {
        absl::StatusOr<linker::Sui> sui = linker::Sui::FromBits(suis[i]);
        if (sui.ok()) e.add_suis(sui->ToString());
      }
    }
  } else {
    r.set_state(State::STATE_FAILED);
    r.set_failure(std::string(result.status().message()));
    if (result.status().code() == absl::StatusCode::kFailedPrecondition ||
        result.status().code() == absl::StatusCode::kPermissionDenied) {
      entry.set_decision(audit::v1::DECISION_DENIED);
    }
    Governance::Complete(&entry, result.status());
    entries.push_back(entry);
  }
  store::WriteBatch batch = store_->NewBatch();
  projects_->PutRequest(r, &batch);
  const absl::Status committed =
      governance_->audit_log()
          ->AppendAndCommit(std::move(batch), entries)
          .status();
  if (!committed.ok()) {
    // Nothing is released unaudited: the files go, the request stays
    // approved and is made again at the next start.
    if (result.ok()) {
      std::error_code ignored;
      std::filesystem::remove(result->file.path, ignored);
      std::filesystem::remove(result->manifest_path, ignored);
    }
    util::Log(util::LogLevel::kError,
              absl::StrCat("extract request ", id,
                           ": the release could not be recorded: ",
                           committed.message()));
  }
}

// ------------------------------------------------------------ download

// Streams one extract: every step that reads a file or commits runs on the
// service's I/O thread; the reactions only post the next step there.
class ExtractServiceImpl::FetchReactor final
    : public grpc::ServerWriteReactor<v1::FetchExtractResponse> {
 public:
  FetchReactor(ExtractServiceImpl* service,
               grpc::CallbackServerContext* context, uint64_t id)
      : service_(service), context_(context), id_(id) {
    service_->io_.Post([this] { Begin(); });
  }
  ~FetchReactor() override {
    if (fd_ >= 0) ::close(fd_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
      return;
    }
    service_->io_.Post([this] { Next(); });
  }
  void OnDone() override { delete this; }

 private:
  void Begin() {
    std::string path;
    absl::StatusOr<v1::ExtractRequest> r =
        service_->BeginFetch(*context_, id_, &path);
    if (!r.ok()) {
      Finish(ToGrpcStatus(r.status()));
      return;
    }
    recipient_ = r->requested_by();
    absl::StatusOr<std::string> manifest =
        ReadSmallFile(extract::ManifestPathFor(path));
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (!manifest.ok() || fd_ < 0) {
      Finish(ToGrpcStatus(
          absl::InternalError("the released extract cannot be read")));
      return;
    }
    v1::FetchExtractResponse::Header* h = message_.mutable_header();
    h->set_file_name(r->file_name());
    h->set_file_size(r->file_size());
    h->set_manifest(*std::move(manifest));
    StartWrite(&message_);
  }

  void Next() {
    message_.Clear();
    std::string* chunk = message_.mutable_chunk();
    chunk->resize(service_->options_.fetch_chunk_bytes);
    size_t got = 0;
    while (got < chunk->size()) {
      const ssize_t n = ::read(fd_, chunk->data() + got, chunk->size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        Finish(ToGrpcStatus(
            absl::InternalError("the released extract cannot be read")));
        return;
      }
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    chunk->resize(got);
    if (got > 0) {
      StartWrite(&message_);
      return;
    }
    ::close(fd_);
    fd_ = -1;
    service_->EndFetch(id_, recipient_);
    Finish(grpc::Status::OK);
  }

  ExtractServiceImpl* const service_;
  grpc::CallbackServerContext* const context_;
  const uint64_t id_;
  std::string recipient_;
  int fd_ = -1;
  v1::FetchExtractResponse message_;
};

grpc::ServerWriteReactor<v1::FetchExtractResponse>*
ExtractServiceImpl::FetchExtract(grpc::CallbackServerContext* context,
                                 const v1::FetchExtractRequest* request) {
  return new FetchReactor(this, context, request->request_id());
}

absl::StatusOr<v1::ExtractRequest> ExtractServiceImpl::BeginFetch(
    const grpc::CallbackServerContext& context, uint64_t id,
    std::string* path) {
  audit::v1::AuditEntry entry;
  absl::StatusOr<Caller> caller =
      governance_->Admit(context, Method("FetchExtract"), &entry);
  if (!caller.ok()) return caller.status();
  bool committed = false;
  v1::ExtractRequest r;
  absl::Status s = [&]() -> absl::Status {
    auto& d = *entry.mutable_details();
    d["request_id"] = absl::StrCat(id);
    entry.set_purpose(std::string(research::kResearchPurpose));
    entry.set_lawful_basis(ResearchBasis(*governance_->policy()));
    entry.set_recipient(caller->org);
    absl::MutexLock lock(&state_mu_);
    LINKD_ASSIGN_OR_RETURN(std::optional<v1::ExtractRequest> found,
                           projects_->GetRequest(id));
    // Another organisation's request does not exist, as far as it knows.
    if (!found.has_value() || found->requested_by() != caller->org) {
      return absl::NotFoundError("request_id: no such request of yours");
    }
    r = *std::move(found);
    d["project_id"] = r.spec().project_id();
    switch (r.state()) {
      case State::STATE_RELEASED:
        break;
      case State::STATE_APPROVED:
        return absl::UnavailableError(
            "the extract is being made; try again shortly");
      case State::STATE_FETCHED:
        return absl::FailedPreconditionError(
            "the extract was downloaded already and is no longer kept");
      default:
        return absl::FailedPreconditionError(
            absl::StrCat("request ", id, " is ", StateName(r.state()),
                         ": nothing was released"));
    }
    LINKD_ASSIGN_OR_RETURN(std::optional<v1::Project> project,
                           projects_->GetProject(r.spec().project_id()));
    if (!project.has_value()) {
      return absl::FailedPreconditionError("the request's project is gone");
    }
    // A download is a release to the project: decided again now (a project
    // past its end date receives nothing).
    const absl::Time now = options_.clock->Now();
    const policy::Decision decision = research::ReleaseDecision(
        *governance_->policy(), *project, RequestedFields(r.spec()), now);
    AddDecision(decision, &entry);
    if (!decision.allowed) return decision.ToStatus();
    *path =
        absl::StrCat(options_.extracts_dir, "/", research::ExtractFileName(r));
    d["file_size"] = absl::StrCat(r.file_size());
    d["file_blake2b_256"] = Hex(r.file_blake2b_256());
    r.set_fetched_micros(absl::ToUnixMicros(now));
    store::WriteBatch batch = store_->NewBatch();
    projects_->PutRequest(r, &batch);
    audit::v1::AuditEntry done = entry;
    Governance::Complete(&done, absl::OkStatus());
    LINKD_RETURN_IF_ERROR(governance_->audit_log()
                              ->AppendAndCommit(std::move(batch), done)
                              .status());
    committed = true;
    return absl::OkStatus();
  }();
  if (!committed) s = governance_->Close(&entry, s);
  if (!s.ok()) return s;
  return r;
}

void ExtractServiceImpl::EndFetch(uint64_t id, const std::string& recipient) {
  absl::MutexLock lock(&state_mu_);
  absl::StatusOr<std::optional<v1::ExtractRequest>> found =
      projects_->GetRequest(id);
  if (!found.ok() || !found->has_value() ||
      (*found)->state() != State::STATE_RELEASED) {
    return;
  }
  v1::ExtractRequest r = **found;
  r.set_state(State::STATE_FETCHED);
  audit::v1::AuditEntry entry;
  entry.set_organisation("linkd");
  entry.set_method(kRemoveMethod);
  entry.set_request_id(absl::StrCat("extract-request-", id));
  entry.set_purpose(std::string(research::kResearchPurpose));
  entry.set_recipient(recipient);
  const std::shared_ptr<const policy::PolicySet> policy = governance_->policy();
  entry.set_policy_version(policy->version());
  entry.set_policy_hash(policy->hash());
  entry.set_lawful_basis(ResearchBasis(*policy));
  entry.set_reason(
      "downloaded in full: the encrypted extract is removed from linkd");
  (*entry.mutable_details())["request_id"] = absl::StrCat(id);
  Governance::Complete(&entry, absl::OkStatus());
  store::WriteBatch batch = store_->NewBatch();
  projects_->PutRequest(r, &batch);
  if (!governance_->audit_log()
           ->AppendAndCommit(std::move(batch), entry)
           .ok()) {
    return;  // kept; a later download can finish the job
  }
  const std::string path =
      absl::StrCat(options_.extracts_dir, "/", research::ExtractFileName(r));
  std::error_code ignored;
  std::filesystem::remove(path, ignored);
  std::filesystem::remove(extract::ManifestPathFor(path), ignored);
}

}  // namespace linkd::server
