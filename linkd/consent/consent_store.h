// linkd::consent: consent, objection and opt-out records per SUI
// (DESIGN.md section 6), recorded by IG officers and applied at decision
// time by the policy engine.
//
// Layout in Cf::kConsent (keys from linkd/store/key_codec.h):
//   (1, SUI u64, record id u64) -> linkd.v1.ConsentRecord
// A record stays under the SUI it was recorded against; a SUI merged into
// another keeps its records, and the survivor's facts include them (the
// caller passes the SUI's lineage, linker::Linker::Lineage).
#ifndef LINKD_CONSENT_CONSENT_STORE_H_
#define LINKD_CONSENT_CONSENT_STORE_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "linkd/store/store.h"
#include "linkd/v1/governance_service.pb.h"
#include "policies/engine/decision.h"

namespace linkd::consent {

// Thread-safe: reads run alongside writes; Add only adds to the caller's
// batch.
class ConsentStore {
 public:
  // `store` is not owned and must outlive this object.
  explicit ConsentStore(store::Store* store) : store_(store) {}

  // Adds `record` under SUI `sui` to `batch`, with a fresh random id (set in
  // the returned copy). INVALID_ARGUMENT naming the field for a record
  // without a kind or categories, or whose validity ends before it starts.
  absl::StatusOr<v1::ConsentRecord> Add(uint64_t sui, v1::ConsentRecord record,
                                        store::WriteBatch* batch) const;

  // Every record under `suis` (e.g. a SUI's lineage), oldest first by
  // recorded time. DATA_LOSS for a malformed stored record.
  absl::StatusOr<std::vector<v1::ConsentRecord>> List(
      absl::Span<const uint64_t> suis) const;

  // Adds the categories of the records under `suis` that are in force at
  // `at` to facts->objections / opt_outs / consents.
  absl::Status AddFacts(absl::Span<const uint64_t> suis, absl::Time at,
                        policy::SubjectFacts* facts) const;

  // Every SUI with at least one record, ascending (one scan of the family's
  // keys; values are not read): lets a bulk use such as a research release
  // look up the facts of the few children who have records instead of
  // every child's. DATA_LOSS for a malformed key.
  absl::StatusOr<std::vector<uint64_t>> SuisWithRecords() const;

 private:
  store::Store* const store_;
};

}  // namespace linkd::consent

#endif  // LINKD_CONSENT_CONSENT_STORE_H_
