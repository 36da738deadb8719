#include "linkd/encode/file_encoder.h"

#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "crypto/crypto.h"
#include "crypto/linkage_key.h"
#include "gmock/gmock.h"
#include "google/protobuf/io/zero_copy_stream_impl.h"
#include "google/protobuf/util/delimited_message_util.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "linkd/encode/proto_convert.h"
#include "linkd/encode/testing/synthetic_people.h"
#include "linkd/util/status_matchers.h"
#include "linkd/v1/record.pb.h"

namespace linkd::encode {
namespace {

using ::linkd::encode::testing::CsvLine;
using ::linkd::encode::testing::StandardCsvHeader;
using ::linkd::encode::testing::StandardCsvRow;
using ::linkd::encode::testing::SyntheticPeople;
using ::linkd::encode::testing::SyntheticPerson;
using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

class FileEncoderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_THAT(crypto::Init(), IsOk()); }

  FileEncoderTest() : key_(crypto::LinkageKey::Generate(1)), encoder_(key_) {}

  FileEncoderOptions Options(OutputFormat format = OutputFormat::kBinary) {
    FileEncoderOptions options;
    options.source = "school_census";
    options.format = format;
    return options;
  }

  absl::Status Run(const std::string& csv, FileEncoderOptions options,
                   std::string* out, EncodeSummary* summary) {
    std::istringstream in(csv);
    std::ostringstream os;
    FileEncoder file_encoder(&encoder_, std::move(options));
    absl::Status status = file_encoder.Run(in, os, summary);
    *out = os.str();
    return status;
  }

  // The IngestItem the encoder must produce for `person`, computed
  // independently of FileEncoder.
  linkd::v1::IngestItem Expected(const SyntheticPerson& person) {
    crypto::ClearIdentity clear{
        person.given_name, person.family_name, person.dob,       person.sex,
        person.postcode,   person.upn,         person.nhs_number};
    linkd::v1::IngestItem item;
    MakeIngestItem("school_census", person.record_id,
                   encoder_.Encode(clear, nullptr), &item);
    return item;
  }

  crypto::LinkageKey key_;
  crypto::Encoder encoder_;
  SyntheticPeople people_{42};
};

std::vector<linkd::v1::IngestItem> ParseBinary(const std::string& bytes) {
  std::istringstream in(bytes);
  google::protobuf::io::IstreamInputStream stream(&in);
  std::vector<linkd::v1::IngestItem> items;
  while (true) {
    linkd::v1::IngestItem item;
    bool clean_eof = false;
    if (!google::protobuf::util::ParseDelimitedFromZeroCopyStream(
            &item, &stream, &clean_eof)) {
      EXPECT_TRUE(clean_eof) << "truncated or corrupt delimited stream";
      break;
    }
    items.push_back(std::move(item));
  }
  return items;
}

std::vector<linkd::v1::IngestItem> ParseJsonl(const std::string& text) {
  std::vector<linkd::v1::IngestItem> items;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    linkd::v1::IngestItem item;
    EXPECT_TRUE(
        google::protobuf::util::JsonStringToMessage(std::string(line), &item)
            .ok());
    items.push_back(std::move(item));
  }
  return items;
}

