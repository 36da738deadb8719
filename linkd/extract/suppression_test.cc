#include "linkd/extract/suppression.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/util/status_matchers.h"

namespace linkd::extract {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;
using State = Cell::State;

// ---------------------------------------------------------------------------
// An independent attacker: given everything published, the line equations
// and "every count is a non-negative integer", can a suppressed entry be
// pinned to one value? It knows nothing of how the library chose its
// suppressions; it searches integer tables directly (interval propagation
// over the line equations, then branching), so it is exact for small tables.
class Attacker {
 public:
  // Entries with their true values and whether each is published; lines are
  // lists of (entry, +1/-1) summing to 0.
  Attacker(std::vector<int64_t> value, std::vector<bool> published,
           std::vector<std::vector<std::pair<int, int>>> lines)
      : value_(std::move(value)),
        published_(std::move(published)),
        lines_(std::move(lines)) {
    // A cap above every true value is enough to decide whether a value one
    // away from the truth is feasible: the witness moves each entry by at
    // most one (a cycle), and no true value exceeds cap - 1.
    cap_ = *std::max_element(value_.begin(), value_.end()) + 1;
  }

  // Whether some table agreeing with the published numbers has `target` at
  // `entry`.
  bool Feasible(int entry, int64_t target) const {
    if (target < 0) return false;
    std::vector<int64_t> lo(value_.size()), hi(value_.size());
    for (size_t i = 0; i < value_.size(); ++i) {
      if (published_[i]) {
        lo[i] = hi[i] = value_[i];
      } else {
        lo[i] = 0;
        hi[i] = cap_;
      }
    }
    if (published_[entry]) return target == value_[entry];
    if (target > cap_) return false;
    lo[entry] = hi[entry] = target;
    return Search(lo, hi);
  }

  // Protected: the entry can take another value than its true one.
  bool Protected(int entry) const {
    return Feasible(entry, value_[entry] - 1) ||
           Feasible(entry, value_[entry] + 1);
  }

 private:
  bool Propagate(std::vector<int64_t>& lo, std::vector<int64_t>& hi) const {
    for (bool changed = true; changed;) {
      changed = false;
      for (const auto& line : lines_) {
        int64_t smin = 0, smax = 0;  // of sum a*x over the line
        for (const auto& [v, a] : line) {
          smin += a > 0 ? lo[v] : -hi[v];
          smax += a > 0 ? hi[v] : -lo[v];
        }
        for (const auto& [v, a] : line) {
          // a*x_v = -(sum of the others)
          const int64_t omin = smin - (a > 0 ? lo[v] : -hi[v]);
          const int64_t omax = smax - (a > 0 ? hi[v] : -lo[v]);
          int64_t nlo, nhi;
          if (a > 0) {
            nlo = -omax;
            nhi = -omin;
          } else {
            nlo = omin;
            nhi = omax;
          }
          if (nlo > lo[v]) {
            lo[v] = nlo;
            changed = true;
          }
          if (nhi < hi[v]) {
            hi[v] = nhi;
            changed = true;
          }
          if (lo[v] > hi[v]) return false;
        }
      }
    }
    return true;
  }

  bool Search(std::vector<int64_t> lo, std::vector<int64_t> hi) const {
    if (!Propagate(lo, hi)) return false;
    int pick = -1;
    for (size_t i = 0; i < lo.size(); ++i) {
      if (lo[i] < hi[i] && (pick < 0 || hi[i] - lo[i] < hi[pick] - lo[pick])) {
        pick = static_cast<int>(i);
      }
    }
    if (pick < 0) return true;  // all fixed and consistent
    // Try the true value first: feasible searches end fast.
    std::vector<int64_t> order;
    const int64_t t = std::clamp(value_[pick], lo[pick], hi[pick]);
    order.push_back(t);
    for (int64_t d = 1; t - d >= lo[pick] || t + d <= hi[pick]; ++d) {
      if (t - d >= lo[pick]) order.push_back(t - d);
      if (t + d <= hi[pick]) order.push_back(t + d);
    }
    for (int64_t v : order) {
      std::vector<int64_t> l2 = lo, h2 = hi;
      l2[pick] = h2[pick] = v;
      if (Search(std::move(l2), std::move(h2))) return true;
    }
    return false;
  }

