// Test support: real encoded records of synthetic people, made with the real
// crypto encoder and a fresh random key. Test-only (linkd::ingest_testing).
#ifndef LINKD_INGEST_TEST_RECORDS_H_
#define LINKD_INGEST_TEST_RECORDS_H_

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "crypto/crypto.h"
#include "crypto/encoder.h"
#include "crypto/linkage_key.h"
#include "linkd/encode/proto_convert.h"
#include "linkd/v1/record.pb.h"

namespace linkd::testing {

// Encodes synthetic people under one random linkage key.
class TestRecords {
 public:
  explicit TestRecords(uint32_t key_version = 1)
      : key_(NewKey(key_version)), encoder_(key_) {}

  // A record for synthetic person `n` (names and dates derived from n).
  v1::IngestItem Item(const std::string& source, const std::string& record_id,
                      int n) const {
    static const char* const kGiven[] = {"Amelia",   "Oliver", "Zoë",
                                         "Mohammed", "Isla",   "Noah"};
    static const char* const kFamily[] = {"Smith", "O'Brien", "Khan",
                                          "Nowak", "Okafor",  "Jones"};
    crypto::ClearIdentity clear;
    clear.given_name = absl::StrCat(kGiven[n % 6], n % 7 == 0 ? "a" : "");
    clear.family_name = kFamily[(n / 6) % 6];
    clear.dob = absl::StrFormat("%04d-%02d-%02d", 2008 + n % 12, 1 + n % 12,
                                1 + n % 28);
    clear.sex = n % 2 == 0 ? "F" : "M";
    clear.postcode = absl::StrFormat("LS%d %dAB", 1 + n % 20, n % 10);
    v1::IngestItem item;
    encode::MakeIngestItem(source, record_id, encoder_.Encode(clear, nullptr),
                           &item);
    return item;
  }

 private:
  static crypto::LinkageKey NewKey(uint32_t version) {
    (void)crypto::Init();  // idempotent; a failure shows in Generate
    return crypto::LinkageKey::Generate(version);
  }

  crypto::LinkageKey key_;
  crypto::Encoder encoder_;
};

}  // namespace linkd::testing

#endif  // LINKD_INGEST_TEST_RECORDS_H_
