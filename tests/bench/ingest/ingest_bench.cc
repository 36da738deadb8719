// Ingest benchmark: a real linkd over loopback gRPC, fed by the real linkctl
// upload code with encoded files from the real encoder.
//
//   ingest_bench [--people N] [--batch-size N] [--link-during-ingest]
//
// Generates N synthetic people (default 700000, about 1M records over the
// three sources), encodes them with linkd-encode, starts linkd on a fresh
// data directory, uploads everything, and prints records/s and linkd's peak
// resident memory (VmHWM). Targets: >= 100k records/s, <= 1 GB.
//
// By default linkd starts with linking paused, as for an initial bulk load,
// so the upload measures ingest alone; linking is then resumed and timed
// until every record has a SUI. With --link-during-ingest, linking runs
// behind the upload instead (the steady state of a live node).
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "linkd/ctl/submit.h"
#include "linkd/util/temp_dir.h"
#include "linkd/v1/linkage_service.grpc.pb.h"
#include "tests/e2e/subprocess.h"

namespace {

using linkd::testing::ReadFileOrEmpty;
using linkd::testing::RunProgram;
using linkd::testing::Subprocess;

// Peak resident set size of `pid` in MiB, from /proc.
double PeakRssMib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      return std::stod(line.substr(6)) / 1024.0;
    }
  }
  return -1;
}

int Fail(const std::string& what, const std::string& detail) {
  std::fprintf(stderr, "ingest_bench: %s\n%s\n", what.c_str(), detail.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  int people = 700000;
  uint32_t batch = 1000;
  bool link_during_ingest = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--link-during-ingest") link_during_ingest = true;
    if (i + 1 >= argc) continue;
    if (flag == "--people") (void)absl::SimpleAtoi(argv[++i], &people);
    if (flag == "--batch-size") (void)absl::SimpleAtoi(argv[++i], &batch);
  }
  linkd::testing::TempDir dir;
  std::string out, err;
  const std::string key = dir.Sub("key");
  if (RunProgram({LINKD_ENCODE_BIN, "keygen", "--out", key}, dir.path(), &out,
                 &err) != 0) {
    return Fail("keygen failed", err);
  }
  std::printf("generating %d synthetic people...\n", people);
  std::fflush(stdout);
  if (RunProgram({LINKD_SYNTH_BIN, "--people", std::to_string(people), "--seed",
                  "7", "--out", dir.Sub("pop")},
                 dir.path(), &out, &err) != 0) {
    return Fail("linkd-synth failed", err);
  }
  struct Source {
    const char* name;
    std::vector<std::string> maps;
  };
  const Source sources[] = {
      {"school_census",
       {"record_id=pupil_ref", "upn=upn", "given_name=forename",
        "family_name=surname", "dob=dob", "sex=gender", "postcode=postcode"}},
      {"social_care",
       {"record_id=case_id", "given_name=first_name", "family_name=last_name",
        "dob=date_of_birth", "sex=sex", "postcode=post_code",
        "nhs_number=nhs_no", "upn=upn"}},
      {"health",
       {"record_id=patient_id", "nhs_number=nhs_number", "given_name=given",
        "family_name=family", "dob=birth_date", "sex=sex_code",
        "postcode=postcode"}},
  };
  std::vector<std::string> files;
  const absl::Time encode_start = absl::Now();
  for (const Source& s : sources) {
    std::vector<std::string> a = {LINKD_ENCODE_BIN, "--key", key, "--source",
                                  s.name};
    for (const std::string& m : s.maps) {
      a.push_back("--map");
      a.push_back(m);
    }
    const std::string file = dir.Sub(std::string(s.name) + ".linkd");
    a.insert(a.end(),
             {"--out", file, dir.Sub("pop/" + std::string(s.name) + ".csv")});
    const int code = RunProgram(a, dir.path(), &out, &err);
    if (code != 0 && code != 3) return Fail("linkd-encode failed", err);
    files.push_back(file);
  }
  std::printf("encoded in %.1f s\n",
              absl::ToDoubleSeconds(absl::Now() - encode_start));

  const std::string ready = dir.Sub("ready");
  std::vector<std::string> linkd_argv = {
      LINKD_BIN,     "--data-dir",   dir.Sub("db"), "--listen",
      "127.0.0.1:0", "--ready-file", ready};
  if (!link_during_ingest) linkd_argv.push_back("--linking-paused");
  Subprocess linkd(linkd_argv, dir.Sub("linkd.out"), dir.Sub("linkd.err"));
  while (ReadFileOrEmpty(ready).empty()) {
    if (!linkd.Running()) return Fail("linkd did not start", linkd.Stderr());
    absl::SleepFor(absl::Milliseconds(20));
  }
  std::string address = ReadFileOrEmpty(ready);
  address.erase(address.find_last_not_of('\n') + 1);
  const double rss_before = PeakRssMib(linkd.pid());

  linkd::ctl::SubmitOptions options;
  options.batch_items = batch;
  auto channel =
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  const absl::Time start = absl::Now();
  const linkd::ctl::SubmitSummary summary =
      linkd::ctl::Submit(channel, files, options, nullptr);
  const double secs = absl::ToDoubleSeconds(absl::Now() - start);
  const double rss_ingest = PeakRssMib(linkd.pid());
  if (!summary.status.ok()) {
    return Fail("upload failed", summary.status.ToString());
  }
  std::printf(
      "\nIngest over loopback gRPC (batch %u, synced WAL per commit, "
      "linking %s)\n"
      "  records:              %llu (accepted %llu, rejected %llu)\n"
      "  time:                 %.2f s\n"
      "  throughput:           %.0f records/s   (target >= 100000)\n"
      "  linkd peak RSS:       %.0f MiB         (target <= 1024; %.0f MiB "
      "at start)\n",
      batch, link_during_ingest ? "running behind" : "paused",
      static_cast<unsigned long long>(summary.acknowledged),
      static_cast<unsigned long long>(summary.accepted),
      static_cast<unsigned long long>(summary.rejected), secs,
      summary.acknowledged / secs, rss_ingest, rss_before);
  std::fflush(stdout);

  // Link everything (bulk) and time it.
  auto linkage = linkd::v1::LinkageService::NewStub(channel);
  {
    grpc::ClientContext context;
    linkd::v1::SetLinkingPausedRequest resume;
    linkd::v1::SetLinkingPausedResponse ignored;
    if (!linkage->SetLinkingPaused(&context, resume, &ignored).ok()) {
      return Fail("cannot resume linking", "");
    }
  }
  linkd::v1::GetLinkingStatusResponse st;
  for (;;) {
    grpc::ClientContext context;
    if (!linkage
             ->GetLinkingStatus(&context, linkd::v1::GetLinkingStatusRequest(),
                                &st)
             .ok()) {
      return Fail("cannot read linking status", "");
    }
    if (st.linked_seq() >= summary.link_seq) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  const double link_secs = absl::ToDoubleSeconds(absl::Now() - start) - secs;
  std::printf(
      "\nLinking into SUIs (after the upload; from the queue, one writer)\n"
      "  time after upload:    %.1f s (%.0f records/s overall)\n"
      "  active SUIs:          %llu, open reviews %llu\n"
      "  linkd peak RSS:       %.0f MiB\n",
      link_secs, summary.acknowledged / (secs + link_secs),
      static_cast<unsigned long long>(st.active_suis()),
      static_cast<unsigned long long>(st.open_reviews()),
      PeakRssMib(linkd.pid()));
  linkd.Signal(SIGTERM);
  linkd.Wait();
  return 0;
}
