// linkd::util::ParallelFor and ParallelSort: the CPU-bound phases of bulk
// linking and model estimation on up to `threads` threads (the calling
// thread included).
#ifndef LINKD_UTIL_PARALLEL_H_
#define LINKD_UTIL_PARALLEL_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "absl/types/span.h"

namespace linkd::util {

// Calls fn(begin, end, slice) for disjoint slices covering [0, n), slice in
// [0, slices), where slices = min(threads, n) (at least 1), and returns when
// all are done. `fn` must be safe to call concurrently on disjoint slices.
template <typename Fn>
void ParallelFor(size_t n, int threads, Fn&& fn) {
  const size_t slices = std::max<size_t>(
      1, std::min<size_t>(static_cast<size_t>(std::max(threads, 1)), n));
  std::vector<std::thread> workers;
  workers.reserve(slices - 1);
  for (size_t s = 1; s < slices; ++s) {
    workers.emplace_back(
        [&fn, n, s, slices] { fn(n * s / slices, n * (s + 1) / slices, s); });
  }
  fn(0, n / slices, size_t{0});
  for (std::thread& t : workers) t.join();
}

// As ParallelFor, but the slices are cut so that each holds about the same
// share of the work, where item i costs offsets[i + 1] - offsets[i]
// (`offsets`: n + 1 ascending prefix sums, e.g. a compressed row index).
template <typename Fn>
void ParallelForWeighted(absl::Span<const uint64_t> offsets, int threads,
                         Fn&& fn) {
  const size_t n = offsets.empty() ? 0 : offsets.size() - 1;
  const size_t slices = std::max<size_t>(
      1, std::min<size_t>(static_cast<size_t>(std::max(threads, 1)), n));
  std::vector<size_t> bounds(slices + 1, n);
  bounds[0] = 0;
  const uint64_t total = n == 0 ? 0 : offsets[n] - offsets[0];
  for (size_t s = 1; s < slices; ++s) {
    const uint64_t target = offsets[0] + total * s / slices;
    bounds[s] = std::max<size_t>(
        bounds[s - 1],
        std::lower_bound(offsets.begin(), offsets.begin() + n, target) -
            offsets.begin());
  }
  ParallelFor(slices, static_cast<int>(slices),
              [&](size_t b, size_t e, size_t) {
                for (size_t s = b; s < e; ++s) fn(bounds[s], bounds[s + 1], s);
              });
}

// Sorts `*v` (by operator< or `less`) on up to `threads` threads: slices
// sorted in parallel, then merged. Not stable.
template <typename T, typename Less = std::less<T>>
void ParallelSort(std::vector<T>* v, int threads, Less less = Less()) {
  const size_t n = v->size();
  const size_t parts = std::max<size_t>(
      1,
      std::min<size_t>(static_cast<size_t>(std::max(threads, 1)), n / 100000));
  if (parts <= 1) {
    std::sort(v->begin(), v->end(), less);
    return;
  }
  std::vector<size_t> bounds(parts + 1);
  for (size_t p = 0; p <= parts; ++p) bounds[p] = n * p / parts;
  ParallelFor(parts, static_cast<int>(parts), [&](size_t b, size_t e, size_t) {
    for (size_t p = b; p < e; ++p) {
      std::sort(v->begin() + bounds[p], v->begin() + bounds[p + 1], less);
    }
  });
  for (size_t width = 1; width < parts; width *= 2) {
    for (size_t p = 0; p + width < parts; p += 2 * width) {
      const size_t end = std::min(p + 2 * width, parts);
      std::inplace_merge(v->begin() + bounds[p], v->begin() + bounds[p + width],
                         v->begin() + bounds[end], less);
    }
  }
}

}  // namespace linkd::util

#endif  // LINKD_UTIL_PARALLEL_H_
