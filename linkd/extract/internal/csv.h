// Internal to linkd::extract: the CSV dialect of extract files (RFC 4180
// with LF line ends): fields separated by ",", a field quoted with '"' when
// it holds ",", '"', CR or LF, a quote inside a quoted field doubled; every
// row, the last included, ends with "\n" (the reader also accepts "\r\n").
#ifndef LINKD_EXTRACT_INTERNAL_CSV_H_
#define LINKD_EXTRACT_INTERNAL_CSV_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/types/span.h"

namespace linkd::extract::internal {

// True if `s` is well-formed UTF-8 (no overlong forms, surrogates or code
// points above U+10FFFF).
bool IsValidUtf8(std::string_view s);

// Appends `fields` as one CSV row, "\n" included, to `*out`.
void AppendCsvRow(absl::Span<const std::string_view> fields, std::string* out);

// Result of parsing one row from a buffer.
enum class CsvParse { kRow, kNeedMore, kMalformed };

// Parses one row of `data` starting at `*pos`. kRow: `*row` holds its
// fields and `*pos` is past its line end. kNeedMore: the row does not end
// within `data` (nothing is consumed). kMalformed: not this dialect.
CsvParse ParseCsvRow(std::string_view data, size_t* pos,
                     std::vector<std::string>* row);

}  // namespace linkd::extract::internal

#endif  // LINKD_EXTRACT_INTERNAL_CSV_H_
