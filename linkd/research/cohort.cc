#include "linkd/research/cohort.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "linkd/util/status_macros.h"

namespace linkd::research {
namespace {

// An episode event of one source record.
struct Edge {
  DateNumber date;
  EpisodeKind kind;
  bool start;
};

// True if some episode of a selected kind in `edges` (one record's) was open
// at some time in [from, to].
bool EpisodeOverlaps(std::vector<Edge>* edges, const std::vector<bool>& kinds,
                     DateNumber from, DateNumber to) {
  // Starts before ends on one day: an episode opened and closed on a day
  // was open that day.
  std::sort(edges->begin(), edges->end(), [](const Edge& a, const Edge& b) {
    if (a.date != b.date) return a.date < b.date;
    return a.start > b.start;
  });
  constexpr DateNumber kOpenEnded = 99999999;
  constexpr DateNumber kBeforeData = 0;
  DateNumber open[kNumEpisodeKinds] = {0, 0, 0};
  bool is_open[kNumEpisodeKinds] = {false, false, false};
  bool any_edge[kNumEpisodeKinds] = {false, false, false};
  for (const Edge& e : *edges) {
    const size_t k = static_cast<size_t>(e.kind);
    if (e.start) {
      if (!is_open[k]) open[k] = e.date;  // a repeated start keeps the first
      is_open[k] = true;
    } else {
      // An end without a start: the episode began before the data did.
      const DateNumber start = is_open[k] ? open[k] : kBeforeData;
      if (kinds[k] && start <= to && e.date >= from) return true;
      is_open[k] = false;
    }
    any_edge[k] = true;
  }
  for (size_t k = 0; k < kNumEpisodeKinds; ++k) {
    if (any_edge[k] && is_open[k] && kinds[k] && open[k] <= to &&
        kOpenEnded >= from) {
      return true;
    }
  }
  return false;
}

bool SourceAllowed(const std::vector<std::string>& sources,
                   std::string_view record_key) {
  if (sources.empty()) return true;
  std::string_view source, record_id;
  if (!store::DecodeRecordKey(record_key, &source, &record_id).ok()) {
    return false;
  }
  return std::find(sources.begin(), sources.end(), source) != sources.end();
}

}  // namespace

absl::StatusOr<std::unique_ptr<LinkMap>> LinkMap::Load(
    const linker::Linker& linker, const store::Snapshot* snapshot) {
  auto map = std::unique_ptr<LinkMap>(new LinkMap());
  LINKD_RETURN_IF_ERROR(linker.ForEachLink(
      [&](std::string_view record_key, linker::Sui sui) {
        map->sui_of_.emplace(std::string(record_key), sui.bits());
        return true;
      },
      snapshot));
  return map;
}

uint64_t LinkMap::SuiOf(std::string_view record_key) const {
  auto it =
      sui_of_.find(absl::string_view(record_key.data(), record_key.size()));
  return it == sui_of_.end() ? 0 : it->second;
}

int64_t IndexOf(const std::vector<uint64_t>& suis, uint64_t sui) {
  auto it = std::lower_bound(suis.begin(), suis.end(), sui);
  if (it == suis.end() || *it != sui) return -1;
  return it - suis.begin();
}

absl::StatusOr<Cohort> SelectCohort(const ParsedSpec& spec,
                                    const LinkMap& links,
                                    const CohortSources& sources) {
  const CohortCriteria& c = spec.cohort;
  const bool journey = spec.kind == v1::EXTRACT_KIND_JOURNEY;
  const bool any_episode =
      std::find(c.episode_kinds.begin(), c.episode_kinds.end(), true) !=
      c.episode_kinds.end();
  const bool events_needed = c.by_events || journey;
  Cohort out;
  absl::flat_hash_set<uint64_t> members;
  if (!c.by_events) {
    links.ForEach([&](std::string_view key, uint64_t sui) {
      if (SourceAllowed(c.sources, key)) members.insert(sui);
    });
  }
  // Events: qualifying ones, episode edges of the allowed sources, and the
  // journey candidates (filtered by membership once it is known).
  absl::flat_hash_map<std::string, std::vector<Edge>> edges;
  std::vector<JourneyEvent> candidates;
  if (events_needed && sources.events) {
    LINKD_RETURN_IF_ERROR(sources.events(
        sources.snapshot,
        [&](std::string_view key, EventKind kind,
            DateNumber date) -> absl::StatusOr<bool> {
          const uint64_t sui = links.SuiOf(key);
          if (sui == 0) return true;  // not linked yet: no child to name
          const size_t k = static_cast<size_t>(kind);
          if (journey && spec.journey_kinds[k] && date >= spec.journey_from &&
              date <= spec.journey_to) {
            candidates.push_back({sui, date, kind});
          }
          if (!c.by_events || !SourceAllowed(c.sources, key)) return true;
          if (c.event_kinds[k] && date >= c.from && date <= c.to) {
            members.insert(sui);
          }
          if (any_episode) {
            if (std::optional<EpisodeEdge> edge = EpisodeEdgeOf(kind);
                edge.has_value()) {
              edges[std::string(key)].push_back(
                  {date, edge->kind, edge->start});
            }
          }
          return true;
        }));
  }
  for (auto& [key, record_edges] : edges) {
    if (EpisodeOverlaps(&record_edges, c.episode_kinds, c.from, c.to)) {
      const uint64_t sui = links.SuiOf(key);
      if (sui != 0) members.insert(sui);
    }
  }
  out.suis.assign(members.begin(), members.end());
  std::sort(out.suis.begin(), out.suis.end());
  if (journey) {
    for (const JourneyEvent& e : candidates) {
      if (members.contains(e.sui)) out.journey.push_back(e);
    }
    std::sort(out.journey.begin(), out.journey.end(),
              [](const JourneyEvent& a, const JourneyEvent& b) {
                if (a.sui != b.sui) return a.sui < b.sui;
                if (a.date != b.date) return a.date < b.date;
                return a.kind < b.kind;
              });
    out.journey.erase(
        std::unique(out.journey.begin(), out.journey.end(),
                    [](const JourneyEvent& a, const JourneyEvent& b) {
                      return a.sui == b.sui && a.date == b.date &&
                             a.kind == b.kind;
                    }),
        out.journey.end());
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> ChildAttributes(
    const std::vector<uint64_t>& suis,
    const std::vector<std::string>& attributes, const LinkMap& links,
    const CohortSources& sources) {
  const size_t n = attributes.size();
  std::vector<std::string> values(suis.size() * n);
  if (n == 0 || suis.empty()) return values;
  // When each value was stored, to keep the latest.
  std::vector<int64_t> stored(values.size(), -1);
  LINKD_RETURN_IF_ERROR(sources.records->ForEachRecord(
      std::nullopt,
      [&](std::string_view source, std::string_view record_id,
          const store::StoredRecord& record) -> absl::StatusOr<bool> {
        if (record.attributes().empty()) return true;
        const uint64_t sui = links.SuiOf(store::RecordKey(source, record_id));
        const int64_t i = sui == 0 ? -1 : IndexOf(suis, sui);
        if (i < 0) return true;
        for (size_t a = 0; a < n; ++a) {
          auto it = record.attributes().find(attributes[a]);
          if (it == record.attributes().end()) continue;
          const size_t slot = static_cast<size_t>(i) * n + a;
          // Records are visited in key order: on a tie the first stays.
          if (record.stored_micros() > stored[slot]) {
            stored[slot] = record.stored_micros();
            values[slot] = it->second;
          }
        }
        return true;
      },
      sources.snapshot));
  return values;
}

}  // namespace linkd::research
