// dice_bench: throughput of the linkd::matcher Dice kernel on 1024-bit name
// filters, reported as comparisons per second on one core ("items_per_second"
// of Google Benchmark; the benchmarks are single-threaded).
//
//   DiceOneToMany/N        one query against N candidate filters (scores out)
//   DiceOneToManyAtLeast/N the same, keeping indices with Dice >= 0.8
//   DicePairs/N            independent pairs Dice(a[i], b[i])
// N = 1024 candidates stays in L1/L2; N = 1M streams from memory (136 MB).
// The filters are real encodings of synthetic names (linkd::synth), so the
// popcounts are realistic.
//
// Usage: dice_bench [--benchmark_filter=...] [google benchmark flags]
#include <cstdio>
#include <vector>

#include "benchmark/benchmark.h"
#include "crypto/encoder.h"
#include "linkd/matcher/dice.h"
#include "linkd/matcher/testing/encoded_population.h"
#include "tests/testing/synth/population.h"

namespace linkd::matcher {
namespace {

// Given and family name filters of a synthetic population, repeated to `n`.
const std::vector<Filter>& Filters(size_t n) {
  static std::vector<Filter>* base = [] {
    synth::Options o;
    o.seed = 99;
    o.num_people = 4000;
    auto records = testing::EncodePopulation(synth::GeneratePopulation(o));
    auto* out = new std::vector<Filter>;
    for (const testing::TruthRecord& r : *records) {
      if (r.decoded.has_given_name) out->push_back(r.decoded.given_name);
      if (r.decoded.has_family_name) out->push_back(r.decoded.family_name);
    }
    return out;
  }();
  static std::vector<Filter> sized;
  sized.clear();
  sized.reserve(n);
  for (size_t i = 0; i < n; ++i) sized.push_back((*base)[i % base->size()]);
  return sized;
}

void DiceOneToManyBench(benchmark::State& state) {
  const std::vector<Filter> candidates = Filters(state.range(0));
  const Filter query = candidates[candidates.size() / 2];
  std::vector<float> scores(candidates.size());
  for (auto _ : state) {
    DiceOneToMany(query, candidates, scores.data());
    benchmark::DoNotOptimize(scores.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * candidates.size());
  state.SetLabel(DiceKernelName());
}
BENCHMARK(DiceOneToManyBench)->Name("DiceOneToMany")->Arg(1024)->Arg(1 << 20);

void DiceOneToManyAtLeastBench(benchmark::State& state) {
  const std::vector<Filter> candidates = Filters(state.range(0));
  const Filter query = candidates[candidates.size() / 2];
  std::vector<uint32_t> hits;
  hits.reserve(candidates.size());
  for (auto _ : state) {
    hits.clear();
    DiceOneToManyAtLeast(query, candidates, 0.8, &hits);
    benchmark::DoNotOptimize(hits.data());
  }
  state.SetItemsProcessed(state.iterations() * candidates.size());
  state.SetLabel(DiceKernelName());
}
BENCHMARK(DiceOneToManyAtLeastBench)
    ->Name("DiceOneToManyAtLeast")
    ->Arg(1024)
    ->Arg(1 << 20);

void DicePairsBench(benchmark::State& state) {
  const std::vector<Filter> a = Filters(state.range(0));
  std::vector<Filter> b(a.rbegin(), a.rend());
  for (auto _ : state) {
    double sum = 0;
    for (size_t i = 0; i < a.size(); ++i) sum += Dice(a[i], b[i]);
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * a.size());
  state.SetLabel(DiceKernelName());
}
BENCHMARK(DicePairsBench)->Name("DicePairs")->Arg(1024);

}  // namespace
}  // namespace linkd::matcher

BENCHMARK_MAIN();