TEST_F(FileEncoderTest, EncodesEveryValidRowAndRoundTripsBinary) {
  std::string csv = StandardCsvHeader();
  std::vector<SyntheticPerson> people;
  for (int i = 0; i < 50; ++i) {
    people.push_back(people_.Next());
    csv += StandardCsvRow(people.back());
  }
  std::string out;
  EncodeSummary summary;
  ASSERT_THAT(Run(csv, Options(), &out, &summary), IsOk());
  EXPECT_EQ(summary.rows_read, 50);
  EXPECT_EQ(summary.records_written, 50);
  EXPECT_EQ(summary.rows_rejected, 0);
  EXPECT_TRUE(summary.dropped_fields.empty());

  std::vector<linkd::v1::IngestItem> items = ParseBinary(out);
  ASSERT_EQ(items.size(), people.size());
  for (size_t i = 0; i < people.size(); ++i) {
    const linkd::v1::EncodedIdentity& id = items[i].record().identity();
    EXPECT_EQ(items[i].record().source(), "school_census");
    EXPECT_EQ(items[i].record().record_id(), people[i].record_id);
    EXPECT_EQ(id.encoding_version(), crypto::kEncodingVersion);
    EXPECT_EQ(id.key_version(), 1u);
    EXPECT_EQ(id.upn().size(), crypto::kTokenBytes);
    EXPECT_EQ(id.nhs_number().size(), crypto::kTokenBytes);
    EXPECT_EQ(id.given_name_bf().size(), crypto::kBloomBytes);
    EXPECT_EQ(id.given_name_pc_bf().size(), crypto::kBloomBytes);
    EXPECT_EQ(id.family_name_pc_bf().size(), crypto::kBloomBytes);
    EXPECT_EQ(items[i].SerializeAsString(),
              Expected(people[i]).SerializeAsString())
        << "row " << i + 1;
  }
}

TEST_F(FileEncoderTest, JsonlParsesBackToTheBinaryRecords) {
  std::string csv = StandardCsvHeader();
  for (int i = 0; i < 20; ++i) csv += StandardCsvRow(people_.Next());
  std::string binary, jsonl;
  EncodeSummary summary;
  ASSERT_THAT(Run(csv, Options(OutputFormat::kBinary), &binary, &summary),
              IsOk());
  ASSERT_THAT(Run(csv, Options(OutputFormat::kJsonl), &jsonl, &summary),
              IsOk());
  EXPECT_EQ(summary.records_written, 20);
  EXPECT_EQ(std::count(jsonl.begin(), jsonl.end(), '\n'), 20);
  std::vector<linkd::v1::IngestItem> from_binary = ParseBinary(binary);
  std::vector<linkd::v1::IngestItem> from_json = ParseJsonl(jsonl);
  ASSERT_EQ(from_json.size(), from_binary.size());
  for (size_t i = 0; i < from_json.size(); ++i) {
    EXPECT_EQ(from_json[i].SerializeAsString(),
              from_binary[i].SerializeAsString());
  }
  EXPECT_THAT(jsonl, HasSubstr("\"record_id\":\"R0000001\""));
  EXPECT_THAT(jsonl, HasSubstr("\"given_name_pc_bf\":\""));
  EXPECT_THAT(jsonl, HasSubstr("\"family_name_pc_bf\":\""));
}

// Encoding v2 builds a name filter only under a salt (a valid date of birth
// or postcode), and a name counts as identifying only through a filter.
TEST_F(FileEncoderTest, NameAloneIsNotUsable) {
  SyntheticPerson p = people_.Next();
  std::string csv = StandardCsvHeader();
  csv += CsvLine({"N1", p.given_name, p.family_name, "", "F", "", "", ""});
  csv += CsvLine({"N2", p.given_name, p.family_name, "", "F", "ZZ99 3VZ", "",
                  ""});  // refused
  csv += CsvLine({"N3", p.given_name, "", "", "", p.postcode, "", ""});  // ok
  csv += CsvLine({"N4", p.given_name, "", p.dob, "", "", "", ""});       // ok
  csv += CsvLine({"N5", p.given_name, "", "", "", "", p.upn, ""});       // ok
  std::string out;
  EncodeSummary summary;
  ASSERT_THAT(Run(csv, Options(), &out, &summary), IsOk());
  EXPECT_EQ(summary.records_written, 3);
  EXPECT_THAT(summary.rejects_by_reason,
              UnorderedElementsAre(Pair("no usable identifying field", 2)));
  std::vector<linkd::v1::IngestItem> items = ParseBinary(out);
  ASSERT_EQ(items.size(), 3u);
  const linkd::v1::EncodedIdentity& n3 = items[0].record().identity();
  EXPECT_EQ(n3.given_name_pc_bf().size(), crypto::kBloomBytes);
  EXPECT_TRUE(n3.given_name_bf().empty());
  const linkd::v1::EncodedIdentity& n4 = items[1].record().identity();
  EXPECT_EQ(n4.given_name_bf().size(), crypto::kBloomBytes);
  EXPECT_TRUE(n4.given_name_pc_bf().empty());
  const linkd::v1::EncodedIdentity& n5 = items[2].record().identity();
  EXPECT_FALSE(n5.upn().empty());
  EXPECT_TRUE(n5.given_name_bf().empty() && n5.given_name_pc_bf().empty());
}

