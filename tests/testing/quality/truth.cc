#include "tests/testing/quality/truth.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "linkd/util/status_macros.h"

namespace linkd::quality {
namespace {

// Splits one CSV line into fields (RFC 4180 quoting, no embedded line
// breaks). Returns false on malformed quoting. Quoted fields are unescaped
// into `storage`, which must outlive the views.
bool SplitCsvLine(absl::string_view line, std::vector<absl::string_view>* out,
                  std::vector<std::string>* storage) {
  out->clear();
  storage->clear();
  std::vector<size_t> quoted;  // indexes in `out` of quoted fields
  size_t i = 0;
  for (;;) {
    if (i < line.size() && line[i] == '"') {
      std::string field;
      ++i;
      for (;;) {
        if (i >= line.size()) return false;  // unterminated
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field.push_back('"');
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field.push_back(line[i++]);
      }
      if (i < line.size() && line[i] != ',') return false;
      quoted.push_back(out->size());
      storage->push_back(std::move(field));
      out->push_back(absl::string_view());
    } else {
      const size_t comma = line.find(',', i);
      const size_t end = comma == absl::string_view::npos ? line.size() : comma;
      const absl::string_view field = line.substr(i, end - i);
      if (field.find('"') != absl::string_view::npos) return false;
      out->push_back(field);
      i = end;
    }
    if (i >= line.size()) break;
    ++i;  // the comma
    if (i == line.size()) {
      out->push_back(absl::string_view());
      break;
    }
  }
  // `storage` no longer reallocates: point the quoted fields at it.
  for (size_t q = 0; q < quoted.size(); ++q) (*out)[quoted[q]] = (*storage)[q];
  return true;
}

// Iterates over the lines of a CSV text, calling `row(fields)` for each
// non-empty data line after the header, with the fields of the `required`
// then the `optional` columns in that order (an absent optional column
// gives empty fields). Errors get the line number prefixed.
template <typename RowFn>
absl::Status ForEachRow(absl::string_view csv,
                        const std::vector<std::string>& required,
                        const std::vector<std::string>& optional,
                        std::vector<int>* index, RowFn row) {
  std::vector<absl::string_view> fields;
  std::vector<std::string> storage;
  std::vector<absl::string_view> row_fields;
  size_t pos = 0;
  int64_t line_number = 0;
  bool header = true;
  size_t needed = 0;
  while (pos < csv.size()) {
    size_t end = csv.find('\n', pos);
    if (end == absl::string_view::npos) end = csv.size();
    absl::string_view line = csv.substr(pos, end - pos);
    pos = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    if (!SplitCsvLine(line, &fields, &storage)) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, ": malformed quoting"));
    }
    if (header) {
      header = false;
      index->assign(required.size() + optional.size(), -1);
      for (size_t f = 0; f < fields.size(); ++f) {
        for (size_t c = 0; c < required.size() + optional.size(); ++c) {
          const std::string& name =
              c < required.size() ? required[c] : optional[c - required.size()];
          if (fields[f] == name && (*index)[c] < 0) {
            (*index)[c] = static_cast<int>(f);
          }
        }
      }
      for (size_t c = 0; c < required.size(); ++c) {
        if ((*index)[c] < 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              "line ", line_number, ": header has no column ", required[c]));
        }
        needed = std::max(needed, static_cast<size_t>((*index)[c]) + 1);
      }
      continue;
    }
    if (fields.size() < needed) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, ": too few fields"));
    }
    row_fields.clear();
    for (int c : *index) {
      row_fields.push_back(c >= 0 && static_cast<size_t>(c) < fields.size()
                               ? fields[static_cast<size_t>(c)]
                               : absl::string_view());
    }
    absl::Status s = row(row_fields);
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, ": ", s.message()));
    }
  }
  if (header) return absl::InvalidArgumentError("no header line");
  return absl::OkStatus();
}

}  // namespace

// ------------------------------------------------------------------ Truth

uint32_t Truth::InternSource(absl::string_view source) {
  auto it = source_ids_.find(source);
  if (it != source_ids_.end()) return it->second;
  const auto id = static_cast<uint32_t>(source_names_.size());
  source_names_.emplace_back(source);
  source_ids_.emplace(std::string(source), id);
  records_.emplace_back();
  return id;
}

