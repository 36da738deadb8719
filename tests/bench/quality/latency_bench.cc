// latency_bench: bulk linking speed and incremental linking latency of the
// real daemon, end to end.
//
//   latency_bench [--people N] [--seed S] [--singles K]
//
// 1. Generates N synthetic children (default 700000: about 1M records over
//    the three sources) and encodes them with linkd-encode.
// 2. Holds back the last K health records (default 1000), starts linkd with
//    linking paused, uploads everything else, resumes linking and times it
//    until every record has a SUI: linkd estimates its model from the stored
//    records, then links the backlog in bulk (target: 1M records in <= 60 s
//    on 2 cores; peak RSS <= 2 GB).
// 3. Submits the held-back records one at a time, each in its own ingest
//    batch, and measures from the submit to the record's SUI being
//    resolvable (ack, linking, Resolve) (target p99 <= 10 ms with 1M records
//    indexed). These are real arrivals: most join an existing SUI. The
//    first half goes in straight after the bulk load, while RocksDB still
//    compacts what it wrote; the second once linkd is idle again.
// Prints figures only.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/delimited_message_util.h"
#include "grpcpp/client_context.h"
#include "linkd/ctl/encoded_file.h"
#include "linkd/ctl/submit.h"
#include "linkd/util/temp_dir.h"
#include "linkd/v1/ingest_service.grpc.pb.h"
#include "linkd/v1/linkage_service.grpc.pb.h"
#include "tests/bench/quality/bench_pipeline.h"

namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

int Fail(const std::string& what) {
  std::fprintf(stderr, "latency_bench: %s\n", what.c_str());
  return 1;
}

// Splits `path` into its first items (rewritten in place) and its last
// `tail` items (returned).
absl::StatusOr<std::vector<linkd::v1::IngestItem>> HoldBack(
    const std::string& path, size_t tail) {
  std::vector<linkd::v1::IngestItem> items;
  {
    auto reader = linkd::ctl::EncodedFileReader::Open(path);
    if (!reader.ok()) return reader.status();
    linkd::v1::IngestItem item;
    for (;;) {
      absl::StatusOr<bool> more = (*reader)->Next(&item);
      if (!more.ok()) return more.status();
      if (!*more) break;
      items.push_back(item);
    }
  }
  tail = std::min(tail, items.size());
  std::vector<linkd::v1::IngestItem> held(items.end() - tail, items.end());
  items.resize(items.size() - tail);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  for (const linkd::v1::IngestItem& i : items) {
    google::protobuf::util::SerializeDelimitedToOstream(i, &out);
  }
  return held;
}

// A stage of the bulk link as the daemon reports it (numbers dropped).
struct Stage {
  std::string name;
  double begin = 0, end = 0;  // seconds since linking resumed
  double rss = 0;             // largest VmRSS seen, MiB
  double cpu_end = 0;         // linkd's CPU seconds at `end`
};

std::string StageOf(const std::string& activity) {
  std::string out;
  for (char c : activity) {
    if (c >= '0' && c <= '9') continue;
    if (c == ' ' && !out.empty() && out.back() == ' ') continue;
    out.push_back(c);
  }
  return out;
}

double RssMib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024;
  }
  return -1;
}

// CPU seconds (user + system) `pid` has used so far.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces): utime is the
  // 14th field, stime the 15th.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::vector<std::string> f = absl::StrSplit(stat.substr(close + 2), ' ');
  if (f.size() < 13) return -1;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (std::stod(f[11]) + std::stod(f[12])) / ticks;
}