  std::vector<int64_t> value_;
  std::vector<bool> published_;
  std::vector<std::vector<std::pair<int, int>>> lines_;
  int64_t cap_;
};

// The attacker's view of a suppressed 2-D table: entries of the (R+1) x
// (C+1) array with totals, index r * (C + 1) + c.
Attacker AttackerFor(const SuppressedCrossTable& t) {
  const int R = static_cast<int>(t.cells.size());
  const int C = static_cast<int>(t.cells[0].size());
  const auto idx = [&](int r, int c) { return r * (C + 1) + c; };
  std::vector<int64_t> value((R + 1) * (C + 1));
  std::vector<bool> published((R + 1) * (C + 1));
  const auto set = [&](int r, int c, const Cell& cell) {
    value[idx(r, c)] = cell.count;
    published[idx(r, c)] = cell.published();
  };
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) set(r, c, t.cells[r][c]);
    set(r, C, t.row_totals[r]);
  }
  for (int c = 0; c < C; ++c) set(R, c, t.column_totals[c]);
  set(R, C, t.grand_total);
  std::vector<std::vector<std::pair<int, int>>> lines;
  for (int r = 0; r <= R; ++r) {
    std::vector<std::pair<int, int>> line;
    for (int c = 0; c < C; ++c) line.emplace_back(idx(r, c), 1);
    line.emplace_back(idx(r, C), -1);
    lines.push_back(line);
  }
  for (int c = 0; c <= C; ++c) {
    std::vector<std::pair<int, int>> line;
    for (int r = 0; r < R; ++r) line.emplace_back(idx(r, c), 1);
    line.emplace_back(idx(R, c), -1);
    lines.push_back(line);
  }
  return Attacker(value, published, lines);
}

Attacker AttackerFor(const SuppressedCountTable& t) {
  std::vector<int64_t> value;
  std::vector<bool> published;
  std::vector<std::pair<int, int>> line;
  for (const Cell& c : t.cells) {
    line.emplace_back(static_cast<int>(value.size()), 1);
    value.push_back(c.count);
    published.push_back(c.published());
  }
  line.emplace_back(static_cast<int>(value.size()), -1);
  value.push_back(t.total.count);
  published.push_back(t.total.published());
  return Attacker(value, published, {line});
}

// Every entry of a suppressed table, row-major with totals last in each
// row, then the column totals and the grand total.
std::vector<Cell> Entries(const SuppressedCrossTable& t) {
  std::vector<Cell> out;
  for (size_t r = 0; r < t.cells.size(); ++r) {
    for (const Cell& c : t.cells[r]) out.push_back(c);
    out.push_back(t.row_totals[r]);
  }
  for (const Cell& c : t.column_totals) out.push_back(c);
  out.push_back(t.grand_total);
  return out;
}
std::vector<Cell> Entries(const SuppressedCountTable& t) {
  std::vector<Cell> out = t.cells;
  out.push_back(t.total);
  return out;
}

// The properties every suppressed table must have.
template <typename Table>
void ExpectSafe(const Table& t, int64_t threshold) {
  const std::vector<Cell> entries = Entries(t);
  const Attacker attacker = AttackerFor(t);
  for (size_t i = 0; i < entries.size(); ++i) {
    const Cell& e = entries[i];
    SCOPED_TRACE(absl::StrCat("entry ", i, " count ", e.count));
    // Primary suppression is exactly "below the threshold".
    EXPECT_EQ(e.state == State::kPrimary, e.count < threshold);
    if (e.published()) {
      EXPECT_GE(e.count, threshold);
      continue;
    }
    // The true value is feasible (the attacker model is sound) ...
    EXPECT_TRUE(attacker.Feasible(static_cast<int>(i), e.count));
    // ... and so is another one: the entry cannot be derived.
    EXPECT_TRUE(attacker.Protected(static_cast<int>(i)))
        << "suppressed entry " << i << " is derivable";
  }
}

CrossTable MakeCross(std::vector<std::vector<int64_t>> counts) {
  CrossTable t;
  for (size_t r = 0; r < counts.size(); ++r) {
    t.row_labels.push_back(absl::StrCat("r", r));
  }
  for (size_t c = 0; c < counts[0].size(); ++c) {
    t.column_labels.push_back(absl::StrCat("c", c));
  }
  t.counts = std::move(counts);
  return t;
}

