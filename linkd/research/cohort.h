// linkd::research cohort selection: which children an extract is about,
// their journeys (time-ordered events) and their attributes, read from the
// links, the events and the records of one consistent snapshot.
//
// Children are SUIs: every record linked to a SUI, whatever its source,
// describes the same child. Semantics (CohortDefinition in
// proto/linkd/v1/extract_service.proto):
//   - by records (no event criteria): a child with a record from one of the
//     cohort's sources (any source if none is named);
//   - by events: a child with an event of a qualifying kind dated within
//     [from, to], reported through a record of one of the cohort's sources;
//     or, for the episode types, a social care episode of a qualifying kind
//     that was open at some time in [from, to]. An episode runs from its
//     start event to the next end event of the same kind on the same source
//     record; a start without an end is still open, an end without a start
//     began before the data did.
// Journeys list every event of a cohort child dated within the journey
// window and of a journey kind, from any source, in (date, kind) order;
// the same (date, kind) reported through two records of one child is
// listed once.
// Attributes: a child's value of an attribute is the one of the child's
// most recently stored record that has it (ties: the first record key).
#ifndef LINKD_RESEARCH_COHORT_H_
#define LINKD_RESEARCH_COHORT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "linkd/linker/linker.h"
#include "linkd/research/spec.h"
#include "linkd/store/record_store.h"
#include "linkd/store/store.h"

namespace linkd::research {

// Called for each stored event: the record key (store::RecordKey) of the
// child's record it was reported with, what happened and when. Return true
// to go on, false to stop, or an error to abort.
using EventVisitor = absl::FunctionRef<absl::StatusOr<bool>(
    std::string_view record_key, EventKind kind, DateNumber date)>;
// Visits every stored event (the events that a journey cannot hold, such as
// refuge flags, are not visited), at `snapshot` when not null.
using EventScan =
    std::function<absl::Status(const store::Snapshot* snapshot, EventVisitor)>;

// Where the cohort is read from. Pointers are not owned.
struct CohortSources {
  const linker::Linker* linker = nullptr;       // required
  const store::RecordStore* records = nullptr;  // required
  const store::Snapshot* snapshot = nullptr;    // may be null: latest
  EventScan events;                             // empty: no events
};

// One listed event of a child.
struct JourneyEvent {
  uint64_t sui = 0;
  DateNumber date = 0;
  EventKind kind = EventKind::kSuspension;
};

// The children of a cohort and their journeys.
struct Cohort {
  std::vector<uint64_t> suis;  // sorted, distinct
  // Sorted by (sui, date, kind), distinct; only when journeys were asked
  // for.
  std::vector<JourneyEvent> journey;
};

// The links of a snapshot in memory: record key -> SUI. About 60 bytes per
// linked record. Immutable once loaded, so thread-safe.
class LinkMap {
 public:
  // Reads every link (Linker::ForEachLink). Store errors.
  static absl::StatusOr<std::unique_ptr<LinkMap>> Load(
      const linker::Linker& linker, const store::Snapshot* snapshot);

  // The SUI bits of a record, or 0 if it is not linked.
  uint64_t SuiOf(std::string_view record_key) const;
  size_t records() const { return sui_of_.size(); }
  template <typename Fn>  // fn(std::string_view record_key, uint64_t sui)
  void ForEach(Fn fn) const {
    for (const auto& [key, sui] : sui_of_) fn(key, sui);
  }

 private:
  LinkMap() = default;
  absl::flat_hash_map<std::string, uint64_t> sui_of_;
};

// Selects the cohort of `spec` (and, for a journey, the listed events).
// Store errors and the event scan's errors; DATA_LOSS for a malformed key.
absl::StatusOr<Cohort> SelectCohort(const ParsedSpec& spec,
                                    const LinkMap& links,
                                    const CohortSources& sources);

// The values of `attributes` (attribute names) for each child of `suis`
// (sorted), from the records linked to them; "" where a child has none.
// Result: suis[i]'s values at [i * attributes.size(), ...). Store errors,
// DATA_LOSS for a malformed record.
absl::StatusOr<std::vector<std::string>> ChildAttributes(
    const std::vector<uint64_t>& suis,
    const std::vector<std::string>& attributes, const LinkMap& links,
    const CohortSources& sources);

// Index of `sui` in sorted `suis`, or -1.
int64_t IndexOf(const std::vector<uint64_t>& suis, uint64_t sui);

}  // namespace linkd::research

#endif  // LINKD_RESEARCH_COHORT_H_
