// Ingest benchmark: a real linkd over loopback gRPC, fed by the real linkctl
// upload code with encoded files from the real encoder.
//
//   ingest_bench [--people N] [--batch-size N] [--link-during-ingest]
//                [--no-linking] [--mtls] [--baseline-linkd PATH] [--repeat N]
//
// Generates N synthetic people (default 700000, about 1M records over the
// three sources), encodes them with linkd-encode, starts linkd on a fresh
// data directory, uploads everything (one stream per source file), and
// prints records/s and linkd's peak resident memory (VmHWM). Targets:
// >= 100k records/s, <= 1 GB.
//
// By default linkd starts with linking paused, as for an initial bulk load,
// so the upload measures ingest alone; linking is then resumed and timed
// until every record has a SUI (--no-linking: not). With
// --link-during-ingest, linking runs behind the upload instead (the steady
// state of a live node).
//
// Governance overhead (issue 4: ingest with audit and mTLS on at most 15%
// slower than the foundation). linkd audits every ingest batch in the same
// synced write as its records, always; there is no daemon mode without the
// audit log. So the comparison is between binaries and transports:
//   --mtls                 also runs linkd with --tls-cert/--tls-key/
//                          --client-ca from a development CA made in a
//                          temporary directory (deploy/scripts/dev-ca.sh),
//                          each file uploaded with its provider's
//                          certificate (school/100001, la/999, health/RX1)
//                          through linkctl's own channel code;
//   --baseline-linkd PATH  also runs another linkd binary, insecure: the
//                          foundation, built from the commit before
//                          governance, so that the audit's cost is measured
//                          rather than estimated.
// Each mode gets a fresh data directory; the modes alternate --repeat times
// (default 3) on the same encoded files so that the noise of a shared
// machine falls on all of them alike, and the median and best of each are
// printed with the relative overheads. Linking is not run in this mode.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "linkd/ctl/cli.h"
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

// CPU seconds (user + system) of `pid`: the whole process (exited threads
// included) under "", and each live thread under its name (threads of one
// name summed), from /proc/<pid>/stat and /proc/<pid>/task/*/stat.
std::map<std::string, double> CpuSeconds(pid_t pid) {
  std::map<std::string, double> out;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  // Fields after the name, which is in parentheses and may hold spaces:
  // utime and stime are the 12th and 13th.
  auto read = [tick](const std::string& path, std::string* name) -> double {
    std::ifstream in(path);
    const std::string stat((std::istreambuf_iterator<char>(in)),
                           std::istreambuf_iterator<char>());
    const size_t open = stat.find('('), close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos) return 0;
    if (name != nullptr) *name = stat.substr(open + 1, close - open - 1);
    std::vector<std::string> fields =
        absl::StrSplit(stat.substr(close + 2), ' ', absl::SkipEmpty());
    double utime = 0, stime = 0;
    if (fields.size() < 13 || !absl::SimpleAtod(fields[11], &utime) ||
        !absl::SimpleAtod(fields[12], &stime)) {
      return 0;
    }
    return (utime + stime) / tick;
  };
  const std::string proc = "/proc/" + std::to_string(pid);
  out[""] = read(proc + "/stat", nullptr);
  std::error_code ec;
  for (const auto& task :
       std::filesystem::directory_iterator(proc + "/task", ec)) {
    std::string name;
    const double secs = read(task.path().string() + "/stat", &name);
    out[name] += secs;
  }
  return out;
}

// CPU seconds of this process so far (the client side of the upload).
double OwnCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

int Fail(const std::string& what, const std::string& detail) {
  std::fprintf(stderr, "ingest_bench: %s\n%s\n", what.c_str(), detail.c_str());
  return 1;
}

// One encoded source file and the organisation that provides it.
struct SourceFile {
  std::string path;
  std::string provider;  // e.g. "school/100001"
};

// How linkd is run in one measurement.
struct Mode {
  std::string name;
  std::string binary;
  bool mtls = false;
};

struct Result {
  double seconds = 0;
  uint64_t records = 0;
  uint64_t link_seq = 0;
  double rss_mib = 0;
  double rss_start_mib = 0;
  // CPU seconds spent during the upload: linkd's per thread name ("" the
  // whole process), and the client's (this process).
  std::map<std::string, double> linkd_cpu;
  double client_cpu = 0;
  double records_per_second() const {
    return seconds > 0 ? records / seconds : 0;
  }
};

