// Test-only helpers for code that uses linkd::store: a fresh temporary data
// directory per test, and synthetic encoded records (random tokens from a
// seeded generator, never derived from any person). Linked through
// linkd::store_testing; never used by production code.
#ifndef LINKD_STORE_STORE_TESTING_H_
#define LINKD_STORE_STORE_TESTING_H_

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <system_error>

#include "gtest/gtest.h"
#include "linkd/v1/record.pb.h"

namespace linkd::store::testing {

// A directory path unique to this process and test, removed (recursively)
// on destruction. The directory itself is not created, so tests can also
// check "missing directory" behaviour. Not thread-safe.
class ScopedTempDir {
 public:
  ScopedTempDir() {
    static std::atomic<int> counter{0};
    const ::testing::TestInfo* info =
        ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = "linkd_store";
    if (info != nullptr) {
      name += std::string("_") + info->test_suite_name() + "_" + info->name();
    }
    for (char& c : name) {
      if (c == '/') c = '_';
    }
    name += "_" + std::to_string(::getpid()) + "_" +
            std::to_string(counter.fetch_add(1));
    path_ = (std::filesystem::path(::testing::TempDir()) / name).string();
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ~ScopedTempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::string& path() const { return path_; }
  // A path below this directory.
  std::string Sub(const std::string& name) const {
    return (std::filesystem::path(path_) / name).string();
  }

 private:
  std::string path_;
};

// Deterministic synthetic encoded records. Tokens are random bytes of the
// real sizes (32-byte tokens, 128-byte Bloom filters); no person behind them.
class SyntheticRecords {
 public:
  explicit SyntheticRecords(uint64_t seed) : rng_(seed) {}

  std::string Bytes(size_t n) {
    std::string out(n, '\0');
    for (size_t i = 0; i < n; i += 8) {
      uint64_t v = rng_();
      for (size_t j = 0; j < 8 && i + j < n; ++j) {
        out[i + j] = static_cast<char>(v >> (8 * j));
      }
    }
    return out;
  }

  // A full identity: every field set.
  linkd::v1::EncodedIdentity Identity() {
    linkd::v1::EncodedIdentity id;
    id.set_encoding_version(2);  // crypto::kEncodingVersion (no dependency)
    id.set_key_version(1);
    id.set_key_check(Bytes(8));
    id.set_upn(Bytes(32));
    id.set_nhs_number(Bytes(32));
    id.set_dob(Bytes(32));
    id.set_dob_year_month(Bytes(32));
    id.set_dob_year_day(Bytes(32));
    id.set_dob_month_day(Bytes(32));
    id.set_dob_unordered(Bytes(32));
    id.set_birth_year(Bytes(32));
    id.set_sex(Bytes(32));
    id.set_postcode_unit(Bytes(32));
    id.set_postcode_sector(Bytes(32));
    id.set_postcode_district(Bytes(32));
    id.set_given_name_bf(Bytes(128));
    id.set_family_name_bf(Bytes(128));
    id.set_given_name_pc_bf(Bytes(128));
    id.set_family_name_pc_bf(Bytes(128));
    return id;
  }

  linkd::v1::EncodedRecord Record(const std::string& source,
                                  const std::string& record_id) {
    linkd::v1::EncodedRecord r;
    r.set_source(source);
    r.set_record_id(record_id);
    *r.mutable_identity() = Identity();
    return r;
  }

  std::mt19937_64& rng() { return rng_; }

 private:
  std::mt19937_64 rng_;
};

}  // namespace linkd::store::testing

#endif  // LINKD_STORE_STORE_TESTING_H_
