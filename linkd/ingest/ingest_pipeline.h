// The ingest pipeline: validates a batch of encoded items and commits the
// accepted ones in one durable WriteBatch.
#ifndef LINKD_INGEST_INGEST_PIPELINE_H_
#define LINKD_INGEST_INGEST_PIPELINE_H_

#include <array>
#include <cstdint>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "linkd/store/record_store.h"
#include "linkd/store/store.h"
#include "linkd/util/clock.h"
#include "linkd/v1/ingest_service.pb.h"

namespace linkd::ingest {

struct PipelineOptions {
  // Batches with more items are refused whole.
  uint32_t max_batch_items = 10000;
};

// Thread-safe. Batches are applied one at a time (linkd has one writer), in
// the order Apply() is entered.
class IngestPipeline {
 public:
  // `store` and `clock` must outlive the pipeline. Reads the key checks seen
  // so far. Returns the store's error if they cannot be read.
  static absl::StatusOr<std::unique_ptr<IngestPipeline>> Create(
      store::Store* store, const util::Clock* clock, PipelineOptions options);

  // Validates every item and commits the valid ones in one synced
  // WriteBatch; returns the acknowledgement once the batch is durable.
  // Invalid items are listed in the ack's rejections and nothing of them is
  // stored. A record whose key_check differs from the one first seen for its
  // key_version (encoded with another linkage key) is refused with
  // FAILED_PRECONDITION.
  //
  // Returns INVALID_ARGUMENT if the batch has more than max_batch_items
  // items, or the store's error (UNAVAILABLE, DATA_LOSS, INTERNAL) if the
  // commit fails; in both cases nothing of the batch is stored.
  absl::StatusOr<v1::IngestAck> Apply(const v1::IngestBatch& batch);

 private:
  using KeyCheck = std::string;
  IngestPipeline(store::Store* store, const util::Clock* clock,
                 PipelineOptions options,
                 absl::flat_hash_map<uint32_t, KeyCheck> key_checks);

  store::Store* const store_;
  store::RecordStore records_;
  const util::Clock* const clock_;
  const PipelineOptions options_;

  absl::Mutex mu_;
  // key_version -> key_check of the linkage key that version names.
  absl::flat_hash_map<uint32_t, KeyCheck> key_checks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace linkd::ingest

#endif  // LINKD_INGEST_INGEST_PIPELINE_H_
