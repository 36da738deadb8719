#include "linkd/ctl/encoded_file.h"

#include <fstream>

#include "google/protobuf/util/delimited_message_util.h"
#include "gtest/gtest.h"
#include "linkd/util/status_matchers.h"
#include "linkd/util/temp_dir.h"

namespace linkd::ctl {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::IsOkAndHolds;
using ::linkd::testing::StatusIs;

v1::IngestItem Item(const std::string& id, bool with_upn) {
  v1::IngestItem item;
  item.mutable_record()->set_source("school_census");
  item.mutable_record()->set_record_id(id);
  if (with_upn) {
    item.mutable_record()->mutable_identity()->set_upn(std::string(32, '\x81'));
  }
  return item;
}

TEST(EncodedFileReaderTest, ReadsEachItemAfreshAndEndsCleanly) {
  testing::TempDir dir;
  const std::string path = dir.Sub("f.linkd");
  {
    std::ofstream out(path, std::ios::binary);
    google::protobuf::util::SerializeDelimitedToOstream(Item("P1", true), &out);
    google::protobuf::util::SerializeDelimitedToOstream(Item("P2", false),
                                                        &out);
  }
  auto reader = EncodedFileReader::Open(path);
  ASSERT_THAT(reader, IsOk());
  v1::IngestItem item;
  ASSERT_THAT((*reader)->Next(&item), IsOkAndHolds(true));
  EXPECT_EQ(item.record().record_id(), "P1");
  EXPECT_FALSE(item.record().identity().upn().empty());
  // The second item has no UPN: nothing of the first may remain.
  ASSERT_THAT((*reader)->Next(&item), IsOkAndHolds(true));
  EXPECT_EQ(item.record().record_id(), "P2");
  EXPECT_TRUE(item.record().identity().upn().empty());
  EXPECT_THAT((*reader)->Next(&item), IsOkAndHolds(false));
  EXPECT_EQ((*reader)->bytes_read(), (*reader)->size());
}

TEST(EncodedFileReaderTest, TruncatedFileIsDataLossNamingTheItem) {
  testing::TempDir dir;
  const std::string path = dir.Sub("f.linkd");
  std::string bytes;
  {
    std::ofstream out(path, std::ios::binary);
    google::protobuf::util::SerializeDelimitedToOstream(Item("P1", true), &out);
    google::protobuf::util::SerializeDelimitedToOstream(Item("P2", true), &out);
  }
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 5);
  auto reader = EncodedFileReader::Open(path);
  ASSERT_THAT(reader, IsOk());
  v1::IngestItem item;
  ASSERT_THAT((*reader)->Next(&item), IsOkAndHolds(true));
  EXPECT_THAT((*reader)->Next(&item), StatusIs(absl::StatusCode::kDataLoss,
                                               ::testing::HasSubstr("item 2")));
  EXPECT_THAT(EncodedFileReader::Open(dir.Sub("missing")),
              StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace linkd::ctl
