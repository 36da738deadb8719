// Test-only helpers for linkd::blocking tests: real encodings (crypto
// Encoder under a fixed synthetic key) of invented people, including the
// synthetic population of tests/testing/synth. Never used by the library.
#ifndef LINKD_BLOCKING_BLOCKING_TEST_UTIL_H_
#define LINKD_BLOCKING_BLOCKING_TEST_UTIL_H_

#include <array>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "crypto/encoder.h"
#include "crypto/linkage_key.h"
#include "crypto/normalize.h"
#include "linkd/encode/proto_convert.h"
#include "linkd/v1/record.pb.h"
#include "tests/testing/synth/population.h"

namespace linkd::blocking::testing {

// Encoders for each synthetic source (their date formats differ) under one
// fixed key, plus an ISO-date encoder for hand-written identities.
class TestEncoder {
 public:
  explicit TestEncoder(char key_byte = 7) {
    absl::StatusOr<crypto::LinkageKey> key =
        crypto::LinkageKey::FromBytes(std::string(32, key_byte), 1);
    if (!key.ok()) std::abort();
    crypto::EncodeOptions options;
    options.latest_dob = crypto::Date{2024, 9, 1};
    iso_ = std::make_unique<crypto::Encoder>(*key, options);
    for (int s = 0; s < synth::kNumSources; ++s) {
      absl::StatusOr<crypto::DateFormat> format =
          crypto::DateFormat::FromPattern(
              synth::ColumnsOf(static_cast<synth::Source>(s)).date_pattern);
      if (!format.ok()) std::abort();
      options.date_format = *format;
      by_source_[s] = std::make_unique<crypto::Encoder>(*key, options);
    }
  }

  // Encodes a hand-written identity (dates as YYYY-MM-DD).
  linkd::v1::EncodedIdentity Encode(const crypto::ClearIdentity& in) const {
    linkd::v1::EncodedIdentity out;
    encode::ToProto(iso_->Encode(in, nullptr), &out);
    return out;
  }

  // Encodes one synthetic source record with its source's date format.
  linkd::v1::EncodedIdentity Encode(const synth::SourceRecord& r) const {
    crypto::ClearIdentity in;
    in.given_name = r.given_name;
    in.family_name = r.family_name;
    in.dob = r.dob;
    in.sex = r.sex;
    in.postcode = r.postcode;
    in.upn = r.upn;
    in.nhs_number = r.nhs_number;
    linkd::v1::EncodedIdentity out;
    encode::ToProto(by_source_[static_cast<int>(r.source)]->Encode(in, nullptr),
                    &out);
    return out;
  }

 private:
  std::unique_ptr<crypto::Encoder> iso_;
  std::array<std::unique_ptr<crypto::Encoder>, synth::kNumSources> by_source_;
};

// An invented child.
inline crypto::ClearIdentity Child(std::string given, std::string family,
                                   std::string dob, std::string postcode) {
  crypto::ClearIdentity c;
  c.given_name = std::move(given);
  c.family_name = std::move(family);
  c.dob = std::move(dob);
  c.sex = "F";
  c.postcode = std::move(postcode);
  return c;
}

}  // namespace linkd::blocking::testing

#endif  // LINKD_BLOCKING_BLOCKING_TEST_UTIL_H_
