// Statistical disclosure control for the aggregate tables of a research
// extract: small-cell suppression with secondary (complementary)
// suppression, so that no suppressed count can be worked out exactly from
// what is published.
//
// A table is published with its totals: a 1-D table with its total; a 2-D
// cross-tabulation with row totals, column totals and the grand total. The
// rules, in order:
//  1. Primary: every count below the threshold (10 by policy), zero
//     included, is suppressed - cells and totals alike.
//  2. Lines: every line of the table (a 1-D table; a row with its row
//     total, a column with its column total, the row of column totals with
//     the grand total, the column of row totals with the grand total) that
//     holds exactly one suppressed entry gets a complement: its smallest
//     published cell (ties: one whose crossing line already holds a
//     suppression, then the first), or its total when no cell is left (a
//     row with one cell). Repeated until no line holds a single suppression.
//  3. Audit and repair: each suppressed entry must be able to take another
//     value than its true one in some table of non-negative integers that
//     agrees with everything published (a suppressed cell of 0 beside other
//     zeros is otherwise known to be 0, and a suppressed cell whose rows and
//     columns only reach it through a "bridge" is otherwise known exactly).
//     For 2-D tables this is exact: the entries are a network flow, and an
//     entry can move by one exactly when the residual graph has a cycle
//     through it. An entry that cannot move gets the cheapest set of further
//     suppressions (by total published count) that closes such a cycle
//     (a shortest path), which also protects every entry on the cycle.
//     Suppressing everything is always protected, so this terminates.
// Published entries are exact; a suppressed entry's reason (primary or
// secondary) is for the IG record and must not be published.
//
// Protection means "not exactly derivable": the feasible interval of each
// suppressed entry has width at least 1. Wider protection intervals are not
// enforced.
#ifndef LINKD_EXTRACT_SUPPRESSION_H_
#define LINKD_EXTRACT_SUPPRESSION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace linkd::extract {

inline constexpr int64_t kDefaultSuppressionThreshold = 10;

struct SuppressionOptions {
  // Counts below this are suppressed; at least 1.
  int64_t threshold = kDefaultSuppressionThreshold;
};

// One published or suppressed count.
struct Cell {
  enum class State { kPublished, kPrimary, kSecondary };
  int64_t count = 0;  // the true count, whatever the state: never publish it
                      // unless published()
  State state = State::kPublished;
  bool published() const { return state == State::kPublished; }
  bool suppressed() const { return state != State::kPublished; }
};

// A 1-D table of counts.
struct CountTable {
  std::vector<std::string> labels;
  std::vector<int64_t> counts;
};

// A 2-D cross-tabulation: counts[row][column].
struct CrossTable {
  std::vector<std::string> row_labels;
  std::vector<std::string> column_labels;
  std::vector<std::vector<int64_t>> counts;
};

struct SuppressedCountTable {
  std::vector<std::string> labels;
  std::vector<Cell> cells;
  Cell total;
};

struct SuppressedCrossTable {
  std::vector<std::string> row_labels;
  std::vector<std::string> column_labels;
  std::vector<std::vector<Cell>> cells;  // [row][column]
  std::vector<Cell> row_totals;          // one per row
  std::vector<Cell> column_totals;       // one per column
  Cell grand_total;
};

// Suppresses a 1-D table published with its total. Returns INVALID_ARGUMENT
// if the table is empty, labels and counts differ in number, a count is
// negative or the total overflows, or the threshold is below 1.
// Deterministic; thread-safe.
absl::StatusOr<SuppressedCountTable> SuppressCountTable(
    const CountTable& table, const SuppressionOptions& options = {});

// Suppresses a 2-D table published with row, column and grand totals.
// Returns INVALID_ARGUMENT if there is no row or no column, more than 1000
// rows or columns, the rows are ragged or disagree with the labels, a count
// is negative or a total overflows, or the threshold is below 1. Cost:
// O((S + U^2) * (R + C)^2) time and O((R + C)^2) memory for S suppressed
// entries of an R x C table, U of them needing repair; meant for the tables
// of an extract (tens of rows and columns: a 25 x 25 table takes well under
// a millisecond). Deterministic; thread-safe.
absl::StatusOr<SuppressedCrossTable> SuppressCrossTable(
    const CrossTable& table, const SuppressionOptions& options = {});

}  // namespace linkd::extract

#endif  // LINKD_EXTRACT_SUPPRESSION_H_
