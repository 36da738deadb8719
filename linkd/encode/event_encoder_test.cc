#include "linkd/encode/event_encoder.h"

#include <sstream>
#include <string>

#include "crypto/crypto.h"
#include "crypto/linkage_key.h"
#include "gmock/gmock.h"
#include "google/protobuf/io/zero_copy_stream_impl.h"
#include "google/protobuf/util/delimited_message_util.h"
#include "gtest/gtest.h"
#include "linkd/util/status_matchers.h"

namespace linkd::encode {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

class EventEncoderTest : public ::testing::Test {
 protected:
  EventEncoderTest() : key_(NewKey()), encoder_(key_) {}

  static crypto::LinkageKey NewKey() {
    (void)crypto::Init();  // idempotent; a failure shows in Generate
    return crypto::LinkageKey::Generate(1);
  }

  std::vector<v1::IngestItem> Run(const std::string& csv,
                                  EventEncoderOptions options,
                                  EncodeSummary* summary,
                                  absl::Status* status = nullptr) {
    std::istringstream in(csv);
    std::ostringstream out;
    EventFileEncoder encoder(&encoder_, std::move(options));
    const absl::Status s = encoder.Run(in, out, summary);
    if (status != nullptr) {
      *status = s;
    } else {
      EXPECT_THAT(s, IsOk());
    }
    std::vector<v1::IngestItem> items;
    const std::string bytes = out.str();
    google::protobuf::io::ArrayInputStream stream(
        bytes.data(), static_cast<int>(bytes.size()));
    v1::IngestItem item;
    bool clean_eof = false;
    while (google::protobuf::util::ParseDelimitedFromZeroCopyStream(
        &item, &stream, &clean_eof)) {
      items.push_back(item);
    }
    EXPECT_TRUE(clean_eof);
    return items;
  }

  static EventEncoderOptions Options(const std::string& source) {
    EventEncoderOptions o;
    o.source = source;
    o.maps = {{"record_id", "pupil_ref"},
              {"given_name", "forename"},
              {"family_name", "surname"},
              {"dob", "dob"}};
    o.date_format = *crypto::DateFormat::FromPattern("DD/MM/YYYY");
    return o;
  }

  crypto::LinkageKey key_;
  crypto::Encoder encoder_;
};

TEST_F(EventEncoderTest, EncodesEventsWithTheirRecords) {
  EventEncoderOptions o = Options("school/100001");
  o.event_maps = {{"event_id", "ref"},
                  {"type", "what"},
                  {"date", "from"},
                  {"days", "days"}};
  EncodeSummary summary;
  const auto items =
      Run("pupil_ref,forename,surname,dob,ref,what,from,days\n"
          "P1,Amelia,Smith,03/04/2012,EX-1,Suspension,03/03/2025,3\n"
          "P2,Oliver,Khan,05/06/2013,EX-2,permanent exclusion,04/03/2025,\n",
          o, &summary);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(summary.rows_rejected, 0);
  const v1::EncodedEvent& e = items[0].event();
  EXPECT_EQ(e.record().source(), "school/100001");
  EXPECT_EQ(e.record().record_id(), "P1");
  EXPECT_FALSE(e.record().identity().given_name_bf().empty());
  EXPECT_EQ(e.event().event_id(), "EX-1");
  EXPECT_EQ(e.event().type(), v1::EVENT_TYPE_SUSPENSION);
  EXPECT_EQ(e.event().date().year(), 2025);
  EXPECT_EQ(e.event().date().month(), 3);
  EXPECT_EQ(e.event().date().day(), 3);
  EXPECT_EQ(e.event().days(), 3u);
  EXPECT_EQ(items[1].event().event().type(),
            v1::EVENT_TYPE_PERMANENT_EXCLUSION);
  // No clear value anywhere in the output.
  for (const auto& item : items) {
    const std::string bytes = item.SerializeAsString();
    for (const char* clear :
         {"Amelia", "AMELIA", "Smith", "03/04/2012", "2012-04-03", "Khan"}) {
      EXPECT_EQ(bytes.find(clear), std::string::npos) << clear;
    }
  }
}

TEST_F(EventEncoderTest, EpisodesWithContactsByDefaultColumnNames) {
  EventEncoderOptions o = Options("la/999");
  EncodeSummary summary;
  const auto items =
      Run("pupil_ref,forename,surname,dob,event_id,type,date,episode_kind,"
          "contact_org,contact_team,contact_phone\n"
          "C9,Isla,Nowak,01/02/2011,cp-1,episode_start,01/03/2025,cp,la/999,"
          "Children's Services North,01632 960000\n",
          o, &summary);
  ASSERT_EQ(items.size(), 1u);
  const v1::Event& e = items[0].event().event();
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_EPISODE_START);
  EXPECT_EQ(e.episode_kind(), v1::EPISODE_KIND_CHILD_PROTECTION_PLAN);
  EXPECT_EQ(e.contact().organisation(), "la/999");
  EXPECT_EQ(e.contact().team(), "Children's Services North");
}

TEST_F(EventEncoderTest, RejectsRowsWithoutNamingValues) {
  EventEncoderOptions o = Options("school/100001");
  EncodeSummary summary;
  const auto items =
      Run("pupil_ref,forename,surname,dob,event_id,type,date\n"
          "P1,Amelia,Smith,03/04/2012,,suspension,03/03/2025\n"
          "P2,Amelia,Smith,03/04/2012,03/03/2025,suspension,03/03/2025\n"
          "P3,Amelia,Smith,03/04/2012,E3,sacked,03/03/2025\n"
          "P4,Amelia,Smith,03/04/2012,E4,suspension,31/02/2025\n"
          "P5,Amelia,Smith,03/04/2012,E5,suspension,01/03/2025\n"
          "P6,Amelia,Smith,03/04/2012,E5,suspension,01/03/2025\n",
          o, &summary);
  EXPECT_EQ(items.size(), 1u);
  EXPECT_EQ(summary.rows_rejected, 5);
  EXPECT_EQ(summary.rejects_by_reason.at(std::string(kEmptyEventIdReason)), 1);
  EXPECT_EQ(summary.rejects_by_reason.at(std::string(kEventIdIdentifierReason)),
            1);
  EXPECT_EQ(summary.rejects_by_reason.at(std::string(kBadEventTypeReason)), 1);
  EXPECT_EQ(summary.rejects_by_reason.at(std::string(kBadEventDateReason)), 1);
  EXPECT_EQ(summary.rejects_by_reason.at(std::string(kDuplicateEventIdReason)),
            1);
  const std::string text = FormatSummary(summary);
  EXPECT_THAT(text, Not(HasSubstr("sacked")));
  EXPECT_THAT(text, Not(HasSubstr("Amelia")));
}

TEST_F(EventEncoderTest, RequiredEventColumns) {
  EncodeSummary summary;
  absl::Status status;
  Run("pupil_ref,forename,surname,dob,event_id,type\nP1,A,B,01/01/2012,E,x\n",
      Options("school/100001"), &summary, &status);
  EXPECT_THAT(status,
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("date")));
  EXPECT_THAT(ParseEventMapSpec("when=col"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace linkd::encode
