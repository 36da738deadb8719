#include "linkd/research/release.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "linkd/extract/coarsen.h"
#include "linkd/extract/suppression.h"
#include "linkd/matcher/comparison.h"
#include "linkd/util/status_macros.h"

namespace linkd::research {
namespace {

constexpr std::string_view kSuppressed = "c";
constexpr std::string_view kTotal = "Total";
constexpr std::string_view kUnknown = "Unknown";

// Removes a file left by a release that did not finish (a crash). Missing
// files are fine.
void RemoveIfPresent(const std::string& path) {
  std::error_code ignored;
  std::filesystem::remove(path, ignored);
}

// The SUIs `sui` resolves to now: itself while active, else every active
// successor (a split SUI has several: what was recorded against it
// concerns each of them).
absl::StatusOr<std::vector<uint64_t>> ActiveSuccessors(
    const linker::Linker& linker, uint64_t sui) {
  std::vector<uint64_t> out;
  std::vector<uint64_t> todo{sui};
  absl::flat_hash_set<uint64_t> seen{sui};
  while (!todo.empty()) {
    const uint64_t s = todo.back();
    todo.pop_back();
    LINKD_ASSIGN_OR_RETURN(linker::Sui parsed, linker::Sui::FromBits(s));
    absl::StatusOr<store::v1::SuiInfo> info = linker.GetSui(parsed);
    if (absl::IsNotFound(info.status())) continue;  // never issued
    if (!info.ok()) return info.status();
    if (info->state() != store::v1::SuiInfo::STATE_RETIRED) {
      out.push_back(s);
      continue;
    }
    for (uint64_t next : info->successors()) {
      if (seen.insert(next).second) todo.push_back(next);
    }
  }
  return out;
}

// A released value of `field` after its coarsening (if any). Empty stays
// empty.
absl::StatusOr<std::string> Coarsened(const ParsedSpec& spec,
                                      std::string_view field,
                                      const std::string& value) {
  if (value.empty()) return value;
  const Coarsening* c = spec.CoarseningOf(field);
  if (c == nullptr) return value;
  if (c->mapping != nullptr) {
    LINKD_ASSIGN_OR_RETURN(std::string_view group, c->mapping->Map(value));
    return std::string(group);
  }
  // birth_month is YYYY-MM: its first day coarsens like a date of the
  // month (month, quarter, year and academic year all start on a 1st).
  const std::string date = field == kEventDateField ? value : value + "-01";
  return extract::CoarsenDate(date, c->granularity);
}

// One child as the release sees it.
struct Child {
  uint64_t sui = 0;
  std::string pseudonym;
  size_t index = 0;  // in the cohort's sorted SUIs
};

struct QualityInputs {
  const ParsedSpec* spec;
  const std::vector<Child>* children;          // released, in pseudonym order
  const std::vector<uint64_t>* released;       // sorted SUIs
  const std::vector<std::string>* attributes;  // per released index
  const LinkMap* links;
  const ReleaseContext* context;
};

// Linkage-quality metadata of the released children's links.
absl::StatusOr<extract::v1::LinkageQuality> Quality(const QualityInputs& in,
                                                    ReleaseResult* result) {
  extract::v1::LinkageQuality q;
  const ReleaseContext& ctx = *in.context;
  const std::vector<uint64_t>& released = *in.released;
  // Records of each released child: (record key, source).
  std::vector<std::vector<std::string>> keys(released.size());
  in.links->ForEach([&](std::string_view key, uint64_t sui) {
    const int64_t i = IndexOf(released, sui);
    if (i >= 0) keys[static_cast<size_t>(i)].emplace_back(key);
  });
  // Link rates: a record is linked when its child also has a record from
  // another source.
  std::map<std::string, std::pair<uint64_t, uint64_t>>
      by_source;  // all, linked
  std::map<std::string, std::pair<uint64_t, uint64_t>> by_attribute;
  const size_t n_attr = in.spec->attributes.size();
  uint64_t records = 0;
  for (size_t i = 0; i < released.size(); ++i) {
    std::vector<std::string> sources;
    for (const std::string& key : keys[i]) {
      std::string_view source, record_id;
      if (store::DecodeRecordKey(key, &source, &record_id).ok()) {
        sources.emplace_back(source);
      }
    }
    std::vector<std::string> distinct = sources;
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()),
                   distinct.end());
    const bool linked = distinct.size() > 1;
    for (const std::string& s : sources) {
      auto& [all, with_other] = by_source[s];
      ++all;
      with_other += linked ? 1 : 0;
    }
    records += sources.size();
    for (size_t a = 0; a < n_attr; ++a) {
      const std::string& field = in.spec->attributes[a];
      const std::string& raw = (*in.attributes)[i * n_attr + a];
      absl::StatusOr<std::string> value = Coarsened(*in.spec, field, raw);
      if (!value.ok()) return value.status();
      const std::string label = absl::StrCat(
          field, "=", value->empty() ? std::string(kUnknown) : *value);
      auto& [all, with_other] = by_attribute[label];
      all += sources.size();
      with_other += linked ? sources.size() : 0;
    }
  }
  const uint64_t threshold = extract::kDefaultSuppressionThreshold;
  for (const auto* table : {&by_source, &by_attribute}) {
    for (const auto& [name, counts] : *table) {
      if (counts.first < threshold) continue;  // too small to publish
      extract::v1::SubgroupLinkRate* r = q.add_subgroup_link_rates();
      r->set_subgroup(table == &by_source ? absl::StrCat("source=", name)
                                          : name);
      r->set_link_rate(static_cast<double>(counts.second) /
                       static_cast<double>(counts.first));
      r->set_records(counts.first);
    }
  }
  // Match weights of a sample of the links: each sampled record against the
  // best other record of its child, under the current model. Children are
  // taken in pseudonym order, which is random with respect to everything
  // else.
  const std::shared_ptr<const matcher::Model> model = ctx.linker->model();
  std::vector<double> weights;
  size_t sampled = 0, eligible = 0;
  for (const Child& child : *in.children) {
    const std::vector<std::string>& child_keys = keys[child.index];
    if (child_keys.size() < 2) continue;
    ++eligible;
    if (sampled >= ctx.quality_sample_children) continue;
    ++sampled;
    std::vector<matcher::DecodedIdentity> ids;
    for (const std::string& key : child_keys) {
      std::string_view source, record_id;
      LINKD_RETURN_IF_ERROR(store::DecodeRecordKey(key, &source, &record_id));
      LINKD_ASSIGN_OR_RETURN(std::optional<store::StoredRecord> record,
                             ctx.records->Get(source, record_id));
      if (!record.has_value()) continue;
      matcher::DecodedIdentity& d = ids.emplace_back();
      if (!matcher::Decode(record->identity(), &d).ok()) ids.pop_back();
    }
    for (size_t a = 0; a < ids.size(); ++a) {
      double best = -std::numeric_limits<double>::infinity();
      for (size_t b = 0; b < ids.size(); ++b) {
        if (a == b) continue;
        best = std::max(best, model->MatchWeight(matcher::Compare(
                                  ids[a], ids[b], model->comparison())));
      }
      if (std::isfinite(best)) weights.push_back(best);
    }
  }
  if (!weights.empty()) {
    constexpr double kWidth = 5.0;
    std::map<int, uint64_t> buckets;
    double posterior = 0;
    for (double w : weights) {
      ++buckets[static_cast<int>(std::floor(w / kWidth))];
      posterior += matcher::Model::Probability(w);
    }
    for (const auto& [b, n] : buckets) {
      extract::v1::MatchWeightBucket* bucket = q.add_match_weight_buckets();
      bucket->set_lower(b * kWidth);
      bucket->set_upper((b + 1) * kWidth);
      bucket->set_links(n);
    }
    q.set_estimated_precision(posterior / static_cast<double>(weights.size()));
  }
  LINKD_ASSIGN_OR_RETURN(linker::LinkStats stats, ctx.linker->Stats());
  result->records_linked = records;
  result->active_suis = static_cast<uint64_t>(stats.active_suis);
  result->open_reviews = static_cast<uint64_t>(stats.open_reviews);
  result->model_version = model->version();
  q.set_method(absl::StrFormat(
      "Fellegi-Sunter linkage, model version %d (thresholds %.1f / %.1f "
      "bits). Match weights: each record of %d sampled children (of %d "
      "released children with two or more records) against the best other "
      "record of the same child, in bits; estimated precision: the model's "
      "mean posterior match probability of those %d links; recall: not "
      "estimated. Link rates: share of records whose child also has a record "
      "from another source (subgroups of under %d records omitted). At "
      "release: %d records of the released children, %d SUIs in the index, "
      "%d open clerical reviews.",
      model->version(), model->lower_threshold(), model->upper_threshold(),
      sampled, eligible, weights.size(), threshold, records, stats.active_suis,
      stats.open_reviews));
  return q;
}