TEST_F(FileEncoderTest, RejectsUnusableRowsWithReasonsAndRowNumbers) {
  SyntheticPerson a = people_.Next(), b = people_.Next(), c = people_.Next();
  std::string csv = StandardCsvHeader();
  csv += StandardCsvRow(a);                                      // 1 ok
  csv += CsvLine({"", a.given_name, "", "", "", "", "", ""});    // 2 empty id
  csv += CsvLine({"  ", a.given_name, "", "", "", "", "", ""});  // 3 blank
  csv += CsvLine({b.nhs_number, b.given_name, "", "", "", "", "", ""});  // 4
  csv += CsvLine({b.upn, b.given_name, "", "", "", "", "", ""});         // 5
  csv += CsvLine({"2015-03-01", b.given_name, "", "", "", "", "", ""});  // 6
  csv += CsvLine({"20150301", b.given_name, "", "", "", "", "", ""});    // 7
  csv += CsvLine({a.record_id, b.given_name, "", "", "", "", "", ""});  // 8 dup
  csv += CsvLine({"X1", "", "", "", "M", c.postcode, "", ""});  // 9 no id field
  csv += "X2,too,few\n";                                        // 10 malformed
  // 11 ok: a name and a postcode (postcode-salted name filters). A name
  // alone has no filter in encoding v2; see NameAloneIsNotUsable.
  csv += CsvLine({"X1", c.given_name, "", "", "", c.postcode, "", ""});
  csv += StandardCsvRow(c);  // 12 ok
  std::string out;
  EncodeSummary summary;
  ASSERT_THAT(Run(csv, Options(), &out, &summary), IsOk());
  EXPECT_EQ(summary.rows_read, 12);
  EXPECT_EQ(summary.records_written, 3);
  EXPECT_EQ(summary.rows_rejected, 9);
  using R = RejectedRow;
  EXPECT_THAT(
      summary.listed_rejects,
      ElementsAre(
          AllOf(Field(&R::row, 2), Field(&R::reason, "empty record_id")),
          AllOf(Field(&R::row, 3), Field(&R::reason, "empty record_id")),
          AllOf(Field(&R::row, 4),
                Field(&R::reason, kRecordIdIdentifierReason)),
          AllOf(Field(&R::row, 5),
                Field(&R::reason, kRecordIdIdentifierReason)),
          AllOf(Field(&R::row, 6),
                Field(&R::reason, kRecordIdIdentifierReason)),
          AllOf(Field(&R::row, 7),
                Field(&R::reason, kRecordIdIdentifierReason)),
          AllOf(Field(&R::row, 8), Field(&R::reason, "duplicate record_id")),
          AllOf(Field(&R::row, 9),
                Field(&R::reason, "no usable identifying field")),
          AllOf(Field(&R::row, 10),
                Field(&R::reason,
                      "malformed CSV row: expected 8 columns, "
                      "found 3"))));
  EXPECT_THAT(
      summary.rejects_by_reason,
      UnorderedElementsAre(Pair("empty record_id", 2),
                           Pair(std::string(kRecordIdIdentifierReason), 4),
                           Pair("duplicate record_id", 1),
                           Pair("no usable identifying field", 1),
                           Pair("malformed CSV row", 1)));

  std::vector<linkd::v1::IngestItem> items = ParseBinary(out);
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].record().record_id(), a.record_id);
  // X1's first row was rejected, so its later row is not a duplicate.
  EXPECT_EQ(items[1].record().record_id(), "X1");
  EXPECT_EQ(items[2].record().record_id(), c.record_id);

  // The summary names rows and reasons, never the values.
  const std::string text = FormatSummary(summary);
  EXPECT_THAT(text, HasSubstr("row 4: record_id looks like an identifier"));
  for (const std::string& value :
       {b.nhs_number, b.upn, std::string("2015-03-01"), std::string("20150301"),
        a.record_id, a.given_name, b.given_name, c.postcode}) {
    EXPECT_THAT(text, Not(HasSubstr(value)));
  }
}

