// linkd::research events: the event store (linkd/events) as the cohort
// selection reads it (cohort.h EventScan): each stored event's record, what
// happened as an EventKind, and its date. Refuge flags are never visited:
// no research extract may hold them.
#ifndef LINKD_RESEARCH_EVENT_SCAN_H_
#define LINKD_RESEARCH_EVENT_SCAN_H_

#include <optional>

#include "linkd/events/event_store.h"
#include "linkd/research/cohort.h"
#include "linkd/v1/event.pb.h"

namespace linkd::research {

// The EventKind of `event`, or nullopt for the events a journey cannot hold
// (refuge flags, unspecified types or episode kinds). Thread-safe.
std::optional<EventKind> EventKindOf(const v1::Event& event);

// A scan of every event in `events` (not owned; must outlive the scan).
// Events with an invalid date are skipped.
EventScan EventStoreScan(const events::EventStore* events);

}  // namespace linkd::research

#endif  // LINKD_RESEARCH_EVENT_SCAN_H_