// Writes rows through `writer`, coarsening as approved.
absl::Status WriteJourney(const ParsedSpec& spec, const Cohort& cohort,
                          const std::vector<Child>& children,
                          const std::vector<std::string>& attributes,
                          extract::ExtractWriter* writer) {
  const size_t n_attr = spec.attributes.size();
  // Where each child's events start in cohort.journey (sorted by SUI).
  std::vector<size_t> first(cohort.suis.size() + 1, cohort.journey.size());
  for (size_t e = cohort.journey.size(); e-- > 0;) {
    first[IndexOf(cohort.suis, cohort.journey[e].sui)] = e;
  }
  const bool event_fields = std::find(spec.fields.begin(), spec.fields.end(),
                                      kEventTypeField) != spec.fields.end() ||
                            std::find(spec.fields.begin(), spec.fields.end(),
                                      kEventDateField) != spec.fields.end();
  std::vector<std::string> row(spec.columns.size());
  std::vector<std::string_view> views(row.size());
  std::vector<std::string> child_values(n_attr);
  for (size_t rank = 0; rank < children.size(); ++rank) {
    const Child& child = children[rank];
    for (size_t a = 0; a < n_attr; ++a) {
      LINKD_ASSIGN_OR_RETURN(
          child_values[a],
          Coarsened(spec, spec.attributes[a], attributes[rank * n_attr + a]));
    }
    const size_t begin = first[child.index];
    size_t end = begin;
    while (end < cohort.journey.size() &&
           cohort.journey[end].sui == child.sui) {
      ++end;
    }
    // One row per event; one row without events for a child that has none
    // listed (or when no event field is asked for).
    const size_t rows = event_fields ? std::max<size_t>(end - begin, 1) : 1;
    for (size_t r = 0; r < rows; ++r) {
      const JourneyEvent* e = event_fields && begin + r < end
                                  ? &cohort.journey[begin + r]
                                  : nullptr;
      row[0] = child.pseudonym;
      size_t a = 0;
      for (size_t f = 0; f < spec.fields.size(); ++f) {
        const std::string& field = spec.fields[f];
        std::string& cell = row[f + 1];
        if (field == kEventTypeField) {
          cell = e == nullptr ? "" : std::string(EventKindName(e->kind));
        } else if (field == kEventDateField) {
          if (e == nullptr) {
            cell.clear();
          } else {
            LINKD_ASSIGN_OR_RETURN(cell,
                                   Coarsened(spec, field, FormatDate(e->date)));
          }
        } else {
          cell = child_values[a++];
        }
      }
      for (size_t c = 0; c < row.size(); ++c) views[c] = row[c];
      LINKD_RETURN_IF_ERROR(writer->WriteRow(views));
    }
  }
  return absl::OkStatus();
}