TEST_F(FileEncoderTest, DropsInvalidOptionalFieldsAndCountsThem) {
  std::string csv = StandardCsvHeader();
  SyntheticPerson p = people_.Next();
  const std::string bad_upn = people_.BadUpn();
  const std::string bad_nhs = people_.BadNhsNumber();
  p.upn = bad_upn;
  csv += StandardCsvRow(p);  // bad UPN
  p = people_.Next();
  p.upn = people_.BadUpn();
  p.nhs_number = bad_nhs;
  p.dob = "2015-02-30";
  csv += StandardCsvRow(p);  // bad UPN, bad NHS number, impossible date
  p = people_.Next();
  p.postcode = "ZZ99 3VZ";
  csv += StandardCsvRow(p);  // placeholder postcode
  std::string out;
  EncodeSummary summary;
  ASSERT_THAT(Run(csv, Options(), &out, &summary), IsOk());
  EXPECT_EQ(summary.records_written, 3);
  EXPECT_EQ(summary.rows_rejected, 0);

  // The reasons are the crypto library's fixed phrases for these values.
  auto reason = [](const absl::Status& s) { return std::string(s.message()); };
  const std::string upn_reason = reason(crypto::NormalizeUpn(bad_upn).status());
  const std::string nhs_reason =
      reason(crypto::NormalizeNhsNumber(bad_nhs).status());
  const std::string pc_reason =
      reason(crypto::NormalizePostcode("ZZ99 3VZ").status());
  ASSERT_FALSE(upn_reason.empty());
  ASSERT_FALSE(nhs_reason.empty());
  ASSERT_FALSE(pc_reason.empty());
  std::map<std::string, int64_t> by_field;
  for (const auto& [key, count] : summary.dropped_fields) {
    by_field[key.first] += count;
  }
  EXPECT_THAT(by_field,
              UnorderedElementsAre(Pair("upn", 2), Pair("dob", 1),
                                   Pair("nhs_number", 1), Pair("postcode", 1)));
  EXPECT_EQ((summary.dropped_fields[{"nhs_number", nhs_reason}]), 1);
  EXPECT_EQ((summary.dropped_fields[{"postcode", pc_reason}]), 1);

  std::vector<linkd::v1::IngestItem> items = ParseBinary(out);
  ASSERT_EQ(items.size(), 3u);
  EXPECT_TRUE(items[0].record().identity().upn().empty());
  EXPECT_FALSE(items[0].record().identity().nhs_number().empty());
  EXPECT_TRUE(items[1].record().identity().nhs_number().empty());
  EXPECT_TRUE(items[1].record().identity().dob().empty());
  EXPECT_TRUE(items[2].record().identity().postcode_unit().empty());
  EXPECT_FALSE(items[2].record().identity().upn().empty());

  const std::string text = FormatSummary(summary);
  EXPECT_THAT(text, HasSubstr(absl::StrCat("upn: ", upn_reason, ": ")));
  EXPECT_THAT(text, Not(HasSubstr(bad_upn)));
  EXPECT_THAT(text, Not(HasSubstr(bad_nhs)));
  EXPECT_THAT(text, Not(HasSubstr("ZZ99")));
}

