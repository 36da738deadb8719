// Audit log benchmark: append throughput and full verification time on a
// real RocksDB in a temporary directory.
//
//   audit_verify_bench [--entries N] [--batch N] [--threads N]
//                      [--checkpoint-every N] [--data-dir DIR]
//
// With --data-dir, the database is kept in DIR (created if missing) and a
// later run on the same DIR skips steps 1-2 and only verifies.
//
// 1. Setup: appends N realistic entries (default 10,000,000) in batches of
//    --batch (default 1000) with sync OFF: a bulk load, timed and printed
//    but not what the daemon does.
// 2. Durable appends, as the daemon does them (sync ON): 500 commits of one
//    entry (a refused or read-only RPC), then 20 commits of 1000 entries (an
//    ingest group commit's worth).
// 3. Signs a checkpoint (the IG witness), flushes, closes and reopens the
//    data directory (a stopped daemon), then times a full Verify with
//    --threads (default 2) hashing threads: once at once (RocksDB compacts
//    what the bulk load left, on the same two cores), and once more when its
//    background threads are idle. Target: 10M entries in <= 60 s.
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "linkd/audit/audit_log.h"
#include "linkd/audit/signer.h"
#include "linkd/audit/verifier.h"
#include "linkd/store/store.h"
#include "linkd/util/temp_dir.h"

namespace {

using linkd::audit::v1::AuditEntry;

constexpr char kSuiAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

// Synthetic but realistically shaped entries: a few hundred bytes, one to
// three SUIs, one or two record references, small details.
class EntryGenerator {
 public:
  explicit EntryGenerator(uint64_t seed) : rng_(seed) {}

  AuditEntry Next(int64_t time_micros) {
    static const char* const kMethods[] = {
        "/linkd.v1.IngestService/Upload",
        "/linkd.v1.LinkageService/Resolve",
        "/linkd.v1.LinkageService/Links",
        "/linkd.v1.EventService/Report",
        "/linkd.v1.NotificationService/Fetch",
        "/linkd.v1.AdminService/Status",
    };
    static const char* const kPurposes[] = {
        "safeguarding", "early-help", "education-welfare", "service-planning"};
    static const char* const kBases[] = {"public-task", "legal-obligation",
                                         "vital-interests"};
    AuditEntry e;
    e.set_time_micros(time_micros);
    const uint64_t r = rng_();
    e.set_organisation(r % 5 == 0 ? absl::StrCat("la/", 200 + r % 150)
                                  : absl::StrCat("school/", 100000 + r % 4000));
    e.set_method(kMethods[(r >> 8) % 6]);
    e.set_purpose(kPurposes[(r >> 12) % 4]);
    e.set_lawful_basis(kBases[(r >> 16) % 3]);
    e.set_policy_version("2025-03.2");
    e.set_policy_hash(std::string(32, '\x5a'));
    const bool denied = (r >> 20) % 20 == 0;
    e.set_decision(denied ? linkd::audit::v1::DECISION_DENIED
                          : linkd::audit::v1::DECISION_ALLOWED);
    e.set_reason(denied ? "purpose not permitted for this organisation"
                        : "allowed by policy rule 4");
    e.set_status_code(denied ? 7 : 0);
    const int suis = 1 + static_cast<int>((r >> 24) % 3);
    for (int i = 0; i < suis; ++i) e.add_suis(Sui());
    const int records = 1 + static_cast<int>((r >> 28) % 2);
    for (int i = 0; i < records; ++i) {
      auto* ref = e.add_records();
      ref->set_source(e.organisation());
      ref->set_record_id(absl::StrCat("R", rng_() % 100000000));
    }
    if ((r >> 32) % 5 == 0) e.set_recipient(absl::StrCat("la/", 200 + r % 150));
    e.set_request_id(absl::StrFormat("%016x", rng_()));
    (*e.mutable_details())["records"] = absl::StrCat(1 + (r >> 40) % 1000);
    (*e.mutable_details())["project"] = absl::StrCat("P", (r >> 50) % 40);
    return e;
  }

 private:
  std::string Sui() {
    std::string s;
    const uint64_t v = rng_();
    for (int i = 0; i < 13; ++i) {
      if (i == 4 || i == 8 || i == 12) s.push_back('-');
      s.push_back(kSuiAlphabet[(v >> (5 * i)) & 31]);
    }
    return s;
  }
  std::mt19937_64 rng_;
};

double Seconds(absl::Time start) {
  return absl::ToDoubleSeconds(absl::Now() - start);
}

uint64_t DirBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (f.is_regular_file(ec)) total += f.file_size(ec);
  }
  return total;
}