std::string Count(const extract::Cell& cell) {
  return cell.published() ? absl::StrCat(cell.count) : std::string(kSuppressed);
}

absl::Status WriteAggregate(const ParsedSpec& spec,
                            const std::vector<Child>& children,
                            const std::vector<std::string>& attributes,
                            extract::ExtractWriter* writer) {
  const size_t n_attr = spec.attributes.size();
  std::vector<std::map<std::string, size_t>> labels(n_attr);
  std::vector<std::vector<std::string>> child_labels(children.size());
  for (size_t rank = 0; rank < children.size(); ++rank) {
    for (size_t a = 0; a < n_attr; ++a) {
      LINKD_ASSIGN_OR_RETURN(
          std::string v,
          Coarsened(spec, spec.attributes[a], attributes[rank * n_attr + a]));
      if (v.empty()) v = std::string(kUnknown);
      labels[a].emplace(v, 0);
      child_labels[rank].push_back(std::move(v));
    }
  }
  std::vector<std::vector<std::string>> names(n_attr);
  for (size_t a = 0; a < n_attr; ++a) {
    for (auto& [label, index] : labels[a]) {
      index = names[a].size();
      names[a].push_back(label);
    }
  }
  if (n_attr == 1) {
    extract::CountTable table;
    table.labels = names[0];
    table.counts.assign(names[0].size(), 0);
    for (const auto& l : child_labels) ++table.counts[labels[0][l[0]]];
    if (table.labels.empty()) {  // an empty cohort: one suppressed total
      table.labels.push_back(std::string(kUnknown));
      table.counts.push_back(0);
    }
    LINKD_ASSIGN_OR_RETURN(extract::SuppressedCountTable t,
                           extract::SuppressCountTable(table));
    for (size_t i = 0; i < t.labels.size(); ++i) {
      const std::string count = Count(t.cells[i]);
      std::string_view row[2] = {t.labels[i], count};
      LINKD_RETURN_IF_ERROR(writer->WriteRow(row));
    }
    const std::string total = Count(t.total);
    std::string_view row[2] = {kTotal, total};
    return writer->WriteRow(row);
  }
  extract::CrossTable table;
  table.row_labels = names[0];
  table.column_labels = names[1];
  if (table.row_labels.empty())
    table.row_labels.push_back(std::string(kUnknown));
  if (table.column_labels.empty()) {
    table.column_labels.push_back(std::string(kUnknown));
  }
  table.counts.assign(table.row_labels.size(),
                      std::vector<int64_t>(table.column_labels.size(), 0));
  for (const auto& l : child_labels) {
    ++table.counts[labels[0][l[0]]][labels[1][l[1]]];
  }
  LINKD_ASSIGN_OR_RETURN(extract::SuppressedCrossTable t,
                         extract::SuppressCrossTable(table));
  for (size_t r = 0; r < t.row_labels.size(); ++r) {
    for (size_t c = 0; c < t.column_labels.size(); ++c) {
      const std::string count = Count(t.cells[r][c]);
      std::string_view row[3] = {t.row_labels[r], t.column_labels[c], count};
      LINKD_RETURN_IF_ERROR(writer->WriteRow(row));
    }
    const std::string count = Count(t.row_totals[r]);
    std::string_view row[3] = {t.row_labels[r], kTotal, count};
    LINKD_RETURN_IF_ERROR(writer->WriteRow(row));
  }
  for (size_t c = 0; c < t.column_labels.size(); ++c) {
    const std::string count = Count(t.column_totals[c]);
    std::string_view row[3] = {kTotal, t.column_labels[c], count};
    LINKD_RETURN_IF_ERROR(writer->WriteRow(row));
  }
  const std::string grand = Count(t.grand_total);
  std::string_view row[3] = {kTotal, kTotal, grand};
  return writer->WriteRow(row);
}

}  // namespace

