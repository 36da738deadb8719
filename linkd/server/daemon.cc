#include "linkd/server/daemon.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "grpc/grpc_security_constants.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "linkd/audit/audit_log.h"
#include "linkd/audit/signer.h"
#include "linkd/blocking/blocking_index.h"
#include "linkd/consent/consent_store.h"
#include "linkd/extract/pseudonym.h"
#include "linkd/extract/signing_key.h"
#include "linkd/ingest/ingest_pipeline.h"
#include "linkd/linker/linker.h"
#include "linkd/notify/dispatcher.h"
#include "linkd/notify/outbox.h"
#include "linkd/notify/router.h"
#include "linkd/research/event_scan.h"
#include "linkd/research/project_store.h"
#include "linkd/server/admin_service.h"
#include "linkd/server/extract_service.h"
#include "linkd/server/governance.h"
#include "linkd/server/governance_service.h"
#include "linkd/server/ingest_service.h"
#include "linkd/server/linkage_service.h"
#include "linkd/server/notification_service.h"
#include "linkd/store/record_store.h"
#include "linkd/store/store.h"
#include "linkd/util/log.h"
#include "linkd/util/status_macros.h"
#include "policies/engine/reloadable_policy_set.h"

namespace linkd::server {
namespace {

// Collects the first text-format error with its position.
class ConfigErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (first_.empty()) {
      first_ = absl::StrCat("line ", line + 1, ", column ", column + 1, ": ",
                            message);
    }
  }
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

}  // namespace

absl::Status ApplyConfig(const config::v1::DaemonConfig& config,
                         DaemonOptions* options) {
  if (!config.data_dir().empty()) options->data_dir = config.data_dir();
  if (!config.listen().empty()) options->listen = config.listen();
  if (config.max_message_bytes() != 0) {
    if (config.max_message_bytes() < 64 * 1024) {
      return absl::InvalidArgumentError(
          "max_message_bytes: must be at least 65536");
    }
    options->max_message_bytes = config.max_message_bytes();
  }
  if (config.max_batch_items() != 0) {
    options->max_batch_items = config.max_batch_items();
  }
  if (config.block_cache_mib() != 0) {
    options->block_cache_mib = config.block_cache_mib();
  }
  if (config.start_linking_paused()) options->start_linking_paused = true;
  if (!config.policy_dir().empty()) options->policy_dir = config.policy_dir();
  if (!config.tls_cert().empty()) options->tls_cert = config.tls_cert();
  if (!config.tls_key().empty()) options->tls_key = config.tls_key();
  if (!config.client_ca().empty()) options->client_ca = config.client_ca();
  if (!config.trust_domain().empty()) {
    options->trust_domain = config.trust_domain();
  }
  if (!config.audit_key().empty()) options->audit_key = config.audit_key();
  if (config.checkpoint_interval() != 0) {
    options->checkpoint_interval = config.checkpoint_interval();
  }
  if (!config.ig_organisation().empty()) {
    options->ig_organisation = config.ig_organisation();
  }
  if (config.has_link_threshold_bits() != config.has_review_threshold_bits()) {
    return absl::InvalidArgumentError(
        "link_threshold_bits and review_threshold_bits: set both or neither");
  }
  if (config.has_link_threshold_bits()) {
    if (!(config.review_threshold_bits() <= config.link_threshold_bits()) ||
        !std::isfinite(config.link_threshold_bits()) ||
        !std::isfinite(config.review_threshold_bits())) {
      return absl::InvalidArgumentError(
          "review_threshold_bits: must be finite and at most "
          "link_threshold_bits");
    }
    options->link_threshold_bits = config.link_threshold_bits();
    options->review_threshold_bits = config.review_threshold_bits();
  }
  if (config.shutdown_grace_seconds() != 0) {
    options->shutdown_grace = absl::Seconds(config.shutdown_grace_seconds());
  }
  return absl::OkStatus();
}

