#include "linkd/extract/internal/csv.h"

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace linkd::extract::internal {
namespace {

using ::testing::ElementsAre;

std::string Row(std::vector<std::string_view> fields) {
  std::string out;
  AppendCsvRow(fields, &out);
  return out;
}

TEST(CsvTest, QuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(Row({"a", "b c", ""}), "a,b c,\n");
  EXPECT_EQ(Row({"a,b"}), "\"a,b\"\n");
  EXPECT_EQ(Row({"say \"hi\""}), "\"say \"\"hi\"\"\"\n");
  EXPECT_EQ(Row({"two\nlines", "cr\r"}), "\"two\nlines\",\"cr\r\"\n");
  EXPECT_EQ(Row({"Zoë"}), "Zoë\n");
}

TEST(CsvTest, ParsesWhatItWrites) {
  const std::string data =
      Row({"a", "b,c", "", "d\"e"}) + Row({"x\r\ny", "\"\""}) + Row({""});
  size_t pos = 0;
  std::vector<std::string> row;
  ASSERT_EQ(ParseCsvRow(data, &pos, &row), CsvParse::kRow);
  EXPECT_THAT(row, ElementsAre("a", "b,c", "", "d\"e"));
  ASSERT_EQ(ParseCsvRow(data, &pos, &row), CsvParse::kRow);
  EXPECT_THAT(row, ElementsAre("x\r\ny", "\"\""));
  ASSERT_EQ(ParseCsvRow(data, &pos, &row), CsvParse::kRow);
  EXPECT_THAT(row, ElementsAre(""));
  EXPECT_EQ(pos, data.size());
  EXPECT_EQ(ParseCsvRow(data, &pos, &row), CsvParse::kNeedMore);
}

TEST(CsvTest, AcceptsCrLf) {
  const std::string data = "a,b\r\n\"c\"\r\n";
  size_t pos = 0;
  std::vector<std::string> row;
  ASSERT_EQ(ParseCsvRow(data, &pos, &row), CsvParse::kRow);
  EXPECT_THAT(row, ElementsAre("a", "b"));
  ASSERT_EQ(ParseCsvRow(data, &pos, &row), CsvParse::kRow);
  EXPECT_THAT(row, ElementsAre("c"));
}

TEST(CsvTest, EveryPrefixNeedsMore) {
  const std::string data = Row({"ab", "c\"d", "e,f", "", "g\nh"});
  for (size_t n = 0; n < data.size(); ++n) {
    size_t pos = 0;
    std::vector<std::string> row;
    EXPECT_EQ(ParseCsvRow(std::string_view(data).substr(0, n), &pos, &row),
              CsvParse::kNeedMore)
        << n;
    EXPECT_EQ(pos, 0u);
  }
}

TEST(CsvTest, Malformed) {
  for (const char* bad : {"a\"b\n", "\"a\"b\n", "a\rb\n", "\"a\"\rb\n"}) {
    size_t pos = 0;
    std::vector<std::string> row;
    EXPECT_EQ(ParseCsvRow(bad, &pos, &row), CsvParse::kMalformed) << bad;
  }
}

TEST(CsvTest, RandomRoundTrip) {
  std::mt19937 rng(3);
  const std::string alphabet = "ab,\"\n\r x";
  for (int iter = 0; iter < 2000; ++iter) {
    std::vector<std::string> fields(1 + rng() % 5);
    for (auto& f : fields) {
      const int len = rng() % 6;
      for (int i = 0; i < len; ++i)
        f.push_back(alphabet[rng() % alphabet.size()]);
    }
    std::vector<std::string_view> views(fields.begin(), fields.end());
    std::string data;
    AppendCsvRow(views, &data);
    size_t pos = 0;
    std::vector<std::string> row = {"stale", "strings", "reused",
                                    "x",     "y",       "z"};
    ASSERT_EQ(ParseCsvRow(data, &pos, &row), CsvParse::kRow);
    EXPECT_EQ(row, fields);
    EXPECT_EQ(pos, data.size());
  }
}

TEST(Utf8Test, Validity) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ASCII, long enough to take the fast path"));
  EXPECT_TRUE(IsValidUtf8("Zoë Brontë – 日本 – 😀"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("abc\xc3"));           // truncated
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("abcdefgh\x80"));      // stray continuation
}

}  // namespace
}  // namespace linkd::extract::internal
