// Test support for linkd::research: a real store, linker, record store and
// consent store in a temp dir, synthetic children encoded with the real
// encoder and linked as the ingest pipeline links them, and events kept in
// memory in the shape the event store yields them. Test-only.
#ifndef LINKD_RESEARCH_RESEARCH_TESTING_H_
#define LINKD_RESEARCH_RESEARCH_TESTING_H_

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "crypto/crypto.h"
#include "crypto/encoder.h"
#include "crypto/linkage_key.h"
#include "gtest/gtest.h"
#include "linkd/blocking/blocking_index.h"
#include "linkd/consent/consent_store.h"
#include "linkd/encode/proto_convert.h"
#include "linkd/linker/linker.h"
#include "linkd/research/cohort.h"
#include "linkd/store/record_store.h"
#include "linkd/store/store.h"
#include "linkd/util/status_matchers.h"
#include "linkd/util/temp_dir.h"
#include "policies/engine/policy_set.h"

namespace linkd::research::testing {

class ResearchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_THAT(crypto::Init(), linkd::testing::IsOk());
    store::StoreOptions options;
    options.path = dir_.Sub("db");
    options.block_cache_mib = 8;
    auto s = store::Store::Open(options);
    ASSERT_THAT(s, linkd::testing::IsOk());
    store_ = *std::move(s);
    auto keys = blocking::KeyGenerator::Create(blocking::BlockingConfig());
    ASSERT_THAT(keys, linkd::testing::IsOk());
    keys_ = *std::move(keys);
    index_ =
        std::make_unique<blocking::BlockingIndex>(store_.get(), keys_.get());
    linker_ = std::make_unique<linker::Linker>(store_.get(), index_.get(),
                                               linker::LinkerOptions());
    records_ = std::make_unique<store::RecordStore>(store_.get());
    consents_ = std::make_unique<consent::ConsentStore>(store_.get());
    auto policy = policy::PolicySet::LoadDir(LINKD_SOURCE_DIR "/policies");
    ASSERT_THAT(policy, linkd::testing::IsOk());
    policy_ = *std::move(policy);
  }

  // Synthetic child `n` (0..9999): a made-up name, a date of birth and a
  // postcode of its own, so that two children never link.
  static crypto::ClearIdentity Child(int n) {
    static const char* const kGiven[] = {"Amarantha", "Bellwyn",  "Corvenna",
                                         "Dastrelle", "Evanthor", "Faldrine",
                                         "Gorvanel",  "Halvinne"};
    static const char* const kFirst[] = {"Quill", "Rasten", "Sollow", "Thren",
                                         "Umber", "Vex",    "Wyrd",   "Yarrow",
                                         "Zeph",  "Brack",  "Crom",   "Drey"};
    static const char* const kSecond[] = {"borne", "ford",   "mere",  "nick",
                                          "lain",  "holme",  "stead", "wick",
                                          "combe", "thorpe", "by",    "gate"};
    // Letters a postcode's inward code may use.
    static const char kLetters[] = "ABDEFGHJLNPQRSTUWXYZ";
    crypto::ClearIdentity c;
    c.given_name = kGiven[n % 8];
    c.family_name = absl::StrCat(kFirst[n / 8 % 12], kSecond[n / 96 % 12],
                                 n / 1152 % 2 ? "e" : "");
    const absl::CivilDay dob = absl::CivilDay(2008, 1, 1) + n * 3;
    c.dob =
        absl::StrFormat("%04d-%02d-%02d", dob.year(), dob.month(), dob.day());
    c.sex = n % 2 == 0 ? "F" : "M";
    c.postcode = absl::StrFormat("LS%d %d%c%c", 1 + n % 25, n / 25 % 10,
                                 kLetters[n / 250 % 20], kLetters[n % 20]);
    return c;
  }

  // Stores and links one record of child `n`, as the ingest pipeline does.
  void Ingest(const std::string& source, const std::string& id, int n,
              std::map<std::string, std::string> attributes = {},
              absl::Duration later = absl::ZeroDuration()) {
    v1::EncodedRecord record;
    record.set_source(source);
    record.set_record_id(id);
    encode::ToProto(encoder_.Encode(Child(n), nullptr),
                    record.mutable_identity());
    for (const auto& [k, v] : attributes) {
      (*record.mutable_attributes())[k] = v;
    }
    const absl::Time when = now_ + later;
    store::WriteBatch batch = store_->NewBatch();
    const v1::EncodedRecord* p = &record;
    auto staged = records_->Stage({&p, 1}, when, &batch);
    ASSERT_THAT(staged, linkd::testing::IsOk());
    const std::string key = store::RecordKey(source, id);
    linker::LinkInput input{key, &record.identity(), (*staged)[0].revision};
    auto outcomes = linker_->Link({&input, 1}, when, &batch);
    ASSERT_THAT(outcomes, linkd::testing::IsOk());
    ASSERT_THAT(store_->Commit(std::move(batch)), linkd::testing::IsOk());
  }

  uint64_t SuiOf(const std::string& source, const std::string& id) {
    auto s = linker_->Resolve(store::RecordKey(source, id));
    EXPECT_THAT(s, linkd::testing::IsOk());
    if (!s.ok() || !s->has_value()) return 0;
    return (*s)->bits();
  }

  // An event reported with record (source, id).
  void AddEvent(const std::string& source, const std::string& id,
                EventKind kind, const std::string& date) {
    auto d = ParseDate(date, "date");
    ASSERT_THAT(d, linkd::testing::IsOk());
    events_.emplace_back(store::RecordKey(source, id), kind, *d);
  }

  // The events above, as an event store yields them.
  EventScan Events() const {
    return [this](const store::Snapshot*, EventVisitor visit) -> absl::Status {
      for (const auto& [key, kind, date] : events_) {
        absl::StatusOr<bool> more = visit(key, kind, date);
        if (!more.ok()) return more.status();
        if (!*more) break;
      }
      return absl::OkStatus();
    };
  }

  // Records an objection (or opt-out) covering `categories` for the SUI.
  void Object(uint64_t sui, v1::ConsentRecord::Kind kind,
              const std::string& category) {
    v1::ConsentRecord r;
    r.set_kind(kind);
    r.add_categories(category);
    r.set_valid_from_micros(absl::ToUnixMicros(now_ - absl::Hours(24)));
    r.set_recorded_by("la/999-ig");
    store::WriteBatch batch = store_->NewBatch();
    ASSERT_THAT(consents_->Add(sui, r, &batch), linkd::testing::IsOk());
    ASSERT_THAT(store_->Commit(std::move(batch)), linkd::testing::IsOk());
  }

  CohortSources Sources(const store::Snapshot* snapshot = nullptr) const {
    CohortSources s;
    s.linker = linker_.get();
    s.records = records_.get();
    s.snapshot = snapshot;
    s.events = Events();
    return s;
  }

  linkd::testing::TempDir dir_;
  crypto::LinkageKey key_ = crypto::LinkageKey::Generate(1);
  crypto::Encoder encoder_{key_};
  absl::Time now_ = absl::FromUnixSeconds(1760000000);  // 2025-10-09
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<blocking::KeyGenerator> keys_;
  std::unique_ptr<blocking::BlockingIndex> index_;
  std::unique_ptr<linker::Linker> linker_;
  std::unique_ptr<store::RecordStore> records_;
  std::unique_ptr<consent::ConsentStore> consents_;
  std::shared_ptr<const policy::PolicySet> policy_;
  std::vector<std::tuple<std::string, EventKind, DateNumber>> events_;
};

// A project approved for research_extract with every research field, from
// 2020-09-01 to 2026-08-31, ending on 2026-12-31.
inline v1::Project TestProject(const std::string& id, std::string public_key) {
  v1::Project p;
  p.set_id(id);
  p.set_title("Education after social care (synthetic test)");
  p.set_lead_organisation(absl::StrCat("research/", id));
  p.set_researcher_public_key(std::move(public_key));
  p.set_ethics_reference("REC 25/YH/0001");
  p.set_data_processing_agreement("DPA-2025-042");
  p.add_approved_purposes("research_extract");
  for (const char* f : {"project_pseudonym", "year_group", "sen_status",
                        "fsm_eligible", "ethnicity_code", "la_code",
                        "birth_month", "event_type", "event_date"}) {
    p.add_approved_fields(f);
  }
  p.set_period_start("2020-09-01");
  p.set_period_end("2026-08-31");
  p.set_end_date("2026-12-31");
  p.set_version(1);
  return p;
}

}  // namespace linkd::research::testing

#endif  // LINKD_RESEARCH_RESEARCH_TESTING_H_