TEST_F(FileEncoderTest, ListsTwentyRejectsThenCountsTheRest) {
  std::string csv = StandardCsvHeader();
  for (int i = 0; i < 25; ++i) csv += ",,,,,,,\n";
  std::string out;
  EncodeSummary summary;
  ASSERT_THAT(Run(csv, Options(), &out, &summary), IsOk());
  EXPECT_EQ(summary.rows_rejected, 25);
  EXPECT_EQ(summary.listed_rejects.size(), kMaxListedRejects);
  EXPECT_EQ(summary.listed_rejects.back().row, 20);
  EXPECT_TRUE(out.empty());
  const std::string text = FormatSummary(summary);
  EXPECT_THAT(text, HasSubstr("row 20: empty record_id"));
  EXPECT_THAT(text, Not(HasSubstr("row 21:")));
  EXPECT_THAT(text, HasSubstr("and 5 more"));
}

TEST_F(FileEncoderTest, CrlfBomAndRemappedColumns) {
  SyntheticPerson p = people_.Next();
  std::string csv = "\xEF\xBB\xBFPupilRef,Forename,Surname,DateOfBirth\r\n" +
                    p.record_id + "," + p.given_name + "," + p.family_name +
                    ",\"" + p.dob + "\"\r\n";
  FileEncoderOptions options = Options();
  options.maps = {{"record_id", "PupilRef"},
                  {"given_name", "Forename"},
                  {"family_name", "Surname"},
                  {"dob", "DateOfBirth"}};
  std::string out;
  EncodeSummary summary;
  ASSERT_THAT(Run(csv, std::move(options), &out, &summary), IsOk());
  std::vector<linkd::v1::IngestItem> items = ParseBinary(out);
  ASSERT_EQ(items.size(), 1u);
  SyntheticPerson partial = p;
  partial.sex = partial.postcode = partial.upn = partial.nhs_number = "";
  EXPECT_EQ(items[0].SerializeAsString(),
            Expected(partial).SerializeAsString());
}

TEST_F(FileEncoderTest, UnterminatedQuoteStopsTheRunWithDataLoss) {
  std::string csv = StandardCsvHeader();
  csv += StandardCsvRow(people_.Next());
  csv += StandardCsvRow(people_.Next());
  csv += "R9,\"never closed,x,y\n";
  std::string out;
  EncodeSummary summary;
  EXPECT_THAT(Run(csv, Options(), &out, &summary),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("row 3")));
  EXPECT_EQ(summary.rows_read, 3);
  EXPECT_EQ(summary.records_written, 2);
  EXPECT_EQ(ParseBinary(out).size(), 2u);
}

TEST_F(FileEncoderTest, UnresolvableMapFailsBeforeAnyOutput) {
  std::string csv = StandardCsvHeader() + StandardCsvRow(people_.Next());
  FileEncoderOptions options = Options();
  options.maps = {{"record_id", "PupilRef"}};
  std::string out;
  EncodeSummary summary;
  EXPECT_THAT(
      Run(csv, std::move(options), &out, &summary),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"PupilRef\"")));
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(summary.rows_read, 0);
}

