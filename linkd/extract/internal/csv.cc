// CSV dialect of extract files (csv.h).
#include "linkd/extract/internal/csv.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace linkd::extract::internal {

bool IsValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    // ASCII runs are the common case: skip eight bytes at a time.
    if (end - p >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      if ((w & 0x8080808080808080ull) == 0) {
        p += 8;
        continue;
      }
    }
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (end - p < len) return false;
    for (int i = 1; i < len; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    p += len;
  }
  return true;
}

void AppendCsvRow(absl::Span<const std::string_view> fields, std::string* out) {
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out->push_back(',');
    const std::string_view f = fields[i];
    if (f.find_first_of(",\"\r\n") == std::string_view::npos) {
      out->append(f);
      continue;
    }
    out->push_back('"');
    for (char c : f) {
      if (c == '"') out->push_back('"');
      out->push_back(c);
    }
    out->push_back('"');
  }
  out->push_back('\n');
}

CsvParse ParseCsvRow(std::string_view data, size_t* pos,
                     std::vector<std::string>* row) {
  size_t i = *pos;
  size_t n = 0;  // fields filled in *row (strings are reused)
  const auto next_field = [&]() -> std::string& {
    if (n == row->size()) row->emplace_back();
    std::string& f = (*row)[n++];
    f.clear();
    return f;
  };
  for (;;) {
    std::string& field = next_field();
    if (i < data.size() && data[i] == '"') {
      ++i;
      for (;;) {
        const size_t q = data.find('"', i);
        if (q == std::string_view::npos) return CsvParse::kNeedMore;
        field.append(data.data() + i, q - i);
        if (q + 1 >= data.size()) return CsvParse::kNeedMore;
        if (data[q + 1] == '"') {
          field.push_back('"');
          i = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
    } else {
      size_t j = i;
      while (j < data.size() && data[j] != ',' && data[j] != '\n' &&
             data[j] != '\r' && data[j] != '"') {
        ++j;
      }
      if (j == data.size()) return CsvParse::kNeedMore;
      if (data[j] == '"') return CsvParse::kMalformed;
      field.assign(data.data() + i, j - i);
      i = j;
    }
    if (i >= data.size()) return CsvParse::kNeedMore;
    const char c = data[i];
    if (c == ',') {
      ++i;
      continue;
    }
    if (c == '\r') {
      if (i + 1 >= data.size()) return CsvParse::kNeedMore;
      if (data[i + 1] != '\n') return CsvParse::kMalformed;
      ++i;
    }
    if (data[i] != '\n') return CsvParse::kMalformed;
    row->resize(n);
    *pos = i + 1;
    return CsvParse::kRow;
  }
}

}  // namespace linkd::extract::internal