CountTable MakeCount(std::vector<int64_t> counts) {
  CountTable t;
  for (size_t i = 0; i < counts.size(); ++i) {
    t.labels.push_back(absl::StrCat("l", i));
  }
  t.counts = std::move(counts);
  return t;
}

int SuppressedCount(const std::vector<Cell>& entries) {
  return static_cast<int>(
      std::count_if(entries.begin(), entries.end(),
                    [](const Cell& c) { return c.suppressed(); }));
}

// --- The attacker itself catches what naive suppression leaves open. -----

TEST(AttackerTest, RecoversASingleSuppressedCell) {
  SuppressedCountTable t;
  t.labels = {"a", "b", "c"};
  t.cells = {
      {3, State::kPrimary}, {20, State::kPublished}, {30, State::kPublished}};
  t.total = {53, State::kPublished};
  EXPECT_FALSE(AttackerFor(t).Protected(0));
}

TEST(AttackerTest, RecoversZerosWhoseSumIsKnown) {
  SuppressedCountTable t;
  t.labels = {"a", "b", "c"};
  t.cells = {
      {0, State::kPrimary}, {0, State::kPrimary}, {30, State::kPublished}};
  t.total = {30, State::kPublished};
  const Attacker a = AttackerFor(t);
  EXPECT_FALSE(a.Protected(0));
  EXPECT_FALSE(a.Protected(1));
}

TEST(AttackerTest, RecoversABridgeBetweenTwoProtectedBlocks) {
  // Two 2x2 blocks of suppressed cells joined by one suppressed cell (1,2):
  // every row and column holds at least two suppressions, yet the joining
  // cell is determined by the equations.
  const std::vector<std::vector<int64_t>> v = {
      {3, 4, 20, 20}, {5, 6, 2, 20}, {20, 20, 7, 8}, {20, 20, 1, 9}};
  auto t = SuppressCrossTable(MakeCross(v));
  ASSERT_THAT(t, IsOk());
  SuppressedCrossTable naive = *t;
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 4; ++c) {
      naive.cells[r][c].state =
          v[r][c] < 10 ? State::kPrimary : State::kPublished;
    }
    naive.row_totals[r].state = State::kPublished;
    naive.column_totals[r].state = State::kPublished;
  }
  naive.grand_total.state = State::kPublished;
  const Attacker a = AttackerFor(naive);
  EXPECT_FALSE(a.Protected(1 * 5 + 2));  // cell (1,2)
  EXPECT_TRUE(a.Protected(0));           // cell (0,0), in a block
  // The library finds and repairs it.
  ExpectSafe(*t, 10);
}

// --- Fixed cases. ---------------------------------------------------------

TEST(SuppressCountTableTest, NothingSmall) {
  auto t = SuppressCountTable(MakeCount({10, 25, 300}));
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(SuppressedCount(Entries(*t)), 0);
  EXPECT_EQ(t->total.count, 335);
  EXPECT_TRUE(t->total.published());
}

TEST(SuppressCountTableTest, SingleSmallCellGetsTheSmallestComplement) {
  auto t = SuppressCountTable(MakeCount({40, 3, 12, 25}));
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(t->cells[1].state, State::kPrimary);
  EXPECT_EQ(t->cells[2].state, State::kSecondary);
  EXPECT_TRUE(t->cells[0].published());
  EXPECT_TRUE(t->cells[3].published());
  EXPECT_TRUE(t->total.published());
  ExpectSafe(*t, 10);
}

TEST(SuppressCountTableTest, ZerosIncluded) {
  auto t = SuppressCountTable(MakeCount({0, 0, 50, 60}));
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(t->cells[0].state, State::kPrimary);
  EXPECT_EQ(t->cells[1].state, State::kPrimary);
  // Two zeros with a published total would both be known to be 0.
  EXPECT_EQ(t->cells[2].state, State::kSecondary);
  ExpectSafe(*t, 10);
}

TEST(SuppressCountTableTest, AllSmall) {
  auto t = SuppressCountTable(MakeCount({1, 2, 3}));
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(SuppressedCount(Entries(*t)), 4);
  EXPECT_EQ(t->total.state, State::kPrimary);
  ExpectSafe(*t, 10);
}