TEST_F(FileEncoderTest, EmptySourceIsRefused) {
  FileEncoderOptions options = Options();
  options.source.clear();
  std::string out;
  EncodeSummary summary;
  EXPECT_THAT(Run(StandardCsvHeader(), std::move(options), &out, &summary),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(FileEncoderTest, DuplicateCheckIsBoundedAndSaysSo) {
  std::string csv = StandardCsvHeader();
  std::vector<SyntheticPerson> people;
  for (int i = 0; i < 6; ++i) {
    people.push_back(people_.Next());
    csv += StandardCsvRow(people.back());
  }
  csv += StandardCsvRow(people[0]);  // tracked: rejected
  csv += StandardCsvRow(people[5]);  // past the limit: not detected
  FileEncoderOptions options = Options();
  options.max_tracked_record_ids = 4;
  std::string out;
  EncodeSummary summary;
  ASSERT_THAT(Run(csv, std::move(options), &out, &summary), IsOk());
  EXPECT_EQ(summary.records_written, 7);
  EXPECT_EQ(summary.rows_rejected, 1);
  EXPECT_TRUE(summary.duplicate_check_saturated);
  EXPECT_THAT(FormatSummary(summary),
              HasSubstr("duplicate record_id check covered the first 4"));
}

TEST_F(FileEncoderTest, ReportsProgressAtTheConfiguredInterval) {
  std::string csv = StandardCsvHeader();
  SyntheticPerson p = people_.Next();
  for (int i = 0; i < 5000; ++i) {
    p.record_id = absl::StrCat("P", i);
    csv += StandardCsvRow(p);
  }
  util::ManualClock clock(absl::UnixEpoch());
  std::vector<EncodeProgress> reports;
  FileEncoderOptions options = Options();
  options.clock = &clock;
  options.progress = [&](const EncodeProgress& p) { reports.push_back(p); };
  // A clock that stands still never reaches the interval.
  std::string out;
  EncodeSummary summary;
  ASSERT_THAT(Run(csv, options, &out, &summary), IsOk());
  EXPECT_TRUE(reports.empty());
  // With a zero interval every check reports: after 1024, 2048, ... rows.
  options.progress_interval = absl::ZeroDuration();
  ASSERT_THAT(Run(csv, options, &out, &summary), IsOk());
  ASSERT_EQ(reports.size(), 4u);
  EXPECT_EQ(reports[0].rows_read, 1024);
  EXPECT_EQ(reports[3].rows_read, 4096);
  EXPECT_EQ(reports[3].records_written, 4096);
}

TEST_F(FileEncoderTest, OutputFailureIsUnavailable) {
  std::string csv = StandardCsvHeader() + StandardCsvRow(people_.Next());
  std::istringstream in(csv);
  std::ostringstream os;
  os.setstate(std::ios::badbit);
  FileEncoder file_encoder(&encoder_, Options());
  EncodeSummary summary;
  EXPECT_THAT(file_encoder.Run(in, os, &summary),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST(LooksLikeIdentifierTest, CatchesIdentifiersOnly) {
  ASSERT_THAT(crypto::Init(), IsOk());
  SyntheticPeople people(7);
  const crypto::DateFormat iso = crypto::DateFormat::Auto();
  EXPECT_TRUE(LooksLikeIdentifier(people.NhsNumber(), iso));
  EXPECT_TRUE(LooksLikeIdentifier(people.Upn(), iso));
  EXPECT_TRUE(LooksLikeIdentifier("2014-06-30", iso));
  EXPECT_TRUE(LooksLikeIdentifier("30/06/2014", iso));
  const std::string nhs = people.NhsNumber();
  EXPECT_TRUE(LooksLikeIdentifier(
      nhs.substr(0, 3) + " " + nhs.substr(3, 3) + "-" + nhs.substr(6), iso));
  EXPECT_TRUE(LooksLikeIdentifier("2014-06-30T10:00:00", iso));
  absl::StatusOr<crypto::DateFormat> dashed =
      crypto::DateFormat::FromPattern("DD-MM-YYYY");
  ASSERT_THAT(dashed, IsOk());
  EXPECT_FALSE(LooksLikeIdentifier("30-06-2014", iso));
  EXPECT_TRUE(LooksLikeIdentifier("30-06-2014", *dashed));
  EXPECT_TRUE(LooksLikeIdentifier("3-6-2014", *dashed));  // 6 digits
  EXPECT_FALSE(LooksLikeIdentifier("R0000001", iso));
  EXPECT_FALSE(LooksLikeIdentifier("CASE-12345", iso));
  EXPECT_FALSE(LooksLikeIdentifier(people.BadNhsNumber(), iso));
}

}  // namespace
}  // namespace linkd::encode
