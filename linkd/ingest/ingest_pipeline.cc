#include "linkd/ingest/ingest_pipeline.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "linkd/ingest/validate.h"
#include "linkd/store/key_codec.h"
#include "linkd/util/status_macros.h"

namespace linkd::ingest {
namespace {

// Metadata keys (Cf::kDefault): ("key_check", key_version) -> key_check.
constexpr std::string_view kKeyCheckTag = "key_check";

std::string KeyCheckKey(uint32_t key_version) {
  return store::KeyBuilder().AddString(kKeyCheckTag).AddU32(key_version).key();
}

std::string KeyCheckPrefix() {
  return store::KeyBuilder().AddString(kKeyCheckTag).key();
}

void Reject(v1::IngestAck* ack, uint32_t index, const absl::Status& status) {
  v1::ItemRejection* r = ack->add_rejections();
  r->set_index(index);
  r->set_code(static_cast<int32_t>(status.code()));
  // Validation messages are "<field>: <reason>".
  const absl::string_view message = status.message();
  const size_t colon = message.find(": ");
  if (colon != absl::string_view::npos) {
    r->set_field(std::string(message.substr(0, colon)));
  }
  r->set_message(std::string(message));
  ack->set_rejected(ack->rejected() + 1);
}

}  // namespace

absl::StatusOr<std::unique_ptr<IngestPipeline>> IngestPipeline::Create(
    store::Store* store, const util::Clock* clock, PipelineOptions options) {
  absl::flat_hash_map<uint32_t, KeyCheck> key_checks;
  LINKD_RETURN_IF_ERROR(store->ScanPrefix(
      store::Cf::kDefault, KeyCheckPrefix(),
      [&](std::string_view key,
          std::string_view value) -> absl::StatusOr<bool> {
        LINKD_ASSIGN_OR_RETURN(store::KeyReader reader,
                               store::KeyReader::Create(key));
        LINKD_RETURN_IF_ERROR(reader.ReadString().status());
        LINKD_ASSIGN_OR_RETURN(uint32_t version, reader.ReadU32());
        key_checks[version] = std::string(value);
        return true;
      }));
  return std::unique_ptr<IngestPipeline>(
      new IngestPipeline(store, clock, options, std::move(key_checks)));
}

IngestPipeline::IngestPipeline(
    store::Store* store, const util::Clock* clock, PipelineOptions options,
    absl::flat_hash_map<uint32_t, KeyCheck> key_checks)
    : store_(store),
      records_(store),
      clock_(clock),
      options_(options),
      key_checks_(std::move(key_checks)) {}

absl::StatusOr<v1::IngestAck> IngestPipeline::Apply(
    const v1::IngestBatch& batch) {
  if (batch.items_size() > static_cast<int>(options_.max_batch_items)) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch: ", batch.items_size(), " items; the limit is ",
                     options_.max_batch_items));
  }
  v1::IngestAck ack;
  ack.set_batch_seq(batch.batch_seq());

  absl::MutexLock lock(&mu_);
  store::WriteBatch write = store_->NewBatch();
  // Key checks first seen in this batch; remembered only once committed.
  absl::flat_hash_map<uint32_t, KeyCheck> new_key_checks;
  std::vector<const v1::EncodedRecord*> records;
  records.reserve(batch.items_size());
  for (int i = 0; i < batch.items_size(); ++i) {
    const v1::IngestItem& item = batch.items(i);
    if (absl::Status s = ValidateItem(item); !s.ok()) {
      Reject(&ack, i, s);
      continue;
    }
    const v1::EncodedIdentity& id = item.record().identity();
    const KeyCheck* known = nullptr;
    if (auto it = key_checks_.find(id.key_version()); it != key_checks_.end()) {
      known = &it->second;
    } else if (auto nit = new_key_checks.find(id.key_version());
               nit != new_key_checks.end()) {
      known = &nit->second;
    }
    if (known == nullptr) {
      new_key_checks[id.key_version()] = id.key_check();
      write.Put(store::Cf::kDefault, KeyCheckKey(id.key_version()),
                id.key_check());
    } else if (*known != id.key_check()) {
      Reject(&ack, i,
             absl::FailedPreconditionError(absl::StrCat(
                 "record.identity.key_check: encoded with a different "
                 "linkage key than earlier records of key version ",
                 id.key_version(),
                 "; check the provider's key file with the key custodian")));
      continue;
    }
    records.push_back(&item.record());
  }

  LINKD_ASSIGN_OR_RETURN(std::vector<store::IngestOutcome> outcomes,
                         records_.Stage(records, clock_->Now(), &write));
  LINKD_RETURN_IF_ERROR(store_->Commit(std::move(write)));
  for (auto& [version, check] : new_key_checks) {
    key_checks_[version] = std::move(check);
  }
  for (const store::IngestOutcome& outcome : outcomes) {
    switch (outcome.result) {
      case store::IngestResult::kAccepted:
        ack.set_accepted(ack.accepted() + 1);
        break;
      case store::IngestResult::kUnchanged:
        ack.set_unchanged(ack.unchanged() + 1);
        break;
      case store::IngestResult::kUpdated:
        ack.set_updated(ack.updated() + 1);
        break;
    }
  }
  return ack;
}

}  // namespace linkd::ingest
