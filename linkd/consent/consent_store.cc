#include "linkd/consent/consent_store.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "linkd/store/key_codec.h"
#include "linkd/util/status_macros.h"

namespace linkd::consent {
namespace {

constexpr uint8_t kTagRecord = 1;

std::string RecordKey(uint64_t sui, uint64_t id) {
  return store::KeyBuilder().AddU8(kTagRecord).AddU64(sui).AddU64(id).key();
}

std::string SuiPrefix(uint64_t sui) {
  return store::KeyBuilder().AddU8(kTagRecord).AddU64(sui).key();
}

bool InForce(const v1::ConsentRecord& r, int64_t at) {
  return r.valid_from_micros() <= at &&
         (r.valid_until_micros() == 0 || at < r.valid_until_micros());
}

}  // namespace

absl::StatusOr<v1::ConsentRecord> ConsentStore::Add(
    uint64_t sui, v1::ConsentRecord record, store::WriteBatch* batch) const {
  if (record.kind() == v1::ConsentRecord::KIND_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        "kind: must be KIND_CONSENT, KIND_OBJECTION or KIND_OPT_OUT");
  }
  if (record.categories().empty()) {
    return absl::InvalidArgumentError(
        "categories: name the purpose categories (e.g. research) or all");
  }
  for (const std::string& c : record.categories()) {
    if (c.empty()) {
      return absl::InvalidArgumentError("categories: empty category");
    }
  }
  if (record.valid_until_micros() != 0 &&
      record.valid_until_micros() <= record.valid_from_micros()) {
    return absl::InvalidArgumentError(
        "valid_until_micros: must be after valid_from_micros");
  }
  uint64_t id = 0;
  while (id == 0) randombytes_buf(&id, sizeof(id));
  record.set_id(id);
  batch->Put(store::Cf::kConsent, RecordKey(sui, id),
             record.SerializeAsString());
  return record;
}

absl::StatusOr<std::vector<v1::ConsentRecord>> ConsentStore::List(
    absl::Span<const uint64_t> suis) const {
  std::vector<v1::ConsentRecord> out;
  const store::Snapshot snapshot = store_->GetSnapshot();
  store::ScanOptions options;
  options.snapshot = &snapshot;
  for (uint64_t sui : suis) {
    LINKD_RETURN_IF_ERROR(store_->ScanPrefix(
        store::Cf::kConsent, SuiPrefix(sui),
        [&](std::string_view, std::string_view value) -> absl::StatusOr<bool> {
          v1::ConsentRecord r;
          if (!r.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
            return absl::DataLossError("consent: malformed stored record");
          }
          out.push_back(std::move(r));
          return true;
        },
        options));
  }
  std::sort(out.begin(), out.end(),
            [](const v1::ConsentRecord& a, const v1::ConsentRecord& b) {
              return a.recorded_micros() < b.recorded_micros();
            });
  return out;
}

absl::Status ConsentStore::AddFacts(absl::Span<const uint64_t> suis,
                                    absl::Time at,
                                    policy::SubjectFacts* facts) const {
  LINKD_ASSIGN_OR_RETURN(std::vector<v1::ConsentRecord> records, List(suis));
  const int64_t now = absl::ToUnixMicros(at);
  for (const v1::ConsentRecord& r : records) {
    if (!InForce(r, now)) continue;
    std::vector<std::string>* into = nullptr;
    switch (r.kind()) {
      case v1::ConsentRecord::KIND_CONSENT:
        into = &facts->consents;
        break;
      case v1::ConsentRecord::KIND_OBJECTION:
        into = &facts->objections;
        break;
      case v1::ConsentRecord::KIND_OPT_OUT:
        into = &facts->opt_outs;
        break;
      default:
        continue;
    }
    for (const std::string& c : r.categories()) {
      if (std::find(into->begin(), into->end(), c) == into->end()) {
        into->push_back(c);
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint64_t>> ConsentStore::SuisWithRecords() const {
  std::vector<uint64_t> out;
  const std::string prefix = store::KeyBuilder().AddU8(kTagRecord).key();
  LINKD_RETURN_IF_ERROR(store_->ScanPrefix(
      store::Cf::kConsent, prefix,
      [&](std::string_view key, std::string_view) -> absl::StatusOr<bool> {
        absl::StatusOr<store::KeyReader> reader = store::KeyReader::Create(key);
        if (!reader.ok() || !reader->ReadU8().ok()) {
          return absl::DataLossError("malformed consent key");
        }
        absl::StatusOr<uint64_t> sui = reader->ReadU64();
        if (!sui.ok()) return absl::DataLossError("malformed consent key");
        if (out.empty() || out.back() != *sui) out.push_back(*sui);
        return true;
      }));
  return out;
}

}  // namespace linkd::consent