absl::StatusOr<DaemonOptions> LoadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("config file ", path, ": cannot be opened"));
  }
  std::stringstream text;
  text << in.rdbuf();
  config::v1::DaemonConfig config;
  google::protobuf::TextFormat::Parser parser;
  ConfigErrorCollector errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text.str(), &config)) {
    return absl::InvalidArgumentError(
        absl::StrCat("config file ", path, ": ", errors.first()));
  }
  DaemonOptions options;
  if (absl::Status s = ApplyConfig(config, &options); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config file ", path, ": ", s.message()));
  }
  return options;
}

bool IsLoopbackListenAddress(const std::string& listen) {
  absl::string_view host = listen;
  if (absl::StartsWith(host, "[")) {  // [::1]:port
    const size_t end = host.find(']');
    if (end == absl::string_view::npos) return false;
    host = host.substr(1, end - 1);
    return host == "::1";
  }
  const size_t colon = host.rfind(':');
  if (colon != absl::string_view::npos) host = host.substr(0, colon);
  if (host == "localhost") return true;
  const std::vector<absl::string_view> octets = absl::StrSplit(host, '.');
  int first = 0;
  return octets.size() == 4 && absl::SimpleAtoi(octets[0], &first) &&
         first == 127;
}

std::string DefaultPolicyDir() { return LINKD_DEFAULT_POLICY_DIR; }

namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path,
                                    std::string_view what) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(std::string(what), ": cannot read ", path));
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// mTLS server credentials that require and verify a client certificate.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TlsCredentials(
    const DaemonOptions& options) {
  LINKD_ASSIGN_OR_RETURN(std::string cert,
                         ReadPem(options.tls_cert, "tls_cert"));
  LINKD_ASSIGN_OR_RETURN(std::string key, ReadPem(options.tls_key, "tls_key"));
  LINKD_ASSIGN_OR_RETURN(std::string ca,
                         ReadPem(options.client_ca, "client_ca"));
  grpc::SslServerCredentialsOptions tls(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  tls.pem_root_certs = ca;
  tls.pem_key_cert_pairs.push_back({key, cert});
  return grpc::SslServerCredentials(tls);
}

// An entry for the daemon's own acts (start, stop).
audit::v1::AuditEntry DaemonEntry(const Governance& governance,
                                  std::string_view what, bool insecure) {
  audit::v1::AuditEntry entry;
  entry.set_organisation("linkd");
  entry.set_method(std::string(what));
  const std::shared_ptr<const policy::PolicySet> set = governance.policy();
  entry.set_policy_version(set->version());
  entry.set_policy_hash(set->hash());
  (*entry.mutable_details())["policy_hash"] = set->hash_hex();
  if (insecure) (*entry.mutable_details())["transport"] = "insecure loopback";
  return entry;
}

}  // namespace