absl::Status Truth::Add(absl::string_view source, absl::string_view record_id,
                        absl::string_view person_id, absl::string_view origin) {
  if (source.empty()) return absl::InvalidArgumentError("empty source");
  if (record_id.empty()) return absl::InvalidArgumentError("empty record_id");
  if (person_id.empty()) return absl::InvalidArgumentError("empty person_id");
  const uint32_t s = InternSource(source);
  const auto index = static_cast<uint32_t>(person_.size());
  if (!records_[s].emplace(std::string(record_id), index).second) {
    return absl::InvalidArgumentError("duplicate record (source, record_id)");
  }

  uint32_t o;
  if (auto it = origin_ids_.find(origin); it != origin_ids_.end()) {
    o = it->second;
  } else {
    o = static_cast<uint32_t>(origin_names_.size());
    origin_names_.emplace_back(origin);
    origin_ids_.emplace(std::string(origin), o);
  }

  uint32_t p;
  if (!person_origin_.empty() && person_id == last_person_) {
    p = last_person_id_;
  } else {
    auto [it, fresh] = person_ids_.try_emplace(
        std::string(person_id), static_cast<uint32_t>(person_origin_.size()));
    p = it->second;
    if (fresh) person_origin_.push_back(o);
    last_person_.assign(person_id.data(), person_id.size());
    last_person_id_ = p;
  }
  if (person_origin_[p] != o) {
    records_[s].erase(record_id);
    return absl::InvalidArgumentError("person given two different origins");
  }
  source_.push_back(s);
  person_.push_back(p);
  return absl::OkStatus();
}

int64_t Truth::Find(absl::string_view source,
                    absl::string_view record_id) const {
  auto s = source_ids_.find(source);
  if (s == source_ids_.end()) return -1;
  const auto& records = records_[s->second];
  auto r = records.find(record_id);
  return r == records.end() ? -1 : static_cast<int64_t>(r->second);
}

// ------------------------------------------------------------- Clustering

ClusteringBuilder::ClusteringBuilder(const Truth& truth) : truth_(truth) {
  result_.cluster_of.assign(truth.size(), kUnassigned);
}

absl::Status ClusteringBuilder::Add(absl::string_view source,
                                    absl::string_view record_id,
                                    absl::string_view sui) {
  if (sui.empty()) return absl::InvalidArgumentError("empty sui");
  const int64_t i = truth_.Find(source, record_id);
  if (i < 0) {
    ++result_.links_not_in_truth;
    return absl::OkStatus();
  }
  uint32_t& slot = result_.cluster_of[static_cast<size_t>(i)];
  if (slot != kUnassigned) {
    return absl::InvalidArgumentError("record given twice");
  }
  auto [it, fresh] = sui_ids_.try_emplace(sui, result_.num_clusters);
  if (fresh) ++result_.num_clusters;
  slot = it->second;
  return absl::OkStatus();
}

Clustering ClusteringBuilder::Finish() {
  for (uint32_t& c : result_.cluster_of) {
    if (c == kUnassigned) {
      c = result_.num_clusters++;
      ++result_.records_not_in_links;
    }
  }
  sui_ids_.clear();
  return std::exchange(result_, Clustering());
}

Clustering TruthAsClustering(const Truth& truth) {
  Clustering c;
  c.cluster_of.resize(truth.size());
  for (size_t i = 0; i < truth.size(); ++i)
    c.cluster_of[i] = truth.person_of(i);
  c.num_clusters = static_cast<uint32_t>(truth.num_persons());
  return c;
}

Clustering SingletonClustering(const Truth& truth) {
  Clustering c;
  c.cluster_of.resize(truth.size());
  for (size_t i = 0; i < truth.size(); ++i) {
    c.cluster_of[i] = static_cast<uint32_t>(i);
  }
  c.num_clusters = static_cast<uint32_t>(truth.size());
  return c;
}

// -------------------------------------------------------------------- CSV

absl::StatusOr<Truth> ParseTruthCsv(absl::string_view csv) {
  Truth truth;
  std::vector<int> index;
  LINKD_RETURN_IF_ERROR(
      ForEachRow(csv, {"source", "record_id", "person_id"}, {"origin"}, &index,
                 [&truth](const std::vector<absl::string_view>& f) {
                   return truth.Add(f[0], f[1], f[2], f[3]);
                 }));
  return truth;
}

absl::StatusOr<Clustering> ParseLinksCsv(absl::string_view csv,
                                         const Truth& truth) {
  ClusteringBuilder builder(truth);
  std::vector<int> index;
  LINKD_RETURN_IF_ERROR(
      ForEachRow(csv, {"source", "record_id", "sui"}, {}, &index,
                 [&builder](const std::vector<absl::string_view>& f) {
                   return builder.Add(f[0], f[1], f[2]);
                 }));
  return builder.Finish();
}

absl::StatusOr<std::string> ReadFileOrStdin(const std::string& path) {
  std::FILE* f = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return absl::NotFoundError(absl::StrCat("cannot open ", path));
  }
  std::string data;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) data.append(buf, n);
  const bool failed = std::ferror(f) != 0;
  if (f != stdin) std::fclose(f);
  if (failed) return absl::InternalError(absl::StrCat("cannot read ", path));
  return data;
}

}  // namespace linkd::quality
