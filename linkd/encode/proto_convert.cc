#include "linkd/encode/proto_convert.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace linkd::encode {
namespace {

template <size_t N>
void SetBytes(const std::array<uint8_t, N>& bytes, std::string* out) {
  out->assign(reinterpret_cast<const char*>(bytes.data()), N);
}

template <size_t N>
void SetOptional(const std::optional<std::array<uint8_t, N>>& bytes,
                 std::string* out) {
  if (bytes.has_value()) SetBytes(*bytes, out);
}

}  // namespace

void ToProto(const crypto::EncodedIdentity& in,
             linkd::v1::EncodedIdentity* out) {
  out->Clear();
  out->set_encoding_version(in.encoding_version);
  out->set_key_version(in.key_version);
  SetBytes(in.key_check, out->mutable_key_check());
  SetOptional(in.upn, out->mutable_upn());
  SetOptional(in.nhs_number, out->mutable_nhs_number());
  SetOptional(in.dob, out->mutable_dob());
  SetOptional(in.dob_year_month, out->mutable_dob_year_month());
  SetOptional(in.dob_year_day, out->mutable_dob_year_day());
  SetOptional(in.dob_month_day, out->mutable_dob_month_day());
  SetOptional(in.dob_unordered, out->mutable_dob_unordered());
  SetOptional(in.birth_year, out->mutable_birth_year());
  SetOptional(in.sex, out->mutable_sex());
  SetOptional(in.postcode_unit, out->mutable_postcode_unit());
  SetOptional(in.postcode_sector, out->mutable_postcode_sector());
  SetOptional(in.postcode_district, out->mutable_postcode_district());
  SetOptional(in.given_name_bf, out->mutable_given_name_bf());
  SetOptional(in.family_name_bf, out->mutable_family_name_bf());
  SetOptional(in.given_name_pc_bf, out->mutable_given_name_pc_bf());
  SetOptional(in.family_name_pc_bf, out->mutable_family_name_pc_bf());
}

void MakeIngestItem(std::string_view source, std::string_view record_id,
                    const crypto::EncodedIdentity& identity,
                    linkd::v1::IngestItem* out) {
  // IngestItem holds only the `kind` oneof. Reusing an existing record
  // keeps its allocated strings, which matters when one item is refilled
  // for every row of a file; every field is overwritten below.
  if (!out->has_record()) out->Clear();
  linkd::v1::EncodedRecord* record = out->mutable_record();
  record->set_source(source.data(), source.size());
  record->set_record_id(record_id.data(), record_id.size());
  record->clear_attributes();
  ToProto(identity, record->mutable_identity());
}

}  // namespace linkd::encode