// Waits until `pid` uses under 5% of a core over 2 s (background work such
// as compactions done), at most `max_seconds`. Returns the seconds waited,
// or -1 if it never settled.
double WaitIdle(pid_t pid, double max_seconds) {
  const auto start = Clock::now();
  while (Since(start) < max_seconds) {
    const double before = CpuSeconds(pid);
    std::this_thread::sleep_for(std::chrono::seconds(2));
    if (CpuSeconds(pid) - before < 0.1) return Since(start);
  }
  return -1;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * v.size()));
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  int people = 700000;
  uint64_t seed = 7;
  size_t singles = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--people") (void)absl::SimpleAtoi(argv[i + 1], &people);
    if (flag == "--seed") (void)absl::SimpleAtoi(argv[i + 1], &seed);
    if (flag == "--singles") (void)absl::SimpleAtoi(argv[i + 1], &singles);
  }
  linkd::testing::TempDir dir;
  std::printf("latency_bench: %d synthetic children\n", people);
  std::fflush(stdout);
  auto t = Clock::now();
  absl::StatusOr<linkd::bench::EncodedPopulation> pop =
      linkd::bench::EncodePopulation(dir.path(), people, seed);
  if (!pop.ok()) return Fail(std::string(pop.status().message()));
  absl::StatusOr<std::vector<linkd::v1::IngestItem>> held =
      HoldBack(pop->files[2], singles);
  if (!held.ok()) return Fail(std::string(held.status().message()));
  std::printf("generated and encoded in %.1f s; %zu health records held back\n",
              Since(t), held->size());
  std::fflush(stdout);

  absl::StatusOr<std::unique_ptr<linkd::bench::Daemon>> daemon =
      linkd::bench::Daemon::Start(dir.path(), {"--linking-paused"});
  if (!daemon.ok()) return Fail(std::string(daemon.status().message()));
  auto channel = (*daemon)->channel();
  t = Clock::now();
  const linkd::ctl::SubmitSummary summary =
      linkd::ctl::Submit(channel, pop->files, {}, nullptr);
  if (!summary.status.ok()) return Fail(summary.status.ToString());
  const double ingest_secs = Since(t);
  std::printf(
      "ingest: %llu records in %.1f s (%.0f records/s), linkd peak RSS %.0f "
      "MiB\n",
      static_cast<unsigned long long>(summary.acknowledged), ingest_secs,
      summary.acknowledged / ingest_secs, (*daemon)->PeakRssMib());
  std::fflush(stdout);

  auto linkage = linkd::v1::LinkageService::NewStub(channel);
  {
    grpc::ClientContext context;
    linkd::v1::SetLinkingPausedRequest resume;
    linkd::v1::SetLinkingPausedResponse ignored;
    if (!linkage->SetLinkingPaused(&context, resume, &ignored).ok()) {
      return Fail("cannot resume linking");
    }
  }
  t = Clock::now();
  const double cpu_at_start = CpuSeconds((*daemon)->pid());
  // Polls once a second: the time, the largest resident set and the CPU
  // used in each stage the daemon reports (its linking activity).
  linkd::v1::GetLinkingStatusResponse st;
  std::vector<Stage> stages;
  for (;;) {
    grpc::ClientContext context;
    linkd::v1::GetLinkingStatusRequest request;
    request.set_wait_for_seq(summary.link_seq);
    request.set_wait_millis(1000);
    if (!linkage->GetLinkingStatus(&context, request, &st).ok()) {
      return Fail("linking status failed");
    }
    const double now = Since(t);
    const double rss = RssMib((*daemon)->pid());
    const double cpu = CpuSeconds((*daemon)->pid());
    const std::string activity = StageOf(st.activity());
    if (stages.empty() || stages.back().name != activity) {
      stages.push_back(Stage{activity, now, now, rss, cpu});
    }
    stages.back().end = now;
    stages.back().rss = std::max(stages.back().rss, rss);
    stages.back().cpu_end = cpu;
    if (st.linked_seq() >= summary.link_seq) break;
  }
  const double link_secs = Since(t);
  double stage_start = 0, stage_cpu = cpu_at_start;
  for (const Stage& stage : stages) {
    const double secs = stage.end - stage_start;
    std::printf("  %-52s %6.1f s, %4.2f cores, RSS up to %5.0f MiB\n",
                stage.name.empty() ? "(linking batches)" : stage.name.c_str(),
                secs, secs > 0 ? (stage.cpu_end - stage_cpu) / secs : 0.0,
                stage.rss);
    stage_start = stage.end;
    stage_cpu = stage.cpu_end;
  }

  std::printf(
      "bulk link: %llu records in %.1f s (%.0f records/s; model estimation "
      "included), %llu SUIs, %llu review tasks; linkd peak RSS %.0f MiB "
      "(target <= 60 s, <= 2048 MiB)\n",
      static_cast<unsigned long long>(summary.acknowledged), link_secs,
      summary.acknowledged / link_secs,
      static_cast<unsigned long long>(st.active_suis()),
      static_cast<unsigned long long>(st.open_reviews()),
      (*daemon)->PeakRssMib());
  std::fflush(stdout);

  // One record at a time, as a provider's MIS would push them: the first
  // half at once, while RocksDB still compacts what the bulk load wrote,
  // the second once linkd is idle (steady state).
  auto ingest = linkd::v1::IngestService::NewStub(channel);
  grpc::ClientContext stream_context;
  auto stream = ingest->Ingest(&stream_context);
  uint64_t batch_seq = 0;
  // Per record: the whole, and its parts (stored and acknowledged, linked,
  // resolved).
  struct Times {
    std::vector<double> total, ack, linked, resolved;
  };
  auto ms_since = [](Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
  };
  auto measure = [&](size_t from, size_t to, Times* times) -> absl::Status {
    for (size_t i = from; i < to; ++i) {
      const auto start = Clock::now();
      linkd::v1::IngestBatch batch;
      batch.set_batch_seq(++batch_seq);
      *batch.add_items() = (*held)[i];
      linkd::v1::IngestAck ack;
      if (!stream->Write(batch) || !stream->Read(&ack)) {
        return absl::UnavailableError("ingest stream broke");
      }
      times->ack.push_back(ms_since(start));
      const auto acked = Clock::now();
      if (ack.link_seq() > 0) {
        absl::Status s =
            linkd::bench::WaitLinked(channel.get(), ack.link_seq());
        if (!s.ok()) return s;
      }
      times->linked.push_back(ms_since(acked));
      const auto linked = Clock::now();
      grpc::ClientContext context;
      linkd::v1::ResolveRequest request;
      request.mutable_record()->set_source((*held)[i].record().source());
      request.mutable_record()->set_record_id((*held)[i].record().record_id());
      linkd::v1::ResolveResponse response;
      if (!linkage->Resolve(&context, request, &response).ok()) {
        return absl::InternalError("resolve failed");
      }
      times->resolved.push_back(ms_since(linked));
      times->total.push_back(ms_since(start));
    }
    return absl::OkStatus();
  };
  auto report = [&](const char* when, const Times& t) {
    const std::vector<double>& ms = t.total;
    std::printf(
        "incremental (%s): %zu single records with %llu indexed: submit to "
        "SUI p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, max %.2f ms (target p99 "
        "<= 10 ms)\n"
        "  of which (p50 / p99): stored and acknowledged %.2f / %.2f ms, "
        "linked %.2f / %.2f ms, resolved %.2f / %.2f ms\n",
        when, ms.size(), static_cast<unsigned long long>(summary.acknowledged),
        Percentile(ms, 0.50), Percentile(ms, 0.95), Percentile(ms, 0.99),
        Percentile(ms, 1.0), Percentile(t.ack, 0.5), Percentile(t.ack, 0.99),
        Percentile(t.linked, 0.5), Percentile(t.linked, 0.99),
        Percentile(t.resolved, 0.5), Percentile(t.resolved, 0.99));
    std::fflush(stdout);
  };
  const size_t half = held->size() / 2;
  Times busy, idle;
  absl::Status s = measure(0, half, &busy);
  if (!s.ok()) return Fail(std::string(s.message()));
  report("right after the bulk load, compactions running", busy);
  t = Clock::now();
  const double settled = WaitIdle((*daemon)->pid(), 300);
  std::printf("linkd idle (under 5%% of a core for 2 s) after %.0f s%s\n",
              Since(t), settled < 0 ? " (gave up waiting)" : "");
  std::fflush(stdout);
  s = measure(half, held->size(), &idle);
  if (!s.ok()) return Fail(std::string(s.message()));
  report("steady state", idle);
  stream->WritesDone();
  (void)stream->Finish();
  // What the daemon logged of the bulk run (stage times).
  for (absl::string_view line : absl::StrSplit((*daemon)->Stderr(), '\n')) {
    if (absl::StrContains(line, "bulk linked") ||
        absl::StrContains(line, "EM on") ||
        absl::StrContains(line, "estimated")) {
      std::printf("  linkd: %s\n", std::string(line).c_str());
    }
  }
  std::fflush(stdout);
  return 0;
}
