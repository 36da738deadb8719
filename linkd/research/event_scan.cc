#include "linkd/research/event_scan.h"

#include "linkd/store/record_store.h"

namespace linkd::research {

std::optional<EventKind> EventKindOf(const v1::Event& event) {
  const auto episode = [&](EventKind cin, EventKind cp,
                           EventKind la) -> std::optional<EventKind> {
    switch (event.episode_kind()) {
      case v1::EPISODE_KIND_CHILD_IN_NEED_PLAN:
        return cin;
      case v1::EPISODE_KIND_CHILD_PROTECTION_PLAN:
        return cp;
      case v1::EPISODE_KIND_LOOKED_AFTER:
        return la;
      default:
        return std::nullopt;
    }
  };
  switch (event.type()) {
    case v1::EVENT_TYPE_SUSPENSION:
      return EventKind::kSuspension;
    case v1::EVENT_TYPE_PERMANENT_EXCLUSION:
      return EventKind::kPermanentExclusion;
    case v1::EVENT_TYPE_REMOVED_FROM_ROLL:
      return EventKind::kRemovedFromRoll;
    case v1::EVENT_TYPE_CHILD_MISSING_EDUCATION:
      return EventKind::kChildMissingEducation;
    case v1::EVENT_TYPE_IN_YEAR_ADMISSION:
      return EventKind::kInYearAdmission;
    case v1::EVENT_TYPE_EPISODE_START:
      return episode(EventKind::kChildInNeedPlanStart,
                     EventKind::kChildProtectionPlanStart,
                     EventKind::kLookedAfterStart);
    case v1::EVENT_TYPE_EPISODE_END:
      return episode(EventKind::kChildInNeedPlanEnd,
                     EventKind::kChildProtectionPlanEnd,
                     EventKind::kLookedAfterEnd);
    default:  // refuge flags are never released
      return std::nullopt;
  }
}

EventScan EventStoreScan(const events::EventStore* events) {
  return [events](const store::Snapshot* snapshot,
                  EventVisitor visit) -> absl::Status {
    std::string key;
    return events->ForEachEvent(
        [&](const events::StoredEvent& e) -> absl::StatusOr<bool> {
          const std::optional<EventKind> kind = EventKindOf(e.event());
          absl::CivilDay day;
          if (!kind.has_value() ||
              !events::ToCivilDay(e.event().date(), &day)) {
            return true;
          }
          key = store::RecordKey(e.source(), e.record_id());
          const DateNumber date = static_cast<DateNumber>(
              day.year() * 10000 + day.month() * 100 + day.day());
          return visit(key, *kind, date);
        },
        snapshot);
  };
}

}  // namespace linkd::research
