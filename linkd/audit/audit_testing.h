// Test-only helpers for linkd/audit's tests: a fresh Store in a temporary
// directory, synthetic audit entries (made-up organisations and SUIs, never
// derived from any person) and raw access to the stored log for tampering.
#ifndef LINKD_AUDIT_AUDIT_TESTING_H_
#define LINKD_AUDIT_AUDIT_TESTING_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "linkd/audit/audit_log.h"
#include "linkd/audit/log_format.h"
#include "linkd/store/store.h"
#include "linkd/util/status_matchers.h"
#include "linkd/util/temp_dir.h"

namespace linkd::audit::testing {

inline store::StoreOptions SmallStoreOptions(const std::string& path) {
  store::StoreOptions o;
  o.path = path;
  o.block_cache_mib = 8;
  o.memtable_budget_mib = 32;
  return o;
}

// A Store in its own temporary directory, which can be closed and reopened
// (as a stopped daemon's data directory would be).
class TestStore {
 public:
  TestStore() { Reopen(); }
  store::Store* get() { return store_.get(); }
  store::Store& operator*() { return *store_; }
  store::Store* operator->() { return store_.get(); }
  const std::string& path() const { return path_; }
  void Close() { store_.reset(); }
  void Reopen() {
    store_.reset();
    absl::StatusOr<std::unique_ptr<store::Store>> s =
        store::Store::Open(SmallStoreOptions(path_));
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }

  // Raw access to Cf::kAudit, bypassing the appender (for tampering).
  std::optional<std::string> Raw(const std::string& key) {
    absl::StatusOr<std::optional<std::string>> v =
        store_->Get(store::Cf::kAudit, key);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *v : std::nullopt;
  }
  void RawPut(const std::string& key, const std::string& value) {
    store::WriteBatch b = store_->NewBatch();
    b.Put(store::Cf::kAudit, key, value);
    ASSERT_TRUE(store_->Commit(std::move(b)).ok());
  }
  void RawDelete(const std::string& key) {
    store::WriteBatch b = store_->NewBatch();
    b.Delete(store::Cf::kAudit, key);
    ASSERT_TRUE(store_->Commit(std::move(b)).ok());
  }
  std::string Leaf(uint64_t seq) {
    std::optional<std::string> v = Raw(internal::LeafKey(seq));
    EXPECT_TRUE(v.has_value()) << "no leaf " << seq;
    return v.value_or("");
  }

 private:
  linkd::testing::TempDir dir_;
  std::string path_ = dir_.Sub("data");
  std::unique_ptr<store::Store> store_;
};

// A realistic synthetic entry number `i`.
inline v1::AuditEntry MakeEntry(uint64_t i) {
  v1::AuditEntry e;
  e.set_time_micros(1'700'000'000'000'000 + static_cast<int64_t>(i) * 1000);
  e.set_organisation(i % 3 == 0 ? "la/208"
                                : absl::StrCat("school/", 100000 + i % 17));
  e.set_method(i % 2 == 0 ? "/linkd.v1.IngestService/Upload"
                          : "/linkd.v1.LinkageService/Resolve");
  e.set_purpose("safeguarding");
  e.set_lawful_basis("public-task");
  e.set_policy_version("2025-01");
  e.set_policy_hash(std::string(32, static_cast<char>(i % 251)));
  e.set_decision(i % 10 == 7 ? v1::DECISION_DENIED : v1::DECISION_ALLOWED);
  e.set_reason(i % 10 == 7 ? "purpose not allowed for this organisation"
                           : "policy allows");
  e.set_status_code(i % 10 == 7 ? 7 : 0);
  e.add_suis(absl::StrCat("SUI-", i % 50));
  if (i % 4 == 0) e.add_suis(absl::StrCat("SUI-", (i / 4) % 50 + 50));
  v1::RecordRef* r = e.add_records();
  r->set_source(absl::StrCat("school/", 100000 + i % 17));
  r->set_record_id(absl::StrCat("R", 1000000 + i));
  e.set_request_id(absl::StrCat("req-", i));
  (*e.mutable_details())["count"] = absl::StrCat(i % 1000);
  (*e.mutable_details())["project"] = "P12";
  return e;
}

// Appends entries [from, to) in batches of `per_batch`, unsynced.
inline void AppendRange(AuditLog* log, store::Store* store, uint64_t from,
                        uint64_t to, size_t per_batch = 50) {
  store::CommitOptions fast;
  fast.sync = false;
  std::vector<v1::AuditEntry> entries;
  for (uint64_t i = from; i < to; i += per_batch) {
    entries.clear();
    for (uint64_t j = i; j < std::min<uint64_t>(to, i + per_batch); ++j) {
      entries.push_back(MakeEntry(j));
    }
    absl::StatusOr<AppendResult> r =
        log->AppendAndCommit(store->NewBatch(), entries, fast);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->first_seq, i);
  }
}

}  // namespace linkd::audit::testing

#endif  // LINKD_AUDIT_AUDIT_TESTING_H_
