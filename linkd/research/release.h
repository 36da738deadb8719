// linkd::research release: makes the encrypted extract file and its signed
// manifest for one approved request (DESIGN.md section 8, the "safe data"
// and "safe outputs" of the Five Safes):
//   1. the request must be exactly what was approved (its canonical hash,
//      spec.h RequestHash, equals the approved one) under the same project
//      version, and the policy must allow extract.release to the project
//      now (project approved, not past its end date, fields disclosed);
//   2. the cohort is selected from one snapshot (cohort.h);
//   3. children with an objection or opt-out that applies to research are
//      removed: the policy engine decides each child that has consent
//      records, with the facts in force now; the number removed goes to the
//      IG team (ReleaseResult), never into the extract or its manifest;
//   4. each child gets the project's pseudonym (extract/pseudonym.h);
//      SUIs, record references and source names never leave;
//   5. journeys: one row per listed event, children in pseudonym order,
//      events in date order; a child without a listed event gets one row
//      with empty event fields. Aggregates: counts of children by one or two
//      attributes with totals, every count below 10 (zero included)
//      suppressed and secondary suppression applied (extract/suppression.h);
//      suppressed counts are written "c";
//   6. dates and categories are coarsened as approved (extract/coarsen.h);
//      a value a mapping does not know stops the release;
//   7. linkage-quality metadata: link rates by source and by released
//      attribute category (subgroups under 10 records left out), the match
//      weights of a sample of the links behind the extract under the
//      current model with the model's mean posterior as estimated
//      precision, and honest counts (records, SUIs, open reviews, model
//      version) in the method text;
//   8. the CSV is encrypted to the project's researcher key and the
//      manifest signed (extract/extract_file.h).
#ifndef LINKD_RESEARCH_RELEASE_H_
#define LINKD_RESEARCH_RELEASE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "linkd/consent/consent_store.h"
#include "linkd/extract/extract_file.h"
#include "linkd/extract/pseudonym.h"
#include "linkd/extract/signing_key.h"
#include "linkd/linker/linker.h"
#include "linkd/research/cohort.h"
#include "linkd/store/record_store.h"
#include "linkd/store/store.h"
#include "linkd/v1/extract_service.pb.h"
#include "policies/engine/policy_set.h"

namespace linkd::research {

// What a release reads and signs with. Pointers are not owned and must
// outlive the call.
struct ReleaseContext {
  store::Store* store = nullptr;
  const linker::Linker* linker = nullptr;
  const store::RecordStore* records = nullptr;
  const consent::ConsentStore* consents = nullptr;
  EventScan events;  // may be empty
  const extract::ReleaseKey* release_key = nullptr;
  const extract::SigningKey* signing_key = nullptr;
  std::shared_ptr<const policy::PolicySet> policy;
  // Where the extract and manifest files are written (must exist).
  std::string output_dir;
  absl::Time now;
  // Children sampled for the match-weight distribution.
  size_t quality_sample_children = 5000;
};

struct ReleaseResult {
  // The extract.release decision for the project (purpose, lawful basis,
  // policy version for the audit entry).
  policy::Decision decision;
  uint64_t cohort_children = 0;
  // IG only: removed because an objection or opt-out applies.
  uint64_t removed_for_objection = 0;
  uint64_t released_children = 0;
  // The released children's SUIs (for the audit entries), ascending.
  std::vector<uint64_t> released_suis;
  extract::ExtractFileInfo file;
  std::string manifest_path;
  extract::v1::SignedManifest manifest;
  // Counts for the IG view and the audit entry.
  uint64_t records_linked = 0;
  uint64_t active_suis = 0;
  uint64_t open_reviews = 0;
  uint64_t model_version = 0;
};

// The extract file name of `request` in the output directory.
std::string ExtractFileName(const v1::ExtractRequest& request);

// Makes the release of `request` (state APPROVED, with its approval) of
// `project`. On success both files exist, synced; on failure neither does.
// Returns FAILED_PRECONDITION if the request is not what was approved, the
// project changed since, or the policy refuses the release (e.g. the
// project has ended; the decision's reason says why); PERMISSION_DENIED if
// the policy denies it otherwise; INVALID_ARGUMENT for a value a category
// mapping refuses or a request that no longer parses; store and I/O
// errors. Thread-safe with respect to other readers; one release at a time
// per request.
absl::StatusOr<ReleaseResult> MakeRelease(const v1::ExtractRequest& request,
                                          const v1::Project& project,
                                          const ReleaseContext& context);

// The extract.release decision for `project` at `now` (no child's facts):
// also what a download is decided by. `fields` are the released columns.
policy::Decision ReleaseDecision(const policy::PolicySet& policy,
                                 const v1::Project& project,
                                 const std::vector<std::string>& fields,
                                 absl::Time now);

}  // namespace linkd::research

#endif  // LINKD_RESEARCH_RELEASE_H_