struct Daemon::State {
  DaemonOptions options;
  std::string address;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<policy::ReloadablePolicySet> policies;
  std::optional<audit::AuditSigner> signer;
  std::unique_ptr<audit::AuditLog> audit;
  std::unique_ptr<Governance> governance;
  std::unique_ptr<consent::ConsentStore> consents;
  std::unique_ptr<GovernanceServiceImpl> governance_service;
  std::optional<extract::ReleaseKey> release_key;
  std::optional<extract::SigningKey> release_signing_key;
  std::unique_ptr<research::ProjectStore> projects;
  std::unique_ptr<events::EventStore> events;
  std::unique_ptr<ExtractServiceImpl> extract_service;
  std::unique_ptr<store::RecordStore> records;
  std::unique_ptr<blocking::KeyGenerator> blocking_keys;
  std::unique_ptr<blocking::BlockingIndex> blocking_index;
  std::unique_ptr<linker::Linker> linker;
  std::unique_ptr<linker::LinkWorker> linking;
  std::unique_ptr<notify::Outbox> outbox;
  std::unique_ptr<notify::Dispatcher> dispatcher;
  std::unique_ptr<notify::Router> router;
  std::unique_ptr<ingest::IngestPipeline> pipeline;
  std::unique_ptr<IngestServiceImpl> ingest_service;
  std::unique_ptr<AdminServiceImpl> admin_service;
  std::unique_ptr<LinkageServiceImpl> linkage_service;
  std::unique_ptr<NotificationServiceImpl> notification_service;
  std::unique_ptr<grpc::Server> server;
  bool shut_down = false;
};

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(DaemonOptions options) {
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError("data_dir: missing");
  }
  const int tls_files = !options.tls_cert.empty() + !options.tls_key.empty() +
                        !options.client_ca.empty();
  if (tls_files != 0 && tls_files != 3) {
    return absl::InvalidArgumentError(
        "tls_cert, tls_key and client_ca: give all three (mTLS) or none");
  }
  const bool insecure = tls_files == 0;
  if (insecure && !IsLoopbackListenAddress(options.listen)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "listen: ", options.listen,
        " is not a loopback address; without mTLS (--tls-cert, --tls-key, "
        "--client-ca) linkd serves only on 127.0.0.1, localhost or [::1]"));
  }
  std::shared_ptr<grpc::ServerCredentials> credentials =
      grpc::InsecureServerCredentials();
  if (!insecure) {
    LINKD_ASSIGN_OR_RETURN(credentials, TlsCredentials(options));
  }
  if (options.policy_dir.empty()) options.policy_dir = DefaultPolicyDir();
  if (options.audit_key.empty()) {
    options.audit_key = options.data_dir + "/audit-signing.key";
  }
  if (options.release_key.empty()) {
    options.release_key = options.data_dir + "/release.key";
  }
  if (options.release_signing_key.empty()) {
    options.release_signing_key = options.data_dir + "/release-signing.key";
  }
  auto state = std::make_unique<State>();
  state->options = options;
  // Policies first: a policy that fails to load or to pass its tests stops
  // start-up before anything is opened.
  LINKD_ASSIGN_OR_RETURN(state->policies,
                         policy::ReloadablePolicySet::Open(options.policy_dir));
  if (!options.ig_organisation.empty()) {
    absl::StatusOr<policy::OrganisationInfo> ig =
        state->policies->Current()->Organisation(options.ig_organisation);
    if (!ig.ok() || std::find(ig->roles.begin(), ig->roles.end(),
                              policy::Role::kIgOfficer) == ig->roles.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("ig_organisation: ", options.ig_organisation,
                       " is not an organisation with the ig_officer role in "
                       "the policy"));
    }
  }

  store::StoreOptions store_options;
  store_options.path = options.data_dir;
  store_options.create_if_missing = true;
  store_options.block_cache_mib = options.block_cache_mib;
  LINKD_ASSIGN_OR_RETURN(state->store, store::Store::Open(store_options));
  LINKD_ASSIGN_OR_RETURN(
      audit::AuditSigner signer,
      audit::AuditSigner::LoadOrCreate(options.audit_key, "linkd.audit"));
  state->signer.emplace(std::move(signer));
  audit::AuditLogOptions audit_options;
  audit_options.checkpoint_interval = options.checkpoint_interval;
  audit_options.clock = options.clock;
  LINKD_ASSIGN_OR_RETURN(
      state->audit, audit::AuditLog::Open(state->store.get(), &*state->signer,
                                          audit_options));
  GovernanceOptions governance_options;
  governance_options.trust_domain = options.trust_domain;
  governance_options.insecure_local = insecure;
  state->governance = std::make_unique<Governance>(
      state->policies.get(), state->audit.get(), governance_options);
  state->consents = std::make_unique<consent::ConsentStore>(state->store.get());
  state->records = std::make_unique<store::RecordStore>(state->store.get());
  LINKD_ASSIGN_OR_RETURN(state->blocking_keys, blocking::KeyGenerator::Create(
                                                   blocking::BlockingConfig()));
  state->blocking_index = std::make_unique<blocking::BlockingIndex>(
      state->store.get(), state->blocking_keys.get());
  state->linker = std::make_unique<linker::Linker>(
      state->store.get(), state->blocking_index.get(), linker::LinkerOptions());
  LINKD_RETURN_IF_ERROR(state->linker->LoadSavedModel());
  if (options.link_threshold_bits.has_value() &&
      options.review_threshold_bits.has_value()) {
    matcher::Model model = *state->linker->model();
    LINKD_RETURN_IF_ERROR(model.SetThresholds(*options.review_threshold_bits,
                                              *options.link_threshold_bits));
    state->linker->SetModel(
        std::make_shared<const matcher::Model>(std::move(model)));
  }
  linker::LinkWorkerOptions link_options;
  link_options.paused = options.start_linking_paused;
  link_options.scratch_dir = options.data_dir + "/relink-scratch";
  LINKD_ASSIGN_OR_RETURN(
      state->linking,
      linker::LinkWorker::Start(state->store.get(), state->linker.get(),
                                options.clock, link_options));
  // Notifications: outboxes, live delivery, and the router behind linking.
  state->outbox = std::make_unique<notify::Outbox>(
      state->store.get(), state->audit.get(), options.clock);
  notify::DispatcherOptions dispatcher_options;
  dispatcher_options.clock = options.clock;
  state->dispatcher = std::make_unique<notify::Dispatcher>(
      state->store.get(), state->outbox.get(), state->audit.get(),
      dispatcher_options);
  notify::RouterOptions router_options;
  router_options.clock = options.clock;
  router_options.ig_organisation = options.ig_organisation;
  router_options.published = [dispatcher = state->dispatcher.get()](
                                 const std::vector<std::string>& recipients) {
    dispatcher->Published(recipients);
  };
  LINKD_ASSIGN_OR_RETURN(
      state->router,
      notify::Router::Start(state->store.get(), state->linker.get(),
                            state->linking.get(), state->policies.get(),
                            state->consents.get(), state->audit.get(),
                            state->outbox.get(), router_options));
  ingest::PipelineOptions pipeline_options;
  pipeline_options.max_batch_items = options.max_batch_items;
  pipeline_options.audit = state->audit.get();
  pipeline_options.events_committed = [router =
                                           state->router.get()](uint64_t seq) {
    router->EventsCommitted(seq);
  };
  LINKD_ASSIGN_OR_RETURN(
      state->pipeline,
      ingest::IngestPipeline::Create(state->store.get(), state->linking.get(),
                                     options.clock, pipeline_options));
  const Governance* governance = state->governance.get();
  state->ingest_service =
      std::make_unique<IngestServiceImpl>(state->pipeline.get(), governance);
  state->admin_service =
      std::make_unique<AdminServiceImpl>(state->records.get(), governance);
  state->linkage_service = std::make_unique<LinkageServiceImpl>(
      state->store.get(), state->linker.get(), state->linking.get(),
      governance);
  state->notification_service = std::make_unique<NotificationServiceImpl>(
      state->outbox.get(), state->dispatcher.get(), governance);
  state->governance_service = std::make_unique<GovernanceServiceImpl>(
      state->store.get(), state->linker.get(), state->consents.get(),
      governance, &*state->signer, options.data_dir);
  // Research extracts.
  LINKD_ASSIGN_OR_RETURN(
      extract::ReleaseKey release_key,
      extract::ReleaseKey::LoadOrCreate(options.release_key));
  state->release_key.emplace(std::move(release_key));
  LINKD_ASSIGN_OR_RETURN(
      extract::SigningKey release_signing_key,
      extract::SigningKey::LoadOrCreate(options.release_signing_key));
  state->release_signing_key.emplace(std::move(release_signing_key));
  LINKD_ASSIGN_OR_RETURN(state->projects,
                         research::ProjectStore::Open(state->store.get()));
  state->events = std::make_unique<events::EventStore>(state->store.get());
  ExtractServiceOptions extract_options;
  extract_options.extracts_dir = options.data_dir + "/extracts";
  extract_options.clock = options.clock;
  state->extract_service = std::make_unique<ExtractServiceImpl>(
      state->store.get(), state->linker.get(), state->records.get(),
      state->consents.get(), state->projects.get(),
      research::EventStoreScan(state->events.get()), &*state->release_key,
      &*state->release_signing_key, governance, extract_options);
  LINKD_RETURN_IF_ERROR(state->extract_service->Start());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen, credentials, &port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  grpc::ResourceQuota quota("linkd");
  quota.SetMaxThreads(64);
  quota.Resize(512u << 20);
  builder.SetResourceQuota(quota);
  builder.RegisterService(state->ingest_service.get());
  builder.RegisterService(state->admin_service.get());
  builder.RegisterService(state->linkage_service.get());
  builder.RegisterService(state->governance_service.get());
  builder.RegisterService(state->extract_service.get());
  builder.RegisterService(state->notification_service.get());
  state->server = builder.BuildAndStart();
  if (state->server == nullptr || port == 0) {
    return absl::UnavailableError(
        absl::StrCat("listen: cannot listen on ", options.listen,
                     " (address in use, or not an address of this machine)"));
  }
  const size_t colon = options.listen.rfind(':');
  state->address = absl::StrCat(options.listen.substr(0, colon), ":", port);
  // The start, and the policy in force from now on, are audited.
  audit::v1::AuditEntry start =
      DaemonEntry(*state->governance, "linkd/start", insecure);
  LINKD_RETURN_IF_ERROR(state->governance->Close(&start, absl::OkStatus()));
  if (insecure) {
    util::Log(util::LogLevel::kWarning,
              "insecure loopback mode (no --tls-cert): every caller is "
              "local/operator with every role; use mTLS for real data");
  }
  return std::unique_ptr<Daemon>(new Daemon(std::move(state)));
}

