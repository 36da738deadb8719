#include "tests/bench/quality/bench_pipeline.h"

#include <signal.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "linkd/v1/linkage_service.grpc.pb.h"

namespace linkd::bench {
namespace {

using testing::ReadFileOrEmpty;
using testing::RunProgram;

}  // namespace

absl::StatusOr<EncodedPopulation> EncodePopulation(const std::string& dir,
                                                   int people, uint64_t seed) {
  std::string out, err;
  const std::string key = dir + "/key";
  if (RunProgram({LINKD_ENCODE_BIN, "keygen", "--out", key}, dir, &out, &err) !=
      0) {
    return absl::InternalError("keygen failed: " + err);
  }
  if (RunProgram({LINKD_SYNTH_BIN, "--people", std::to_string(people), "--seed",
                  std::to_string(seed), "--out", dir + "/pop"},
                 dir, &out, &err) != 0) {
    return absl::InternalError("linkd-synth failed: " + err);
  }
  struct Source {
    const char* name;
    std::vector<std::string> args;
  };
  // As the README demo: each provider with its own columns and formats.
  const Source sources[] = {
      {"school_census",
       {"--date-format", "DD/MM/YYYY", "--map", "record_id=pupil_ref", "--map",
        "upn=upn", "--map", "given_name=forename", "--map",
        "family_name=surname", "--map", "dob=dob", "--map", "sex=gender",
        "--map", "postcode=postcode"}},
      {"social_care",
       {"--map", "record_id=case_id", "--map", "given_name=first_name", "--map",
        "family_name=last_name", "--map", "dob=date_of_birth", "--map",
        "sex=sex", "--map", "postcode=post_code", "--map", "nhs_number=nhs_no",
        "--map", "upn=upn"}},
      {"health",
       {"--date-format", "YYYYMMDD", "--map", "record_id=patient_id", "--map",
        "nhs_number=nhs_number", "--map", "given_name=given", "--map",
        "family_name=family", "--map", "dob=birth_date", "--map",
        "sex=sex_code", "--map", "postcode=postcode"}},
  };
  EncodedPopulation pop;
  pop.truth_csv = dir + "/pop/truth.csv";
  for (const Source& s : sources) {
    std::vector<std::string> a = {LINKD_ENCODE_BIN, "--key", key, "--source",
                                  s.name};
    a.insert(a.end(), s.args.begin(), s.args.end());
    const std::string file = dir + "/" + s.name + ".linkd";
    a.insert(a.end(),
             {"--out", file, dir + "/pop/" + std::string(s.name) + ".csv"});
    const int code = RunProgram(a, dir, &out, &err);
    // 3: some rows had no usable field and were rejected (counted).
    if (code != 0 && code != 3) {
      return absl::InternalError("linkd-encode failed: " + err);
    }
    pop.files.push_back(file);
  }
  return pop;
}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(
    const std::string& dir, const std::vector<std::string>& extra_args) {
  const std::string ready = dir + "/ready";
  std::vector<std::string> argv = {LINKD_BIN,  "--data-dir",  dir + "/db",
                                   "--listen", "127.0.0.1:0", "--ready-file",
                                   ready};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  std::unique_ptr<Daemon> d(new Daemon);
  d->process_ = std::make_unique<testing::Subprocess>(argv, dir + "/linkd.out",
                                                      dir + "/linkd.err");
  while (ReadFileOrEmpty(ready).empty()) {
    if (!d->process_->Running()) {
      return absl::InternalError("linkd did not start: " +
                                 d->process_->Stderr());
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  d->address_ = ReadFileOrEmpty(ready);
  d->address_.erase(d->address_.find_last_not_of('\n') + 1);
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  d->channel_ = grpc::CreateCustomChannel(
      d->address_, grpc::InsecureChannelCredentials(), args);
  return d;
}

Daemon::~Daemon() {
  if (process_ != nullptr && process_->Running()) {
    process_->Signal(SIGTERM);
    process_->Wait();
  }
}

double Daemon::PeakRssMib() {
  std::ifstream in("/proc/" + std::to_string(process_->pid()) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024;
  }
  return -1;
}

absl::Status WaitLinked(grpc::Channel* channel, uint64_t seq) {
  auto stub = v1::LinkageService::NewStub(
      std::shared_ptr<grpc::Channel>(channel, [](grpc::Channel*) {}));
  for (;;) {
    grpc::ClientContext context;
    v1::GetLinkingStatusRequest request;
    request.set_wait_for_seq(seq);
    request.set_wait_millis(5000);
    v1::GetLinkingStatusResponse st;
    const grpc::Status s = stub->GetLinkingStatus(&context, request, &st);
    if (!s.ok()) {
      return absl::UnavailableError("linking status: " + s.error_message());
    }
    if (st.linked_seq() >= seq) return absl::OkStatus();
  }
}

absl::StatusOr<std::string> LinksCsv(grpc::Channel* channel) {
  auto stub = v1::LinkageService::NewStub(
      std::shared_ptr<grpc::Channel>(channel, [](grpc::Channel*) {}));
  grpc::ClientContext context;
  auto reader = stub->ListLinks(&context, v1::ListLinksRequest());
  std::string csv = "source,record_id,sui\n";
  v1::ListLinksResponse page;
  while (reader->Read(&page)) {
    for (const auto& row : page.rows()) {
      absl::StrAppend(&csv, row.source(), ",", row.record_id(), ",", row.sui(),
                      "\n");
    }
  }
  const grpc::Status s = reader->Finish();
  if (!s.ok()) return absl::UnavailableError("links: " + s.error_message());
  return csv;
}

}  // namespace linkd::bench