std::string ExtractFileName(const v1::ExtractRequest& request) {
  return absl::StrCat(request.spec().project_id(), "-request-", request.id(),
                      ".extract");
}

policy::Decision ReleaseDecision(const policy::PolicySet& policy,
                                 const v1::Project& project,
                                 const std::vector<std::string>& fields,
                                 absl::Time now) {
  policy::Request req;
  req.action = policy::Action::kExtractRelease;
  req.purpose = std::string(kResearchPurpose);
  req.requester = ProjectOrganisation(project.id());
  req.recipient = req.requester;
  req.time = now;
  req.fields = fields;
  policy::SubjectFacts facts;
  facts.project = ProjectFactsOf(project);
  facts.extract_approved = true;
  return policy.Evaluate(req, facts);
}

absl::StatusOr<ReleaseResult> MakeRelease(const v1::ExtractRequest& request,
                                          const v1::Project& project,
                                          const ReleaseContext& ctx) {
  ReleaseResult result;
  LINKD_ASSIGN_OR_RETURN(ParsedSpec spec, ParseSpec(request.spec(), project));
  // 1. Exactly what was approved, under the same project version.
  const std::string hash = RequestHash(request);
  if (request.approved_hash().empty() || hash != request.approved_hash() ||
      hash != request.request_hash()) {
    return absl::FailedPreconditionError(
        "the request is not the one that was approved; it needs a new "
        "approval");
  }
  if (request.project_version() != project.version()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "project ", project.id(), " was re-registered (version ",
        project.version(), ") since the request was made (version ",
        request.project_version(), "); make a new request"));
  }
  std::vector<std::string> disclosed;
  for (const std::string& c : spec.columns) {
    if (c != "children") disclosed.push_back(c);
  }
  result.decision = ReleaseDecision(*ctx.policy, project, disclosed, ctx.now);
  if (!result.decision.allowed) return result.decision.ToStatus();

  // 2. The cohort, from one snapshot.
  const store::Snapshot snapshot = ctx.store->GetSnapshot();
  CohortSources sources;
  sources.linker = ctx.linker;
  sources.records = ctx.records;
  sources.snapshot = &snapshot;
  sources.events = ctx.events;
  LINKD_ASSIGN_OR_RETURN(std::unique_ptr<LinkMap> links,
                         LinkMap::Load(*ctx.linker, &snapshot));
  LINKD_ASSIGN_OR_RETURN(Cohort cohort, SelectCohort(spec, *links, sources));
  result.cohort_children = cohort.suis.size();

  // 3. Objections and opt-outs: the policy decides each child with records.
  LINKD_ASSIGN_OR_RETURN(std::vector<uint64_t> with_records,
                         ctx.consents->SuisWithRecords());
  absl::flat_hash_map<uint64_t, std::vector<uint64_t>> recorded_for;
  for (uint64_t s : with_records) {
    LINKD_ASSIGN_OR_RETURN(std::vector<uint64_t> now_suis,
                           ActiveSuccessors(*ctx.linker, s));
    for (uint64_t n : now_suis) recorded_for[n].push_back(s);
  }
  std::vector<bool> removed(cohort.suis.size(), false);
  policy::Request child_request;
  child_request.action = policy::Action::kExtractRelease;
  child_request.purpose = std::string(kResearchPurpose);
  child_request.requester = ProjectOrganisation(project.id());
  child_request.recipient = child_request.requester;
  child_request.time = ctx.now;
  child_request.fields = disclosed;
  for (const auto& [child, recorded] : recorded_for) {
    const int64_t i = IndexOf(cohort.suis, child);
    if (i < 0) continue;
    LINKD_ASSIGN_OR_RETURN(linker::Sui sui, linker::Sui::FromBits(child));
    LINKD_ASSIGN_OR_RETURN(std::vector<linker::Sui> lineage,
                           ctx.linker->Lineage(sui));
    std::vector<uint64_t> bits = recorded;
    for (const linker::Sui& l : lineage) bits.push_back(l.bits());
    std::sort(bits.begin(), bits.end());
    bits.erase(std::unique(bits.begin(), bits.end()), bits.end());
    policy::SubjectFacts facts;
    facts.project = ProjectFactsOf(project);
    facts.extract_approved = true;
    LINKD_RETURN_IF_ERROR(ctx.consents->AddFacts(bits, ctx.now, &facts));
    if (!ctx.policy->Evaluate(child_request, facts).allowed) {
      removed[static_cast<size_t>(i)] = true;
      ++result.removed_for_objection;
    }
  }

  // 4. Pseudonyms of the children released, in pseudonym order.
  LINKD_ASSIGN_OR_RETURN(extract::ProjectPseudonymizer pseudonyms,
                         ctx.release_key->ForProject(project.id()));
  std::vector<Child> children;
  children.reserve(cohort.suis.size());
  for (size_t i = 0; i < cohort.suis.size(); ++i) {
    if (removed[i]) continue;
    Child& c = children.emplace_back();
    c.sui = cohort.suis[i];
    c.index = i;
    LINKD_ASSIGN_OR_RETURN(c.pseudonym, pseudonyms.Pseudonym(c.sui));
    result.released_suis.push_back(c.sui);
  }
  result.released_children = children.size();
  std::sort(
      children.begin(), children.end(),
      [](const Child& a, const Child& b) { return a.pseudonym < b.pseudonym; });
  // Attributes, by rank in `children`.
  LINKD_ASSIGN_OR_RETURN(
      std::vector<std::string> by_sui,
      ChildAttributes(result.released_suis, spec.attributes, *links, sources));
  const size_t n_attr = spec.attributes.size();
  std::vector<std::string> attributes(children.size() * n_attr);
  for (size_t rank = 0; rank < children.size(); ++rank) {
    const int64_t i = IndexOf(result.released_suis, children[rank].sui);
    for (size_t a = 0; a < n_attr; ++a) {
      attributes[rank * n_attr + a] =
          std::move(by_sui[static_cast<size_t>(i) * n_attr + a]);
    }
  }
  // For quality, attributes by index in released_suis.
  std::vector<std::string> attributes_by_sui(attributes.size());
  std::vector<Child> quality_children = children;
  for (size_t rank = 0; rank < children.size(); ++rank) {
    const size_t i =
        static_cast<size_t>(IndexOf(result.released_suis, children[rank].sui));
    quality_children[rank].index = i;
    for (size_t a = 0; a < n_attr; ++a) {
      attributes_by_sui[i * n_attr + a] = attributes[rank * n_attr + a];
    }
  }

  // 5-6. The file.
  const std::string path =
      absl::StrCat(ctx.output_dir, "/", ExtractFileName(request));
  const std::string manifest_path = extract::ManifestPathFor(path);
  RemoveIfPresent(path);
  RemoveIfPresent(manifest_path);
  LINKD_ASSIGN_OR_RETURN(
      extract::ResearcherPublicKey recipient,
      extract::ResearcherPublicKey::FromBytes(project.researcher_public_key()));
  LINKD_ASSIGN_OR_RETURN(
      std::unique_ptr<extract::ExtractWriter> writer,
      extract::ExtractWriter::Create(path, recipient, spec.columns));
  if (spec.kind == v1::EXTRACT_KIND_JOURNEY) {
    LINKD_RETURN_IF_ERROR(
        WriteJourney(spec, cohort, children, attributes, writer.get()));
  } else {
    LINKD_RETURN_IF_ERROR(
        WriteAggregate(spec, children, attributes, writer.get()));
  }

  // 7. Quality.
  QualityInputs quality_in{&spec,
                           &quality_children,
                           &result.released_suis,
                           &attributes_by_sui,
                           links.get(),
                           &ctx};
  LINKD_ASSIGN_OR_RETURN(extract::v1::LinkageQuality quality,
                         Quality(quality_in, &result));

  LINKD_ASSIGN_OR_RETURN(result.file, writer->Finish());
  // 8. The manifest. From here on a failure removes the finished file.
  absl::Status s = [&]() -> absl::Status {
    extract::v1::Manifest manifest;
    manifest.set_project_id(project.id());
    manifest.set_request_id(absl::StrCat(request.id()));
    manifest.set_approval_id(request.approval_id());
    manifest.set_approver(request.decided_by());
    manifest.set_policy_version(result.decision.policy_version);
    manifest.set_policy_hash(result.decision.policy_hash);
    manifest.set_suppression_threshold(
        static_cast<uint32_t>(extract::kDefaultSuppressionThreshold));
    manifest.set_created_micros(absl::ToUnixMicros(ctx.now));
    for (const Coarsening& c : spec.coarsenings) {
      extract::v1::FieldCoarsening* fc = manifest.add_coarsenings();
      fc->set_field(c.field);
      if (c.mapping != nullptr) {
        fc->set_category_mapping(c.mapping->name());
        fc->set_category_mapping_digest(c.mapping->digest());
      } else {
        fc->set_date_granularity(c.granularity);
      }
    }
    *manifest.mutable_linkage_quality() = std::move(quality);
    LINKD_ASSIGN_OR_RETURN(
        result.manifest, extract::SignManifest(std::move(manifest), result.file,
                                               *ctx.signing_key));
    LINKD_RETURN_IF_ERROR(
        extract::WriteManifestFile(result.manifest, manifest_path));
    result.manifest_path = manifest_path;
    return absl::OkStatus();
  }();
  if (!s.ok()) {
    RemoveIfPresent(path);
    RemoveIfPresent(manifest_path);
    return s;
  }
  return result;
}

}  // namespace linkd::research
