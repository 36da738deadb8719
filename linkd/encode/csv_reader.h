// linkd::encode CSV reader: a streaming RFC 4180 reader for the provider-side
// encoder. It reads one record at a time from a std::istream, so memory is
// bounded by the longest record, never by the input size.
//
// Accepted input: fields separated by ',', records ended by LF or CRLF,
// quoted fields ("...") that may hold commas, CR, LF and doubled quotes (""),
// and a UTF-8 byte-order mark before the header. Completely empty lines are
// skipped. A quote inside an unquoted field is kept as a literal character.
//
// Privacy: error messages name the row (data row 1 is the first record after
// the header) and the problem, never the content of the row.
#ifndef LINKD_ENCODE_CSV_READER_H_
#define LINKD_ENCODE_CSV_READER_H_

#include <cstddef>
#include <cstdint>
#include <istream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace linkd::encode {

struct CsvReaderOptions {
  // Longest accepted record in bytes. Reaching it is a structural error
  // (usually an unterminated quote), because the reader cannot find the next
  // record boundary. Bounds the reader's memory.
  size_t max_record_bytes = 1 << 20;
};

// Reads a CSV with a header row. Not thread-safe; one reader per stream.
class CsvReader {
 public:
  // `in` is not owned and must outlive the reader.
  explicit CsvReader(std::istream* in, CsvReaderOptions options = {});
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

  // Reads the header row (stripping a UTF-8 BOM). Must be called once, before
  // Next(). Returns INVALID_ARGUMENT if the input is empty or the header is
  // malformed, DATA_LOSS if the header is structurally broken (unterminated
  // quote, over-long record), UNAVAILABLE if the stream fails.
  absl::Status ReadHeader();

  // Column names from the header, in order. Empty before ReadHeader().
  const std::vector<std::string>& header() const { return header_; }

  // Reads the next data record into `*fields` (replacing its content).
  // Returns true if a record was read, false at the end of the input.
  // Errors:
  //  - INVALID_ARGUMENT "row N: ..." for a malformed record (wrong number of
  //    columns, text after a closing quote). The record is consumed, so the
  //    caller may report it and call Next() again.
  //  - DATA_LOSS "row N: ..." when the input is structurally broken (a quote
  //    left open at the end of the input, or a record longer than
  //    max_record_bytes). The reader cannot continue.
  //  - UNAVAILABLE if reading the stream fails.
  absl::StatusOr<bool> Next(std::vector<std::string>* fields);

  // Data row number of the record most recently returned or rejected by
  // Next() (1-based; 0 before the first one).
  int64_t row() const { return row_; }

 private:
  // Result of reading one raw record.
  enum class Raw { kRecord, kEof };
  // Reads one record (any number of fields) into `*fields`. Sets
  // `*malformed` to a reason if the record is recoverably malformed.
  absl::StatusOr<Raw> ReadRecord(std::vector<std::string>* fields,
                                 std::string* malformed);
  // Refills the buffer; returns false at end of input.
  bool Fill();

  std::istream* in_;
  CsvReaderOptions options_;
  std::vector<std::string> header_;
  int64_t row_ = 0;
  bool header_read_ = false;
  bool broken_ = false;
  std::string buf_;
  size_t pos_ = 0;
  size_t len_ = 0;
};

}  // namespace linkd::encode

#endif  // LINKD_ENCODE_CSV_READER_H_