TEST(SuppressCountTableTest, OneCell) {
  auto small = SuppressCountTable(MakeCount({4}));
  ASSERT_THAT(small, IsOk());
  EXPECT_EQ(SuppressedCount(Entries(*small)), 2);
  ExpectSafe(*small, 10);
  auto big = SuppressCountTable(MakeCount({40}));
  ASSERT_THAT(big, IsOk());
  EXPECT_EQ(SuppressedCount(Entries(*big)), 0);
}

TEST(SuppressCountTableTest, OneSmallCellAndNoOtherToPair) {
  // The only other cell is large; the total is published; pair with it.
  auto t = SuppressCountTable(MakeCount({5, 100}));
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(t->cells[1].state, State::kSecondary);
  ExpectSafe(*t, 10);
}

TEST(SuppressCountTableTest, OtherThresholds) {
  auto t = SuppressCountTable(MakeCount({5, 6, 100}), {.threshold = 6});
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(t->cells[0].state, State::kPrimary);
  EXPECT_EQ(t->cells[1].state, State::kSecondary);
  ExpectSafe(*t, 6);
}

TEST(SuppressCountTableTest, RejectsBadInput) {
  EXPECT_THAT(SuppressCountTable(MakeCount({})),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(SuppressCountTable(MakeCount({1, -1})),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(SuppressCountTable(MakeCount({INT64_MAX, 1})),
              StatusIs(absl::StatusCode::kInvalidArgument));
  CountTable t = MakeCount({1, 2});
  t.labels.pop_back();
  EXPECT_THAT(SuppressCountTable(t),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(SuppressCountTable(MakeCount({1}), {.threshold = 0}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(SuppressCrossTableTest, NothingSmall) {
  auto t = SuppressCrossTable(MakeCross({{10, 20}, {30, 40}}));
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(SuppressedCount(Entries(*t)), 0);
  EXPECT_EQ(t->row_totals[0].count, 30);
  EXPECT_EQ(t->column_totals[1].count, 60);
  EXPECT_EQ(t->grand_total.count, 100);
}

TEST(SuppressCrossTableTest, OneSmallCellGetsARectangle) {
  auto t = SuppressCrossTable(
      MakeCross({{50, 60, 70}, {80, 4, 90}, {100, 110, 15}}));
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(t->cells[1][1].state, State::kPrimary);
  // The smallest complements: 80 in row 1, 60 in column 1, then 50 closes
  // the rectangle (cheaper than 90, 110, 15).
  EXPECT_EQ(t->cells[1][0].state, State::kSecondary);
  EXPECT_EQ(t->cells[0][1].state, State::kSecondary);
  EXPECT_EQ(t->cells[0][0].state, State::kSecondary);
  EXPECT_EQ(SuppressedCount(Entries(*t)), 4);
  ExpectSafe(*t, 10);
}

TEST(SuppressCrossTableTest, ZeroBlockIsNotDerivable) {
  // A 2x2 block of zeros: each row and column has two suppressions, but
  // their sums are known to be 0.
  auto t =
      SuppressCrossTable(MakeCross({{0, 0, 30}, {0, 0, 40}, {20, 25, 50}}));
  ASSERT_THAT(t, IsOk());
  EXPECT_GT(SuppressedCount(Entries(*t)), 4);
  ExpectSafe(*t, 10);
}

TEST(SuppressCrossTableTest, RowWithOneCell) {
  // One column: each row total equals its only cell, so a small cell takes
  // its row total with it, and the column of totals needs a complement.
  auto t = SuppressCrossTable(MakeCross({{5}, {20}, {30}}));
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(t->cells[0][0].state, State::kPrimary);
  EXPECT_EQ(t->row_totals[0].state, State::kPrimary);
  EXPECT_EQ(t->cells[1][0].state, State::kSecondary);
  EXPECT_EQ(t->row_totals[1].state, State::kSecondary);
  EXPECT_TRUE(t->grand_total.published());
  ExpectSafe(*t, 10);
}

TEST(SuppressCrossTableTest, ColumnWithOneCellAndOneRow) {
  auto t = SuppressCrossTable(MakeCross({{5, 20, 30}}));
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(t->column_totals[0].state, State::kPrimary);
  ExpectSafe(*t, 10);
  auto one = SuppressCrossTable(MakeCross({{3}}));
  ASSERT_THAT(one, IsOk());
  EXPECT_EQ(SuppressedCount(Entries(*one)), 4);
  ExpectSafe(*one, 10);
}

TEST(SuppressCrossTableTest, AllCellsSmall) {
  auto t = SuppressCrossTable(MakeCross({{1, 2, 3}, {4, 5, 6}, {7, 8, 9}}));
  ASSERT_THAT(t, IsOk());
  for (const auto& row : t->cells) {
    for (const Cell& c : row) EXPECT_EQ(c.state, State::kPrimary);
  }
  ExpectSafe(*t, 10);
}

TEST(SuppressCrossTableTest, AllZero) {
  auto t = SuppressCrossTable(MakeCross({{0, 0}, {0, 0}}));
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(SuppressedCount(Entries(*t)), 9);
  ExpectSafe(*t, 10);
}

TEST(SuppressCrossTableTest, SmallMarginTotal) {
  // A small column total (6) beside large ones: suppressed with its cells,
  // and the row of column totals needs a complement of its own.
  auto t =
      SuppressCrossTable(MakeCross({{2, 40, 50}, {3, 60, 70}, {1, 80, 90}}));
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(t->column_totals[0].state, State::kPrimary);  // 6
  ExpectSafe(*t, 10);
}

TEST(SuppressCrossTableTest, RejectsBadInput) {
  EXPECT_THAT(SuppressCrossTable(CrossTable{}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  CrossTable ragged = MakeCross({{1, 2}, {3, 4}});
  ragged.counts[1].pop_back();
  EXPECT_THAT(SuppressCrossTable(ragged),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(SuppressCrossTable(MakeCross({{1, -2}})),
              StatusIs(absl::StatusCode::kInvalidArgument));
  CrossTable labels = MakeCross({{1, 2}});
  labels.column_labels.pop_back();
  EXPECT_THAT(SuppressCrossTable(labels),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(SuppressCrossTable(MakeCross({{INT64_MAX}, {1}})),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(SuppressCrossTableTest, Deterministic) {
  const CrossTable in = MakeCross({{3, 40, 12}, {12, 2, 30}, {50, 12, 7}});
  auto a = SuppressCrossTable(in);
  auto b = SuppressCrossTable(in);
  ASSERT_THAT(a, IsOk());
  const auto ea = Entries(*a), eb = Entries(*b);
  for (size_t i = 0; i < ea.size(); ++i) EXPECT_EQ(ea[i].state, eb[i].state);
}

// --- Properties on random tables. ------------------------------------------

// Counts with many small cells and zeros, as tables of a small cohort have.
int64_t RandomCount(std::mt19937_64& rng, double p_small) {
  std::uniform_real_distribution<double> u(0, 1);
  if (u(rng) < p_small) {
    if (u(rng) < 0.3) return 0;
    return std::uniform_int_distribution<int64_t>(1, 9)(rng);
  }
  return std::uniform_int_distribution<int64_t>(10, 35)(rng);
}

TEST(SuppressionPropertyTest, RandomCrossTablesLeaveNothingDerivable) {
  std::mt19937_64 rng(20250311);
  int suppressed_entries = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    const int rows = std::uniform_int_distribution<int>(1, 5)(rng);
    const int cols = std::uniform_int_distribution<int>(1, 5)(rng);
    const double p_small =
        std::uniform_real_distribution<double>(0.05, 0.8)(rng);
    std::vector<std::vector<int64_t>> counts(rows, std::vector<int64_t>(cols));
    for (auto& row : counts) {
      for (auto& c : row) c = RandomCount(rng, p_small);
    }
    SCOPED_TRACE(absl::StrCat("table ", iter, " (", rows, "x", cols, ")"));
    auto t = SuppressCrossTable(MakeCross(counts));
    ASSERT_THAT(t, IsOk());
    // Published numbers are the true ones.
    int64_t grand = 0;
    for (int r = 0; r < rows; ++r) {
      int64_t row_total = 0;
      for (int c = 0; c < cols; ++c) {
        EXPECT_EQ(t->cells[r][c].count, counts[r][c]);
        row_total += counts[r][c];
      }
      EXPECT_EQ(t->row_totals[r].count, row_total);
      grand += row_total;
    }
    EXPECT_EQ(t->grand_total.count, grand);
    ExpectSafe(*t, 10);
    suppressed_entries += SuppressedCount(Entries(*t));
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_GT(suppressed_entries, 3000);  // the tables did exercise suppression
}

TEST(SuppressionPropertyTest, RandomCountTablesLeaveNothingDerivable) {
  std::mt19937_64 rng(7);
  for (int iter = 0; iter < 3000; ++iter) {
    const int n = std::uniform_int_distribution<int>(1, 10)(rng);
    const double p_small =
        std::uniform_real_distribution<double>(0.05, 0.9)(rng);
    std::vector<int64_t> counts(n);
    for (auto& c : counts) c = RandomCount(rng, p_small);
    SCOPED_TRACE(absl::StrCat("table ", iter));
    auto t = SuppressCountTable(MakeCount(counts));
    ASSERT_THAT(t, IsOk());
    ExpectSafe(*t, 10);
    if (::testing::Test::HasFailure()) break;
  }
}

TEST(SuppressionPropertyTest, AttackerBreaksPrimaryOnlySuppression) {
  // The same random tables with primary suppression only: the attacker
  // must find derivable cells in many of them, or the property tests above
  // would prove nothing.
  std::mt19937_64 rng(20250311);
  int broken_tables = 0;
  constexpr int kTables = 200;
  for (int iter = 0; iter < kTables; ++iter) {
    const int rows = std::uniform_int_distribution<int>(1, 4)(rng);
    const int cols = std::uniform_int_distribution<int>(1, 4)(rng);
    const double p_small =
        std::uniform_real_distribution<double>(0.05, 0.8)(rng);
    std::vector<std::vector<int64_t>> counts(rows, std::vector<int64_t>(cols));
    for (auto& row : counts) {
      for (auto& c : row) c = RandomCount(rng, p_small);
    }
    auto t = SuppressCrossTable(MakeCross(counts));
    ASSERT_THAT(t, IsOk());
    SuppressedCrossTable naive = *t;
    const auto primary_only = [](Cell& c) {
      c.state = c.count < 10 ? State::kPrimary : State::kPublished;
    };
    for (auto& row : naive.cells) {
      for (Cell& c : row) primary_only(c);
    }
    for (Cell& c : naive.row_totals) primary_only(c);
    for (Cell& c : naive.column_totals) primary_only(c);
    primary_only(naive.grand_total);
    const Attacker attacker = AttackerFor(naive);
    const std::vector<Cell> entries = Entries(naive);
    for (size_t i = 0; i < entries.size(); ++i) {
      if (entries[i].suppressed() && !attacker.Protected(static_cast<int>(i))) {
        ++broken_tables;
        break;
      }
    }
  }
  EXPECT_GT(broken_tables, kTables / 4);
  std::printf("primary-only suppression: %d of %d tables derivable\n",
              broken_tables, kTables);
}

TEST(SuppressionPropertyTest, LargerTablesSatisfyTheLineRule) {
  // Too big for the exhaustive attacker; check the necessary condition that
  // no line of the table with its totals holds exactly one suppression.
  std::mt19937_64 rng(99);
  for (int iter = 0; iter < 50; ++iter) {
    const int rows = std::uniform_int_distribution<int>(5, 25)(rng);
    const int cols = std::uniform_int_distribution<int>(5, 25)(rng);
    std::vector<std::vector<int64_t>> counts(rows, std::vector<int64_t>(cols));
    for (auto& row : counts) {
      for (auto& c : row) c = RandomCount(rng, 0.3);
    }
    auto t = SuppressCrossTable(MakeCross(counts));
    ASSERT_THAT(t, IsOk());
    for (int r = 0; r <= rows; ++r) {
      int n = 0;
      for (int c = 0; c <= cols; ++c) {
        const Cell& e = r < rows
                            ? (c < cols ? t->cells[r][c] : t->row_totals[r])
                            : (c < cols ? t->column_totals[c] : t->grand_total);
        n += e.suppressed();
      }
      EXPECT_NE(n, 1) << "row line " << r;
    }
    for (int c = 0; c <= cols; ++c) {
      int n = 0;
      for (int r = 0; r <= rows; ++r) {
        const Cell& e = c < cols
                            ? (r < rows ? t->cells[r][c] : t->column_totals[c])
                            : (r < rows ? t->row_totals[r] : t->grand_total);
        n += e.suppressed();
      }
      EXPECT_NE(n, 1) << "column line " << c;
    }
  }
}

}  // namespace
}  // namespace linkd::extract
