#include "linkd/encode/proto_convert.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace linkd::encode {
namespace {

template <size_t N>
std::array<uint8_t, N> Filled(uint8_t start) {
  std::array<uint8_t, N> bytes;
  for (size_t i = 0; i < N; ++i) bytes[i] = static_cast<uint8_t>(start + i);
  return bytes;
}

template <size_t N>
std::string AsString(const std::array<uint8_t, N>& bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), N);
}

TEST(ProtoConvertTest, CopiesPresentFieldsAndLeavesAbsentOnesEmpty) {
  crypto::EncodedIdentity in;
  in.encoding_version = 7;
  in.key_version = 3;
  in.key_check = Filled<crypto::kKeyCheckBytes>(200);
  in.upn = Filled<crypto::kTokenBytes>(1);
  in.dob = Filled<crypto::kTokenBytes>(2);
  in.dob_unordered = Filled<crypto::kTokenBytes>(3);
  in.postcode_district = Filled<crypto::kTokenBytes>(4);
  in.family_name_bf = Filled<crypto::kBloomBytes>(5);
  in.given_name_pc_bf = Filled<crypto::kBloomBytes>(6);

  linkd::v1::EncodedIdentity out;
  out.set_nhs_number("stale");  // must be cleared
  ToProto(in, &out);
  EXPECT_EQ(out.encoding_version(), 7u);
  EXPECT_EQ(out.key_version(), 3u);
  EXPECT_EQ(out.key_check(), AsString(in.key_check));
  EXPECT_EQ(out.upn(), AsString(*in.upn));
  EXPECT_EQ(out.dob(), AsString(*in.dob));
  EXPECT_EQ(out.dob_unordered(), AsString(*in.dob_unordered));
  EXPECT_EQ(out.postcode_district(), AsString(*in.postcode_district));
  EXPECT_EQ(out.family_name_bf(), AsString(*in.family_name_bf));
  EXPECT_EQ(out.family_name_bf().size(), crypto::kBloomBytes);
  EXPECT_EQ(out.given_name_pc_bf(), AsString(*in.given_name_pc_bf));
  EXPECT_TRUE(out.family_name_pc_bf().empty());
  EXPECT_TRUE(out.nhs_number().empty());
  EXPECT_TRUE(out.dob_year_month().empty());
  EXPECT_TRUE(out.dob_year_day().empty());
  EXPECT_TRUE(out.dob_month_day().empty());
  EXPECT_TRUE(out.birth_year().empty());
  EXPECT_TRUE(out.sex().empty());
  EXPECT_TRUE(out.postcode_unit().empty());
  EXPECT_TRUE(out.postcode_sector().empty());
  EXPECT_TRUE(out.given_name_bf().empty());
}

TEST(ProtoConvertTest, EveryTokenAndFilterFieldIsCopied) {
  crypto::EncodedIdentity in;
  uint8_t start = 0;
  for (auto* token :
       {&in.upn, &in.nhs_number, &in.dob, &in.dob_year_month, &in.dob_year_day,
        &in.dob_month_day, &in.dob_unordered, &in.birth_year, &in.sex,
        &in.postcode_unit, &in.postcode_sector, &in.postcode_district}) {
    *token = Filled<crypto::kTokenBytes>(start += 32);
  }
  in.given_name_bf = Filled<crypto::kBloomBytes>(9);
  in.family_name_bf = Filled<crypto::kBloomBytes>(10);
  in.given_name_pc_bf = Filled<crypto::kBloomBytes>(11);
  in.family_name_pc_bf = Filled<crypto::kBloomBytes>(12);
  linkd::v1::EncodedIdentity out;
  ToProto(in, &out);
  const std::string expected[] = {AsString(*in.upn),
                                  AsString(*in.nhs_number),
                                  AsString(*in.dob),
                                  AsString(*in.dob_year_month),
                                  AsString(*in.dob_year_day),
                                  AsString(*in.dob_month_day),
                                  AsString(*in.dob_unordered),
                                  AsString(*in.birth_year),
                                  AsString(*in.sex),
                                  AsString(*in.postcode_unit),
                                  AsString(*in.postcode_sector),
                                  AsString(*in.postcode_district)};
  const std::string actual[] = {out.upn(),
                                out.nhs_number(),
                                out.dob(),
                                out.dob_year_month(),
                                out.dob_year_day(),
                                out.dob_month_day(),
                                out.dob_unordered(),
                                out.birth_year(),
                                out.sex(),
                                out.postcode_unit(),
                                out.postcode_sector(),
                                out.postcode_district()};
  for (size_t i = 0; i < std::size(expected); ++i) {
    EXPECT_EQ(actual[i], expected[i]) << "field " << i;
  }
  EXPECT_EQ(out.given_name_bf(), AsString(*in.given_name_bf));
  EXPECT_EQ(out.family_name_bf(), AsString(*in.family_name_bf));
  EXPECT_EQ(out.given_name_pc_bf(), AsString(*in.given_name_pc_bf));
  EXPECT_EQ(out.family_name_pc_bf(), AsString(*in.family_name_pc_bf));
}

TEST(ProtoConvertTest, MakeIngestItemCarriesSourceAndRecordId) {
  crypto::EncodedIdentity in;
  in.key_version = 2;
  in.sex = Filled<crypto::kTokenBytes>(77);
  linkd::v1::IngestItem item;
  MakeIngestItem("school_census", "R0000001", in, &item);
  ASSERT_TRUE(item.has_record());
  EXPECT_EQ(item.record().source(), "school_census");
  EXPECT_EQ(item.record().record_id(), "R0000001");
  EXPECT_EQ(item.record().identity().key_version(), 2u);
  EXPECT_EQ(item.record().identity().sex(), AsString(*in.sex));
}

}  // namespace
}  // namespace linkd::encode
