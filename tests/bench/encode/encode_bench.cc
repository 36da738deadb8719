// Encoding throughput on one core (single-threaded benchmarks):
//  - BM_Encode: crypto::Encoder::Encode alone on typical records (all seven
//    fields present and valid).
//  - BM_CsvToBinary / BM_CsvToJsonl: the whole linkd-encode pipeline (CSV
//    parse, field map, encode, proto conversion, delimited output) over an
//    in-memory CSV of typical rows, output discarded.
//  - BM_CsvParse: the CSV reader alone, for the breakdown.
// items_per_second is records per second. Target: >= 100k records/s.
// All people are synthetic (linkd/encode/testing/synthetic_people.h).
#include <cstdio>
#include <cstdlib>
#include <istream>
#include <ostream>
#include <sstream>
#include <streambuf>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "crypto/crypto.h"
#include "crypto/encoder.h"
#include "crypto/linkage_key.h"
#include "linkd/encode/csv_reader.h"
#include "linkd/encode/file_encoder.h"
#include "linkd/encode/testing/synthetic_people.h"

namespace linkd::encode {
namespace {

using ::linkd::encode::testing::StandardCsvHeader;
using ::linkd::encode::testing::StandardCsvRow;
using ::linkd::encode::testing::SyntheticPeople;
using ::linkd::encode::testing::SyntheticPerson;

constexpr int kCsvRows = 20000;

// An output stream buffer that counts and discards, so the benchmark
// measures encoding rather than memory growth.
class CountingBuf : public std::streambuf {
 public:
  size_t bytes() const { return bytes_; }

 protected:
  std::streamsize xsputn(const char*, std::streamsize n) override {
    bytes_ += static_cast<size_t>(n);
    return n;
  }
  int_type overflow(int_type c) override {
    ++bytes_;
    return traits_type::not_eof(c);
  }

 private:
  size_t bytes_ = 0;
};

const crypto::LinkageKey& Key() {
  static const crypto::LinkageKey* key =
      new crypto::LinkageKey(crypto::LinkageKey::Generate(1));
  return *key;
}

// Typical provider rows: every field present, dates in the three automatic
// formats, some hyphenated family names, NHS numbers sometimes spaced.
std::vector<SyntheticPerson> TypicalPeople(int n) {
  SyntheticPeople gen(1234);
  std::vector<SyntheticPerson> people;
  people.reserve(n);
  for (int i = 0; i < n; ++i) {
    SyntheticPerson p = gen.Next();
    if (i % 3 == 1) {
      p.dob = std::to_string(100 + p.day).substr(1) + "/" +
              std::to_string(100 + p.month).substr(1) + "/" +
              std::to_string(p.year);
    }
    if (i % 7 == 0) p.family_name += "-" + gen.Name(6);
    if (i % 5 == 0) {
      p.nhs_number = p.nhs_number.substr(0, 3) + " " +
                     p.nhs_number.substr(3, 3) + " " + p.nhs_number.substr(6);
    }
    people.push_back(std::move(p));
  }
  return people;
}

const std::string& TypicalCsv() {
  static const std::string* csv = [] {
    auto* text = new std::string(StandardCsvHeader());
    for (const SyntheticPerson& p : TypicalPeople(kCsvRows)) {
      *text += StandardCsvRow(p);
    }
    return text;
  }();
  return *csv;
}

void BM_Encode(benchmark::State& state) {
  const crypto::Encoder encoder(Key());
  std::vector<crypto::ClearIdentity> clear;
  for (const SyntheticPerson& p : TypicalPeople(4096)) {
    clear.push_back({p.given_name, p.family_name, p.dob, p.sex, p.postcode,
                     p.upn, p.nhs_number});
  }
  std::vector<crypto::FieldIssue> issues;
  size_t i = 0;
  for (auto _ : state) {
    issues.clear();
    crypto::EncodedIdentity encoded = encoder.Encode(clear[i], &issues);
    benchmark::DoNotOptimize(encoded);
    if (++i == clear.size()) i = 0;
  }
  if (!issues.empty()) state.SkipWithError("typical records had issues");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Encode);

void RunPipeline(benchmark::State& state, OutputFormat format) {
  const crypto::Encoder encoder(Key());
  const std::string& csv = TypicalCsv();
  int64_t records = 0;
  size_t out_bytes = 0;
  for (auto _ : state) {
    std::istringstream in(csv);
    CountingBuf sink;
    std::ostream out(&sink);
    FileEncoderOptions options;
    options.source = "school_census";
    options.format = format;
    FileEncoder file_encoder(&encoder, std::move(options));
    EncodeSummary summary;
    absl::Status status = file_encoder.Run(in, out, &summary);
    if (!status.ok() || summary.records_written != kCsvRows) {
      state.SkipWithError("pipeline failed or rejected rows");
      break;
    }
    records += summary.records_written;
    out_bytes = sink.bytes();
  }
  state.SetItemsProcessed(records);
  state.SetBytesProcessed(static_cast<int64_t>(csv.size()) *
                          state.iterations());
  state.counters["out_bytes_per_record"] =
      static_cast<double>(out_bytes) / kCsvRows;
}

void BM_CsvToBinary(benchmark::State& state) {
  RunPipeline(state, OutputFormat::kBinary);
}
BENCHMARK(BM_CsvToBinary)->Unit(benchmark::kMillisecond);

void BM_CsvToJsonl(benchmark::State& state) {
  RunPipeline(state, OutputFormat::kJsonl);
}
BENCHMARK(BM_CsvToJsonl)->Unit(benchmark::kMillisecond);

void BM_CsvParse(benchmark::State& state) {
  const std::string& csv = TypicalCsv();
  int64_t rows = 0;
  for (auto _ : state) {
    std::istringstream in(csv);
    CsvReader reader(&in);
    if (!reader.ReadHeader().ok()) {
      state.SkipWithError("header");
      break;
    }
    std::vector<std::string> row;
    while (true) {
      absl::StatusOr<bool> next = reader.Next(&row);
      if (!next.ok() || !*next) break;
      ++rows;
    }
  }
  state.SetItemsProcessed(rows);
  state.SetBytesProcessed(static_cast<int64_t>(csv.size()) *
                          state.iterations());
}
BENCHMARK(BM_CsvParse)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace linkd::encode

int main(int argc, char** argv) {
  if (!linkd::crypto::Init().ok()) {
    std::fprintf(stderr, "libsodium initialisation failed\n");
    return 1;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