// CPU seconds used by the whole process so far (all threads, including
// RocksDB's background ones): with other jobs on the machine, wall time
// alone says little.
double CpuSeconds() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double MaxRssMib() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

// Waits until the process's background threads (RocksDB compactions that
// reopening the data directory started) stop using CPU, at most 10 minutes.
void WaitForBackgroundIdle() {
  int quiet = 0;
  for (int i = 0; i < 1200 && quiet < 3; ++i) {
    const double before = CpuSeconds();
    absl::SleepFor(absl::Milliseconds(500));
    quiet = CpuSeconds() - before < 0.02 ? quiet + 1 : 0;
  }
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string line;
  std::getline(in, line);
  return line + "\n";
}

int Fail(const absl::Status& s, const char* what) {
  std::fprintf(stderr, "audit_verify_bench: %s: %s\n", what,
               s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t entries = 10'000'000;
  uint64_t batch = 1000;
  int threads = 2;
  uint64_t checkpoint_every = 1'000'000;
  std::string data_dir;
  for (int i = 1; i + 1 < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--entries") (void)absl::SimpleAtoi(argv[++i], &entries);
    if (flag == "--batch") (void)absl::SimpleAtoi(argv[++i], &batch);
    if (flag == "--threads") (void)absl::SimpleAtoi(argv[++i], &threads);
    if (flag == "--data-dir") data_dir = argv[++i];
    if (flag == "--checkpoint-every") {
      (void)absl::SimpleAtoi(argv[++i], &checkpoint_every);
    }
  }
  if (batch == 0) batch = 1;

  linkd::testing::TempDir tmp;
  const std::string dir = data_dir.empty() ? tmp.path() : data_dir;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::string data = dir + "/data";
  linkd::store::StoreOptions store_options;
  store_options.path = data;
  auto store = linkd::store::Store::Open(store_options);
  if (!store.ok()) return Fail(store.status(), "open store");
  auto signer = linkd::audit::AuditSigner::LoadOrCreate(dir + "/audit.key",
                                                        "linkd.bench/audit");
  if (!signer.ok()) return Fail(signer.status(), "signing key");
  linkd::audit::AuditLogOptions log_options;
  log_options.checkpoint_interval = checkpoint_every;
  auto log = linkd::audit::AuditLog::Open(store->get(), &*signer, log_options);
  if (!log.ok()) return Fail(log.status(), "open audit log");
  const bool reuse = (*log)->Size() > 0;
  if (reuse) {
    std::printf("reusing the log of %llu entries in %s\n",
                static_cast<unsigned long long>((*log)->Size()), dir.c_str());
    entries = 0;
  }

  EntryGenerator gen(42);
  int64_t now = absl::ToUnixMicros(absl::Now()) - 86'400'000'000;
  if (!reuse) {
    std::printf(
        "setup: appending %llu entries, %llu per batch, sync OFF "
        "(bulk load)...\n",
        static_cast<unsigned long long>(entries),
        static_cast<unsigned long long>(batch));
    std::fflush(stdout);
  }
  linkd::store::CommitOptions unsynced;
  unsynced.sync = false;
  std::vector<AuditEntry> pending;
  pending.reserve(batch);
  uint64_t entry_bytes = 0;
  const absl::Time setup_start = absl::Now();
  const double setup_cpu_start = CpuSeconds();
  absl::Time lap = setup_start;
  for (uint64_t done = 0; done < entries;) {
    pending.clear();
    for (uint64_t j = 0; j < batch && done + j < entries; ++j) {
      pending.push_back(gen.Next(now += 7));
      entry_bytes += pending.back().ByteSizeLong();
    }
    auto r = (*log)->AppendAndCommit((*store)->NewBatch(), pending, unsynced);
    if (!r.ok()) return Fail(r.status(), "append");
    const uint64_t before = done;
    done += pending.size();
    if (done / 1'000'000 != before / 1'000'000) {
      std::printf("  %llu entries, last 1M at %.0f entries/s\n",
                  static_cast<unsigned long long>(done), 1e6 / Seconds(lap));
      std::fflush(stdout);
      lap = absl::Now();
    }
  }
  const double setup_s = Seconds(setup_start);
  const double setup_cpu = CpuSeconds() - setup_cpu_start;

  // Durable appends, as the daemon commits them.
  const int kSingles = reuse ? 0 : 500;
  const absl::Time single_start = absl::Now();
  for (int i = 0; i < kSingles; ++i) {
    auto r = (*log)->Record(gen.Next(now += 7));
    if (!r.ok()) return Fail(r.status(), "durable append");
  }
  const double single_s = Seconds(single_start);
  const int kGroups = reuse ? 0 : 20;
  const absl::Time group_start = absl::Now();
  for (int i = 0; i < kGroups; ++i) {
    pending.clear();
    for (int j = 0; j < 1000; ++j) pending.push_back(gen.Next(now += 7));
    auto r = (*log)->AppendAndCommit((*store)->NewBatch(), pending);
    if (!r.ok()) return Fail(r.status(), "durable group append");
  }
  const double group_s = Seconds(group_start);

  auto witness = (*log)->SignCheckpoint();
  if (!witness.ok()) return Fail(witness.status(), "checkpoint");
  const uint64_t total = (*log)->Size();
  const linkd::audit::Hash head_root = (*log)->Head().root;
  log->reset();
  if (absl::Status s = (*store)->Flush(); !s.ok()) return Fail(s, "flush");
  store->reset();
  const uint64_t disk = DirBytes(data);

  // Verify the stopped daemon's data directory.
  store = linkd::store::Store::Open(store_options);
  if (!store.ok()) return Fail(store.status(), "reopen store");
  linkd::audit::VerifyOptions verify_options;
  verify_options.threads = threads;
  verify_options.witness = witness->note;
  verify_options.trusted_keys.push_back(
      *linkd::audit::NoteVerifier::FromVerifierKey(signer->VerifierKey()));
  std::printf(
      "verifying %llu entries with %d threads, right after opening "
      "the data directory...\n",
      static_cast<unsigned long long>(total), threads);
  std::fflush(stdout);
  absl::Time verify_start = absl::Now();
  double verify_cpu_start = CpuSeconds();
  auto report = linkd::audit::Verify(**store, verify_options);
  const double cold_s = Seconds(verify_start);
  const double cold_cpu = CpuSeconds() - verify_cpu_start;
  if (!report.ok()) return Fail(report.status(), "verify");
  std::printf("waiting for RocksDB's background compactions to finish...\n");
  std::fflush(stdout);
  WaitForBackgroundIdle();
  std::printf("verifying again with RocksDB idle...\n");
  std::fflush(stdout);
  verify_start = absl::Now();
  verify_cpu_start = CpuSeconds();
  report = linkd::audit::Verify(**store, verify_options);
  const double verify_s = Seconds(verify_start);
  const double verify_cpu = CpuSeconds() - verify_cpu_start;
  if (!report.ok()) return Fail(report.status(), "verify");

  std::printf(
      "\n== audit log (%llu entries, avg entry %.0f bytes, on disk "
      "%.2f GiB)\n",
      static_cast<unsigned long long>(total),
      static_cast<double>(entry_bytes) /
          static_cast<double>(std::max<uint64_t>(1, entries)),
      static_cast<double>(disk) / (1024.0 * 1024 * 1024));
  if (!reuse) {
    std::printf(
        "setup append (sync off, %llu/batch): %10.0f entries/s  "
        "(%.1f s wall, %.1f s CPU incl. flush/compaction)\n",
        static_cast<unsigned long long>(batch),
        static_cast<double>(entries) / setup_s, setup_s, setup_cpu);
    std::printf(
        "durable append, 1 entry/commit:     %10.0f entries/s  "
        "(%.2f ms/commit)\n",
        kSingles / single_s, 1e3 * single_s / kSingles);
    std::printf(
        "durable append, 1000 entries/commit:%10.0f entries/s  "
        "(%.1f ms/commit)\n",
        kGroups * 1000 / group_s, 1e3 * group_s / kGroups);
  }
  std::printf(
      "verify (%d threads), compactions running:%7.0f entries/s  "
      "(%.1f s wall, %.1f s CPU incl. compaction)\n",
      threads, static_cast<double>(report->entries) / cold_s, cold_s, cold_cpu);
  std::printf(
      "verify (%d threads), RocksDB idle:  %10.0f entries/s  "
      "(%.1f s wall, %.1f s CPU; target <= 60 s for 10M)\n",
      threads, static_cast<double>(report->entries) / verify_s, verify_s,
      verify_cpu);
  std::printf("load average at the end: %s", LoadAverage().c_str());
  std::printf("verify result: %s", report->Summary().c_str());
  std::printf("root matches the head: %s; peak RSS %.0f MiB\n",
              report->root == head_root ? "yes" : "NO", MaxRssMib());
  return report->ok() && report->root == head_root ? 0 : 2;
}
