#include "linkd/encode/csv_reader.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace linkd::encode {
namespace {

constexpr size_t kBufferBytes = 64 * 1024;
constexpr char kBom[] = "\xEF\xBB\xBF";

// Parser states within one record.
enum class State {
  kFieldStart,  // at the start of a field
  kUnquoted,    // inside an unquoted field
  kQuoted,      // inside a quoted field
  kQuoteSeen,   // a quote inside a quoted field: closing or first of ""
  kQuoteCr,     // a closed quoted field followed by CR (CRLF expected)
};

}  // namespace

CsvReader::CsvReader(std::istream* in, CsvReaderOptions options)
    : in_(in), options_(options) {}

bool CsvReader::Fill() {
  if (buf_.size() != kBufferBytes) buf_.resize(kBufferBytes);
  pos_ = 0;
  len_ = 0;
  if (!in_->good()) return false;
  in_->read(buf_.data(), static_cast<std::streamsize>(buf_.size()));
  len_ = static_cast<size_t>(in_->gcount());
  return len_ > 0;
}

absl::StatusOr<CsvReader::Raw> CsvReader::ReadRecord(
    std::vector<std::string>* fields, std::string* malformed) {
  fields->clear();
  malformed->clear();
  std::string field;
  State state = State::kFieldStart;
  size_t bytes = 0;
  // Data row number this record will get, for messages.
  const int64_t row = header_read_ ? row_ + 1 : 0;
  auto where = [row]() -> std::string {
    return row == 0 ? std::string("header") : absl::StrCat("row ", row);
  };
  auto end_field = [&]() {
    fields->push_back(std::move(field));
    field.clear();
    state = State::kFieldStart;
  };

  while (true) {
    if (pos_ == len_ && !Fill()) {
      if (in_->bad()) {
        return absl::UnavailableError(
            absl::StrCat(where(), ": failed reading the input"));
      }
      if (state == State::kQuoted) {
        broken_ = true;
        return absl::DataLossError(absl::StrCat(
            where(), ": quoted field in column ", fields->size() + 1,
            " is not terminated before the end of the input"));
      }
      if (fields->empty() && field.empty() && state == State::kFieldStart) {
        return Raw::kEof;
      }
      if (state == State::kUnquoted && !field.empty() && field.back() == '\r') {
        field.pop_back();
      }
      end_field();
      return Raw::kRecord;
    }
    const char c = buf_[pos_++];
    if (++bytes > options_.max_record_bytes) {
      broken_ = true;
      return absl::DataLossError(absl::StrCat(
          where(), ": record longer than ", options_.max_record_bytes,
          " bytes (is a quote left open?)"));
    }
    switch (state) {
      case State::kFieldStart:
        if (c == '"') {
          state = State::kQuoted;
        } else if (c == ',') {
          end_field();
        } else if (c == '\n') {
          if (fields->empty()) {  // an empty line: skip it
            bytes = 0;
            continue;
          }
          end_field();
          return Raw::kRecord;
        } else {
          field.push_back(c);
          state = State::kUnquoted;
        }
        break;
      case State::kUnquoted:
        if (c == ',') {
          end_field();
        } else if (c == '\n') {
          if (!field.empty() && field.back() == '\r') field.pop_back();
          if (fields->empty() && field.empty()) {  // a CRLF empty line
            state = State::kFieldStart;
            bytes = 0;
            continue;
          }
          end_field();
          return Raw::kRecord;
        } else {
          field.push_back(c);
        }
        break;
      case State::kQuoted:
        if (c == '"') {
          state = State::kQuoteSeen;
        } else {
          field.push_back(c);
        }
        break;
      case State::kQuoteSeen:
        if (c == '"') {
          field.push_back('"');
          state = State::kQuoted;
        } else if (c == ',') {
          end_field();
        } else if (c == '\n') {
          end_field();
          return Raw::kRecord;
        } else if (c == '\r') {
          state = State::kQuoteCr;
        } else {
          if (malformed->empty()) {
            *malformed = absl::StrCat("text after the closing quote in column ",
                                      fields->size() + 1);
          }
          field.push_back(c);
          state = State::kUnquoted;
        }
        break;
      case State::kQuoteCr:
        if (c == '\n') {
          end_field();
          return Raw::kRecord;
        }
        if (malformed->empty()) {
          *malformed = absl::StrCat("text after the closing quote in column ",
                                    fields->size() + 1);
        }
        field.push_back('\r');
        if (c == ',') {
          end_field();
        } else {
          field.push_back(c);
          state = State::kUnquoted;
        }
        break;
    }
  }
}

absl::Status CsvReader::ReadHeader() {
  if (header_read_) {
    return absl::FailedPreconditionError("CSV header already read");
  }
  if (Fill() && len_ >= 3 && buf_.compare(0, 3, kBom) == 0) pos_ = 3;
  std::vector<std::string> fields;
  std::string malformed;
  absl::StatusOr<Raw> raw = ReadRecord(&fields, &malformed);
  if (!raw.ok()) return raw.status();
  if (*raw == Raw::kEof) {
    return absl::InvalidArgumentError("input is empty: no CSV header row");
  }
  if (!malformed.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("header: ", malformed));
  }
  header_ = std::move(fields);
  header_read_ = true;
  return absl::OkStatus();
}

absl::StatusOr<bool> CsvReader::Next(std::vector<std::string>* fields) {
  if (!header_read_) {
    return absl::FailedPreconditionError("CSV header not read");
  }
  if (broken_) {
    return absl::FailedPreconditionError(
        "CSV input is structurally broken; cannot continue");
  }
  std::string malformed;
  absl::StatusOr<Raw> raw = ReadRecord(fields, &malformed);
  if (!raw.ok()) {
    if (raw.status().code() != absl::StatusCode::kUnavailable) ++row_;
    return raw.status();
  }
  if (*raw == Raw::kEof) return false;
  ++row_;
  if (!malformed.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("row ", row_, ": ", malformed));
  }
  if (fields->size() != header_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("row ", row_, ": expected ", header_.size(),
                     " columns, found ", fields->size()));
  }
  return true;
}

}  // namespace linkd::encode
