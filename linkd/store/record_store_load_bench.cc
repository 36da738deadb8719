// Throwaway timing of RecordStore::Stage + Store::Commit: loads N synthetic
// encoded records in batches, then resubmits and updates a share of them, and
// prints throughput, batch latency and peak RSS. Built (linkd_cc_bench), not
// run by ctest. Synthetic tokens only: random bytes, with the low-cardinality
// fields (sex, birth year, postcode district...) drawn from small pools so
// that values repeat as real tokens do.
//
//   record_store_load_bench DIR [RECORDS] [BATCH] [sync|nosync]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "linkd/store/record_store.h"
#include "linkd/store/store.h"

namespace {

using ::linkd::store::RecordStore;
using ::linkd::store::Store;
using ::linkd::v1::EncodedIdentity;
using ::linkd::v1::EncodedRecord;

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {
    for (auto* pool : {&sex_, &year_, &ym_, &district_, &sector_}) {
      const size_t n = pool == &sex_        ? 3
                       : pool == &year_     ? 19
                       : pool == &ym_       ? 228
                       : pool == &district_ ? 60
                                            : 600;
      for (size_t i = 0; i < n; ++i) pool->push_back(Bytes(32));
    }
  }
  std::string Bytes(size_t n) {
    std::string out(n, '\0');
    for (size_t i = 0; i < n; i += 8) {
      uint64_t v = rng_();
      for (size_t j = 0; j < 8 && i + j < n; ++j) {
        out[i + j] = static_cast<char>(v >> (8 * j));
      }
    }
    return out;
  }
  const std::string& Pick(const std::vector<std::string>& pool) {
    return pool[rng_() % pool.size()];
  }
  EncodedRecord Record(const std::string& source, uint64_t n) {
    EncodedRecord r;
    r.set_source(source);
    r.set_record_id("R" + std::to_string(n));
    EncodedIdentity* id = r.mutable_identity();
    id->set_encoding_version(1);
    id->set_key_version(1);
    id->set_key_check("12345678");
    if (rng_() % 10 < 8) id->set_upn(Bytes(32));
    if (rng_() % 10 < 5) id->set_nhs_number(Bytes(32));
    id->set_dob(Bytes(32));
    id->set_dob_year_month(Pick(ym_));
    id->set_dob_year_day(Bytes(32));
    id->set_dob_month_day(Bytes(32));
    id->set_dob_unordered(Bytes(32));
    id->set_birth_year(Pick(year_));
    id->set_sex(Pick(sex_));
    id->set_postcode_unit(Bytes(32));
    id->set_postcode_sector(Pick(sector_));
    id->set_postcode_district(Pick(district_));
    id->set_given_name_bf(Bytes(128));
    id->set_family_name_bf(Bytes(128));
    return r;
  }
  std::mt19937_64& rng() { return rng_; }

 private:
  std::mt19937_64 rng_;
  std::vector<std::string> sex_, year_, ym_, district_, sector_;
};

double PeakRssMib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

uint64_t DirBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

struct Phase {
  std::vector<double> batch_ms;
  double stage_commit_s = 0;
  double stage_s = 0;
  uint64_t records = 0;
  void Print(const char* name) {
    std::sort(batch_ms.begin(), batch_ms.end());
    auto pct = [&](double p) {
      return batch_ms[std::min(batch_ms.size() - 1,
                               static_cast<size_t>(p * batch_ms.size()))];
    };
    std::printf(
        "%-10s %8llu records  %9.0f records/s (Stage+Commit)  batch ms: "
        "p50 %.2f p95 %.2f p99 %.2f max %.2f (Stage alone avg %.2f)  peak RSS "
        "%.0f MiB\n",
        name, static_cast<unsigned long long>(records),
        records / stage_commit_s, pct(0.5), pct(0.95), pct(0.99),
        batch_ms.back(), 1000 * stage_s / batch_ms.size(), PeakRssMib());
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [RECORDS] [BATCH] [sync|nosync]\n",
                 argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const uint64_t n = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1000000;
  const size_t batch_size =
      argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 1000;
  linkd::store::CommitOptions commit;
  commit.sync = !(argc > 4 && std::string(argv[4]) == "nosync");

  linkd::store::StoreOptions options;
  options.path = dir;
  auto opened = Store::Open(options);
  if (!opened.ok()) {
    std::fprintf(stderr, "%s\n", opened.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<Store> store = *std::move(opened);
  RecordStore records(store.get());
  Gen gen(1);
  const std::string sources[] = {"school_census", "la_cms", "health"};

  auto run = [&](Phase* phase, auto make_batch, uint64_t count) -> bool {
    std::vector<EncodedRecord> recs;
    std::vector<const EncodedRecord*> ptrs;
    for (uint64_t done = 0; done < count; done += batch_size) {
      const size_t m = std::min<uint64_t>(batch_size, count - done);
      recs.clear();
      ptrs.clear();
      for (size_t i = 0; i < m; ++i) recs.push_back(make_batch(done + i));
      for (const auto& r : recs) ptrs.push_back(&r);
      const auto t0 = std::chrono::steady_clock::now();
      linkd::store::WriteBatch batch = store->NewBatch();
      auto staged = records.Stage(ptrs, absl::Now(), &batch);
      if (!staged.ok()) {
        std::fprintf(stderr, "%s\n", staged.status().ToString().c_str());
        return false;
      }
      phase->stage_s +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
              .count();
      absl::Status s = store->Commit(std::move(batch), commit);
      if (!s.ok()) {
        std::fprintf(stderr, "%s\n", s.ToString().c_str());
        return false;
      }
      const double ms = std::chrono::duration<double, std::milli>(
                            std::chrono::steady_clock::now() - t0)
                            .count();
      phase->batch_ms.push_back(ms);
      phase->stage_commit_s += ms / 1000;
      phase->records += m;
    }
    return true;
  };

  const auto wall0 = std::chrono::steady_clock::now();
  Phase load;
  if (!run(
          &load, [&](uint64_t i) { return gen.Record(sources[i % 3], i); },
          n)) {
    return 1;
  }
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0)
          .count();
  load.Print("load");
  std::printf("load wall time incl. generation %.1f s\n", wall);

  // Resubmissions (unchanged) and updates of random existing records.
  const uint64_t m = std::min<uint64_t>(n, 100000);
  Gen regen(1);  // replays the load's generator: same identities
  Phase resubmit;
  if (!run(
          &resubmit,
          [&](uint64_t i) { return regen.Record(sources[i % 3], i); }, m)) {
    return 1;
  }
  resubmit.Print("unchanged");
  Phase update;
  if (!run(
          &update,
          [&](uint64_t) {
            const uint64_t i = gen.rng()() % n;
            return gen.Record(sources[i % 3], i);
          },
          m)) {
    return 1;
  }
  update.Print("updated");

  auto stats = records.Stats();
  if (!stats.ok()) return 1;
  std::printf("stored records %llu, data dir %.0f MiB before flush\n",
              static_cast<unsigned long long>(stats->total_records()),
              DirBytes(dir) / 1048576.0);
  if (!store->Flush().ok()) return 1;
  std::printf("data dir %.0f MiB after flush; peak RSS %.0f MiB\n",
              DirBytes(dir) / 1048576.0, PeakRssMib());
  return 0;
}