Daemon::Daemon(std::unique_ptr<State> state) : state_(std::move(state)) {}

Daemon::~Daemon() { Shutdown(); }

const std::string& Daemon::address() const { return state_->address; }

void Daemon::Shutdown() {
  if (state_->shut_down) return;
  state_->shut_down = true;
  if (auto* health = state_->server->GetHealthCheckService()) {
    health->SetServingStatus(false);
  }
  // Subscriptions never end on their own: end them so the grace period is
  // not spent waiting for them.
  state_->dispatcher->StopAll();
  state_->server->Shutdown(
      absl::ToChronoTime(absl::Now() + state_->options.shutdown_grace));
  state_->server->Wait();
  state_->server.reset();
  state_->governance_service.reset();  // finishes a verification in progress
  state_->extract_service.reset();     // finishes a release in progress
  state_->pipeline.reset();            // applies every queued batch, then joins
  state_->notification_service.reset();  // finishes queued acknowledgements
  state_->router.reset();                // finishes the group it is routing
  state_->dispatcher.reset();
  state_->linking.reset();  // finishes the batch it is linking
  // The stop is the last entry, covered by a final signed checkpoint that
  // the IG team can take as a witness.
  audit::v1::AuditEntry stop =
      DaemonEntry(*state_->governance, "linkd/stop", false);
  if (!state_->governance->Close(&stop, absl::OkStatus()).ok() ||
      !state_->audit->SignCheckpoint().ok()) {
    util::Log(util::LogLevel::kError,
              "the audit log could not record the shutdown");
  }
  state_->outbox.reset();
  state_->linker.reset();
  state_->blocking_index.reset();
  state_->projects.reset();
  state_->records.reset();
  state_->consents.reset();
  state_->governance.reset();
  state_->audit.reset();
  state_->store.reset();
}

}  // namespace linkd::server
