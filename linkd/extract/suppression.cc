// Small-cell suppression (rules in suppression.h).
//
// The 2-D audit views the table with its totals as an (R+1) x (C+1) array A:
// A[r][c] the cells, A[r][C] the row totals, A[R][c] the column totals,
// A[R][C] the grand total. Every line of A sums its first entries to its
// last. Give each row line a node and each column line a node; entry (r, c)
// is an edge between row node r and column node c, oriented so that every
// line equation is flow conservation with the entry's count as its flow:
// cells and the grand total from row node to column node, row and column
// totals from column node to row node. Published entries are constants, so
// the suppressed entries are a flow with known node balances, and the
// tables an attacker must consider are exactly the non-negative integer
// flows with those balances (the constraint matrix is a bipartite incidence
// matrix, totally unimodular, so integrality costs nothing). An entry can
// move from its true value by +1 or -1 exactly when the residual graph of
// the true flow has a cycle through its forward or backward arc: forward
// arcs always exist (counts have no upper bound but the margins), backward
// arcs where the count is at least 1.
#include "linkd/extract/suppression.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <queue>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "linkd/util/status_macros.h"

namespace linkd::extract {
namespace {

using State = Cell::State;

absl::Status CheckThreshold(const SuppressionOptions& options) {
  if (options.threshold < 1) {
    return absl::InvalidArgumentError("suppression threshold must be >= 1");
  }
  return absl::OkStatus();
}

absl::Status Add(int64_t a, int64_t* sum) {
  if (a < 0) return absl::InvalidArgumentError("counts must not be negative");
  if (__builtin_add_overflow(*sum, a, sum)) {
    return absl::InvalidArgumentError("table total overflows");
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// 2-D tables on the augmented array.
class Grid {
 public:
  Grid(int rows, int cols) : rows_(rows), cols_(cols) {
    cells_.resize(static_cast<size_t>(rows + 1) * (cols + 1));
  }
  int rows() const { return rows_; }  // R: index R is the margin row
  int cols() const { return cols_; }  // C: index C is the margin column
  Cell& at(int r, int c) { return cells_[r * (cols_ + 1) + c]; }
  const Cell& at(int r, int c) const { return cells_[r * (cols_ + 1) + c]; }

  // Nodes: row lines 0..R, then column lines R+1 .. R+1+C.
  int num_nodes() const { return rows_ + cols_ + 2; }
  int RowNode(int r) const { return r; }
  int ColNode(int c) const { return rows_ + 1 + c; }
  // Orientation of entry (r, c) in the flow (see the file comment).
  bool RowToCol(int r, int c) const {
    return (r < rows_) == (c < cols_);  // cells and the grand total
  }
  int Tail(int r, int c) const {
    return RowToCol(r, c) ? RowNode(r) : ColNode(c);
  }
  int Head(int r, int c) const {
    return RowToCol(r, c) ? ColNode(c) : RowNode(r);
  }
  // The entry joining nodes a and b (one a row node, one a column node).
  std::pair<int, int> Entry(int a, int b) const {
    if (a > rows_) std::swap(a, b);
    return {a, b - rows_ - 1};
  }

 private:
  int rows_, cols_;
  std::vector<Cell> cells_;
};

// Line rule: each line with exactly one suppressed entry gets a complement.
// Returns true if anything changed.
bool ApplyLineRule(Grid& g) {
  bool changed_any = false;
  for (bool changed = true; changed;) {
    changed = false;
    // Lines: rows 0..R then columns 0..C. For a row line, position k runs
    // over columns; the line's total sits at k == C.
    for (int is_col = 0; is_col < 2; ++is_col) {
      const int lines = (is_col ? g.cols() : g.rows()) + 1;
      const int len = (is_col ? g.rows() : g.cols()) + 1;
      for (int line = 0; line < lines; ++line) {
        const auto entry = [&](int k) -> Cell& {
          return is_col ? g.at(k, line) : g.at(line, k);
        };
        int suppressed = 0;
        for (int k = 0; k < len; ++k) suppressed += entry(k).suppressed();
        if (suppressed != 1) continue;
        // Smallest published non-total entry; ties to one whose crossing
        // line already holds a suppression, then the first.
        int best = -1;
        bool best_crossing = false;
        for (int k = 0; k + 1 < len; ++k) {
          if (!entry(k).published()) continue;
          bool crossing = false;
          const int cross_len = (is_col ? g.cols() : g.rows()) + 1;
          for (int j = 0; j < cross_len && !crossing; ++j) {
            crossing = (is_col ? g.at(k, j) : g.at(j, k)).suppressed();
          }
          if (best < 0 || entry(k).count < entry(best).count ||
              (entry(k).count == entry(best).count && crossing &&
               !best_crossing)) {
            best = k;
            best_crossing = crossing;
          }
        }
        if (best < 0) best = len - 1;  // only the total is left
        if (entry(best).published()) {
          entry(best).state = State::kSecondary;
          changed = changed_any = true;
        }
      }
    }
  }
  return changed_any;
}

// Residual arcs of the suppressed entries, and the published entries as
// candidate arcs with a cost, as an adjacency matrix over nodes.
struct Arc {
  bool residual = false;  // arc of a suppressed entry
  int64_t cost = -1;      // arc of a published entry (-1: none)
};

class Residual {
 public:
  explicit Residual(const Grid& g) : g_(g), n_(g.num_nodes()) {
    arcs_.assign(static_cast<size_t>(n_) * n_, Arc{});
    for (int r = 0; r <= g.rows(); ++r) {
      for (int c = 0; c <= g.cols(); ++c) {
        const Cell& e = g.at(r, c);
        const int t = g.Tail(r, c), h = g.Head(r, c);
        if (e.suppressed()) {
          arc(t, h).residual = true;
          if (e.count >= 1) arc(h, t).residual = true;
        } else {
          // Published counts are >= threshold >= 1: both directions.
          arc(t, h).cost = e.count;
          arc(h, t).cost = e.count;
        }
      }
    }
  }

  // Whether `to` is reachable from `from` over residual arcs, leaving out
  // the arcs between `skip_a` and `skip_b` (the entry under test).
  bool Reachable(int from, int to, int skip_a, int skip_b) const {
    std::vector<char> seen(n_, 0);
    std::vector<int> stack = {from};
    seen[from] = 1;
    while (!stack.empty()) {
      const int u = stack.back();
      stack.pop_back();
      if (u == to) return true;
      for (int v = 0; v < n_; ++v) {
        if (seen[v] || !at(u, v).residual) continue;
        if ((u == skip_a && v == skip_b) || (u == skip_b && v == skip_a)) {
          continue;
        }
        seen[v] = 1;
        stack.push_back(v);
      }
    }
    return false;
  }

  // Cheapest path from `from` to `to` (residual arcs cost 0, published arcs
  // their count), leaving out the arcs between skip_a and skip_b. Returns
  // its cost and the published entries on it.
  std::pair<int64_t, std::vector<std::pair<int, int>>> Cheapest(
      int from, int to, int skip_a, int skip_b) const {
    constexpr int64_t kInf = std::numeric_limits<int64_t>::max();
    std::vector<int64_t> dist(n_, kInf);
    std::vector<int> prev(n_, -1);
    std::vector<char> done(n_, 0);
    dist[from] = 0;
    // Dense Dijkstra: the graph is small and dense.
    for (;;) {
      int u = -1;
      for (int v = 0; v < n_; ++v) {
        if (!done[v] && dist[v] != kInf && (u < 0 || dist[v] < dist[u])) u = v;
      }
      if (u < 0 || u == to) break;
      done[u] = 1;
      for (int v = 0; v < n_; ++v) {
        if (done[v]) continue;
        if ((u == skip_a && v == skip_b) || (u == skip_b && v == skip_a)) {
          continue;
        }
        const Arc& a = at(u, v);
        int64_t w;
        if (a.residual) {
          w = 0;
        } else if (a.cost >= 0) {
          w = a.cost;
        } else {
          continue;
        }
        if (dist[u] + w < dist[v]) {
          dist[v] = dist[u] + w;
          prev[v] = u;
        }
      }
    }
    std::vector<std::pair<int, int>> entries;
    if (dist[to] == kInf) return {kInf, entries};
    for (int v = to; v != from; v = prev[v]) {
      const int u = prev[v];
      if (!at(u, v).residual) entries.push_back(g_.Entry(u, v));
    }
    return {dist[to], entries};
  }

 private:
  Arc& arc(int u, int v) { return arcs_[u * n_ + v]; }
  const Arc& at(int u, int v) const { return arcs_[u * n_ + v]; }
  const Grid& g_;
  int n_;
  std::vector<Arc> arcs_;
};

bool Protected(const Grid& g, const Residual& res, int r, int c) {
  const int t = g.Tail(r, c), h = g.Head(r, c);
  if (res.Reachable(h, t, t, h)) return true;  // can move up by one
  return g.at(r, c).count >= 1 && res.Reachable(t, h, t, h);  // or down
}

void AuditAndRepair(Grid& g) {
  std::vector<std::pair<int, int>> unprotected;
  {
    const Residual res(g);
    for (int r = 0; r <= g.rows(); ++r) {
      for (int c = 0; c <= g.cols(); ++c) {
        if (g.at(r, c).suppressed() && !Protected(g, res, r, c)) {
          unprotected.emplace_back(r, c);
        }
      }
    }
  }
  // Suppressing more never unprotects an entry (it only adds residual
  // arcs), and each repair protects its entry and every entry on the cycle
  // it closes, so the list only shrinks.
  while (!unprotected.empty()) {
    const auto [r, c] = unprotected.front();
    const int t = g.Tail(r, c), h = g.Head(r, c);
    const Residual res(g);
    auto up = res.Cheapest(h, t, t, h);
    if (g.at(r, c).count >= 1) {
      auto down = res.Cheapest(t, h, t, h);
      if (down.first < up.first) up = std::move(down);
    }
    // A path always exists: with every entry available, a cell closes the
    // cycle cell -> column total -> grand total -> row total, and so on.
    for (const auto& [er, ec] : up.second)
      g.at(er, ec).state = State::kSecondary;
    const Residual after(g);
    std::vector<std::pair<int, int>> still;
    for (const auto& [ur, uc] : unprotected) {
      if (!Protected(g, after, ur, uc)) still.emplace_back(ur, uc);
    }
    if (still.size() == unprotected.size()) {
      // Unreachable by the argument above; fall back to the safe extreme
      // rather than loop.
      for (int rr = 0; rr <= g.rows(); ++rr) {
        for (int cc = 0; cc <= g.cols(); ++cc) {
          if (g.at(rr, cc).published()) g.at(rr, cc).state = State::kSecondary;
        }
      }
      return;
    }
    unprotected = std::move(still);
  }
}

}  // namespace

absl::StatusOr<SuppressedCountTable> SuppressCountTable(
    const CountTable& table, const SuppressionOptions& options) {
  LINKD_RETURN_IF_ERROR(CheckThreshold(options));
  if (table.counts.empty()) {
    return absl::InvalidArgumentError("count table has no cells");
  }
  if (table.labels.size() != table.counts.size()) {
    return absl::InvalidArgumentError(
        "count table: labels and counts differ in number");
  }
  SuppressedCountTable out;
  out.labels = table.labels;
  int64_t total = 0;
  for (int64_t c : table.counts) {
    LINKD_RETURN_IF_ERROR(Add(c, &total));
    out.cells.push_back(
        Cell{c, c < options.threshold ? State::kPrimary : State::kPublished});
  }
  out.total = Cell{
      total, total < options.threshold ? State::kPrimary : State::kPublished};
  // With the total suppressed every entry can grow with it. With the total
  // published the suppressed cells have a known sum S: each is protected
  // when there are at least two of them and S >= 1 (one can give a unit to
  // another), so add the smallest published cell (>= threshold >= 1) while
  // that fails, or the total when no cell is left.
  while (out.total.published()) {
    int suppressed = 0;
    int64_t sum = 0;
    for (const Cell& c : out.cells) {
      if (c.suppressed()) {
        ++suppressed;
        sum += c.count;
      }
    }
    if (suppressed == 0 || (suppressed >= 2 && sum >= 1)) break;
    int best = -1;
    for (size_t i = 0; i < out.cells.size(); ++i) {
      if (out.cells[i].published() &&
          (best < 0 || out.cells[i].count < out.cells[best].count)) {
        best = static_cast<int>(i);
      }
    }
    Cell& complement = best < 0 ? out.total : out.cells[best];
    complement.state = State::kSecondary;
  }
  return out;
}

absl::StatusOr<SuppressedCrossTable> SuppressCrossTable(
    const CrossTable& table, const SuppressionOptions& options) {
  LINKD_RETURN_IF_ERROR(CheckThreshold(options));
  const size_t rows = table.counts.size();
  if (rows == 0 || table.counts[0].empty()) {
    return absl::InvalidArgumentError("cross table has no cells");
  }
  const size_t cols = table.counts[0].size();
  if (table.row_labels.size() != rows || table.column_labels.size() != cols) {
    return absl::InvalidArgumentError(
        "cross table: labels and counts differ in number");
  }
  if (rows > 1000 || cols > 1000) {
    return absl::InvalidArgumentError(
        "cross table is too large (at most 1000 rows and 1000 columns)");
  }
  const int R = static_cast<int>(rows), C = static_cast<int>(cols);
  Grid g(R, C);
  std::vector<int64_t> col_totals(cols, 0);
  int64_t grand = 0;
  for (int r = 0; r < R; ++r) {
    if (table.counts[r].size() != cols) {
      return absl::InvalidArgumentError(
          absl::StrCat("cross table: row ", r, " has ", table.counts[r].size(),
                       " cells, expected ", cols));
    }
    int64_t row_total = 0;
    for (int c = 0; c < C; ++c) {
      const int64_t v = table.counts[r][c];
      LINKD_RETURN_IF_ERROR(Add(v, &row_total));
      LINKD_RETURN_IF_ERROR(Add(v, &col_totals[c]));
      g.at(r, c).count = v;
    }
    LINKD_RETURN_IF_ERROR(Add(row_total, &grand));
    g.at(r, C).count = row_total;
  }
  for (int c = 0; c < C; ++c) g.at(R, c).count = col_totals[c];
  g.at(R, C).count = grand;
  for (int r = 0; r <= R; ++r) {
    for (int c = 0; c <= C; ++c) {
      Cell& e = g.at(r, c);
      e.state =
          e.count < options.threshold ? State::kPrimary : State::kPublished;
    }
  }
  ApplyLineRule(g);
  AuditAndRepair(g);

  SuppressedCrossTable out;
  out.row_labels = table.row_labels;
  out.column_labels = table.column_labels;
  out.cells.resize(rows);
  for (int r = 0; r < R; ++r) {
    out.cells[r].reserve(cols);
    for (int c = 0; c < C; ++c) out.cells[r].push_back(g.at(r, c));
    out.row_totals.push_back(g.at(r, C));
  }
  for (int c = 0; c < C; ++c) out.column_totals.push_back(g.at(R, c));
  out.grand_total = g.at(R, C);
  return out;
}

}  // namespace linkd::extract
