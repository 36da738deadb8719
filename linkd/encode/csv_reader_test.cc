#include "linkd/encode/csv_reader.h"

#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linkd/util/status_matchers.h"

namespace linkd::encode {
namespace {

using ::linkd::testing::IsOk;
using ::linkd::testing::IsOkAndHolds;
using ::linkd::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

using Rows = std::vector<std::vector<std::string>>;

// Reads every row of `csv`; fails the test on any error.
Rows ReadAll(const std::string& csv, std::vector<std::string>* header) {
  std::istringstream in(csv);
  CsvReader reader(&in);
  EXPECT_THAT(reader.ReadHeader(), IsOk());
  *header = reader.header();
  Rows rows;
  std::vector<std::string> row;
  while (true) {
    absl::StatusOr<bool> next = reader.Next(&row);
    EXPECT_THAT(next, IsOk());
    if (!next.ok() || !*next) break;
    rows.push_back(row);
  }
  return rows;
}

TEST(CsvReaderTest, ReadsSimpleRowsWithLf) {
  std::vector<std::string> header;
  Rows rows = ReadAll("a,b,c\n1,2,3\n4,5,6\n", &header);
  EXPECT_THAT(header, ElementsAre("a", "b", "c"));
  EXPECT_THAT(rows, ElementsAre(ElementsAre("1", "2", "3"),
                                ElementsAre("4", "5", "6")));
}

TEST(CsvReaderTest, ReadsCrlfAndMissingFinalNewline) {
  std::vector<std::string> header;
  Rows rows = ReadAll("a,b\r\n1,2\r\n3,4", &header);
  EXPECT_THAT(header, ElementsAre("a", "b"));
  EXPECT_THAT(rows, ElementsAre(ElementsAre("1", "2"), ElementsAre("3", "4")));
}

TEST(CsvReaderTest, StripsUtf8BomFromHeader) {
  std::vector<std::string> header;
  Rows rows = ReadAll("\xEF\xBB\xBFrecord_id,x\nr1,y\n", &header);
  EXPECT_THAT(header, ElementsAre("record_id", "x"));
  EXPECT_THAT(rows, ElementsAre(ElementsAre("r1", "y")));
}

TEST(CsvReaderTest, StripsBomBeforeQuotedHeader) {
  std::vector<std::string> header;
  ReadAll("\xEF\xBB\xBF\"record_id\",x\n", &header);
  EXPECT_THAT(header, ElementsAre("record_id", "x"));
}

TEST(CsvReaderTest, QuotedFieldsWithCommasQuotesAndNewlines) {
  std::vector<std::string> header;
  Rows rows = ReadAll(
      "a,b,c\n"
      "\"x, y\",\"say \"\"hi\"\"\",\"line1\nline2\"\n"
      "\"\",\"crlf\r\ninside\",plain\r\n",
      &header);
  EXPECT_THAT(rows,
              ElementsAre(ElementsAre("x, y", "say \"hi\"", "line1\nline2"),
                          ElementsAre("", "crlf\r\ninside", "plain")));
}

TEST(CsvReaderTest, EmptyFieldsAndTrailingComma) {
  std::vector<std::string> header;
  Rows rows = ReadAll("a,b,c\n,,\n1,,\r\n", &header);
  EXPECT_THAT(rows,
              ElementsAre(ElementsAre("", "", ""), ElementsAre("1", "", "")));
}

TEST(CsvReaderTest, SkipsEmptyLinesWithoutCountingThem) {
  std::istringstream in("a,b\n\n1,2\r\n\r\n3,4\n\n");
  CsvReader reader(&in);
  ASSERT_THAT(reader.ReadHeader(), IsOk());
  std::vector<std::string> row;
  EXPECT_THAT(reader.Next(&row), IsOkAndHolds(true));
  EXPECT_EQ(reader.row(), 1);
  EXPECT_THAT(reader.Next(&row), IsOkAndHolds(true));
  EXPECT_EQ(reader.row(), 2);
  EXPECT_THAT(row, ElementsAre("3", "4"));
  EXPECT_THAT(reader.Next(&row), IsOkAndHolds(false));
}

TEST(CsvReaderTest, QuoteInsideUnquotedFieldIsLiteral) {
  std::vector<std::string> header;
  Rows rows = ReadAll("a,b\nO\"Brien,2\n", &header);
  EXPECT_THAT(rows, ElementsAre(ElementsAre("O\"Brien", "2")));
}

TEST(CsvReaderTest, WrongColumnCountIsRecoverableAndNamesTheRow) {
  std::istringstream in("a,b,c\n1,2,3\nSECRETVALUE,2\n7,8,9\n1,2,3,4\n");
  CsvReader reader(&in);
  ASSERT_THAT(reader.ReadHeader(), IsOk());
  std::vector<std::string> row;
  EXPECT_THAT(reader.Next(&row), IsOkAndHolds(true));
  absl::StatusOr<bool> bad = reader.Next(&row);
  EXPECT_THAT(bad, StatusIs(absl::StatusCode::kInvalidArgument,
                            HasSubstr("row 2: expected 3 columns, found 2")));
  EXPECT_THAT(std::string(bad.status().message()),
              Not(HasSubstr("SECRETVALUE")));
  EXPECT_EQ(reader.row(), 2);
  EXPECT_THAT(reader.Next(&row), IsOkAndHolds(true));
  EXPECT_THAT(row, ElementsAre("7", "8", "9"));
  EXPECT_THAT(reader.Next(&row),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("row 4: expected 3 columns, found 4")));
  EXPECT_THAT(reader.Next(&row), IsOkAndHolds(false));
}

TEST(CsvReaderTest, TextAfterClosingQuoteIsRecoverable) {
  std::istringstream in("a,b\n\"SECRET\"X,2\n3,4\n");
  CsvReader reader(&in);
  ASSERT_THAT(reader.ReadHeader(), IsOk());
  std::vector<std::string> row;
  absl::StatusOr<bool> bad = reader.Next(&row);
  EXPECT_THAT(bad, StatusIs(absl::StatusCode::kInvalidArgument,
                            HasSubstr("row 1: text after the closing quote "
                                      "in column 1")));
  EXPECT_THAT(std::string(bad.status().message()), Not(HasSubstr("SECRET")));
  EXPECT_THAT(reader.Next(&row), IsOkAndHolds(true));
  EXPECT_THAT(row, ElementsAre("3", "4"));
}

TEST(CsvReaderTest, UnterminatedQuoteAtEofIsDataLoss) {
  std::istringstream in("a,b\n1,2\n3,\"SECRET never closed\n4,5\n");
  CsvReader reader(&in);
  ASSERT_THAT(reader.ReadHeader(), IsOk());
  std::vector<std::string> row;
  EXPECT_THAT(reader.Next(&row), IsOkAndHolds(true));
  absl::StatusOr<bool> bad = reader.Next(&row);
  EXPECT_THAT(bad, StatusIs(absl::StatusCode::kDataLoss,
                            HasSubstr("row 2: quoted field in column 2")));
  EXPECT_THAT(std::string(bad.status().message()), Not(HasSubstr("SECRET")));
  // The reader refuses to go on.
  EXPECT_THAT(reader.Next(&row),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(CsvReaderTest, OverlongRecordIsDataLoss) {
  CsvReaderOptions options;
  options.max_record_bytes = 64;
  std::string csv = "a,b\n1,\"" + std::string(200, 'x') + "\"\n";
  std::istringstream in(csv);
  CsvReader reader(&in, options);
  ASSERT_THAT(reader.ReadHeader(), IsOk());
  std::vector<std::string> row;
  EXPECT_THAT(reader.Next(&row),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("row 1: record longer than 64 bytes")));
}

TEST(CsvReaderTest, EmptyInputHasNoHeader) {
  std::istringstream in("");
  CsvReader reader(&in);
  EXPECT_THAT(reader.ReadHeader(), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("no CSV header")));
}

TEST(CsvReaderTest, HeaderOnlyHasNoRows) {
  std::istringstream in("a,b\n");
  CsvReader reader(&in);
  ASSERT_THAT(reader.ReadHeader(), IsOk());
  std::vector<std::string> row;
  EXPECT_THAT(reader.Next(&row), IsOkAndHolds(false));
  EXPECT_EQ(reader.row(), 0);
}

TEST(CsvReaderTest, NextBeforeHeaderFails) {
  std::istringstream in("a\n1\n");
  CsvReader reader(&in);
  std::vector<std::string> row;
  EXPECT_THAT(reader.Next(&row),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(CsvReaderTest, RecordsSpanningBufferBoundaries) {
  // Larger than the reader's 64 KiB buffer, with quoted fields that hold
  // newlines, so records straddle refills.
  std::string csv = "id,text\n";
  constexpr int kRows = 5000;
  for (int i = 0; i < kRows; ++i) {
    csv += std::to_string(i) + ",\"multi\nline \"\"" + std::to_string(i) +
           "\"\" text, with comma\"\r\n";
  }
  std::vector<std::string> header;
  Rows rows = ReadAll(csv, &header);
  ASSERT_EQ(rows.size(), static_cast<size_t>(kRows));
  for (int i = 0; i < kRows; i += 997) {
    EXPECT_THAT(rows[i], ElementsAre(std::to_string(i),
                                     "multi\nline \"" + std::to_string(i) +
                                         "\" text, with comma"));
  }
}

}  // namespace
}  // namespace linkd::encode
