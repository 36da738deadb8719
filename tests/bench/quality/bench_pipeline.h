// Shared steps of the linkage benchmarks: a synthetic population encoded by
// the real linkd-encode as three providers would (each with its own column
// names and date format), and a real linkd daemon on a loopback port with a
// fresh data directory. Synthetic people only.
#ifndef LINKD_TESTS_BENCH_QUALITY_BENCH_PIPELINE_H_
#define LINKD_TESTS_BENCH_QUALITY_BENCH_PIPELINE_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/channel.h"
#include "tests/e2e/subprocess.h"

namespace linkd::bench {

// The encoded files of a population of `people`, generated with `seed` in
// `dir` (key, pop/*.csv and truth.csv, <source>.linkd).
struct EncodedPopulation {
  std::string truth_csv;
  std::vector<std::string> files;  // school_census, social_care, health
};
absl::StatusOr<EncodedPopulation> EncodePopulation(const std::string& dir,
                                                   int people, uint64_t seed);

// A linkd daemon (insecure loopback) on a fresh data directory under `dir`,
// with extra flags; stopped with SIGTERM on destruction.
class Daemon {
 public:
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(
      const std::string& dir, const std::vector<std::string>& extra_args);
  ~Daemon();

  const std::string& address() const { return address_; }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  pid_t pid() { return process_->pid(); }
  // Peak resident set size (VmHWM) in MiB.
  double PeakRssMib();
  std::string Stderr() const { return process_->Stderr(); }

 private:
  Daemon() = default;
  std::unique_ptr<testing::Subprocess> process_;
  std::string address_;
  std::shared_ptr<grpc::Channel> channel_;
};

// Waits until every queued record is linked (GetLinkingStatus long polls).
absl::Status WaitLinked(grpc::Channel* channel, uint64_t seq);

// Every record's SUI as the CSV linkctl links writes (source,record_id,sui).
absl::StatusOr<std::string> LinksCsv(grpc::Channel* channel);

}  // namespace linkd::bench

#endif  // LINKD_TESTS_BENCH_QUALITY_BENCH_PIPELINE_H_