// A running linkd on a fresh data directory.
class Daemon {
 public:
  Daemon(const linkd::testing::TempDir& dir, const std::string& tag,
         const Mode& mode, bool linking_paused, const std::string& certs)
      : data_dir_(dir.Sub("db-" + tag)), certs_(certs), mtls_(mode.mtls) {
    const std::string ready = dir.Sub("ready-" + tag);
    std::vector<std::string> argv = {mode.binary, "--data-dir",  data_dir_,
                                     "--listen",  "127.0.0.1:0", "--ready-file",
                                     ready};
    if (linking_paused) argv.push_back("--linking-paused");
    if (mtls_) {
      argv.insert(argv.end(),
                  {"--tls-cert", certs + "/server.pem", "--tls-key",
                   certs + "/server.key", "--client-ca", certs + "/ca.pem"});
    }
    process_.emplace(argv, dir.Sub("linkd-" + tag + ".out"),
                     dir.Sub("linkd-" + tag + ".err"));
    while (ReadFileOrEmpty(ready).empty()) {
      if (!process_->Running()) {
        error_ = process_->Stderr();
        return;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    address_ = ReadFileOrEmpty(ready);
    address_.erase(address_.find_last_not_of('\n') + 1);
  }

  ~Daemon() {
    if (process_.has_value() && process_->Running()) {
      process_->Signal(SIGTERM);
      process_->Wait();
    }
    std::error_code ignored;
    std::filesystem::remove_all(data_dir_, ignored);
  }

  const std::string& error() const { return error_; }
  pid_t pid() const { return process_->pid(); }

  // A channel as linkctl builds it: plaintext, or mTLS presenting `org`'s
  // certificate.
  std::shared_ptr<grpc::Channel> Channel(const std::string& org) const {
    linkd::ctl::Connection c;
    c.server = address_;
    if (mtls_) {
      std::string file = org;
      std::replace(file.begin(), file.end(), '/', '-');
      c.cert = certs_ + "/" + file + ".pem";
      c.key = certs_ + "/" + file + ".key";
      c.ca = certs_ + "/ca.pem";
    }
    return c.Channel();
  }

 private:
  std::string data_dir_;
  std::string certs_;
  bool mtls_;
  std::optional<Subprocess> process_;
  std::string address_;
  std::string error_;
};

// Uploads every file, each on its own stream as its provider, and times it.
absl::Status Upload(const Daemon& daemon, const std::vector<SourceFile>& files,
                    uint32_t batch, Result* result) {
  result->rss_start_mib = PeakRssMib(daemon.pid());
  linkd::ctl::SubmitOptions options;
  options.batch_items = batch;
  // Channels (and their handshakes) are made before the clock starts, as a
  // provider's long-lived connection would be.
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (const SourceFile& f : files) {
    channels.push_back(daemon.Channel(f.provider));
    channels.back()->WaitForConnected(std::chrono::system_clock::now() +
                                      std::chrono::seconds(10));
  }
  const std::map<std::string, double> cpu_before = CpuSeconds(daemon.pid());
  const double client_before = OwnCpuSeconds();
  const absl::Time start = absl::Now();
  for (size_t i = 0; i < files.size(); ++i) {
    const linkd::ctl::SubmitSummary s =
        linkd::ctl::Submit(channels[i], {files[i].path}, options, nullptr);
    if (!s.status.ok()) return s.status;
    if (s.rejected > 0) {
      return absl::FailedPreconditionError(
          absl::StrCat(files[i].path, ": ", s.rejected, " items rejected as ",
                       files[i].provider,
                       s.rejections.empty() ? std::string()
                                            : ": " + s.rejections[0].message));
    }
    result->records += s.acknowledged;
    result->link_seq = std::max(result->link_seq, s.link_seq);
  }
  result->seconds = absl::ToDoubleSeconds(absl::Now() - start);
  result->client_cpu = OwnCpuSeconds() - client_before;
  result->linkd_cpu = CpuSeconds(daemon.pid());
  for (auto& [name, secs] : result->linkd_cpu) {
    if (auto it = cpu_before.find(name); it != cpu_before.end()) {
      secs -= it->second;
    }
  }
  result->rss_mib = PeakRssMib(daemon.pid());
  return absl::OkStatus();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Compares the modes; returns the exit status.
int Compare(const linkd::testing::TempDir& dir,
            const std::vector<SourceFile>& files, uint32_t batch,
            bool link_during_ingest, const std::vector<Mode>& modes, int repeat,
            const std::string& certs) {
  std::map<std::string, std::vector<Result>> results;
  for (int r = 0; r < repeat; ++r) {
    for (const Mode& mode : modes) {
      const std::string tag = absl::StrCat(mode.name, "-", r);
      Daemon daemon(dir, tag, mode, !link_during_ingest, certs);
      if (!daemon.error().empty()) {
        return Fail(mode.name + ": linkd did not start", daemon.error());
      }
      Result result;
      const absl::Status s = Upload(daemon, files, batch, &result);
      if (!s.ok()) return Fail(mode.name + ": upload failed", s.ToString());
      std::printf(
          "  run %d %-10s %8.0f records/s  (%.2f s, peak RSS %.0f MiB)\n",
          r + 1, mode.name.c_str(), result.records_per_second(), result.seconds,
          result.rss_mib);
      std::fflush(stdout);
      results[mode.name].push_back(result);
    }
  }
  std::printf(
      "\nIngest over loopback gRPC (batch %u, synced WAL per commit, linking "
      "%s, %d runs each)\n"
      "  %-10s %12s %12s %10s %10s\n",
      batch, link_during_ingest ? "running behind" : "paused", repeat, "mode",
      "median rec/s", "best rec/s", "records", "peak RSS");
  std::map<std::string, double> median;
  for (const Mode& mode : modes) {
    std::vector<double> rates;
    double rss = 0;
    for (const Result& r : results[mode.name]) {
      rates.push_back(r.records_per_second());
      rss = std::max(rss, r.rss_mib);
    }
    median[mode.name] = Median(rates);
    std::printf(
        "  %-10s %12.0f %12.0f %10llu %6.0f MiB\n", mode.name.c_str(),
        median[mode.name], *std::max_element(rates.begin(), rates.end()),
        static_cast<unsigned long long>(results[mode.name][0].records), rss);
  }
  // Slowdown of `b` relative to `a`, on the medians.
  auto overhead = [&](const std::string& a, const std::string& b,
                      const char* what) {
    if (median.count(a) == 0 || median.count(b) == 0) return;
    std::printf("  %-50s %+6.1f%%\n", what,
                100.0 * (1.0 - median[b] / median[a]));
  };
  std::printf("\nSlowdown (median throughput; positive = slower):\n");
  overhead("insecure", "mtls", "mTLS (TLS + identities), insecure -> mtls:");
  overhead("baseline", "insecure",
           "governance and audit, baseline -> insecure:");
  overhead("baseline", "mtls",
           "audit + mTLS, baseline -> mtls (target <= 15%):");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int people = 700000;
  uint32_t batch = 1000;
  int repeat = 3;
  bool link_during_ingest = false;
  bool no_linking = false;
  bool mtls = false;
  std::string baseline;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--link-during-ingest") {
      link_during_ingest = true;
    } else if (flag == "--no-linking") {
      no_linking = true;
    } else if (flag == "--mtls") {
      mtls = true;
    } else if (i + 1 < argc && flag == "--people") {
      (void)absl::SimpleAtoi(argv[++i], &people);
    } else if (i + 1 < argc && flag == "--batch-size") {
      (void)absl::SimpleAtoi(argv[++i], &batch);
    } else if (i + 1 < argc && flag == "--repeat") {
      (void)absl::SimpleAtoi(argv[++i], &repeat);
    } else if (i + 1 < argc && flag == "--baseline-linkd") {
      baseline = argv[++i];
    } else {
      return Fail("unknown or incomplete flag " + flag,
                  "usage: ingest_bench [--people N] [--batch-size N] "
                  "[--link-during-ingest] [--no-linking] [--mtls] "
                  "[--baseline-linkd PATH] "
                  "[--repeat N]");
    }
  }
  repeat = std::max(repeat, 1);
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
    const char* provider;
    std::vector<std::string> maps;
  };
  const Source sources[] = {
      {"school_census",
       "school/100001",
       {"record_id=pupil_ref", "upn=upn", "given_name=forename",
        "family_name=surname", "dob=dob", "sex=gender", "postcode=postcode"}},
      {"social_care",
       "la/999",
       {"record_id=case_id", "given_name=first_name", "family_name=last_name",
        "dob=date_of_birth", "sex=sex", "postcode=post_code",
        "nhs_number=nhs_no", "upn=upn"}},
      {"health",
       "health/RX1",
       {"record_id=patient_id", "nhs_number=nhs_number", "given_name=given",
        "family_name=family", "dob=birth_date", "sex=sex_code",
        "postcode=postcode"}},
  };
  std::vector<SourceFile> files;
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
    files.push_back({file, s.provider});
  }
  std::printf("encoded in %.1f s\n",
              absl::ToDoubleSeconds(absl::Now() - encode_start));

  if (mtls || !baseline.empty()) {
    std::vector<Mode> modes;
    if (!baseline.empty()) modes.push_back({"baseline", baseline, false});
    modes.push_back({"insecure", LINKD_BIN, false});
    std::string certs;
    if (mtls) {
      certs = dir.Sub("certs");
      if (RunProgram({"/bin/bash", LINKD_DEV_CA_SCRIPT, certs}, dir.path(),
                     &out, &err) != 0) {
        return Fail("dev-ca.sh failed", err);
      }
      modes.push_back({"mtls", LINKD_BIN, true});
    }
    return Compare(dir, files, batch, link_during_ingest, modes, repeat, certs);
  }

  Daemon linkd(dir, "main", Mode{"insecure", LINKD_BIN, false},
               !link_during_ingest, "");
  if (!linkd.error().empty()) return Fail("linkd did not start", linkd.error());
  Result result;
  const absl::Status uploaded = Upload(linkd, files, batch, &result);
  if (!uploaded.ok()) return Fail("upload failed", uploaded.ToString());
  const double secs = result.seconds;
  std::printf(
      "\nIngest over loopback gRPC (batch %u, synced WAL per commit, "
      "linking %s)\n"
      "  records:              %llu\n"
      "  time:                 %.2f s\n"
      "  throughput:           %.0f records/s   (target >= 100000)\n"
      "  linkd peak RSS:       %.0f MiB         (target <= 1024; %.0f MiB "
      "at start)\n",
      batch, link_during_ingest ? "running behind" : "paused",
      static_cast<unsigned long long>(result.records), secs,
      result.records_per_second(), result.rss_mib, result.rss_start_mib);
  // Where the CPU went: whether one thread is the bottleneck, or the
  // machine's cores are.
  std::printf(
      "  CPU during the upload: linkd %.1f s (%.2f cores), client %.1f s "
      "(%.2f cores), of %u cores\n",
      result.linkd_cpu[""], result.linkd_cpu[""] / secs, result.client_cpu,
      result.client_cpu / secs, std::thread::hardware_concurrency());
  double named = 0;
  for (const auto& [name, cpu] : result.linkd_cpu) {
    if (name.empty()) continue;
    named += cpu;
    if (cpu < 0.05) continue;
    std::printf("    linkd thread %-16s %6.1f s (%3.0f%% of the upload)\n",
                name.c_str(), cpu, 100.0 * cpu / secs);
  }
  std::printf("    linkd threads that have exited %6.1f s\n",
              result.linkd_cpu[""] - named);
  std::fflush(stdout);

  if (no_linking) return 0;
  // Link everything (bulk) and time it.
  const absl::Time link_start = absl::Now();
  auto linkage = linkd::v1::LinkageService::NewStub(linkd.Channel(""));
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
    if (st.linked_seq() >= result.link_seq) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  const double link_secs = absl::ToDoubleSeconds(absl::Now() - link_start);
  std::printf(
      "\nLinking into SUIs (after the upload; from the queue, one writer)\n"
      "  time after upload:    %.1f s (%.0f records/s overall)\n"
      "  active SUIs:          %llu, open reviews %llu\n"
      "  linkd peak RSS:       %.0f MiB\n",
      link_secs, result.records / (secs + link_secs),
      static_cast<unsigned long long>(st.active_suis()),
      static_cast<unsigned long long>(st.open_reviews()),
      PeakRssMib(linkd.pid()));
  return 0;
}
